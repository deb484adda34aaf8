//! The error a tool returns: its kind (and so its exit code, `reports::ErrorKind`), one
//! sentence, and fields that help.

use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

pub use reports::ErrorKind;

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
