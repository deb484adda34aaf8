//! Each verb as a plan of systemctl steps decided from the state before, run one step at a
//! time for all units together, then judged from the state after.

use crate::state::{parse_jobs, parse_show, Job, UnitState, PROPERTIES};
use crate::systemctl::{diagnose, Systemctl};
use crate::unit_name::UnitName;
use crate::Verb;
use conventions::ToolError;
use serde::Serialize;
use std::time::{Duration, Instant};

/// One systemctl verb svcctl may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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

impl Action {
    /// systemctl's arguments. Jobs are queued with `--no-block` and polled, so a timeout
    /// is svcctl's to enforce and report.
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

    /// Whether the action queues a job that must be waited for.
    fn is_job(self) -> bool {
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

/// One unit's entry in the report.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    pub unit: String,
    pub present: bool,
    pub changed: bool,
    /// Why nothing was done for the unit, or null.
    pub skipped: Option<String>,
    /// The systemctl verbs run (or, in a dry run, that would run) for this unit.
    pub actions: Vec<Action>,
    pub before: Option<UnitState>,
    pub after: Option<UnitState>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The job still queued when `--timeout` expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_job: Option<Job>,
}

/// Reads the state of all `units` in one `systemctl show`.
pub fn read_states(
    systemctl: &mut Systemctl,
    units: &[UnitName],
) -> Result<Vec<UnitState>, ToolError> {
    let refs: Vec<&UnitName> = units.iter().collect();
    let argv = systemctl.argv(&["show", "-p", PROPERTIES], &refs);
    let reply = systemctl.run(argv)?;
    if let Some(err) = diagnose(&reply).into_error("reading unit state") {
        return Err(err);
    }
    parse_show(&reply.stdout, units.len()).map_err(|e| {
        ToolError::failed(format!(
            "cannot read unit state: {e}; run `systemctl show` on these units by hand to see why"
        ))
    })
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
        }
    }

    /// The argv of each planned step, without running any.
    pub fn argvs(&self, systemctl: &Systemctl) -> Vec<Vec<String>> {
        self.steps
            .iter()
            .map(|(action, which)| {
                let units: Vec<&UnitName> = which.iter().map(|&i| &self.units[i]).collect();
                systemctl.argv(action.args(), &units)
            })
            .collect()
    }

    /// Runs the steps, waits for their jobs, reads the state after and judges it.
    pub fn execute(
        mut self,
        systemctl: &mut Systemctl,
        timeout: Duration,
        progress: &dyn Fn(&str),
    ) -> Finished {
        let mut after: Option<Vec<UnitState>> = None;
        let mut error: Option<ToolError> = None;
        let steps = std::mem::take(&mut self.steps);
        for (action, which) in &steps {
            let units: Vec<&UnitName> = which.iter().map(|&i| &self.units[i]).collect();
            let names: Vec<String> = units.iter().map(|u| u.to_string()).collect();
            progress(&format!("{} {}", action.doing(), names.join(" ")));
            let argv = systemctl.argv(action.args(), &units);
            let reply = match systemctl.run(argv) {
                Ok(reply) => reply,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            after = None;
            if let Some(e) =
                diagnose(&reply).into_error(&format!("{} {}", action.doing(), names.join(", ")))
            {
                error = Some(e.with("units", &names));
                break;
            }
            if action.is_job() {
                match self.wait_for_jobs(systemctl, which, timeout) {
                    Ok(states) => after = Some(states),
                    Err(Waited::Failed(e)) => {
                        error = Some(e);
                        break;
                    }
                    Err(Waited::TimedOut(states, pending)) => {
                        let jobs = self.pending_jobs(systemctl, &states, &pending);
                        let listed: Vec<String> = pending
                            .iter()
                            .map(|&i| match &jobs[i] {
                                Some(job) => format!(
                                    "{} ({} job {} {})",
                                    self.units[i], job.job_type, job.id, job.state
                                ),
                                None => self.units[i].to_string(),
                            })
                            .collect();
                        for &i in &pending {
                            self.entries[i].pending_job = jobs[i].clone();
                        }
                        let still: Vec<&Job> = jobs.iter().flatten().collect();
                        error = Some(
                            ToolError::busy(format!(
                                "--timeout {} expired while {}: still queued: {}; systemd keeps working on it, check again with `svcctl status`",
                                conventions::duration::format_duration(timeout),
                                action.doing(),
                                listed.join(", ")
                            ))
                            .with("jobs", still),
                        );
                        after = Some(states);
                        break;
                    }
                }
            }
        }
        // The state after: the last poll's if nothing ran since, else one more read.
        let after = match after {
            Some(states) => Some(states),
            None if steps.is_empty() => Some(self.before.clone()),
            None => match read_states(systemctl, &self.units) {
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
                error = self.judge(after);
            }
        }
        Finished {
            units: self.entries,
            error,
        }
    }

    /// Polls `show` until none of `which` has a job, or the deadline passes.
    fn wait_for_jobs(
        &self,
        systemctl: &mut Systemctl,
        which: &[usize],
        timeout: Duration,
    ) -> Result<Vec<UnitState>, Waited> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let states = read_states(systemctl, &self.units).map_err(Waited::Failed)?;
            let pending: Vec<usize> = which
                .iter()
                .copied()
                .filter(|&i| states[i].job.is_some())
                .collect();
            if pending.is_empty() {
                return Ok(states);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Waited::TimedOut(states, pending));
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The queued jobs of the `pending` units, by unit index, from `systemctl list-jobs`
    /// (falling back to the Job property when list-jobs says nothing).
    fn pending_jobs(
        &self,
        systemctl: &mut Systemctl,
        states: &[UnitState],
        pending: &[usize],
    ) -> Vec<Option<Job>> {
        let units: Vec<&UnitName> = pending.iter().map(|&i| &self.units[i]).collect();
        let argv = systemctl.argv(&["list-jobs", "--no-legend"], &units);
        let listed = systemctl
            .run(argv)
            .map(|r| parse_jobs(&r.stdout))
            .unwrap_or_default();
        (0..self.units.len())
            .map(|i| {
                if !pending.contains(&i) {
                    return None;
                }
                let name = self.units[i].as_str();
                listed.iter().find(|j| j.unit == name).cloned().or_else(|| {
                    states[i].job.map(|id| Job {
                        id,
                        unit: name.to_string(),
                        job_type: "unknown".into(),
                        state: "unknown".into(),
                    })
                })
            })
            .collect()
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

enum Waited {
    Failed(ToolError),
    TimedOut(Vec<UnitState>, Vec<usize>),
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
        let sys = Systemctl::new(crate::systemctl::Manager::System);
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
