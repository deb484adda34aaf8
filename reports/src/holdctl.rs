//! holdctl's report: the steps it ran with their children's reports, what it did not
//! run, and for status the flags, units and tables read out of those reports; and the
//! hold record (`STATE_DIR/hold.json`) hibernate writes before its first change and wake
//! undoes, a document people read as much as holdctl does.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub use crate::pgtruncate::ProfileInfo;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// hibernate, wake, status or plan.
    pub command: String,
    /// The env file DATABASE_URL is read from (the last env file when none has it), or
    /// null when the units could not be read.
    pub env_file: Option<String>,
    pub steps: Vec<Step>,
    /// The steps not run because an earlier one failed (or, for status, could not run).
    pub not_run: Vec<StepName>,
    /// hibernate: every step it was about to run, run first with `--dry-run`; nothing
    /// was changed unless all of them succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preflight: Vec<Step>,
    /// What a person should know that is not an error (also printed on stderr).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The hold record: what hibernate found before its first change, which wake undoes.
    /// hibernate and status: the current one; wake: the one it undid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<HoldRecord>,
    /// Where that record is now: `STATE_DIR/hold.json`, or after a successful wake the
    /// file it was moved to under `STATE_DIR/holds/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_file: Option<String>,
    /// wake: that it restores no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// status: the flags as the units get them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<EnvStatus>,
    /// status: each unit's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<UnitStatus>>,
    /// status: the runtime tables hibernate would empty, with their sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<TableStatus>>,
    /// status: the bytes those tables hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_bytes: Option<u64>,
    /// The hold profile this run followed (`--profile`; wake with a record: the one the
    /// hold was made with); null when none was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileInfo>,
    /// `holdctl profiles`: every profile a name can choose, sorted by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Vec<ListedProfile>>,
}

/// One profile `holdctl profiles` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListedProfile {
    pub name: String,
    /// `built-in`, or the profile file (a file in the profile directory hides the
    /// built-in profile of its name).
    pub source: String,
    pub description: Option<String>,
    /// SHA-256 of its text, hex; null when it could not be read.
    pub sha256: Option<String>,
    /// Its API unit; null when it could not be read.
    pub api: Option<String>,
    /// Why it cannot be used (untrusted, malformed), or null.
    pub error: Option<String>,
}

/// One step as run: copy `argv` into a script to do it by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: StepName,
    /// The exact argv run, program first.
    pub argv: Vec<String>,
    /// The child's exit code; null when it could not be started or died by a signal.
    pub exit_code: Option<i32>,
    pub ok: bool,
    pub changed: bool,
    /// The child's own report, as it printed it; null when it printed none. Kept as
    /// JSON here (holdctl decodes it where it reads it); the schema says which reports.
    #[schemars(schema_with = "crate::schema::child_report")]
    pub report: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvStatus {
    /// The last env file the unit reads.
    pub file: Option<String>,
    /// Every env file the unit reads (that exists), in systemd's order.
    pub files: Vec<String>,
    /// Each flag as the app (python-dotenv) reads it in the file systemd takes it from.
    pub values: BTreeMap<String, Option<String>>,
    /// The same, as each reader reads it.
    pub values_by_reader: BTreeMap<String, BTreeMap<String, Option<String>>>,
    /// Every flag of the profile reads as hibernate writes it (false for a profile
    /// without flags).
    pub hibernating: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitStatus {
    pub unit: String,
    pub present: bool,
    pub active: Option<String>,
    pub sub: Option<String>,
    pub enabled: Option<String>,
    pub main_pid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableStatus {
    pub table: String,
    pub bytes: i64,
    pub rows_estimate: Option<i64>,
}

/// The steps holdctl runs, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    /// `svcctl status`: the units, first in every operation.
    ReadUnits,
    /// `envpatch --get`: the flags and DATABASE_URL of one env file.
    ReadFlags,
    /// status: `pgtruncate --dry-run`, the runtime tables' sizes.
    ReadTables,
    /// hibernate: the flags on.
    SetFlags,
    /// hibernate: both units stopped; wake: a unit that was not running before the hold.
    StopUnits,
    /// hibernate: both units disabled.
    DisableUnits,
    /// hibernate: the tables emptied.
    Truncate,
    /// hibernate --keep-api: the API started again.
    StartApi,
    /// wake without a hold record: the flags off, as the runbook writes them.
    ClearFlags,
    /// wake: the units enabled (with a record: only those enabled before the hold).
    EnableUnits,
    /// wake: each flag back to its value before the hold, or unset if it was absent.
    RestoreFlags,
    /// wake: the units that were running before the hold started again.
    StartUnits,
    /// wake: a unit running through the hold (`--keep-api`) restarted to read the flags.
    RestartUnits,
    /// wake --restore: `pgtruncate --undo`, the hold's archive put back, before any unit
    /// starts.
    RestoreData,
}

impl StepName {
    pub const ALL: [StepName; 14] = [
        StepName::ReadUnits,
        StepName::ReadFlags,
        StepName::ReadTables,
        StepName::SetFlags,
        StepName::StopUnits,
        StepName::DisableUnits,
        StepName::Truncate,
        StepName::StartApi,
        StepName::ClearFlags,
        StepName::EnableUnits,
        StepName::RestoreFlags,
        StepName::StartUnits,
        StepName::RestartUnits,
        StepName::RestoreData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::ReadUnits => "read_units",
            StepName::ReadFlags => "read_flags",
            StepName::ReadTables => "read_tables",
            StepName::SetFlags => "set_flags",
            StepName::StopUnits => "stop_units",
            StepName::DisableUnits => "disable_units",
            StepName::Truncate => "truncate",
            StepName::StartApi => "start_api",
            StepName::ClearFlags => "clear_flags",
            StepName::EnableUnits => "enable_units",
            StepName::RestoreFlags => "restore_flags",
            StepName::StartUnits => "start_units",
            StepName::RestartUnits => "restart_units",
            StepName::RestoreData => "restore_data",
        }
    }
}

