//! The short view of pgtruncate's report for a person at a terminal: the tables emptied
//! and the bytes freed, the cascade, what was kept, the sequences, warnings, and on error
//! the error in words with what stands in the way (the sessions holding the locks, the
//! cascade paths). The JSON has everything; this is what fits on a screen.

use crate::report::{Report, TableEntry};
use conventions::duration::human_age;
use conventions::human::{capped, human_bytes};
use conventions::{Outcome, ToolError};
use serde::Deserialize;
use std::time::Duration;

/// Emptied tables listed before the rest is counted.
const MAX_TABLES: usize = 20;
/// Cascaded tables, blockers, cascade paths, warnings: each list at most this long.
const MAX_OTHER: usize = 5;
/// Kept tables are named only when this few; otherwise counted.
const MAX_KEPT_NAMED: usize = 5;

/// The outcome with its view attached.
pub(crate) fn attach(outcome: Outcome, report: &Report) -> Outcome {
    let view = render(
        report,
        outcome.error.as_ref(),
        outcome.changed,
        outcome.dry_run,
    );
    outcome.with_view(view)
}

pub(crate) fn render(
    report: &Report,
    error: Option<&ToolError>,
    changed: bool,
    dry_run: bool,
) -> String {
    let mut lines = vec![title(report, dry_run)];
    if let Some(e) = error {
        // Every failure comes before the commit or after a rollback. The sentence with
        // what to do is the tool's last word on stderr, right after this view; here is
        // what stands in the way.
        lines.push(format!(
            "error ({}, exit {}): nothing was truncated",
            e.kind,
            e.exit_code()
        ));
        if !report.truncated.is_empty() {
            lines.push(format!(
                "  the plan: {} table(s) and {} reached by cascade, holding {}",
                report.truncated.len(),
                report.cascaded.len(),
                human_bytes(held(&report.truncated) + held(&report.cascaded))
            ));
        }
        lines.extend(error_details(e));
        lines.extend(capped(&report.warnings, MAX_OTHER, |w| {
            format!("warning: {w}")
        }));
        return lines.join("\n");
    }
    if !report.restored.is_empty() {
        restored_lines(report, dry_run, &mut lines);
    } else if changed {
        table_lines(report, dry_run, &mut lines);
    } else {
        // No statement was (or would be) sent: nothing was emptied, nothing reset.
        lines.push(match report.truncated.len() + report.cascaded.len() {
            0 => "nothing to do: no table to empty".to_string(),
            n => format!(
                "nothing to do: the {n} table(s) are already empty and their sequences fresh"
            ),
        });
    }
    if !report.kept.is_empty() {
        let mut line = format!("kept {} table(s)", report.kept.len());
        if report.kept.len() <= MAX_KEPT_NAMED {
            let names: Vec<&str> = report.kept.iter().map(|t| t.table.as_str()).collect();
            line.push_str(&format!(": {}", names.join(", ")));
        }
        lines.push(line);
    }
    if !report.missing.is_empty() {
        lines.push(format!(
            "not in this database (skipped): {} table(s)",
            report.missing.len()
        ));
    }
    if changed && !report.sequences_reset.is_empty() {
        lines.push(format!(
            "{} {} sequence(s)",
            if dry_run { "would reset" } else { "reset" },
            report.sequences_reset.len()
        ));
    }
    if !report.sequences_not_reset.is_empty() {
        lines.push(format!(
            "not reset: {} sequence(s) (see --json)",
            report.sequences_not_reset.len()
        ));
    }
    if let Some(a) = &report.archive {
        let size = match (a.bytes, a.bytes_estimate) {
            (Some(b), _) => human_bytes(b),
            (None, Some(e)) => format!("about {}", human_bytes(e)),
            (None, None) => "size unknown".to_string(),
        };
        lines.push(format!(
            "archive: {} ({size}{})",
            a.path,
            a.sha256
                .as_deref()
                .map(|d| format!(", sha256 {}", &d[..d.len().min(12)]))
                .unwrap_or_default()
        ));
    }
    lines.extend(capped(&report.warnings, MAX_OTHER, |w| {
        format!("warning: {w}")
    }));
    lines.join("\n")
}

