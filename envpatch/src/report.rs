//! The report fields of DESIGN.md section 3, beside the envelope's.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// FILE as given.
    pub file: String,
    /// The file actually read and written: FILE with symlinks resolved.
    pub target: String,
    pub created: bool,
    /// Where the previous content was kept (`--backup`), or would be with `--dry-run`.
    pub backup: Option<String>,
    pub changes: Vec<Change>,
    /// With `--get`: each key's value as python-dotenv (the app) reads it, or null.
    pub values: Map<String, Value>,
    /// With `--get`: each key's value as each reader reads it, or null.
    pub values_by_reader: ValuesByReader,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ValuesByReader {
    pub systemd: Map<String, Value>,
    pub dotenv: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Updated,
    Added,
    Removed,
    Unchanged,
    Absent,
}

impl Action {
    /// Whether this change alters the file.
    pub fn alters_file(self) -> bool {
        matches!(self, Action::Updated | Action::Added | Action::Removed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub key: String,
    pub action: Action,
    /// The effective value before (python-dotenv's reading: the last assignment's).
    pub old: Option<String>,
    pub new: Option<String>,
    /// 1-based lines in the new file, or in the old one for removals.
    pub lines: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// 1-based line the warning is about, or null for the file as a whole.
    pub line: Option<usize>,
    pub message: String,
}

impl Warning {
    pub fn at(line: usize, message: impl Into<String>) -> Warning {
        Warning {
            line: Some(line),
            message: message.into(),
        }
    }

    pub fn file(message: impl Into<String>) -> Warning {
        Warning {
            line: None,
            message: message.into(),
        }
    }
}
