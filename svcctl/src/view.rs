//! The short view of svcctl's report for a person at a terminal: one line per unit (its
//! state before and after, what was done, the job's result), warnings, and the error in
//! words. The JSON has everything (commands, D-Bus calls); this is what fits on a screen.

use crate::report::{Action, Report, UnitReport, UnitState, Verb};
use conventions::human::capped;
use conventions::ToolError;

/// Units listed before the rest is counted.
const MAX_UNITS: usize = 30;

/// The view of a run: its report (none when it failed before reaching the manager), its
/// error.
pub(crate) fn render(
    verb: Verb,
    report: Option<&Report>,
    error: Option<&ToolError>,
    dry_run: bool,
) -> String {
    let mut title = format!("svcctl {}", verb_word(verb));
    if dry_run {
        title.push_str(" --dry-run: nothing was changed");
    }
    let mut lines = vec![title];
    if let Some(report) = report {
        let width = report
            .units
            .iter()
            .map(|u| u.unit.chars().count())
            .max()
            .unwrap_or(0)
            .min(40);
        lines.extend(
            capped(&report.units, MAX_UNITS, |u| {
                unit_line(u, report.verb, width, dry_run)
            })
            .into_iter()
            .map(|l| format!("  {l}")),
        );
        for u in &report.units {
            for w in &u.warnings {
                lines.push(format!("warning: {}: {w}", u.unit));
            }
        }
    }
    if let Some(e) = error {
        // The sentence with what to do is the tool's last word on stderr, right after.
        lines.push(format!("error ({}, exit {})", e.kind, e.exit_code()));
    }
    lines.join("\n")
}

/// `cornice.service  active/enabled -> inactive/enabled  stop: job done`.
fn unit_line(u: &UnitReport, verb: Verb, width: usize, dry_run: bool) -> String {
    let name = format!("{:<width$}", u.unit);
    if !u.present {
        return format!(
            "{name}  not found{}",
            if verb == Verb::Status {
                ""
            } else {
                ", skipped"
            }
        );
    }
    let before = u.before.as_ref().map_or_else(|| "?".to_string(), state);
    if verb == Verb::Status {
        return format!("{name}  {}", status(u.before.as_ref()));
    }
    let actions: Vec<&str> = u.actions.iter().map(|a| action_word(*a)).collect();
    if dry_run {
        return if actions.is_empty() {
            format!("{name}  {before}  nothing to do")
        } else {
            format!("{name}  {before}  would {}", actions.join(", "))
        };
    }
    let after = u.after.as_ref().map_or_else(|| "?".to_string(), state);
    let mut line = format!("{name}  {before} -> {after}");
    match (actions.is_empty(), u.changed) {
        (true, _) => line.push_str("  nothing to do"),
        (false, true) => line.push_str(&format!("  {}", actions.join(", "))),
        (false, false) => line.push_str(&format!("  {} (no change)", actions.join(", "))),
    }
    if let Some(result) = &u.job_result {
        line.push_str(&format!(": job {}", result.as_str()));
    }
    if let Some(job) = &u.pending_job {
        line.push_str(&format!(
            "; job {} {} still {}",
            job.id, job.job_type, job.state
        ));
    }
    if let Some(why) = &u.skipped {
        line.push_str(&format!(" (skipped: {why})"));
    }
    line
}

/// `active/enabled`: the two states a hold changes.
fn state(s: &UnitState) -> String {
    format!("{}/{}", s.active, s.enabled.as_deref().unwrap_or("-"))
}

/// `active (running)/enabled, pid 4121`.
fn status(s: Option<&UnitState>) -> String {
    let Some(s) = s else {
        return "?".into();
    };
    let mut text = format!(
        "{} ({})/{}",
        s.active,
        s.sub,
        s.enabled.as_deref().unwrap_or("-")
    );
    if s.main_pid != 0 {
        text.push_str(&format!(", pid {}", s.main_pid));
    }
    if let Some(result) = s.result.as_deref().filter(|r| *r != "success") {
        text.push_str(&format!(", last result {result}"));
    }
    text
}

fn verb_word(verb: Verb) -> &'static str {
    match verb {
        Verb::Status => "status",
        Verb::Start => "start",
        Verb::Stop => "stop",
        Verb::Restart => "restart",
        Verb::Enable => "enable",
        Verb::Disable => "disable",
        Verb::Mask => "mask",
        Verb::Unmask => "unmask",
    }
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Unmask => "unmask",
        Action::Enable => "enable",
        Action::Disable => "disable",
        Action::Mask => "mask",
        Action::Start => "start",
        Action::Stop => "stop",
        Action::Restart => "restart",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{JobResult, Transport};

    fn unit_state(active: &str, enabled: &str) -> UnitState {
        UnitState {
            load: "loaded".into(),
            active: active.into(),
            sub: if active == "active" {
                "running"
            } else {
                "dead"
            }
            .into(),
            result: Some("success".into()),
            enabled: Some(enabled.into()),
            main_pid: 0,
            environment_files: Vec::new(),
            service_type: None,
            remain_after_exit: false,
            job: None,
            invocation_id: None,
        }
    }

    fn unit(name: &str, present: bool, after: Option<UnitState>) -> UnitReport {
        UnitReport {
            unit: name.into(),
            present,
            changed: after.is_some(),
            skipped: (!present).then(|| "not found".into()),
            actions: if after.is_some() {
                vec![Action::Stop]
            } else {
                vec![]
            },
            before: present.then(|| unit_state("active", "enabled")),
            after,
            warnings: Vec::new(),
            job_result: None,
            pending_job: None,
        }
    }

    fn report(units: Vec<UnitReport>) -> Report {
        Report {
            verb: Verb::Stop,
            transport: Transport::Private,
            commands: Vec::new(),
            would_run: None,
            dbus_calls: Vec::new(),
            would_call: None,
            changes: Vec::new(),
            units,
        }
    }

    #[test]
    fn one_line_per_unit_before_and_after_with_the_job_result() {
        let mut stopped = unit("a.service", true, Some(unit_state("inactive", "enabled")));
        stopped.job_result = Some(JobResult::Done);
        let r = report(vec![stopped, unit("ghost.service", false, None)]);
        assert_eq!(
            render(Verb::Stop, Some(&r), None, false),
            "svcctl stop\n  a.service      active/enabled -> inactive/enabled  stop: job done\n  ghost.service  not found, skipped"
        );
        let planned = report(vec![unit("a.service", true, Some(unit_state("x", "y")))]);
        assert_eq!(
            render(Verb::Stop, Some(&planned), None, true),
            "svcctl stop --dry-run: nothing was changed\n  a.service  active/enabled  would stop"
        );
    }
}
