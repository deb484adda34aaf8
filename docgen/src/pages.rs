//! The man-page sections clap cannot know: exit status, the JSON report, examples from
//! the runbook. Kept here, next to the generator, in plain text; `roff` escapes it.

/// The sections appended after clap_mangen's page for `tool`.
pub fn extra_sections(tool: &str) -> String {
    let mut out = String::new();
    section(&mut out, "JSON OUTPUT", &[json_text(tool), ENVELOPE]);
    section(&mut out, "EXIT STATUS", &[]);
    for (code, kind, meaning) in EXIT_CODES {
        out.push_str(&format!(
            ".TP\n\\fB{code}\\fR ({})\n{}\n",
            roff(kind),
            roff(meaning)
        ));
    }
    section(&mut out, "ENVIRONMENT", &[]);
    for (name, what) in crate::environment::variables(tool) {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(name), roff(what)));
    }
    if let Some(note) = crate::environment::note(tool) {
        out.push_str(&format!(".PP\n{}\n", roff(note)));
    }
    section(&mut out, "EXAMPLES", &[]);
    for (what, command) in examples(tool) {
        out.push_str(&format!(
            ".PP\n{}\n.PP\n.RS 4\n.nf\n{}\n.fi\n.RE\n",
            roff(what),
            roff(command)
        ));
    }
    let others: Vec<String> = ["envpatch", "svcctl", "pgtruncate", "holdctl"]
        .iter()
        .filter(|t| **t != tool)
        .map(|t| format!("\\fB{t}\\fR(1)"))
        .collect();
    out.push_str(&format!(
        ".SH \"SEE ALSO\"\n{}, \\fBsystemctl\\fR(1), \\fBpsql\\fR(1)\n",
        others.join(", ")
    ));
    out
}

fn section(out: &mut String, title: &str, paragraphs: &[&str]) {
    out.push_str(&format!(".SH \"{title}\"\n"));
    for p in paragraphs {
        out.push_str(&format!(".PP\n{}\n", roff(p)));
    }
}

/// Escapes text for roff: backslashes, minus signs, and lines starting with . or '.
fn roff(text: &str) -> String {
    text.lines()
        .map(|line| {
            let escaped = line.replace('\\', "\\e").replace('-', "\\-");
            if escaped.starts_with('.') || escaped.starts_with('\'') {
                format!("\\&{escaped}")
            } else {
                escaped
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const ENVELOPE: &str = "Off a terminal every run prints exactly one JSON object on stdout, on one line (--json=pretty indents it); on a terminal without --json it prints a short view of the same report instead, and --json=pretty|short gives the JSON there too (pass it from scripts that may run under ssh -t). The JSON has the envelope fields tool, version, schema_version, ok, changed, dry_run and error ({kind, message, ...} or null) beside the tool's own fields. Messages for people go to stderr. Secret values print as \"<redacted>\" and URLs lose their password.";

const EXIT_CODES: [(u8, &str, &str); 7] = [
    (0, "-", "success, changed or not"),
    (
        1,
        "failed",
        "the operation failed (I/O, database, service manager)",
    ),
    (
        2,
        "usage",
        "bad arguments, invalid names, unreadable input; nothing was touched",
    ),
    (3, "refused", "a safety guard refused; nothing was touched"),
    (
        4,
        "not_found",
        "a required file, unit, table or database does not exist; nothing was touched",
    ),
    (5, "busy", "a lock or a timeout; a retry may succeed"),
    (
        6,
        "permission",
        "not allowed (file mode, not root, polkit, database role)",
    ),
];

fn json_text(tool: &str) -> &'static str {
    match tool {
        "envpatch" => "Fields: file, created, backup, changes (one per key set or unset: key, action updated|added|removed|unchanged|absent, old, new, lines), values (with --get), warnings.",
        "svcctl" => "Fields: verb, transport (private, system-bus, user or systemctl), commands (the systemctl argv an operator would type for the same effect), dbus_calls (the D-Bus method calls made), units (unit, present, changed, skipped, before and after states: load, active, sub, result, enabled, main_pid, environment_files; job_result), warnings.",
        "pgtruncate" => "Fields: database (without password), preset, groups, statement, truncated, cascaded, kept (table, bytes_before, bytes_after, rows_estimate), missing, unclassified, sequences_reset, sequences_not_reset, warnings, bytes_freed, duration_ms; blockers and cascade_paths on those errors.",
        _ => "Fields: command, env_file, steps (name, argv, exit_code, ok, changed, and the child's own report), not_run; for status also env, units, tables and runtime_bytes.",
    }
}

fn examples(tool: &str) -> Vec<(&'static str, &'static str)> {
    match tool {
        "envpatch" => vec![
            ("Put the server in hibernate mode (the runbook's first step):", "envpatch /etc/cornice/cornice.env HIBERNATE_MODE=true INGEST_ENABLED=false"),
            ("Replace one step of an existing script that used sed -i:", "envpatch --json=short \"$ENV_FILE\" INGEST_ENABLED=false || exit $?"),
            ("Read the flags as both systemd and the app read them:", "envpatch /etc/cornice/cornice.env --get HIBERNATE_MODE --get INGEST_ENABLED"),
        ],
        "svcctl" => vec![
            ("Stop and disable the services, the monitor only where it exists:", "svcctl stop cornice && svcctl stop --if-present cornice-monitor\nsvcctl disable cornice && svcctl disable --if-present cornice-monitor"),
            ("Find the env file the API reads:", "svcctl --json=short status cornice | jq -r '.units[0].after.environment_files[]'"),
        ],
        "pgtruncate" => vec![
            ("Clear Cornice's runtime tables (the runbook's cleanup script):", "pgtruncate --env-file /etc/cornice/cornice.env --preset cornice"),
            ("See what it would do first:", "pgtruncate --env-file /etc/cornice/cornice.env --preset cornice --include-opportunities --dry-run"),
            ("A one-off truncation of one table:", "pgtruncate -d postgresql://cornice@db/cornice public.requests"),
        ],
        _ => vec![
            ("Hibernate a server (the runbook's fast path), after looking at the plan:", "holdctl plan\nholdctl hibernate --yes"),
            ("Keep the API up for logins, in hibernate mode:", "holdctl hibernate --yes --keep-api"),
            ("Bring it back (cleared data is not restored):", "holdctl wake"),
        ],
    }
}
