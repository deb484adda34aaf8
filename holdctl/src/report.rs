//! holdctl's own report: the steps with their children's reports, what was not run, and
//! for status the flags, units and tables read out of those reports.

use crate::child::StepRecord;
use crate::Chain;
use conventions::{Outcome, ToolError};
use reports::holdctl::{Step, TableStatus, UnitStatus};

pub use reports::holdctl::Report;

/// A new report for `command`.
pub fn new(command: &str) -> Report {
    Report {
        command: command.to_string(),
        ..Report::default()
    }
}

/// The outcome: `changed` is any step's (never for status), the error the first failure.
pub fn finish(
    mut report: Report,
    chain: Chain,
    error: Option<ToolError>,
    steps_change: bool,
    dry_run: bool,
) -> Outcome {
    let changed = steps_change && chain.records.iter().any(|r| r.changed);
    if error.is_none() && chain.error.is_none() {
        chain
            .out
            .progress(&summary(&report, &chain.records, dry_run));
    }
    report.steps = chain.records.into_iter().map(step_of).collect();
    report.not_run = chain.not_run.iter().map(|n| n.to_string()).collect();
    match error.or(chain.error) {
        Some(e) => Outcome::failure_with(e, &report, changed, dry_run),
        None => Outcome::success(&report, changed, dry_run),
    }
}

/// The one line a person reads: `hibernated: flags set, 2 units stopped and disabled,
/// 39.8 MiB freed`.
fn summary(report: &Report, records: &[StepRecord], dry_run: bool) -> String {
    use conventions::human::human_bytes;
    let step = |name: &'static str| records.iter().filter(move |r| r.name == name);
    let flags_changed = step("set_flags")
        .chain(step("clear_flags"))
        .any(|r| r.changed);
    let units_changed = |name: &'static str| -> usize {
        step(name)
            .filter_map(|r| r.decode::<reports::svcctl::Report>().ok()?.report)
            .flat_map(|r| r.units)
            .filter(|u| u.changed)
            .count()
    };
    let truncate = step("truncate")
        .filter_map(|r| r.decode::<reports::pgtruncate::Report>().ok()?.report)
        .next();
    let freed = truncate
        .as_ref()
        .map(|t| human_bytes(t.bytes_freed.unwrap_or(0).max(0) as u64))
        .unwrap_or_else(|| human_bytes(0));
    let flags = if flags_changed {
        "flags set"
    } else {
        "flags already set"
    };
    match report.command.as_str() {
        "status" => {
            let state = match report.env.as_ref().map(|e| e.hibernating) {
                Some(true) => "hibernating",
                Some(false) => "awake",
                None => "flags unknown",
            };
            let units: Vec<String> = report
                .units
                .iter()
                .flatten()
                .filter(|u| u.present)
                .map(|u| {
                    format!(
                        "{} {}/{}",
                        u.unit,
                        u.active.as_deref().unwrap_or("?"),
                        u.enabled.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            format!(
                "status: {state}; {}; runtime tables hold {}",
                units.join(", "),
                human_bytes(report.runtime_bytes.unwrap_or(0))
            )
        }
        "wake" => format!(
            "{}: {}, {} unit(s) enabled and started; no data was restored",
            if dry_run { "wake (dry run)" } else { "woke" },
            if flags_changed { "flags cleared" } else { "flags already clear" },
            units_changed("enable_units")
        ),
        _ if dry_run => format!(
            "plan: hibernate would {}, stop and disable {} unit(s), empty {} table(s) holding {freed}",
            if flags_changed { "set the flags" } else { "leave the flags (already set)" },
            units_changed("stop_units").max(units_changed("disable_units")),
            truncate.as_ref().map_or(0, |t| t.truncated.len()),
        ),
        _ => format!(
            "hibernated: {flags}, {} unit(s) stopped and {} disabled, {freed} freed",
            units_changed("stop_units"),
            units_changed("disable_units")
        ),
    }
}

fn step_of(r: StepRecord) -> Step {
    Step {
        name: r.name.to_string(),
        argv: r.argv,
        exit_code: r.exit_code,
        ok: r.ok,
        changed: r.changed,
        report: r.report,
    }
}

/// status: the runtime tables' sizes, out of the `read_tables` step's report.
pub fn fill_status(report: &mut Report, records: &[StepRecord]) {
    let Some(record) = records.iter().find(|r| r.ok && r.name == "read_tables") else {
        return;
    };
    let Some(tables) = record
        .decode::<reports::pgtruncate::Report>()
        .ok()
        .and_then(|e| e.report)
    else {
        return;
    };
    let tables: Vec<TableStatus> = tables
        .truncated
        .into_iter()
        .map(|t| TableStatus {
            table: t.table,
            bytes: t.bytes_before,
            rows_estimate: t.rows_estimate,
        })
        .collect();
    report.runtime_bytes = Some(tables.iter().map(|t| t.bytes.max(0) as u64).sum());
    report.tables = Some(tables);
}

/// status: the units of an `svcctl status` report, reduced to what status shows.
pub fn units(svcctl: &reports::svcctl::Report) -> Vec<UnitStatus> {
    svcctl
        .units
        .iter()
        .map(|u| {
            let state = u.after.as_ref().or(u.before.as_ref());
            UnitStatus {
                unit: u.unit.clone(),
                present: u.present,
                active: state.map(|s| s.active.clone()),
                sub: state.map(|s| s.sub.clone()),
                enabled: state.and_then(|s| s.enabled.clone()),
                main_pid: state.map(|s| s.main_pid),
            }
        })
        .collect()
}

/// One line for the confirmation prompt: what a dry-run step would do.
pub fn describe(record: &StepRecord) -> String {
    let what = match record.name {
        "truncate" => match record.decode::<reports::pgtruncate::Report>() {
            Ok(e) => {
                let truncated = e.report.map(|r| r.truncated).unwrap_or_default();
                let bytes: i64 = truncated.iter().map(|t| t.bytes_before).sum();
                format!(
                    "empty {} tables holding {}",
                    truncated.len(),
                    conventions::human::human_bytes(bytes.max(0) as u64)
                )
            }
            Err(e) => e.message,
        },
        _ if record.changed => "change".to_string(),
        _ => "nothing to do".to_string(),
    };
    format!("{:<16} {what}   ({})", record.name, record.argv.join(" "))
}
