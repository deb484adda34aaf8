//! The envelope every report sits in, and the error kinds with their exit codes.

use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Bumped when a field is renamed or changes type; adding a field keeps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The envelope's fields, which a tool's own report never shadows.
pub const ENVELOPE_FIELDS: [&str; 7] = [
    "tool",
    "version",
    "schema_version",
    "ok",
    "changed",
    "dry_run",
    "error",
];

/// Why a run did not succeed. Each kind has exactly one exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The operation failed (I/O, database, service manager). Exit 1.
    Failed,
    /// Bad arguments, invalid names, unreadable input; nothing was touched. Exit 2.
    Usage,
    /// A safety guard refused; nothing was touched. Exit 3.
    Refused,
    /// A required file, unit, table or database does not exist; nothing was touched. Exit 4.
    NotFound,
    /// A lock or a timeout; a retry may succeed. Exit 5.
    Busy,
    /// Not allowed (file mode, not root, polkit, database role). Exit 6.
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

/// `error` of a failed run: its kind, one sentence a person can act on, and fields that
/// help (blockers, paths, the unit), which differ from error to error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorInfo {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

/// One printed report: the envelope, and the tool's own fields beside it (absent when
/// the run printed none, as most usage errors do).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<R> {
    pub tool: String,
    pub version: String,
    pub schema_version: u32,
    pub ok: bool,
    pub changed: bool,
    pub dry_run: bool,
    pub error: Option<ErrorInfo>,
    pub report: Option<R>,
}

impl<'de, R: DeserializeOwned> Deserialize<'de> for Envelope<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(d)?;
        fn take<T: DeserializeOwned, E: serde::de::Error>(
            map: &mut Map<String, Value>,
            key: &str,
        ) -> Result<T, E> {
            let v = map
                .remove(key)
                .ok_or_else(|| E::custom(format!("missing envelope field `{key}`")))?;
            serde_json::from_value(v).map_err(|e| E::custom(format!("envelope field `{key}`: {e}")))
        }
        let envelope = Envelope {
            tool: take(&mut map, "tool")?,
            version: take(&mut map, "version")?,
            schema_version: take(&mut map, "schema_version")?,
            ok: take(&mut map, "ok")?,
            changed: take(&mut map, "changed")?,
            dry_run: take(&mut map, "dry_run")?,
            error: take(&mut map, "error")?,
            report: None,
        };
        let report = if map.is_empty() {
            None
        } else {
            Some(serde_json::from_value(Value::Object(map)).map_err(D::Error::custom)?)
        };
        Ok(Envelope { report, ..envelope })
    }
}

impl<R> Envelope<R> {
    /// The exit code this envelope goes with.
    pub fn exit_code(&self) -> u8 {
        self.error.as_ref().map_or(0, |e| e.kind.exit_code())
    }
}

/// Decodes one printed report of tool `R`, or says why it is not one.
pub fn decode<R: DeserializeOwned>(text: &str) -> Result<Envelope<R>, String> {
    serde_json::from_str(text.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Tiny {
        file: String,
    }

    const ENVELOPE: &str = r#""tool":"t","version":"0","schema_version":1,"ok":true,"changed":false,"dry_run":false,"error":null"#;

    #[test]
    fn the_report_beside_the_envelope_is_decoded_strictly() {
        let e: Envelope<Tiny> = decode(&format!("{{{ENVELOPE},\"file\":\"x\"}}")).unwrap();
        assert_eq!(e.report, Some(Tiny { file: "x".into() }));
        let bare: Envelope<Tiny> = decode(&format!("{{{ENVELOPE}}}")).unwrap();
        assert_eq!(bare.report, None);
        let renamed = decode::<Tiny>(&format!("{{{ENVELOPE},\"path\":\"x\"}}"));
        assert!(renamed.is_err(), "an unknown field must not decode");
        assert!(decode::<Tiny>(r#"{"tool":"t"}"#).is_err());
    }

    #[test]
    fn exit_codes_follow_the_table() {
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
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(ErrorKind::from_exit_code(0), None);
        assert_eq!(ErrorKind::from_exit_code(7), None);
    }
}
