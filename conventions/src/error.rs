//! Error kinds and exit codes: the table of DESIGN.md section 2, in one place.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// Why a run did not succeed. Each kind has exactly one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The operation failed (I/O, database, service manager).
    Failed,
    /// Bad arguments, invalid names, unreadable input; nothing was touched.
    Usage,
    /// A safety guard refused; nothing was touched.
    Refused,
    /// A required file, unit, table or database does not exist; nothing was touched.
    NotFound,
    /// A lock or a timeout; a retry may succeed.
    Busy,
    /// Not allowed (file mode, not root, polkit, database role).
    Permission,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Failed,
        ErrorKind::Usage,
        ErrorKind::Refused,
        ErrorKind::NotFound,
        ErrorKind::Busy,
        ErrorKind::Permission,
    ];

    /// The process exit code for this kind (0 is success and has no kind).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Failed => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Refused => 3,
            ErrorKind::NotFound => 4,
            ErrorKind::Busy => 5,
            ErrorKind::Permission => 6,
        }
    }

    /// The inverse of [`exit_code`](Self::exit_code): what a child's exit code means.
    pub fn from_exit_code(code: i32) -> Option<ErrorKind> {
        Self::ALL
            .into_iter()
            .find(|k| i32::from(k.exit_code()) == code)
    }

    /// The name used in `error.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Failed => "failed",
            ErrorKind::Usage => "usage",
            ErrorKind::Refused => "refused",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Busy => "busy",
            ErrorKind::Permission => "permission",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as it appears in the envelope: `{"kind", "message", ...details}`.
///
/// `message` is one sentence a person can act on: it names the thing, the problem and
/// what to do. `details` are extra fields that help (blockers, paths, the unit).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

impl ToolError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ToolError {
            kind,
            message: message.into(),
            details: Map::new(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy, message)
    }
    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permission, message)
    }

    /// Adds a detail field to the error object.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.details.insert(key.to_string(), value);
        self
    }

    /// Maps an I/O error on `what` (a path or a thing's name) to the matching kind.
    pub fn io(what: &str, doing: &str, err: &std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied => ErrorKind::Permission,
            Io::WouldBlock | Io::TimedOut => ErrorKind::Busy,
            _ => ErrorKind::Failed,
        };
        Self::new(kind, format!("{what}: cannot {doing}: {err}"))
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_design_table() {
        let table: Vec<(u8, &str)> = ErrorKind::ALL
            .iter()
            .map(|k| (k.exit_code(), k.as_str()))
            .collect();
        assert_eq!(
            table,
            vec![
                (1, "failed"),
                (2, "usage"),
                (3, "refused"),
                (4, "not_found"),
                (5, "busy"),
                (6, "permission")
            ]
        );
        for kind in ErrorKind::ALL {
            assert_eq!(
                ErrorKind::from_exit_code(kind.exit_code().into()),
                Some(kind)
            );
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                Value::String(kind.as_str().into())
            );
        }
        assert_eq!(ErrorKind::from_exit_code(0), None);
        assert_eq!(ErrorKind::from_exit_code(7), None);
    }

    #[test]
    fn details_sit_beside_kind_and_message() {
        let e = ToolError::not_found("unit x.service does not exist").with("unit", "x.service");
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "not_found");
        assert_eq!(v["unit"], "x.service");
        assert_eq!(v["message"], "unit x.service does not exist");
    }

    #[test]
    fn io_errors_map_to_kinds() {
        let nf = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(ToolError::io("/x", "read", &nf).kind, ErrorKind::NotFound);
        let pd = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(ToolError::io("/x", "read", &pd).kind, ErrorKind::Permission);
    }
}
