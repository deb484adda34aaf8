//! The short view of envpatch's report for a person at a terminal: the file, one line per
//! key (set, unset, unchanged; with `--get` the values read), the backup, warnings, and
//! the error in words. The JSON has everything; this is what fits on a screen.

use crate::report::{Action, Change, Report};
use conventions::human::capped;
use conventions::secrets;
use conventions::ToolError;

/// Keys listed before the rest is counted.
const MAX_KEYS: usize = 25;
/// Longer values are cut: a view line is read, not copied.
const MAX_VALUE_CHARS: usize = 80;

/// The view of a run on `file` (FILE as given): its report (none when it failed before
/// reading the file), its error.
pub(crate) fn render(
    file: &str,
    report: Option<&Report>,
    error: Option<&ToolError>,
    dry_run: bool,
) -> String {
    let mut lines = Vec::new();
    if let Some(report) = report {
        report_lines(report, dry_run, &mut lines);
    } else {
        lines.push(format!(
            "envpatch {file}{}: nothing was changed",
            if dry_run { " --dry-run" } else { "" }
        ));
    }
    if let Some(e) = error {
        // The sentence with what to do is the tool's last word on stderr, right after.
        lines.push(format!("error ({}, exit {})", e.kind, e.exit_code()));
    }
    lines.join("\n")
}

fn report_lines(report: &Report, dry_run: bool, lines: &mut Vec<String>) {
    let mut title = format!("envpatch {}", report.file);
    if report.target != report.file {
        title.push_str(&format!(" (-> {})", report.target));
    }
    if dry_run {
        title.push_str(" --dry-run: nothing was changed");
    }
    lines.push(title);
    if report.created {
        lines.push(format!(
            "  {} the file (mode 0600)",
            if dry_run { "would create" } else { "created" }
        ));
    }
    lines.extend(
        capped(&report.changes, MAX_KEYS, |c| change_line(c, dry_run))
            .into_iter()
            .map(|l| format!("  {l}")),
    );
    let read: Vec<(&String, &Option<String>)> = report.values.iter().collect();
    lines.extend(
        capped(&read, MAX_KEYS, |(key, value)| {
            let systemd = report.values_by_reader.systemd.get(*key);
            let mut line = match value {
                Some(v) => format!("{key}={}", shown(key, v)),
                None => format!("{key} is not set"),
            };
            // The app (python-dotenv) and systemd read the file apart: say so.
            if let Some(other) = systemd.filter(|s| *s != *value) {
                line.push_str(&match other {
                    Some(v) => format!(" (systemd reads {})", shown(key, v)),
                    None => " (systemd reads it as not set)".to_string(),
                });
            }
            line
        })
        .into_iter()
        .map(|l| format!("  {l}")),
    );
    if let Some(backup) = &report.backup {
        lines.push(if dry_run {
            format!("backup: would keep the old content in {backup}")
        } else {
            format!("backup: {backup}")
        });
    }
    for w in &report.warnings {
        lines.push(match w.line {
            Some(n) => format!("warning: line {n}: {}", w.message),
            None => format!("warning: {}", w.message),
        });
    }
}

/// `set HIBERNATE_MODE=true (was false)`, `would unset OLD_FLAG (was 1)`.
fn change_line(c: &Change, dry_run: bool) -> String {
    let key = &c.key;
    let new = c.new.as_deref().map(|v| shown(key, v)).unwrap_or_default();
    let was = match &c.old {
        Some(v) => format!(" (was {})", shown(key, v)),
        None => String::new(),
    };
    let (done, would) = match c.action {
        Action::Updated => ("set", "would set"),
        Action::Added => ("added", "would add"),
        Action::Removed => ("unset", "would unset"),
        Action::Unchanged => return format!("unchanged {key}={new}"),
        Action::Absent => return format!("unchanged {key} (not set)"),
    };
    let verb = if dry_run { would } else { done };
    match c.action {
        Action::Removed => format!("{verb} {key}{was}"),
        _ => format!("{verb} {key}={new}{was}"),
    }
}

/// A value as the view may show it: through the secrets rule (the report's values are
/// already redacted; this keeps the view safe on its own), cut when long.
fn shown(key: &str, value: &str) -> String {
    let value = if value == secrets::REDACTED {
        value.to_string()
    } else {
        secrets::redact_value(key, value)
    };
    if value.chars().count() > MAX_VALUE_CHARS {
        let cut: String = value.chars().take(MAX_VALUE_CHARS - 3).collect();
        format!("{cut}...")
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ValuesByReader;

    fn report(changes: Vec<Change>) -> Report {
        Report {
            file: "/etc/app.env".into(),
            target: "/etc/app.env".into(),
            created: false,
            backup: None,
            changes,
            values: Default::default(),
            values_by_reader: ValuesByReader::default(),
            warnings: Vec::new(),
        }
    }

    fn change(key: &str, action: Action, old: Option<&str>, new: Option<&str>) -> Change {
        Change {
            key: key.into(),
            action,
            old: old.map(Into::into),
            new: new.map(Into::into),
            lines: vec![1],
        }
    }

    #[test]
    fn each_key_on_a_line_secrets_redacted_and_dry_runs_say_would() {
        let r = report(vec![
            change(
                "HIBERNATE_MODE",
                Action::Updated,
                Some("false"),
                Some("true"),
            ),
            change("API_TOKEN", Action::Added, None, Some("tok-planted-123")),
            change("OLD", Action::Removed, Some("1"), None),
            change("SAME", Action::Unchanged, Some("x"), Some("x")),
        ]);
        let view = render("/etc/app.env", Some(&r), None, false);
        assert_eq!(
            view,
            "envpatch /etc/app.env\n  set HIBERNATE_MODE=true (was false)\n  added API_TOKEN=<redacted>\n  unset OLD (was 1)\n  unchanged SAME=x"
        );
        let view = render("/etc/app.env", Some(&r), None, true);
        assert!(view.starts_with("envpatch /etc/app.env --dry-run: nothing was changed\n"));
        assert!(view.contains("would set HIBERNATE_MODE=true"));
        assert!(view.contains("would unset OLD"));
    }

    #[test]
    fn a_long_list_is_cut() {
        let changes = (0..100)
            .map(|i| change(&format!("K{i}"), Action::Added, None, Some("v")))
            .collect();
        let view = render("/etc/app.env", Some(&report(changes)), None, false);
        assert_eq!(view.lines().count(), 1 + MAX_KEYS);
        assert!(view.ends_with("... and 76 more"), "{view}");
    }
}
