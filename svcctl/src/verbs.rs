//! Each verb as a plan of steps decided from the state before, run one step at a time for
//! all units together through a [`Driver`] (D-Bus or systemctl), then judged from the
//! state after and, over D-Bus, from each job's own result.

pub use crate::report::{Action, UnitReport};
use crate::report::{DbusCall, Job, JobResult, Transport, UnitFileChange, UnitState};
use crate::state::Judge as _;
use crate::unit_name::UnitName;
use crate::Verb;
use conventions::ToolError;
use std::time::Duration;

/// How one step went.
pub enum StepFailed {
    /// The step did not go through (refused, no manager, a broken connection).
    Error(ToolError),
    /// `--timeout` expired with jobs still queued: the state then, and the pending jobs by
    /// unit index (None when the job could not be read).
    TimedOut {
        after: Vec<UnitState>,
        pending: Vec<(usize, Option<Job>)>,
    },
}

/// What a finished step leaves: the state after if the driver read it anyway (None: read
/// it again), and the job results by unit index.
pub struct StepDone {
    pub after: Option<Vec<UnitState>>,
    pub job_results: Vec<(usize, JobResult)>,
    /// Jobs of other units that ended without success while these ran (unit, result):
    /// systemd does not say which dependency failed, these are the candidates.
    pub other_failures: Vec<(String, JobResult)>,
}

/// A way to reach the service manager.
pub trait Driver {
    fn transport(&self) -> Transport;
    /// The state of every unit, in order.
    fn read_states(&mut self, units: &[UnitName]) -> Result<Vec<UnitState>, ToolError>;
    /// Runs `action` for `units[i]` for each `i` in `which`, waiting up to `timeout` for
    /// its jobs.
    fn run_step(
        &mut self,
        action: Action,
        units: &[UnitName],
        which: &[usize],
        timeout: Duration,
    ) -> Result<StepDone, StepFailed>;
    /// The argv this driver would run (or an operator would type) for a step.
    fn step_argv(&self, action: Action, units: &[&UnitName]) -> Vec<String>;
    /// The D-Bus calls a step would make (none for systemctl).
    fn step_calls(&self, action: Action, units: &[&UnitName]) -> Vec<DbusCall>;
    fn commands(&self) -> Vec<Vec<String>>;
    fn dbus_calls(&self) -> Vec<DbusCall>;
    fn changes(&self) -> Vec<UnitFileChange>;
}

/// What each action is, for systemctl and for messages (the action itself is a report type).
pub trait Step {
    /// systemctl's arguments as svcctl runs them: jobs are queued with `--no-block` and
    /// polled, so a timeout is svcctl's to enforce and report.
    fn args(self) -> &'static [&'static str];
    /// systemctl's arguments as an operator types them, waiting for the job.
    fn blocking_args(self) -> &'static [&'static str];
    /// Whether the action queues a job that must be waited for.
    fn queues_job(self) -> bool;
    fn doing(self) -> &'static str;
    /// Whether the unit needs this action to reach the verb's goal.
    fn needed(self, before: &UnitState) -> bool;
}

impl Step for Action {
    /// systemctl's arguments as svcctl runs them: jobs are queued with `--no-block` and
    /// polled, so a timeout is svcctl's to enforce and report.
    fn args(self) -> &'static [&'static str] {
        match self {
            Action::Unmask => &["unmask"],
            Action::Enable => &["enable"],
            Action::Disable => &["disable"],
            Action::Mask => &["mask"],
            Action::Start => &["--no-block", "start"],
            Action::Stop => &["--no-block", "stop"],
            Action::Restart => &["--no-block", "restart"],
        }
    }

    /// systemctl's arguments as an operator types them, waiting for the job.
    fn blocking_args(self) -> &'static [&'static str] {
        let args = self.args();
        &args[args.len() - 1..]
    }

    /// Whether the action queues a job that must be waited for.
    fn queues_job(self) -> bool {
        matches!(self, Action::Start | Action::Stop | Action::Restart)
    }

    fn doing(self) -> &'static str {
        match self {
            Action::Unmask => "unmasking",
            Action::Enable => "enabling",
            Action::Disable => "disabling",
            Action::Mask => "masking",
            Action::Start => "starting",
            Action::Stop => "stopping",
            Action::Restart => "restarting",
        }
    }

    /// Whether the unit needs this action to reach the verb's goal.
    fn needed(self, before: &UnitState) -> bool {
        match self {
            Action::Unmask => before.is_masked(),
            // enable on a unit without [Install] (static, indirect, ...) changes nothing.
            Action::Enable => before.enabled.as_deref() == Some("disabled") || before.is_masked(),
            Action::Disable => before.is_enabled(),
            Action::Mask => !before.is_masked(),
            Action::Start => before.active != "active",
            Action::Stop => !before.is_stopped(),
            Action::Restart => true,
        }
    }
}

