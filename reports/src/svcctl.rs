//! svcctl's report: the verb, how the manager was reached, the commands an operator
//! would type for it, the D-Bus calls made, and each unit's state before and after.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// How svcctl reached the service manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// The system manager's own socket, /run/systemd/private (root only).
    Private,
    /// The system bus, through the bus daemon.
    SystemBus,
    /// The calling user's manager, $XDG_RUNTIME_DIR/systemd/private.
    User,
    /// systemctl as a child process (`-H`, or no manager answered on D-Bus).
    Systemctl,
}

/// One step svcctl may take for a unit.
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

/// The report beside the envelope's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub verb: Verb,
    pub transport: Transport,
    /// The systemctl argv an operator would type for the same effect, in order, each once
    /// (with the systemctl transport: exactly the commands run).
    pub commands: Vec<Vec<String>>,
    /// With --dry-run: the argv that would run, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_run: Option<Vec<Vec<String>>>,
    /// Every D-Bus method call made, in order (empty with the systemctl transport).
    pub dbus_calls: Vec<DbusCall>,
    /// With --dry-run over D-Bus: the calls that would be made after the state read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_call: Option<Vec<DbusCall>>,
    /// What the unit-file methods (enable, disable, mask, unmask) changed on disk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<UnitFileChange>,
    pub units: Vec<UnitReport>,
}

/// One unit's entry in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitReport {
    pub unit: String,
    pub present: bool,
    pub changed: bool,
    /// Why nothing was done for the unit, or null.
    pub skipped: Option<String>,
    /// The steps taken (or, in a dry run, that would be taken) for this unit.
    pub actions: Vec<Action>,
    pub before: Option<UnitState>,
    pub after: Option<UnitState>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The result of the unit's start/stop/restart job, from its JobRemoved signal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_result: Option<JobResult>,
    /// The job still queued when `--timeout` expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_job: Option<Job>,
}

/// A unit's state: the reported fields, plus what svcctl judges by (not printed).
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
    /// The paths of the unit's EnvironmentFile= lines (a leading '-' in the unit file,
    /// "optional", is not part of the path).
    pub environment_files: Vec<String>,
    #[serde(skip)]
    pub service_type: Option<String>,
    #[serde(skip)]
    pub remain_after_exit: bool,
    /// The id of a job still queued or running for the unit.
    #[serde(skip)]
    pub job: Option<u32>,
    /// Changes at each start: tells a rerun apart from an unchanged state.
    #[serde(skip)]
    pub invocation_id: Option<String>,
}

/// A job still queued or running.
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
    /// Its D-Bus object path (known when svcctl queued it over D-Bus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A job's result as JobRemoved gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    Done,
    Skipped,
    Canceled,
    Timeout,
    Failed,
    Dependency,
    Invalid,
    Assert,
    Unsupported,
    Collected,
    Once,
    /// A result this svcctl does not know (a newer systemd): kept as systemd said it.
    Other(String),
}

impl JobResult {
    pub fn parse(text: &str) -> JobResult {
        match text {
            "done" => JobResult::Done,
            "skipped" => JobResult::Skipped,
            "canceled" => JobResult::Canceled,
            "timeout" => JobResult::Timeout,
            "failed" => JobResult::Failed,
            "dependency" => JobResult::Dependency,
            "invalid" => JobResult::Invalid,
            "assert" => JobResult::Assert,
            "unsupported" => JobResult::Unsupported,
            "collected" => JobResult::Collected,
            "once" => JobResult::Once,
            other => JobResult::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            JobResult::Done => "done",
            JobResult::Skipped => "skipped",
            JobResult::Canceled => "canceled",
            JobResult::Timeout => "timeout",
            JobResult::Failed => "failed",
            JobResult::Dependency => "dependency",
            JobResult::Invalid => "invalid",
            JobResult::Assert => "assert",
            JobResult::Unsupported => "unsupported",
            JobResult::Collected => "collected",
            JobResult::Once => "once",
            JobResult::Other(text) => text,
        }
    }

    /// `done` and `skipped` (nothing to do, e.g. a condition was not met) succeed.
    pub fn succeeded(&self) -> bool {
        matches!(self, JobResult::Done | JobResult::Skipped)
    }
}

impl Serialize for JobResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobResult {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| JobResult::parse(&s))
    }
}

impl JsonSchema for JobResult {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JobResult".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "The job's result as its JobRemoved signal gave it: done and skipped succeed; failed, dependency, timeout, canceled, invalid, assert, unsupported, collected, once fail (a newer systemd may give others)."
        })
    }
}

/// One D-Bus method call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbusCall {
    pub path: String,
    pub interface: String,
    pub member: String,
    pub args: Vec<serde_json::Value>,
}

/// One change a unit-file method made: `symlink`, `unlink`, ... of `path` (to `source`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitFileChange {
    #[serde(rename = "type")]
    pub change_type: String,
    pub path: String,
    pub source: String,
}