/// `--undo`: the tables loaded back and their rows.
fn restored_lines(report: &Report, dry_run: bool, lines: &mut Vec<String>) {
    lines.push(format!(
        "{} {} table(s):",
        if dry_run { "would restore" } else { "restored" },
        report.restored.len()
    ));
    lines.extend(
        capped(&report.restored, MAX_TABLES, |t| {
            format!("{}  {} row(s)", t.table, t.rows)
        })
        .into_iter()
        .map(|l| format!("  {l}")),
    );
}

/// `pgtruncate postgresql://cornice@db:5432/cornice --dry-run: nothing was changed`.
fn title(report: &Report, dry_run: bool) -> String {
    let mut title = "pgtruncate".to_string();
    if let Some(db) = &report.database {
        title.push(' ');
        title.push_str(db);
    }
    if dry_run {
        title.push_str(" --dry-run: nothing was changed");
    }
    title
}

fn table_lines(report: &Report, dry_run: bool, lines: &mut Vec<String>) {
    lines.push(format!(
        "{} {} table(s):",
        if dry_run { "would empty" } else { "emptied" },
        report.truncated.len()
    ));
    let width = report
        .truncated
        .iter()
        .chain(&report.cascaded)
        .map(|t| t.table.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let table = |t: &TableEntry| format!("{:<width$}  {:>10}", t.table, human_bytes(freed(t)));
    lines.extend(
        capped(&report.truncated, MAX_TABLES, table)
            .into_iter()
            .map(|l| format!("  {l}")),
    );
    if !report.cascaded.is_empty() {
        lines.push(format!(
            "{} {} table(s) outside the set (--allow-cascade):",
            if dry_run {
                "cascade would empty"
            } else {
                "cascade emptied"
            },
            report.cascaded.len()
        ));
        lines.extend(
            capped(&report.cascaded, MAX_OTHER, |t| match &t.via {
                Some(via) => format!("{}  via {via}", table(t)),
                None => table(t),
            })
            .into_iter()
            .map(|l| format!("  {l}")),
        );
    }
    let total = human_bytes(report.bytes_freed.unwrap_or(0).max(0) as u64);
    lines.push(if dry_run {
        format!("total: {total} held now (an upper bound of what would be freed)")
    } else {
        format!("total: {total} freed in {} ms", report.duration_ms)
    });
}

/// The bytes a table gave back (in a dry run, what it holds now).
fn freed(t: &TableEntry) -> u64 {
    let after = t.bytes_after.unwrap_or(0);
    (t.bytes_before - after).max(0) as u64
}

fn held(tables: &[TableEntry]) -> u64 {
    tables.iter().map(|t| t.bytes_before.max(0) as u64).sum()
}

/// A session in `error.blockers`: the fields the view names.
#[derive(Deserialize)]
struct Blocker {
    pid: i32,
    user: Option<String>,
    application_name: Option<String>,
    state: Option<String>,
    state_age_s: Option<f64>,
    transaction_age_s: Option<f64>,
    query: Option<String>,
    table: Option<String>,
}

/// A path in `error.cascade_paths`: the fields the view names.
#[derive(Deserialize)]
struct CascadePath {
    table: String,
    kept_because: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    table: String,
    from: String,
}

/// What stands in the way, one per line: the sessions holding the locks, the paths the
/// cascade would take into kept tables.
fn error_details(e: &ToolError) -> Vec<String> {
    let detail = |key: &str| e.details.get(key).cloned();
    let mut lines = Vec::new();
    if let Some(blockers) =
        detail("blockers").and_then(|v| serde_json::from_value::<Vec<Blocker>>(v).ok())
    {
        if !blockers.is_empty() {
            lines.push("blocked by:".into());
        }
        lines.extend(
            capped(&blockers, MAX_OTHER, blocker_line)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    if let Some(paths) =
        detail("cascade_paths").and_then(|v| serde_json::from_value::<Vec<CascadePath>>(v).ok())
    {
        if !paths.is_empty() {
            lines.push("the cascade would reach:".into());
        }
        lines.extend(
            capped(&paths, MAX_OTHER, cascade_line)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    lines
}

/// `public.users -> public.user_profiles`, the tables only (the JSON names the keys),
/// and why the last one is not to be emptied.
fn cascade_line(p: &CascadePath) -> String {
    let mut chain: Vec<&str> = p
        .steps
        .first()
        .map(|s| s.from.as_str())
        .into_iter()
        .collect();
    chain.extend(p.steps.iter().map(|s| s.table.as_str()));
    if chain.is_empty() {
        chain.push(&p.table);
    }
    format!("{} ({})", chain.join(" -> "), p.kept_because)
}

/// `pid 4121 cornice, idle in transaction for 3m, on public.requests: SELECT ...`.
fn blocker_line(b: &Blocker) -> String {
    let who = b
        .application_name
        .as_deref()
        .filter(|a| !a.is_empty())
        .or(b.user.as_deref())
        .unwrap_or("unknown");
    let mut line = format!(
        "pid {} ({who}, {}",
        b.pid,
        b.state.as_deref().unwrap_or("unknown state")
    );
    if let Some(age) = b.state_age_s.or(b.transaction_age_s) {
        line.push_str(&format!(
            " for {}",
            human_age(Duration::from_secs_f64(age.max(0.0)))
        ));
    }
    line.push(')');
    if let Some(table) = &b.table {
        line.push_str(&format!(" on {table}"));
    }
    if let Some(query) = b.query.as_deref().filter(|q| !q.is_empty()) {
        let query: String = query.split_whitespace().collect::<Vec<_>>().join(" ");
        let query: String = query.chars().take(60).collect();
        line.push_str(&format!(": {query}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(name: &str, before: i64, after: Option<i64>) -> TableEntry {
        TableEntry {
            table: name.into(),
            group: None,
            bytes_before: before,
            bytes_after: after,
            rows_estimate: None,
            partitions: None,
            via: None,
            reason: None,
        }
    }

    #[test]
    fn tables_bytes_kept_and_sequences_in_a_few_lines() {
        let report = Report {
            database: Some("postgresql://u@h:5432/db".into()),
            truncated: vec![
                entry("public.a", 16384, Some(8192)),
                entry("public.b", 2048, Some(0)),
            ],
            kept: vec![entry("public.users", 100, None)],
            sequences_reset: vec!["public.a_id_seq".into()],
            bytes_freed: Some(10240),
            duration_ms: 12,
            ..Report::default()
        };
        assert_eq!(
            render(&report, None, true, false),
            "pgtruncate postgresql://u@h:5432/db\nemptied 2 table(s):\n  public.a     8.0 KiB\n  public.b     2.0 KiB\ntotal: 10.0 KiB freed in 12 ms\nkept 1 table(s): public.users\nreset 1 sequence(s)"
        );
    }

    #[test]
    fn a_lock_timeout_names_each_blocker_on_a_line() {
        let e = ToolError::busy("table public.requests is locked").with(
            "blockers",
            json!([{"pid": 7, "user": "cornice", "application_name": "", "state": "idle in transaction",
                    "transaction_age_s": 200.0, "state_age_s": 180.0, "query": "SELECT\n 1", "table": "public.requests"}]),
        );
        let view = render(&Report::default(), Some(&e), false, false);
        assert_eq!(
            view,
            "pgtruncate\nerror (busy, exit 5): nothing was truncated\nblocked by:\n  pid 7 (cornice, idle in transaction for 3m) on public.requests: SELECT 1"
        );
    }
}