/// The steps of a verb, in the order they run: mask stops first, unmask comes before
/// enable, `--now` starts after enabling and stops after disabling (as systemctl does).
pub fn steps(verb: Verb, now: bool) -> Vec<Action> {
    match verb {
        Verb::Status => vec![],
        Verb::Start => vec![Action::Start],
        Verb::Stop => vec![Action::Stop],
        Verb::Restart => vec![Action::Restart],
        Verb::Enable if now => vec![Action::Unmask, Action::Enable, Action::Start],
        Verb::Enable => vec![Action::Unmask, Action::Enable],
        Verb::Disable if now => vec![Action::Disable, Action::Stop],
        Verb::Disable => vec![Action::Disable],
        Verb::Mask => vec![Action::Stop, Action::Mask],
        Verb::Unmask => vec![Action::Unmask],
    }
}

/// What a job result other than done/skipped means, in a few words.
fn job_result_meaning(result: &JobResult) -> &'static str {
    match result {
        JobResult::Failed => "the unit failed",
        JobResult::Dependency => "a unit it requires failed, so it was never started",
        JobResult::Timeout => "the job timed out",
        JobResult::Canceled => "the job was canceled by another job",
        JobResult::Invalid => "the job does not apply to the unit's state",
        JobResult::Unsupported => "the unit type does not support it",
        JobResult::Assert => "an Assert= condition failed",
        JobResult::Collected => "the unit was garbage-collected",
        JobResult::Once => "the unit may run only once",
        _ => "systemd reported it",
    }
}

/// What a run ends with: the units' entries and, when it did not succeed, why.
pub struct Finished {
    pub units: Vec<UnitReport>,
    pub error: Option<ToolError>,
}

/// The plan for one run, made from the state before.
pub struct Plan {
    pub verb: Verb,
    pub now: bool,
    pub units: Vec<UnitName>,
    pub before: Vec<UnitState>,
    /// Per step (in [`steps`] order): the indexes of the units it runs for.
    pub steps: Vec<(Action, Vec<usize>)>,
    pub entries: Vec<UnitReport>,
    /// Dependencies' jobs that failed during the run (see [`StepDone::other_failures`]).
    pub other_failures: Vec<(String, JobResult)>,
}

impl Plan {
    /// Decides every step from `before`. Missing units (not found, not running) get no
    /// steps; the caller decides whether that is an error or a skip.
    pub fn new(verb: Verb, now: bool, units: Vec<UnitName>, before: Vec<UnitState>) -> Plan {
        let mut entries: Vec<UnitReport> = units
            .iter()
            .zip(&before)
            .map(|(unit, state)| UnitReport {
                unit: unit.to_string(),
                present: !state.is_missing(),
                changed: false,
                skipped: state.is_missing().then(|| "not found".to_string()),
                actions: vec![],
                before: Some(state.clone()),
                after: None,
                warnings: vec![],
                job_result: None,
                pending_job: None,
            })
            .collect();
        let mut planned = Vec::new();
        for action in steps(verb, now) {
            let mut which = Vec::new();
            for (i, state) in before.iter().enumerate() {
                if !state.is_missing() && action.needed(state) {
                    which.push(i);
                    entries[i].actions.push(action);
                }
            }
            if !which.is_empty() {
                planned.push((action, which));
            }
        }
        for (entry, state) in entries.iter_mut().zip(&before) {
            if state.is_missing() {
                continue;
            }
            if verb == Verb::Enable && !Action::Enable.needed(state) && !state.is_enabled() {
                entry.warnings.push(format!(
                    "UnitFileState is {}: the unit has no [Install] section to enable, so enable changes nothing",
                    state.enabled.as_deref().unwrap_or("unknown")
                ));
            }
            if verb == Verb::Enable && state.is_masked() {
                entry
                    .warnings
                    .push("the unit was masked: it is unmasked before it is enabled".into());
            }
            entry.changed = !entry.actions.is_empty();
        }
        Plan {
            verb,
            now,
            units,
            before,
            steps: planned,
            entries,
            other_failures: vec![],
        }
    }

