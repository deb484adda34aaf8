//! envpatch's report: the file, what changed in it, the values read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// FILE as given.
    pub file: String,
    /// The file actually read and written: FILE with symlinks resolved.
    pub target: String,
    /// Whether this run created the file (`--create`).
    pub created: bool,
    /// Where the previous content was kept (`--backup`), or would be with `--dry-run`;
    /// null without `--backup` or when nothing changed.
    pub backup: Option<String>,
    /// One entry per key set or unset, in the order given.
    pub changes: Vec<Change>,
    /// With `--get`: each key's value as python-dotenv (the app) reads it, or null.
    pub values: BTreeMap<String, Option<String>>,
    /// With `--get`: each key's value as each reader reads it, or null.
    pub values_by_reader: ValuesByReader,
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValuesByReader {
    /// As systemd's `EnvironmentFile=` reads the file.
    pub systemd: BTreeMap<String, Option<String>>,
    /// As python-dotenv reads the file (before `${...}` expansion).
    pub dotenv: BTreeMap<String, Option<String>>,
}

/// What happened to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Every assignment now has the new value.
    Updated,
    /// Appended at the end of the file.
    Added,
    /// Every assignment removed.
    Removed,
    /// Already had the value.
    Unchanged,
    /// `--unset` of a key the file does not assign.
    Absent,
}

impl Action {
    /// Whether this change alters the file.
    pub fn alters_file(self) -> bool {
        matches!(self, Action::Updated | Action::Added | Action::Removed)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub key: String,
    pub action: Action,
    /// The effective value before (python-dotenv's reading: the last assignment's), or
    /// null; `"<redacted>"` for a secret.
    pub old: Option<String>,
    /// The value after, or null when removed; `"<redacted>"` for a secret.
    pub new: Option<String>,
    /// 1-based lines in the new file, or in the old one for removals.
    pub lines: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
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
