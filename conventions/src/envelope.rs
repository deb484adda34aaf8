//! The JSON envelope every run prints exactly once on stdout.

use crate::error::{ErrorKind, ToolError};
use crate::secrets;
use serde::Serialize;
use serde_json::{Map, Value};

pub use reports::{ENVELOPE_FIELDS, SCHEMA_VERSION};

/// The result of one run, before it is printed: the envelope's state plus the tool's own
/// report fields, which sit beside the envelope's at top level.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub changed: bool,
    pub dry_run: bool,
    pub report: Map<String, Value>,
    pub error: Option<ToolError>,
    /// The same report as a short text for a person at a terminal, printed instead of
    /// the JSON when stdout is a terminal and no `--json` was given; `None`: JSON always.
    pub view: Option<String>,
    /// The one summary line, printed on stderr after stdout (`None`: the tool printed
    /// its own, or there is none).
    pub summary: Option<String>,
}

impl Outcome {
    /// A success carrying the tool's report (any struct serialising to a JSON object).
    pub fn success<R: Serialize>(report: &R, changed: bool, dry_run: bool) -> Outcome {
        Outcome {
            changed,
            dry_run,
            report: to_object(report),
            error: None,
            view: None,
            summary: None,
        }
    }

    /// A failure with no report fields.
    pub fn failure(error: ToolError) -> Outcome {
        Outcome {
            changed: false,
            dry_run: false,
            report: Map::new(),
            error: Some(error),
            view: None,
            summary: None,
        }
    }

    /// A failure that still reports what was seen or done (states, blockers, steps).
    pub fn failure_with<R: Serialize>(
        error: ToolError,
        report: &R,
        changed: bool,
        dry_run: bool,
    ) -> Outcome {
        Outcome {
            changed,
            dry_run,
            report: to_object(report),
            error: Some(error),
            view: None,
            summary: None,
        }
    }

    /// With a view for people (see [`Outcome::view`]).
    pub fn with_view(mut self, view: String) -> Outcome {
        self.view = Some(view);
        self
    }

    /// With the summary line printed last on stderr.
    pub fn with_summary(mut self, summary: Option<String>) -> Outcome {
        self.summary = summary;
        self
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.error.as_ref().map(|e| e.kind)
    }

    /// 0 on success, else the error kind's code.
    pub fn exit_code(&self) -> u8 {
        self.error.as_ref().map_or(0, ToolError::exit_code)
    }
}

/// The document as printed: envelope first, then the report's fields.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub tool: String,
    pub version: String,
    pub schema_version: u32,
    pub ok: bool,
    pub changed: bool,
    pub dry_run: bool,
    pub error: Option<ToolError>,
    /// Printed after the envelope's fields, at the same level.
    pub report: Map<String, Value>,
}

impl Envelope {
    pub fn new(tool: &str, version: &str, outcome: Outcome) -> Envelope {
        let mut report = outcome.report;
        for field in ENVELOPE_FIELDS {
            report.remove(field);
        }
        Envelope {
            tool: tool.to_string(),
            version: version.to_string(),
            schema_version: SCHEMA_VERSION,
            ok: outcome.error.is_none(),
            changed: outcome.changed,
            dry_run: outcome.dry_run,
            error: outcome.error,
            report,
        }
    }

    /// The JSON value with every secret scrubbed out (the safety net of [`secrets`]).
    /// Consumes the envelope so the report's fields move into the value rather than
    /// being copied: a large report (a thousand tables) is then held once, not twice.
    pub fn into_scrubbed_value(self) -> Value {
        // A ToolError is plain strings and numbers; should it still fail to encode, the
        // envelope says so rather than print nothing (`ok` is already false then).
        let error = self.error.as_ref().map_or(Value::Null, |e| {
            serde_json::to_value(e).unwrap_or_else(|err| {
                serde_json::json!({"kind": "failed", "message": format!("error could not be encoded: {err}")})
            })
        });
        let mut map = Map::new();
        map.insert("tool".into(), Value::String(self.tool));
        map.insert("version".into(), Value::String(self.version));
        map.insert("schema_version".into(), Value::from(self.schema_version));
        map.insert("ok".into(), Value::Bool(self.ok));
        map.insert("changed".into(), Value::Bool(self.changed));
        map.insert("dry_run".into(), Value::Bool(self.dry_run));
        map.insert("error".into(), error);
        map.extend(self.report);
        let mut value = Value::Object(map);
        secrets::scrub_json(&mut value);
        value
    }
}

fn to_object<R: Serialize>(report: &R) -> Map<String, Value> {
    match serde_json::to_value(report) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        Ok(other) => {
            let mut map = Map::new();
            map.insert("report".into(), other);
            map
        }
        Err(e) => {
            let mut map = Map::new();
            map.insert(
                "report_error".into(),
                Value::String(format!("report could not be encoded: {e}")),
            );
            map
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelope_fields_come_first_and_cannot_be_shadowed() {
        let outcome = Outcome::success(&json!({"file": "/etc/x.env", "ok": "shadow"}), true, false);
        let env = Envelope::new("envpatch", "0.1.0", outcome);
        let v = env.into_scrubbed_value();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "tool",
                "version",
                "schema_version",
                "ok",
                "changed",
                "dry_run",
                "error",
                "file"
            ]
        );
        assert_eq!(v["ok"], true);
        assert_eq!(v["error"], Value::Null);
        assert_eq!(v["schema_version"], 1);
    }

    #[test]
    fn failure_carries_kind_and_exit_code() {
        let outcome = Outcome::failure(ToolError::busy("locked"));
        assert_eq!(outcome.exit_code(), 5);
        let v = Envelope::new("svcctl", "0.1.0", outcome).into_scrubbed_value();
        assert_eq!(v["ok"], false);
        assert_eq!(v["error"]["kind"], "busy");
        assert_eq!(v["error"]["message"], "locked");
    }

    #[test]
    fn urls_in_reports_lose_their_password() {
        let outcome = Outcome::success(
            &json!({"database": "postgres://u:pw1234@h/db"}),
            false,
            false,
        );
        let v = Envelope::new("pgtruncate", "0.1.0", outcome).into_scrubbed_value();
        assert_eq!(v["database"], "postgres://u@h/db");
    }
}