    /// The argv of each planned step, without running any.
    pub fn argvs(&self, driver: &dyn Driver) -> Vec<Vec<String>> {
        self.steps
            .iter()
            .map(|(action, which)| driver.step_argv(*action, &self.step_units(which)))
            .collect()
    }

    /// The D-Bus calls of each planned step, without making any.
    pub fn calls(&self, driver: &dyn Driver) -> Vec<DbusCall> {
        self.steps
            .iter()
            .flat_map(|(action, which)| driver.step_calls(*action, &self.step_units(which)))
            .collect()
    }

    fn step_units(&self, which: &[usize]) -> Vec<&UnitName> {
        which.iter().map(|&i| &self.units[i]).collect()
    }

    /// Runs the steps, waits for their jobs, reads the state after and judges it.
    pub fn execute(
        mut self,
        driver: &mut dyn Driver,
        timeout: Duration,
        progress: &dyn Fn(&str),
    ) -> Finished {
        let mut after: Option<Vec<UnitState>> = None;
        let mut error: Option<ToolError> = None;
        let steps = std::mem::take(&mut self.steps);
        for (action, which) in &steps {
            let names: Vec<String> = which.iter().map(|&i| self.units[i].to_string()).collect();
            progress(&format!("{} {}", action.doing(), names.join(" ")));
            match driver.run_step(*action, &self.units, which, timeout) {
                Ok(done) => {
                    after = done.after;
                    for (i, result) in done.job_results {
                        self.entries[i].job_result = Some(result);
                    }
                    self.other_failures.extend(done.other_failures);
                }
                Err(StepFailed::Error(e)) => {
                    after = None;
                    error = Some(e);
                    break;
                }
                Err(StepFailed::TimedOut {
                    after: states,
                    pending,
                }) => {
                    error = Some(self.timed_out(*action, timeout, &pending));
                    after = Some(states);
                    break;
                }
            }
        }
        // The state after: the driver's last read if nothing ran since, else one more read.
        let after = match after {
            Some(states) => Some(states),
            None if steps.is_empty() => Some(self.before.clone()),
            None => match driver.read_states(&self.units) {
                Ok(states) => Some(states),
                Err(e) => {
                    error.get_or_insert(e);
                    None
                }
            },
        };
        if let Some(after) = &after {
            for (i, state) in after.iter().enumerate() {
                let entry = &mut self.entries[i];
                // A oneshot without RemainAfterExit that ran looks the same before and
                // after (systemd even unloads it), but it did run: that is a change.
                let reran = state.is_oneshot_without_remain()
                    && state.job.is_none()
                    && (entry.actions.contains(&Action::Start)
                        || entry.actions.contains(&Action::Restart));
                entry.changed = self.before[i].differs_from(state) || reran;
                entry.after = Some(state.clone());
            }
        }
        if error.is_none() {
            if let Some(after) = &after {
                error = self.failed_jobs(after).or_else(|| self.judge(after));
            }
        }
        Finished {
            units: self.entries,
            error,
        }
    }

    /// The busy error of a step whose jobs outlived `--timeout`; the pending jobs go into
    /// the units' entries.
    fn timed_out(
        &mut self,
        action: Action,
        timeout: Duration,
        pending: &[(usize, Option<Job>)],
    ) -> ToolError {
        let listed: Vec<String> = pending
            .iter()
            .map(|(i, job)| match job {
                Some(job) => format!(
                    "{} ({} job {} {})",
                    self.units[*i], job.job_type, job.id, job.state
                ),
                None => self.units[*i].to_string(),
            })
            .collect();
        for (i, job) in pending {
            self.entries[*i].pending_job = job.clone();
        }
        let still: Vec<&Job> = pending.iter().filter_map(|(_, j)| j.as_ref()).collect();
        ToolError::busy(format!(
            "--timeout {} expired while {}: still queued: {}; systemd keeps working on it, check again with `svcctl status`",
            conventions::duration::format_duration(timeout),
            action.doing(),
            listed.join(", ")
        ))
        .with("jobs", still)
    }

