//! `holdctl hibernate --archive` and `wake --restore`, against a real systemd sandbox and
//! a real PostgreSQL: the emptied rows are kept in an archive the hold record names, and
//! wake puts every row and sequence back before any unit starts (the API unit itself
//! records, as it starts, how many rows it finds); an archive edited since is refused by
//! pgtruncate's undo with nothing started.

mod holdctl_support;

use holdctl_support::{host, unit_text, Host, API};
use reports::holdctl::StepName;
use std::path::PathBuf;

/// The API unit, as holdctl_support writes it, plus an `ExecStartPre=` that appends to
/// `seen` the rows of `executions` it finds as it starts.
fn counting_api(host: &Host) -> PathBuf {
    let seen = host.dir.path().join("seen");
    let text = unit_text(&host.files).replace(
        "ExecStart=",
        &format!(
            "ExecStartPre=/bin/sh -c 'psql \"$$DATABASE_URL\" -Atc \"SELECT count(*) FROM executions\" >> {}'\nExecStart=",
            seen.display()
        ),
    );
    host.sb.write_unit(API, &text);
    host.sb.daemon_reload();
    let out = host.sb.systemctl(&["restart", API]);
    assert!(out.status.success(), "{out:?}");
    seen
}

fn last_seen(seen: &PathBuf) -> String {
    std::fs::read_to_string(seen)
        .unwrap()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn hibernate_archive_then_wake_restore_puts_every_row_back_before_the_api_starts() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let seen = counting_api(&host);
    let executions = host.db.count("executions");
    assert!(executions > 0);
    assert_eq!(last_seen(&seen), executions.to_string());
    let before = host.state();
    let data = host.db.fingerprint();

    // plan with --archive: pgtruncate's dry run of the archive; nothing made.
    let (run, report) = host.holdctl(&["plan", "--archive"]);
    run.expect_code(0);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("does not exist yet")),
        "{:?}",
        report.warnings
    );

    let (run, report) = host.holdctl(&["hibernate", "--yes", "--archive"]);
    run.expect_code(0);
    assert!(host.rows().iter().all(|&n| n == 0), "emptied");
    let truncate = report
        .preflight
        .iter()
        .find(|s| s.name == StepName::Truncate)
        .unwrap();
    assert!(
        truncate.argv.iter().any(|a| a == "--archive"),
        "the preflight checks the archive"
    );
    let record = host.record();
    let archive = record
        .archive
        .clone()
        .expect("the record names the archive");
    let file = PathBuf::from(&archive.path);
    assert_eq!(file.parent().unwrap(), host.state_dir().join("archives"));
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.ends_with(&format!("-{}.sql.gz", host.db.name)),
        "{name}"
    );
    let dir_mode = std::fs::metadata(file.parent().unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(dir_mode.permissions().mode() & 0o777, 0o700);
    let rows: u64 = archive
        .tables
        .iter()
        .filter(|t| t.table.ends_with("executions"))
        .map(|t| t.rows)
        .sum();
    assert_eq!(rows as i64, executions);
    assert!(archive.sha256.is_some());

    // status shows it.
    let (run, report) = host.holdctl(&["status"]);
    run.expect_code(0);
    assert_eq!(report.hold.unwrap().archive.unwrap().path, archive.path);

    let (run, report) = host.holdctl(&["wake", "--restore"]);
    run.expect_code(0);
    // The undo first, before any unit is enabled or started...
    let changing: Vec<StepName> = report
        .steps
        .iter()
        .filter(|s| !matches!(s.name, StepName::ReadUnits | StepName::ReadFlags))
        .map(|s| s.name)
        .collect();
    assert_eq!(
        changing.first(),
        Some(&StepName::RestoreData),
        "{changing:?}"
    );
    assert!(changing.contains(&StepName::StartUnits));
    // ...and the API, as it started, found every row.
    assert_eq!(last_seen(&seen), executions.to_string());
    assert_eq!(host.db.fingerprint(), data, "every row and sequence back");
    assert_eq!(host.state(), before);
}

#[test]
fn an_edited_archive_is_refused_and_nothing_starts() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let (run, _) = host.holdctl(&["hibernate", "--yes", "--archive"]);
    run.expect_code(0);
    let on_hold = host.state();
    let file = host.record().archive.unwrap().path;
    // One row's value changed, the file still a valid gzip of an archive.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"gunzip -c "$1" | sed '0,/^1\t/s//9\t/' | gzip > "$1.new" && mv "$1.new" "$1""#)
        .arg("sh")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (run, report) = host.holdctl(&["wake", "--restore"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let failed = report.steps.iter().find(|s| !s.ok).unwrap();
    assert_eq!(failed.name, StepName::RestoreData);
    assert!(report.not_run.contains(&StepName::RestoreFlags));
    assert_eq!(host.state(), on_hold, "nothing started, no flag touched");
    assert!(host.rows().iter().all(|&n| n == 0), "no row loaded");
    assert!(host.record_file().exists(), "the hold stays recorded");
    host.holdctl(&["wake"]).0.expect_code(0);

    // A hold without an archive has nothing to restore.
    let (run, _) = host.holdctl(&["hibernate", "--yes"]);
    run.expect_code(0);
    let on_hold = host.state();
    let (run, report) = host.holdctl(&["wake", "--restore"]);
    run.expect_code(3);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("names no archive"));
    assert!(report.steps.iter().all(|s| !s.changed));
    assert_eq!(host.state(), on_hold);
}
