//! The short view of a report for a person at a terminal: one line per step (the units,
//! keys and tables by name, the bytes), the hold record, warnings, and the error with
//! what to do. The JSON has everything; this is what fits on a screen.

use crate::child::{ChildReport, StepRecord};
use crate::report::Report;
use conventions::human::human_bytes;
use conventions::ToolError;
use reports::holdctl::StepName;

/// The view of `report`; `records` and `preflight` are its steps, decoded.
pub fn render(
    report: &Report,
    records: &[StepRecord],
    preflight: &[StepRecord],
    error: Option<&ToolError>,
    dry_run: bool,
) -> String {
    let mut lines = Vec::new();
    let title = match (report.command.as_str(), dry_run) {
        ("plan", _) => "holdctl plan: what hibernate would do (nothing was changed)".to_string(),
        (command, true) => format!("holdctl {command} --dry-run (nothing was changed)"),
        (command, false) => format!("holdctl {command}"),
    };
    lines.push(title);
    if let Some(p) = &report.profile {
        lines.push(format!("  profile: {} ({})", p.name, p.source));
    }
    for p in report.profiles.iter().flatten() {
        let what = match (&p.error, &p.description) {
            (Some(e), _) => format!("unusable: {e}"),
            (None, Some(d)) => d.clone(),
            (None, None) => String::new(),
        };
        lines.push(format!("  {:<14} {:<30} {what}", p.name, p.source));
    }
    if report.command == "status" {
        status_lines(report, &mut lines);
    }
    // A preflight that failed is what the person needs to see; one that passed is
    // repeated by the steps that ran.
    let shown: Vec<&StepRecord> = if records.iter().all(|r| {
        matches!(
            r.name,
            StepName::ReadUnits | StepName::ReadFlags | StepName::ReadTables
        )
    }) && preflight.iter().any(|r| !r.ok)
    {
        lines.push("checked first (dry runs):".into());
        preflight.iter().collect()
    } else {
        records
            .iter()
            .filter(|r| {
                report.command != "status"
                    || !r.ok
                    || !matches!(
                        r.name,
                        StepName::ReadUnits | StepName::ReadFlags | StepName::ReadTables
                    )
            })
            .collect()
    };
    for record in shown {
        lines.push(step_line(record));
    }
    if !report.not_run.is_empty() {
        let names: Vec<&str> = report.not_run.iter().map(|n| n.as_str()).collect();
        lines.push(format!("  not run: {}", names.join(", ")));
    }
    if let Some(hold) = &report.hold {
        let mut options: Vec<String> = hold
            .options
            .include
            .iter()
            .map(|i| format!("--include {i}"))
            .collect();
        // A record of an older holdctl has only the runbook's flags.
        for ((flag, name), on) in crate::cli::INCLUDE_SPELLINGS.into_iter().zip([
            hold.options.include_opportunities,
            hold.options.include_auth,
        ]) {
            if on && !hold.options.include.iter().any(|i| i == name) {
                options.push(flag.to_string());
            }
        }
        if hold.options.keep_api {
            options.push("--keep-api".into());
        }
        if let Some(p) = &hold.options.profile {
            options.push(format!("--profile {}", p.name));
        }
        lines.push(format!(
            "hold: since {} by {} on {}{}",
            hold.since,
            hold.by,
            hold.host,
            if options.is_empty() {
                String::new()
            } else {
                format!(", with {}", options.join(" "))
            }
        ));
    }
    if let Some(archive) = report.hold.as_ref().and_then(|h| h.archive.as_ref()) {
        let rows: u64 = archive.tables.iter().map(|t| t.rows).sum();
        lines.push(format!(
            "archive: {} ({} rows in {} tables, sha256 {})",
            archive.path,
            rows,
            archive.tables.len(),
            archive.sha256.as_deref().unwrap_or("-")
        ));
    }
    if let Some(file) = &report.hold_file {
        lines.push(format!("hold record: {file}"));
    }
    if let Some(note) = &report.note {
        lines.push(format!("note: {note}"));
    }
    for warning in &report.warnings {
        lines.push(format!("warning: {warning}"));
    }
    if let Some(e) = error {
        lines.push(format!("error ({}): {}", e.kind, e.message));
    }
    lines.join("\n")
}

fn status_lines(report: &Report, lines: &mut Vec<String>) {
    if let Some(env) = &report.env {
        let flags: Vec<String> = env
            .values
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(unset)")))
            .collect();
        lines.push(format!(
            "  flags: {} ({})",
            flags.join(" "),
            if env.hibernating { "on hold" } else { "awake" }
        ));
        lines.push(format!("  env files: {}", env.files.join(", ")));
    }
    for u in report.units.iter().flatten() {
        if u.present {
            lines.push(format!(
                "  unit {}: {}, {}",
                u.unit,
                u.active.as_deref().unwrap_or("?"),
                u.enabled.as_deref().unwrap_or("?")
            ));
        } else {
            lines.push(format!("  unit {}: does not exist", u.unit));
        }
    }
    if let Some(tables) = &report.tables {
        let names: Vec<&str> = tables.iter().map(|t| t.table.as_str()).collect();
        lines.push(format!(
            "  runtime tables: {} holding {}: {}",
            tables.len(),
            human_bytes(report.runtime_bytes.unwrap_or(0)),
            names.join(", ")
        ));
    }
}

/// `  stop_units     changed   app.service, app-worker.service`
pub fn step_line(record: &StepRecord) -> String {
    let verdict = match (record.ok, record.changed, record.dry_run) {
        (false, _, _) => format!(
            "FAILED (exit {})",
            record.exit_code.map_or("-".into(), |c| c.to_string())
        ),
        (true, true, true) => "would change".into(),
        (true, true, false) => "changed".into(),
        (true, false, _) => "no change".into(),
    };
    format!(
        "  {:<14} {:<13} {}",
        record.name.as_str(),
        verdict,
        what(record)
    )
}

/// What a step did or would do, by name.
fn what(record: &StepRecord) -> String {
    match &record.child {
        Some(ChildReport::Envpatch(r)) if r.changes.is_empty() => {
            let values: Vec<String> = r
                .values_by_reader
                .systemd
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(unset)")))
                .collect();
            format!("{}: {}", r.file, values.join(" "))
        }
        Some(ChildReport::Envpatch(r)) => {
            let changes: Vec<String> = r
                .changes
                .iter()
                .map(|c| match &c.new {
                    Some(v) => format!("{}={v}", c.key),
                    None => format!("{} unset", c.key),
                })
                .collect();
            format!("{}: {}", r.file, changes.join(" "))
        }
        Some(ChildReport::Svcctl(r)) => {
            let units: Vec<String> = r
                .units
                .iter()
                .map(|u| {
                    let state = u.after.as_ref().or(u.before.as_ref());
                    match (u.present, state) {
                        (false, _) => format!("{} (absent)", u.unit),
                        (true, Some(s)) => format!(
                            "{} {}/{}",
                            u.unit,
                            s.active,
                            s.enabled.as_deref().unwrap_or("-")
                        ),
                        (true, None) => u.unit.clone(),
                    }
                })
                .collect();
            units.join(", ")
        }
        Some(ChildReport::Pgtruncate(r)) => {
            let names: Vec<&str> = r.truncated.iter().map(|t| t.table.as_str()).collect();
            format!(
                "{} table(s), {} {}: {}",
                names.len(),
                crate::report::freed(Some(r)),
                if record.dry_run { "to free" } else { "freed" },
                names.join(", ")
            )
        }
        None => record.argv.join(" "),
    }
}
