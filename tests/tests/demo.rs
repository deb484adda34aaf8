//! scripts/demo.sh, run for real (its own PostgreSQL and systemd sandboxes) with the tools
//! in a target directory of its own, as `CARGO_TARGET_DIR=DIR ./scripts/demo.sh` would
//! find them. It runs the suite's debug binaries with `--profile debug --no-build`: a
//! release build costs minutes, and cargo holds the suite's target directory meanwhile.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{repo_root, require};

const TOOLS: [&str; 4] = ["envpatch", "svcctl", "pgtruncate", "holdctl"];

/// What the demo needs besides the tools: root and the sandboxes' programs.
fn demo_prerequisites() -> Result<(), String> {
    support::root()?;
    for program in ["jq", "psql", "nsenter", "unshare"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Err(format!("{program} is not installed"));
        }
    }
    if !Path::new("/usr/lib/systemd/systemd").exists() {
        return Err("systemd is not installed".into());
    }
    Ok(())
}

/// A target directory of its own, `DIR/debug` holding the suite's built tools (hard
/// links, so holdctl finds its siblings beside itself there), but `replace` as a script.
fn target_dir(replace: Option<(&str, &str)>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let debug = dir.path().join("debug");
    std::fs::create_dir(&debug).unwrap();
    for tool in TOOLS {
        let to = debug.join(tool);
        match replace {
            Some((name, script)) if name == tool => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::write(&to, script).unwrap();
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            _ => {
                let from = support::bin(tool);
                if std::fs::hard_link(&from, &to).is_err() {
                    std::fs::copy(&from, &to).unwrap();
                }
            }
        }
    }
    dir
}

/// `CARGO_TARGET_DIR=target ./scripts/demo.sh --profile debug --no-build --rows 100`,
/// with none of the suite's own PostgreSQL variables.
fn run_demo(target: &Path) -> Output {
    let mut cmd = Command::new(repo_root().join("scripts/demo.sh"));
    cmd.args(["--profile", "debug", "--no-build", "--rows", "100"])
        .env("CARGO_TARGET_DIR", target)
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HOLD_PG_") {
            cmd.env_remove(name);
        }
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The reports the demo printed: the JSON between each `$ holdctl ...` heading and its
/// `=> ` summary line.
fn shown_reports(stdout: &str) -> Vec<Value> {
    let mut reports = Vec::new();
    let mut current: Option<String> = None;
    for line in stdout.lines() {
        if line.starts_with("$ holdctl ") {
            current = Some(String::new());
        } else if line.starts_with("=> ") {
            if let Some(json) = current.take() {
                reports.push(serde_json::from_str(&json).expect("the demo shows JSON reports"));
            }
        } else if let Some(json) = current.as_mut() {
            json.push_str(line);
            json.push('\n');
        }
    }
    reports
}

