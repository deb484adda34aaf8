//! A unit's state: what each field means for judging, and how `systemctl show -p ...`
//! text reads into it (the systemctl transport; dbus/manager.rs reads it from properties).

pub use crate::report::{Job, UnitState};
use std::collections::HashMap;

/// The properties read, in one `-p` list. The last four are not reported but decide how a unit is judged and whether it ran again.
pub const PROPERTIES: &str = "Id,LoadState,ActiveState,SubState,Result,UnitFileState,MainPID,\
EnvironmentFiles,Type,RemainAfterExit,Job,InvocationID";

/// How svcctl reads a unit state (the state itself is a report type).
pub trait Judge {
    /// No unit file and no process: there is nothing to act on.
    fn is_missing(&self) -> bool;
    /// A process runs or a state change is under way.
    fn is_running(&self) -> bool;
    /// Stopped: inactive, or failed with no main process left.
    fn is_stopped(&self) -> bool;
    fn is_oneshot_without_remain(&self) -> bool;
    fn result_is_success(&self) -> bool;
    fn is_masked(&self) -> bool;
    /// Enabled in a way `disable` would undo.
    fn is_enabled(&self) -> bool;
    /// What a person compares: the reported fields (and a new run counts as a change).
    fn differs_from(&self, other: &UnitState) -> bool;
}

impl Judge for UnitState {
    /// No unit file and no process: there is nothing to act on.
    fn is_missing(&self) -> bool {
        self.load == "not-found" && !self.is_running()
    }

    /// A process runs or a state change is under way.
    fn is_running(&self) -> bool {
        self.main_pid != 0
            || matches!(
                self.active.as_str(),
                "active" | "activating" | "deactivating" | "reloading" | "refreshing"
            )
    }

    /// Stopped: inactive, or failed with no main process left.
    fn is_stopped(&self) -> bool {
        self.main_pid == 0 && matches!(self.active.as_str(), "inactive" | "failed")
    }

    fn is_oneshot_without_remain(&self) -> bool {
        self.service_type.as_deref() == Some("oneshot") && !self.remain_after_exit
    }

    fn result_is_success(&self) -> bool {
        matches!(self.result.as_deref(), None | Some("success"))
    }

    fn is_masked(&self) -> bool {
        matches!(
            self.enabled.as_deref(),
            Some("masked") | Some("masked-runtime")
        ) || self.load == "masked"
    }

    /// Enabled in a way `disable` would undo.
    fn is_enabled(&self) -> bool {
        matches!(
            self.enabled.as_deref(),
            Some("enabled") | Some("enabled-runtime") | Some("linked") | Some("linked-runtime")
        )
    }

    /// What a person compares: the reported fields (and a new run counts as a change).
    fn differs_from(&self, other: &UnitState) -> bool {
        self.load != other.load
            || self.active != other.active
            || self.sub != other.sub
            || self.result != other.result
            || self.enabled != other.enabled
            || self.main_pid != other.main_pid
            || self.invocation_id != other.invocation_id
    }
}

/// Parses `systemctl show` output for `expected` units: one record per unit, in the order
/// asked, separated by blank lines. A repeated key (EnvironmentFiles) appends.
pub fn parse_show(text: &str, expected: usize) -> Result<Vec<UnitState>, String> {
    let mut records: Vec<HashMap<&str, Vec<&str>>> = Vec::new();
    let mut current: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            if !current.is_empty() {
                records.push(std::mem::take(&mut current));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!(
                "unexpected line in systemctl show output: {line:?}"
            ));
        };
        current.entry(key).or_default().push(value);
    }
    if !current.is_empty() {
        records.push(current);
    }
    if records.len() != expected {
        return Err(format!(
            "systemctl show returned {} unit records for {expected} units",
            records.len()
        ));
    }
    Ok(records.iter().map(state_from).collect())
}