    /// A job that ended with a result other than done or skipped fails its unit, whatever
    /// the state after looks like (a start whose dependency failed never ran at all).
    fn failed_jobs(&self, after: &[UnitState]) -> Option<ToolError> {
        let mut problems = Vec::new();
        let mut units = Vec::new();
        let mut results = serde_json::Map::new();
        for (entry, state) in self.entries.iter().zip(after) {
            let Some(result) = entry.job_result.as_ref().filter(|r| !r.succeeded()) else {
                continue;
            };
            let verb = if entry.actions.contains(&Action::Stop) {
                "did not stop"
            } else {
                "did not start"
            };
            let mut meaning = job_result_meaning(result).to_string();
            if *result == JobResult::Dependency && !self.other_failures.is_empty() {
                let failed: Vec<String> = self
                    .other_failures
                    .iter()
                    .map(|(unit, r)| format!("{unit}: {}", r.as_str()))
                    .collect();
                meaning = format!(
                    "{meaning}; jobs that failed meanwhile: {}",
                    failed.join(", ")
                );
            }
            problems.push(format!(
                "{} {verb}: its job ended with result {} ({meaning}; active={}, sub={}, result={})",
                entry.unit,
                result.as_str(),
                state.active,
                state.sub,
                state.result.as_deref().unwrap_or("unknown")
            ));
            units.push(entry.unit.clone());
            results.insert(entry.unit.clone(), result.as_str().into());
        }
        if problems.is_empty() {
            return None;
        }
        let mut error = ToolError::failed(format!(
            "{}; see the units' state in the report and `journalctl -u UNIT` for why",
            problems.join("; ")
        ))
        .with("units", units)
        .with("job_results", results);
        let dependency = self
            .entries
            .iter()
            .any(|e| e.job_result == Some(JobResult::Dependency));
        if dependency && !self.other_failures.is_empty() {
            let others: serde_json::Map<String, serde_json::Value> = self
                .other_failures
                .iter()
                .map(|(unit, r)| (unit.clone(), r.as_str().into()))
                .collect();
            error = error.with("failed_meanwhile", others);
        }
        Some(error)
    }