/// The table rows of `tool`'s section of docs/contract.md (from its anchor to the next
/// one), where its fields are described; examples elsewhere in the section do not count.
fn contract_section(tool: &str) -> String {
    let contract = std::fs::read_to_string(repo_root().join("docs/contract.md")).unwrap();
    let anchor = format!("<a id=\"{tool}\"></a>");
    let start = contract
        .find(&anchor)
        .unwrap_or_else(|| panic!("docs/contract.md has no {anchor}"));
    let rest = &contract[start + anchor.len()..];
    rest[..rest.find("<a id=").unwrap_or(rest.len())]
        .lines()
        .filter(|line| line.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The field names in a holdctl report, and in each child report inside it, that their
/// tool's section of the contract never names in a table row (as `` `name` `` or
/// `"name"`). Maps whose
/// keys are data (env keys under `values`) are not fields.
fn undocumented_fields(holdctl_report: &Value) -> Vec<String> {
    const ENVELOPE: [&str; 7] = [
        "tool",
        "version",
        "schema_version",
        "ok",
        "changed",
        "dry_run",
        "error",
    ];
    fn walk(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    out.push((key.clone(), format!("{path}.{key}")));
                    let data_map = key == "values" || path.ends_with(".values_by_reader");
                    // A child's report is checked against its own tool's section.
                    let child_report = key == "report" && path.ends_with(']');
                    if !data_map && !child_report {
                        walk(child, &format!("{path}.{key}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut reports = vec![holdctl_report.clone()];
    if let Some(steps) = holdctl_report["steps"].as_array() {
        reports.extend(steps.iter().map(|s| s["report"].clone()));
    }
    let mut missing = Vec::new();
    for report in reports {
        let tool = report["tool"]
            .as_str()
            .expect("a report names its tool")
            .to_string();
        let section = contract_section(&tool);
        let mut fields = Vec::new();
        walk(&report, &tool, &mut fields);
        for (key, path) in fields {
            let named =
                section.contains(&format!("`{key}`")) || section.contains(&format!("\"{key}\""));
            if !named && !ENVELOPE.contains(&key.as_str()) {
                missing.push(path);
            }
        }
    }
    missing
}

#[test]
fn the_demo_hibernates_the_sandbox_with_the_tools_of_cargo_target_dir() {
    let Some(()) = require("the demo's sandboxes", demo_prerequisites()) else {
        return;
    };
    let target = target_dir(None);
    let out = run_demo(target.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "demo failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let tools = target.path().join("debug");
    assert!(
        stderr.contains(&format!("==> finding the tools in {}", tools.display())),
        "{stderr}"
    );
    // The reports' argv name the binaries run: those of CARGO_TARGET_DIR, not ./target.
    let svcctl: PathBuf = tools.join("svcctl");
    assert!(
        stdout.contains(&format!("\"{}\"", svcctl.display())),
        "{stdout}"
    );

    // It says what it did: each holdctl run, its report and a summary, in order.
    let headings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("$ holdctl "))
        .collect();
    assert_eq!(
        headings,
        [
            "$ holdctl status",
            "$ holdctl plan",
            "$ holdctl hibernate --yes",
            "$ holdctl status"
        ]
    );
    let summaries: Vec<&str> = stdout.lines().filter(|l| l.starts_with("=> ")).collect();
    assert_eq!(summaries.len(), 4, "{stdout}");
    assert!(
        summaries[0].starts_with("=> flags: HIBERNATE_MODE=false INGEST_ENABLED=true; "),
        "{}",
        summaries[0]
    );
    assert!(
        summaries[1].ends_with("would empty 13 tables"),
        "{}",
        summaries[1]
    );
    assert!(
        summaries[2].starts_with(
            "=> stopped and disabled cornice.service and cornice-monitor.service; emptied 13 tables"
        ),
        "{}",
        summaries[2]
    );
    assert!(
        summaries[3].starts_with(
            "=> flags: HIBERNATE_MODE=true INGEST_ENABLED=false; cornice.service inactive/disabled, \
             cornice-monitor.service inactive/disabled; "
        ),
        "{}",
        summaries[3]
    );
    assert!(stdout.contains("    HIBERNATE_MODE=true\n    INGEST_ENABLED=false\n"));

    // Every field of every report the demo shows is described in docs/contract.md.
    let reports = shown_reports(&stdout);
    assert_eq!(reports.len(), 4, "{stdout}");
    let mut undocumented: Vec<String> = reports.iter().flat_map(undocumented_fields).collect();
    undocumented.sort();
    undocumented.dedup();
    assert!(
        undocumented.is_empty(),
        "fields missing from their tool's section of docs/contract.md: {undocumented:#?}"
    );

    // No warnings of its own making: stderr holds only its steps and the tools' lines.
    let foreign: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            ![
                "==> ",
                "holdctl: ",
                "svcctl: ",
                "pgtruncate: ",
                "envpatch: ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    assert!(foreign.is_empty(), "unexpected stderr lines: {foreign:#?}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn a_failing_step_stops_the_demo_and_is_named() {
    let Some(()) = require("the demo's sandboxes", demo_prerequisites()) else {
        return;
    };
    // A pgtruncate that prints no report: holdctl status, the first holdctl run, fails.
    let target = target_dir(Some(("pgtruncate", "#!/bin/sh\nexit 1\n")));
    let out = run_demo(target.path());
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stderr.contains("demo.sh: FAILED at step \"holdctl status\" (exit 1)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("pgtruncate printed no valid JSON envelope"),
        "{stderr}"
    );
    assert!(
        !stdout.contains("$ holdctl"),
        "no report is shown as if it succeeded:\n{stdout}"
    );
}

#[test]
fn the_demo_names_a_missing_tool_of_cargo_target_dir() {
    let Some(()) = require("the demo's sandboxes", demo_prerequisites()) else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    let out = run_demo(empty.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let missing = empty.path().join("debug/envpatch");
    assert!(
        stderr.contains(&format!("demo.sh: {} is missing", missing.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("FAILED at step \"finding the tools in"),
        "{stderr}"
    );
}

#[test]
fn the_postgresql_sandbox_starts_and_stops_quietly_from_a_private_directory() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    // The caller's directory is one the postgres user may not enter (0700, owned by root).
    let private = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(private.path(), mode).unwrap();
    }
    let pg_sh = repo_root().join("scripts/sandbox/pg.sh");
    let start = Command::new(&pg_sh)
        .arg("start")
        .current_dir(private.path())
        .output()
        .unwrap();
    let vars = text(&start.stdout);
    let dir = vars
        .lines()
        .find_map(|l| l.strip_prefix("HOLD_PG_DIR="))
        .map(str::to_string);
    let stop = dir.as_ref().map(|dir| {
        Command::new(&pg_sh)
            .args(["stop", dir])
            .current_dir(private.path())
            .output()
            .unwrap()
    });
    assert!(start.status.success(), "{}", text(&start.stderr));
    assert_eq!(text(&start.stderr), "", "pg.sh start printed warnings");
    let stop = stop.expect("pg.sh start printed HOLD_PG_DIR");
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    assert_eq!(text(&stop.stderr), "", "pg.sh stop printed warnings");
}