impl std::fmt::Display for StepName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names as an enum, also listed in the description: the strict schema keeps the enum
/// (a step the type does not name fails the suite); the published one drops it (see
/// `schema::for_tool`), so a consumer's schema accepts a step added later.
impl JsonSchema for StepName {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StepName".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = StepName::ALL.iter().map(|n| n.as_str()).collect();
        schemars::json_schema!({
            "type": "string",
            "enum": names,
            "description": format!("The step: one of {}.", names.join(", "))
        })
    }
}

/// `STATE_DIR/hold.json`: what hibernate found before its first change. wake puts the
/// host back to exactly this; a rerun of an interrupted hibernate keeps it as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldRecord {
    /// The record's format; 1.
    pub format: u32,
    /// When the hold began (RFC 3339, UTC).
    pub since: String,
    /// Who: `SUDO_USER`, else the user holdctl ran as.
    pub by: String,
    /// The host's name.
    pub host: String,
    /// The options hibernate ran with.
    pub options: HoldOptions,
    /// The database emptied, as a URL without its password; null if unknown.
    pub database: Option<String>,
    /// Each flag hibernate writes, in the env file it writes it to, with its value before.
    pub flags: Vec<FlagBefore>,
    /// Each unit as it was before: whether it existed, its enablement and activity.
    pub units: Vec<UnitBefore>,
    /// `hibernate --archive`: where the emptied rows are kept (pgtruncate's `archive`:
    /// path, sha256, each table's rows, each sequence's value), once written; what
    /// `wake --restore` puts back. Null without `--archive`, or before the truncate.
    #[serde(default)]
    pub archive: Option<crate::pgtruncate::Archive>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldOptions {
    /// The API unit, as svcctl named it.
    pub service: String,
    /// The first of the other units, as svcctl named it ("" when the profile has none).
    pub monitor: String,
    /// `--env-file`, when given.
    pub env_file: Option<String>,
    /// Whether the include named `opportunities` was chosen (`--include-opportunities`).
    pub include_opportunities: bool,
    /// Whether the include named `auth` was chosen (`--include-auth`).
    pub include_auth: bool,
    pub keep_api: bool,
    /// The hold profile hibernate followed: name, source, SHA-256 of its text. Null in
    /// a record of an older holdctl.
    #[serde(default)]
    pub profile: Option<ProfileInfo>,
    /// The other units (besides the API), as svcctl named them, in the profile's order.
    #[serde(default)]
    pub others: Vec<String>,
    /// Each `--include NAME` as given (the runbook spellings are `include_opportunities`
    /// and `include_auth`).
    #[serde(default)]
    pub include: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagBefore {
    /// The env file the flag is written to (the one systemd takes it from).
    pub file: String,
    pub key: String,
    /// Its value there as systemd read it, or null when the file did not assign it.
    pub before: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitBefore {
    pub unit: String,
    pub present: bool,
    /// UnitFileState (enabled, disabled, static, ...), or null.
    pub enabled: Option<String>,
    /// ActiveState (active, inactive, failed, ...), or null.
    pub active: Option<String>,
}

impl UnitBefore {
    /// Whether the unit was running (or on its way up) before the hold.
    pub fn was_active(&self) -> bool {
        self.present
            && matches!(
                self.active.as_deref(),
                Some("active" | "activating" | "reloading")
            )
    }

    /// Whether the unit was enabled before the hold.
    pub fn was_enabled(&self) -> bool {
        self.present && self.enabled.as_deref() == Some("enabled")
    }
}
