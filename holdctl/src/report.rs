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
    report.steps = chain.records.into_iter().map(step_of).collect();
    report.not_run = chain.not_run.iter().map(|n| n.to_string()).collect();
    match error.or(chain.error) {
        Some(e) => Outcome::failure_with(e, &report, changed, dry_run),
        None => Outcome::success(&report, changed, dry_run),
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
                    human_bytes(bytes.max(0) as u64)
                )
            }
            Err(e) => e.message,
        },
        _ if record.changed => "change".to_string(),
        _ => "nothing to do".to_string(),
    };
    format!("{:<16} {what}   ({})", record.name, record.argv.join(" "))
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(150 * 1024 * 1024), "150.0 MiB");
    }
}