fn state_from(record: &HashMap<&str, Vec<&str>>) -> UnitState {
    let one = |key: &str| -> Option<String> {
        record
            .get(key)
            .and_then(|v| v.last())
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
    };
    UnitState {
        load: one("LoadState").unwrap_or_else(|| "unknown".into()),
        active: one("ActiveState").unwrap_or_else(|| "unknown".into()),
        sub: one("SubState").unwrap_or_else(|| "unknown".into()),
        result: one("Result"),
        enabled: one("UnitFileState"),
        main_pid: one("MainPID").and_then(|p| p.parse().ok()).unwrap_or(0),
        environment_files: record
            .get("EnvironmentFiles")
            .into_iter()
            .flatten()
            .filter(|v| !v.is_empty())
            .map(|v| environment_file_path(v))
            .collect(),
        service_type: one("Type"),
        remain_after_exit: one("RemainAfterExit").as_deref() == Some("yes"),
        job: one("Job").and_then(|j| j.parse().ok()).filter(|&j| j != 0),
        invocation_id: one("InvocationID"),
    }
}

/// `/etc/cornice/env (ignore_errors=yes)` → `/etc/cornice/env`.
fn environment_file_path(value: &str) -> String {
    match value.rsplit_once(" (ignore_errors=") {
        Some((path, rest)) if rest.ends_with(')') => path.to_string(),
        _ => value.to_string(),
    }
}

/// Parses `systemctl list-jobs --no-legend` lines: `ID UNIT TYPE STATE`.
pub fn parse_jobs(text: &str) -> Vec<Job> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let id = words.next()?.parse().ok()?;
            Some(Job {
                id,
                unit: words.next()?.to_string(),
                job_type: words.next()?.to_string(),
                state: words.next()?.to_string(),
                path: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real systemd 252 output, property order as systemd prints it.
    const TWO: &str = "Type=simple\nRemainAfterExit=no\nMainPID=31\nResult=success\n\
EnvironmentFiles=/etc/cornice/env (ignore_errors=yes)\n\
EnvironmentFiles=/srv/my app/x.env (ignore_errors=no)\nId=a.service\nLoadState=loaded\n\
ActiveState=active\nSubState=running\nUnitFileState=enabled\nJob=\nInvocationID=abc\n\n\
Type=\nRemainAfterExit=no\nMainPID=0\nResult=success\nId=nope.service\nLoadState=not-found\n\
ActiveState=inactive\nSubState=dead\nUnitFileState=\nJob=\nInvocationID=\n";

    #[test]
    fn records_are_split_by_blank_lines_and_parsed() {
        let states = parse_show(TWO, 2).unwrap();
        let a = &states[0];
        assert_eq!(a.load, "loaded");
        assert_eq!(a.active, "active");
        assert_eq!(a.main_pid, 31);
        assert_eq!(a.enabled.as_deref(), Some("enabled"));
        assert_eq!(
            a.environment_files,
            ["/etc/cornice/env", "/srv/my app/x.env"]
        );
        assert!(a.is_running() && !a.is_stopped() && !a.is_missing());
        let b = &states[1];
        assert!(b.is_missing());
        assert_eq!(b.enabled, None);
        assert!(b.environment_files.is_empty());
        assert_eq!(b.job, None);
    }

    #[test]
    fn record_count_must_match() {
        assert!(parse_show(TWO, 3).is_err());
        assert!(parse_show("", 1).is_err());
        assert!(parse_show("garbage without equals\n", 1).is_err());
    }

    #[test]
    fn serialised_state_has_exactly_the_design_fields() {
        let states = parse_show(TWO, 2).unwrap();
        let v = serde_json::to_value(&states[0]).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "load",
                "active",
                "sub",
                "result",
                "enabled",
                "main_pid",
                "environment_files"
            ]
        );
    }

    #[test]
    fn a_failed_unit_without_process_is_stopped_and_a_rerun_is_a_change() {
        let mut s = parse_show(TWO, 2).unwrap().remove(0);
        s.active = "failed".into();
        s.main_pid = 0;
        assert!(s.is_stopped());
        let mut rerun = s.clone();
        rerun.invocation_id = Some("def".into());
        assert!(rerun.differs_from(&s));
        assert!(!s.clone().differs_from(&s));
    }

    #[test]
    fn jobs_are_parsed() {
        let jobs = parse_jobs("6 term.service stop running\n7 b.service start waiting\n");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].id, 6);
        assert_eq!(jobs[0].job_type, "stop");
        assert_eq!(jobs[1].state, "waiting");
        assert!(parse_jobs("No jobs running.\n").is_empty());
    }
}
