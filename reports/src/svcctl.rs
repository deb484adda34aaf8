//! svcctl's report: the verb, the commands an operator would type for it, and each unit's
//! state before and after.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to do with the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Status,
    Start,
    Stop,
    Restart,
    Enable,
    Disable,
    Mask,
    Unmask,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub verb: Verb,
    /// Every distinct systemctl argv run, in order.
    pub commands: Vec<Vec<String>>,
    /// With --dry-run: the argv that would run, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_run: Option<Vec<Vec<String>>>,
    pub units: Vec<UnitReport>,
}

/// One systemctl verb svcctl may run for a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Unmask,
    Enable,
    Disable,
    Mask,
    Start,
    Stop,
    Restart,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitReport {
    /// The full unit name (`cornice.service`).
    pub unit: String,
    /// False for a unit that is not found and not running.
    pub present: bool,
    pub changed: bool,
    /// Why nothing was done for the unit, or null.
    pub skipped: Option<String>,
    /// The verbs run (or, in a dry run, that would run) for this unit.
    pub actions: Vec<Action>,
    pub before: Option<UnitState>,
    pub after: Option<UnitState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The job still queued when `--timeout` expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_job: Option<Job>,
}

/// A unit's state, as systemd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitState {
    /// LoadState: loaded, not-found, masked, bad-setting, error.
    pub load: String,
    /// ActiveState: active, inactive, failed, activating, deactivating, reloading.
    pub active: String,
    /// SubState: running, dead, exited, failed, stop-sigterm, ...
    pub sub: String,
    /// Result of the last run: success, exit-code, signal, timeout, ...
    pub result: Option<String>,
    /// UnitFileState: enabled, disabled, static, masked, ...; null when there is no file.
    pub enabled: Option<String>,
    /// MainPID, 0 when no main process runs.
    pub main_pid: u32,
    /// The paths of the unit's EnvironmentFile= lines, in order.
    pub environment_files: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub id: u32,
    pub unit: String,
    /// start, stop, restart, ...
    #[serde(rename = "type")]
    pub job_type: String,
    /// waiting or running.
    pub state: String,
}
