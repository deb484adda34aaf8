//! holdctl's report: the steps it ran with their children's reports, what it did not
//! run, and for status the flags, units and tables read out of those reports.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// hibernate, wake, status or plan.
    pub command: String,
    /// The env file DATABASE_URL is read from (the last env file when none has it), or
    /// null when the units could not be read.
    pub env_file: Option<String>,
    pub steps: Vec<Step>,
    /// Names of the steps not run because an earlier one failed.
    pub not_run: Vec<String>,
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
}

/// One step as run: copy `argv` into a script to do it by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// read_units, read_flags, set_flags, stop_units, disable_units, truncate, start_api,
    /// clear_flags, enable_units, read_tables.
    pub name: String,
    /// The exact argv run, program first.
    pub argv: Vec<String>,
    /// The child's exit code; null when it could not be started or died by a signal.
    pub exit_code: Option<i32>,
    pub ok: bool,
    pub changed: bool,
    /// The child's own report, as it printed it (its tool's schema describes it); null
    /// when it printed none.
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
    /// HIBERNATE_MODE=true and INGEST_ENABLED=false.
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