    /// Whether each present unit reached the verb's goal; warnings for what is odd but fine.
    fn judge(&mut self, after: &[UnitState]) -> Option<ToolError> {
        let mut problems: Vec<String> = Vec::new();
        let mut failed_units: Vec<String> = Vec::new();
        let wants_stopped = matches!(self.verb, Verb::Stop | Verb::Mask)
            || (self.verb == Verb::Disable && self.now);
        let wants_started = matches!(self.verb, Verb::Start | Verb::Restart)
            || (self.verb == Verb::Enable && self.now);
        for (i, state) in after.iter().enumerate() {
            let before = &self.before[i];
            let entry = &mut self.entries[i];
            if before.is_missing() {
                continue;
            }
            let mut problem: Option<String> = None;
            if wants_stopped {
                if !state.is_stopped() {
                    problem = Some(format!(
                        "is still running (active={}, sub={}, main_pid={})",
                        state.active, state.sub, state.main_pid
                    ));
                } else if !state.result_is_success() {
                    entry.warnings.push(format!(
                        "stopped, but systemd reports Result={} (e.g. ExecStop= failed or the unit was killed after its stop timeout)",
                        state.result.as_deref().unwrap_or("unknown")
                    ));
                }
            }
            if wants_started {
                // Its job finished (we waited for it) and it did not fail: it ran.
                let ran_ok = state.is_oneshot_without_remain()
                    && state.active == "inactive"
                    && state.result_is_success();
                if state.active != "active" && !ran_ok {
                    problem = Some(format!(
                        "did not start (active={}, sub={}, result={})",
                        state.active,
                        state.sub,
                        state.result.as_deref().unwrap_or("unknown")
                    ));
                }
            }
            match self.verb {
                Verb::Enable
                    if state.is_masked() || state.enabled.as_deref() == Some("disabled") =>
                {
                    problem.get_or_insert(format!(
                        "is not enabled (UnitFileState={})",
                        state.enabled.as_deref().unwrap_or("unknown")
                    ));
                }
                Verb::Disable if state.is_enabled() => {
                    problem.get_or_insert(format!(
                        "is still enabled (UnitFileState={})",
                        state.enabled.as_deref().unwrap_or("unknown")
                    ));
                }
                Verb::Mask if !state.is_masked() => {
                    problem.get_or_insert("is not masked".into());
                }
                Verb::Unmask if state.is_masked() => {
                    problem.get_or_insert("is still masked".into());
                }
                _ => {}
            }
            if let Some(problem) = problem {
                problems.push(format!("{} {problem}", entry.unit));
                failed_units.push(entry.unit.clone());
            }
        }
        if problems.is_empty() {
            return None;
        }
        Some(
            ToolError::failed(format!(
                "{}; see the units' state in the report and `journalctl -u UNIT` for why",
                problems.join("; ")
            ))
            .with("units", failed_units),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::parse_show;

    fn state(active: &str, enabled: &str, main_pid: u32) -> UnitState {
        let text = format!(
            "Id=x.service\nLoadState=loaded\nActiveState={active}\nSubState=x\nResult=success\n\
             UnitFileState={enabled}\nMainPID={main_pid}\nType=simple\nRemainAfterExit=no\nJob=\nInvocationID=a\n"
        );
        parse_show(&text, 1).unwrap().remove(0)
    }

    fn unit(name: &str) -> UnitName {
        UnitName::parse(name).unwrap()
    }

    #[test]
    fn steps_keep_the_design_order() {
        assert_eq!(steps(Verb::Mask, false), [Action::Stop, Action::Mask]);
        assert_eq!(
            steps(Verb::Enable, true),
            [Action::Unmask, Action::Enable, Action::Start]
        );
        assert_eq!(steps(Verb::Disable, true), [Action::Disable, Action::Stop]);
        assert!(steps(Verb::Status, false).is_empty());
    }

    #[test]
    fn plan_runs_only_what_is_needed() {
        let plan = Plan::new(
            Verb::Stop,
            false,
            vec![unit("a"), unit("b")],
            vec![
                state("active", "enabled", 7),
                state("inactive", "enabled", 0),
            ],
        );
        assert_eq!(plan.steps, vec![(Action::Stop, vec![0])]);
        assert!(plan.entries[0].changed);
        assert!(!plan.entries[1].changed);
        let sys = crate::systemctl::Systemctl::new(crate::systemctl::Manager::System);
        assert_eq!(
            plan.argvs(&sys),
            vec![vec![
                "systemctl",
                "--no-pager",
                "--no-ask-password",
                "--no-block",
                "stop",
                "--",
                "a.service"
            ]]
        );
    }

    #[test]
    fn enable_unmasks_first_and_warns_on_static_units() {
        let plan = Plan::new(
            Verb::Enable,
            false,
            vec![unit("m"), unit("s"), unit("e")],
            vec![
                state("inactive", "masked", 0),
                state("inactive", "static", 0),
                state("inactive", "enabled", 0),
            ],
        );
        assert_eq!(
            plan.steps,
            vec![(Action::Unmask, vec![0]), (Action::Enable, vec![0])]
        );
        assert!(plan.entries[0].warnings[0].contains("masked"));
        assert!(plan.entries[1].warnings[0].contains("[Install]"));
        assert!(plan.entries[2].warnings.is_empty());
    }

    #[test]
    fn missing_units_are_skipped() {
        let missing = parse_show(
            "Id=n.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\n",
            1,
        )
        .unwrap();
        let plan = Plan::new(Verb::Stop, false, vec![unit("n")], missing);
        assert!(plan.steps.is_empty());
        assert!(!plan.entries[0].present);
        assert_eq!(plan.entries[0].skipped.as_deref(), Some("not found"));
    }
}
