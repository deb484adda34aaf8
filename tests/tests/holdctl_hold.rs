//! holdctl checks before it touches, keeps a hold record, and wake undoes exactly what
//! the record says: against a real systemd sandbox and a real PostgreSQL. Every check
//! compares the host (env files byte for byte, each unit's enablement and activity, the
//! rows) with what it was before, field by field, and decodes reports into their types.

mod holdctl_support;

use holdctl_support::{host, names, unit_text, Host, API, MONITOR};
use reports::holdctl::StepName;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use support::bin;
use tempfile::TempDir;

/// hibernate then wake; the host must be as it was, field by field, and the record
/// must have held exactly that "before".
fn hold_and_undo(host: &Host, hibernate_args: &[&str]) {
    let before = host.state();
    let mut args = vec!["hibernate", "--yes"];
    args.extend(hibernate_args);
    let (run, report) = host.holdctl(&args);
    run.expect_code(0);
    let record = host.record();
    assert_eq!(
        report.hold.as_ref(),
        Some(&record),
        "the report shows the record"
    );
    for (unit, active, enabled) in &before.units {
        let u = record.units.iter().find(|u| &u.unit == unit).unwrap();
        assert_eq!(u.present, !enabled.is_empty(), "{unit} present: {record:?}");
        if u.present {
            assert_eq!(u.active.as_deref(), Some(active.as_str()), "{unit}");
            assert_eq!(u.enabled.as_deref(), Some(enabled.as_str()), "{unit}");
        }
    }
    let history = host.history().len();
    let (run, report) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert_eq!(host.state(), before, "wake put back exactly what was there");
    assert!(
        !host.record_file().exists(),
        "the record moved to the history"
    );
    assert_eq!(host.history().len(), history + 1);
    assert_eq!(report.hold, Some(record));
    let (run, report) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert!(!run.json["changed"].as_bool().unwrap(), "{}", run.stdout);
    assert!(report.steps.iter().all(|s| !s.changed));
    assert!(!report.warnings.is_empty());
    assert_eq!(host.state(), before);
}

#[test]
fn preflight_failures_touch_nothing_and_write_no_record() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let good = std::fs::read_to_string(&host.files[0]).unwrap();
    let check = |case: &str, code: i32| {
        let before = (host.state(), host.db.fingerprint());
        let (run, report) = host.holdctl(&["hibernate", "--yes", "--keep-api"]);
        run.expect_code(code);
        assert_eq!(
            (host.state(), host.db.fingerprint()),
            before,
            "{case}: nothing touched"
        );
        assert!(!host.record_file().exists(), "{case}: no record");
        assert_eq!(
            names(&report.steps),
            [StepName::ReadUnits, StepName::ReadFlags],
            "{case}"
        );
        let failed: Vec<StepName> = report
            .preflight
            .iter()
            .filter(|s| !s.ok)
            .map(|s| s.name)
            .collect();
        assert_eq!(failed, [StepName::Truncate], "{case}");
        assert!(report
            .preflight
            .iter()
            .all(|s| s.argv.iter().any(|a| a == "--dry-run")));
        assert_eq!(report.not_run.len(), 5, "{case}: {:?}", report.not_run);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("nothing was changed"), "{case}: {message}");
    };

    // The database is down (nothing listens on its port).
    let down = good.replace(&format!(":{}/", host.db.cluster.port), ":1/");
    std::fs::write(&host.files[0], &down).unwrap();
    check("database down", 1);

    // The role may not truncate one of the tables.
    let role = support::unique("holdrole");
    let password = format!("pw-{}", support::unique("r"));
    host.db.exec(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD '{password}';
         GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT, TRUNCATE ON ALL TABLES IN SCHEMA public TO {role};
         REVOKE TRUNCATE ON executions FROM {role};"
    ));
    let as_role = good.replace(
        &host.db.url(),
        &host.db.cluster.url_as(&role, &password, &host.db.name),
    );
    assert_ne!(as_role, good);
    std::fs::write(&host.files[0], &as_role).unwrap();
    check("no TRUNCATE privilege", 6);
    std::fs::write(&host.files[0], &good).unwrap();

    // A kept table references a runtime one: the cascade guard refuses.
    host.db.exec(
        "CREATE TABLE execution_audit (id serial PRIMARY KEY,
           execution_id bigint REFERENCES executions(id));
         INSERT INTO execution_audit (execution_id) SELECT id FROM executions LIMIT 3;",
    );
    check("cascade into a kept table", 3);
    host.db.exec(&format!(
        "DROP TABLE execution_audit; DROP OWNED BY {role}; DROP ROLE {role};"
    ));
}

/// holdctl beside the real tools, except `tool`, a wrapper that runs it with other
/// arguments when its own match `case_arms` (sh `case` arms; `{real}` is the real tool)
/// and as given otherwise.
fn tools_with_one_changed(tool: &str, case_arms: &str) -> TempDir {
    support::holdctl_with_wrappers("holdkit-tools.", |t| {
        let real = bin(t).display().to_string();
        (t == tool).then(|| {
            format!(
                "#!/bin/sh\ncase \" $* \" in {} esac\nexec {real} \"$@\"\n",
                case_arms.replace("{real}", &real)
            )
        })
    })
}

/// The dry runs of the preflight run at once, but the report reads as if one ran after
/// the other: the first step that fails, in the plan's order, is the error (here the
/// env file's, though the database, down too, may answer first), and the rest are not run.
#[test]
fn the_first_failing_dry_run_in_the_plan_s_order_is_the_error() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let good = std::fs::read_to_string(&host.files[0]).unwrap();
    let down = good.replace(&format!(":{}/", host.db.cluster.port), ":1/");
    std::fs::write(&host.files[0], &down).unwrap();
    // envpatch's dry run is pointed at a directory that does not exist (exit 4).
    let tools = tools_with_one_changed(
        "envpatch",
        "*' --dry-run '*) exec {real} --json=short -q --dry-run -- /nonexistent/holdkit.env HIBERNATE_MODE=true ;;",
    );
    let before = (host.state(), host.db.fingerprint());
    let mut cmd = host.sb.command(tools.path().join("holdctl"));
    cmd.args(host.args(&["--json=short", "hibernate", "--yes", "--keep-api"]));
    let run = support::run::run_command("holdctl", &mut cmd, None);
    run.expect_code(4);
    let report = reports::envelope::decode::<reports::holdctl::Report>(&run.stdout)
        .unwrap()
        .report
        .unwrap();
    assert_eq!(names(&report.preflight), [StepName::SetFlags]);
    assert!(!report.preflight[0].ok);
    assert_eq!(
        report.not_run,
        [
            StepName::SetFlags,
            StepName::StopUnits,
            StepName::DisableUnits,
            StepName::Truncate,
            StepName::StartApi
        ]
    );
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("/nonexistent"), "{message}");
    assert_eq!(
        (host.state(), host.db.fingerprint()),
        before,
        "nothing touched"
    );
    assert!(!host.record_file().exists());
    std::fs::write(&host.files[0], &good).unwrap();
}

/// pgtruncate is started with the run's first change, to connect and plan meanwhile; it
/// takes its locks and runs its statement, uncommitted, once the units are stopped, and
/// commits only when told `go`. When a step before it fails, it is never told: every row
/// stays, and the truncate is reported as not run.
#[test]
fn a_truncate_started_early_empties_nothing_when_a_step_before_it_fails() {
    // The real stop (not its dry run) names a unit svcctl refuses: exit 2, before `lock`.
    early_truncate_then_a_failure(
        "*' --dry-run '*) ;; *' stop '*) exec {real} --json=short stop -- bad/name ;;",
        StepName::StopUnits,
    );
    // The real disable fails only once pgtruncate has emptied the tables in its open
    // transaction: the failure must roll that back.
    early_truncate_then_a_failure(
        "*' --dry-run '*) ;; *' disable '*) {wait_for_statement} exec {real} --json=short disable -- bad/name ;;",
        StepName::DisableUnits,
    );
}

fn early_truncate_then_a_failure(case_arms: &str, failing: StepName) {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let rows = host.rows();
    // Up to 30 s for pgtruncate's session to have written (a transaction id is assigned
    // only then) and to sit idle in its transaction; a wrapper that gives up exits 9.
    let wait_for_statement = format!(
        "n=0; until [ \"$(psql -XAtq '{}' -c \"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgtruncate' AND state = 'idle in transaction' AND backend_xid IS NOT NULL\")\" = 1 ]; do n=$((n+1)); [ $n -lt 600 ] || exit 9; sleep 0.05; done;",
        host.db.url()
    );
    let tools = tools_with_one_changed(
        "svcctl",
        &case_arms.replace("{wait_for_statement}", &wait_for_statement),
    );
    let mut cmd = host.sb.command(tools.path().join("holdctl"));
    cmd.args(host.args(&["--json=short", "hibernate", "--yes", "--keep-api"]));
    let run = support::run::run_command("holdctl", &mut cmd, None);
    run.expect_code(2);
    let report = reports::envelope::decode::<reports::holdctl::Report>(&run.stdout)
        .unwrap()
        .report
        .unwrap();
    let order = [
        StepName::ReadUnits,
        StepName::ReadFlags,
        StepName::SetFlags,
        StepName::StopUnits,
        StepName::DisableUnits,
        StepName::Truncate,
        StepName::StartApi,
    ];
    let ran = order.iter().position(|s| *s == failing).unwrap() + 1;
    assert_eq!(names(&report.steps), order[..ran], "{failing}");
    assert_eq!(report.not_run, order[ran..], "{failing}");
    assert_eq!(host.rows(), rows, "{failing}: no row emptied");
    // A rerun with the real tools finishes the job.
    let (run, _) = host.holdctl(&["hibernate", "--yes"]);
    run.expect_code(0);
    assert!(host.rows().iter().all(|&n| n == 0));
}

#[test]
fn wake_puts_back_what_was_there_not_what_the_runbook_says() {
    let Some(host) = host(
        &["HIBERNATE_MODE=false\nINGEST_ENABLED=true\nLOG_LEVEL=info\n"],
        true,
    ) else {
        return;
    };
    // The monitor deliberately disabled and stopped.
    let out = host.sb.systemctl(&["disable", "--now", MONITOR]);
    assert!(out.status.success(), "{out:?}");
    hold_and_undo(&host, &[]);
    assert_eq!(host.sb.unit_file_state(MONITOR), "disabled");
    assert_eq!(host.sb.active_state(MONITOR), "inactive");

    // Ingest off, HIBERNATE_MODE not in the file at all, the monitor enabled but stopped.
    // (A last line without its newline would keep the one envpatch adds before it
    // appends: the flags come back exactly, that byte does not.)
    host.write_env(
        0,
        "INGEST_ENABLED=false\n# no hibernate flag here\nLOG_LEVEL=debug\n",
    );
    let out = host.sb.systemctl(&["enable", MONITOR]);
    assert!(out.status.success(), "{out:?}");
    hold_and_undo(&host, &[]);
    let text = std::fs::read_to_string(&host.files[0]).unwrap();
    assert!(!text.contains("HIBERNATE_MODE"), "absent again: {text}");

    // The monitor unit gone from the host.
    std::fs::remove_file(host.sb.unit_dir().join(MONITOR)).unwrap();
    host.sb.daemon_reload();
    host.write_env(0, "HIBERNATE_MODE=false\nINGEST_ENABLED=true\n");
    hold_and_undo(&host, &[]);
    assert_eq!(host.sb.active_state(API), "active");

    // An API unit that names no EnvironmentFile=: hibernate is given --env-file, and
    // wake finds the file in the record.
    host.sb.write_unit(API, &unit_text(&[]));
    host.sb.daemon_reload();
    let before = host.state();
    let env_file = host.files[0].display().to_string();
    let (run, _) = host.holdctl(&["hibernate", "--yes", "--env-file", &env_file]);
    run.expect_code(0);
    assert_ne!(host.state(), before);
    let (run, _) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert_eq!(host.state(), before);
}

#[test]
fn flags_split_across_env_files_and_keep_api_come_back_exactly() {
    let Some(host) = host(
        &[
            "HIBERNATE_MODE=false\nLOG_LEVEL=info\n",
            "INGEST_ENABLED=true\n",
        ],
        true,
    ) else {
        return;
    };
    let before = host.state();
    let pid_before = host.main_pid();
    let (run, report) = host.holdctl(&["hibernate", "--yes", "--keep-api"]);
    run.expect_code(0);
    let files: Vec<(String, Option<String>)> = report
        .hold
        .as_ref()
        .unwrap()
        .flags
        .iter()
        .map(|f| (f.file.clone(), f.before.clone()))
        .collect();
    assert_eq!(
        files,
        [
            (host.files[0].display().to_string(), Some("false".into())),
            (host.files[1].display().to_string(), Some("true".into())),
        ]
    );
    assert!(host
        .api_environment()
        .lines()
        .any(|l| l == "HIBERNATE_MODE=true"));
    let pid_held = host.main_pid();
    assert_ne!(pid_held, pid_before);

    let (run, report) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert_eq!(host.state(), before, "both files and both units as before");
    assert!(
        names(&report.steps).contains(&StepName::RestartUnits),
        "{:?}",
        names(&report.steps)
    );
    // The API running through the hold was restarted and systemd gave it the flags back.
    assert_ne!(host.main_pid(), pid_held);
    let seen = host.api_environment();
    assert!(seen.lines().any(|l| l == "HIBERNATE_MODE=false"), "{seen}");
    assert!(seen.lines().any(|l| l == "INGEST_ENABLED=true"), "{seen}");
}

/// Tools that run the real ones, then SIGKILL holdctl (their parent) after the K-th
/// step that changes something (dry runs and reads do not count). The count is taken
/// under a lock: the truncate's pgtruncate runs beside the other steps (and ends early
/// when the tables are already empty, as on every round after the first), and two
/// wrappers counting at once must not lose a step.
fn killing_tools(kill_at: usize) -> TempDir {
    // The count lives beside the wrappers.
    support::holdctl_with_wrappers("holdkit-kill.", |tool| {
        Some(format!(
            "#!/bin/sh\n{real} \"$@\"\ncode=$?\n\
             case \" $* \" in *' --dry-run '*|*' --get '*|*' status '*) exit $code ;; esac\n\
             count=\"$(dirname \"$0\")/count\"\nexec 9>>\"$count.lock\"\nflock 9\n\
             n=$(( $(cat \"$count\" 2>/dev/null || echo 0) + 1 ))\necho $n > \"$count\"\nflock -u 9\n\
             [ $n -ge {kill_at} ] && kill -KILL $PPID\nexit $code\n",
            real = bin(tool).display(),
        ))
    })
}

#[test]
fn killed_after_any_step_hibernate_again_then_wake_restores_the_host() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    // The monitor disabled before, so "before" is not what the runbook would guess.
    let out = host.sb.systemctl(&["disable", "--now", MONITOR]);
    assert!(out.status.success(), "{out:?}");
    let before = host.state();
    // set_flags, stop_units, disable_units, truncate, start_api.
    for kill_at in 1..=5 {
        let tools = killing_tools(kill_at);
        let args = host.args(&["--json=short", "hibernate", "--yes", "--keep-api"]);
        let status = host
            .sb
            .command(tools.path().join("holdctl"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "holdctl killed after step {kill_at}"
        );
        assert!(host.record_file().exists(), "the record was written first");
        let first = host.record();
        let (run, _) = host.holdctl(&["hibernate", "--yes", "--keep-api"]);
        run.expect_code(0);
        assert_eq!(host.record(), first, "a rerun keeps the first record");
        assert_eq!(host.sb.active_state(API), "active");
        let (run, _) = host.holdctl(&["wake"]);
        run.expect_code(0);
        assert_eq!(host.state(), before, "killed after step {kill_at}");
    }
}

#[test]
fn a_record_someone_else_could_have_written_is_refused() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let (run, _) = host.holdctl(&["hibernate", "--yes"]);
    run.expect_code(0);
    let held = host.state();
    let record = host.record_file();
    let good = std::fs::read(&record).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let chown = |path: &Path, uid: nix::unistd::Uid| {
        nix::unistd::chown(path, Some(uid), None).unwrap();
    };
    let restore = || {
        let _ = std::fs::remove_file(&record);
        std::fs::write(&record, &good).unwrap();
        std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let refused = |case: &str| {
        for operation in ["wake", "status"] {
            let (run, _) = host.holdctl(&[operation]);
            run.expect_code(3);
            let message = run.json["error"]["message"].as_str().unwrap();
            assert!(message.contains("nothing was changed"), "{case}: {message}");
            assert_eq!(host.state(), held, "{case}: {operation} touched nothing");
        }
    };

    // Planted by nobody, in a state directory nobody could write for a moment: a record
    // claiming the monitor was never enabled.
    let planted = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"enabled\": \"enabled\"", "\"enabled\": \"disabled\"");
    std::fs::remove_file(&record).unwrap();
    std::fs::set_permissions(host.state_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new("runuser")
        .args(["-u", "nobody", "--", "sh", "-c"])
        .arg(format!("cat > {}", record.display()))
        .stdin(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(planted.as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(out.success());
    refused("a state directory anyone can write");
    std::fs::set_permissions(host.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    refused("a record owned by nobody");

    restore();
    chown(&record, nobody.uid);
    refused("a record owned by nobody, mode 0600");
    restore();
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();
    refused("a record anyone can write");

    // Reached through a link (made by root, to a copy beside it) and a hard link.
    restore();
    let elsewhere = host.dir.path().join("elsewhere.json");
    std::fs::rename(&record, &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &record).unwrap();
    refused("a symlink");
    std::fs::remove_file(&record).unwrap();
    std::fs::hard_link(&elsewhere, &record).unwrap();
    refused("a hard link");
    std::fs::remove_file(&elsewhere).unwrap();

    // The real record still works.
    restore();
    let (run, _) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert_eq!(host.sb.active_state(MONITOR), "active");
}

#[test]
fn a_failure_after_the_first_change_says_what_changed_and_a_rerun_finishes() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let before = host.state();
    // The monitor refuses a manual stop: no dry run can know, the real stop fails.
    let unit_file = host.sb.unit_dir().join(MONITOR);
    let text = std::fs::read_to_string(&unit_file).unwrap();
    let refusing = text.replace("[Unit]\n", "[Unit]\nRefuseManualStop=yes\n");
    host.sb.write_unit(MONITOR, &refusing);
    host.sb.daemon_reload();
    let (run, report) = host.holdctl(&["hibernate", "--yes"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("already changed: set_flags"), "{message}");
    assert!(message.contains("run the same command again"), "{message}");
    assert!(run.json["error"]["already_changed"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "set_flags"));
    assert_eq!(report.not_run, [StepName::DisableUnits, StepName::Truncate]);
    let first = host.record();
    assert_eq!(first.flags[0].before.as_deref(), Some("false"));
    assert!(host.rows().iter().all(|&n| n > 0), "no row emptied");

    host.sb.write_unit(MONITOR, &text);
    host.sb.daemon_reload();
    let (run, _) = host.holdctl(&["hibernate", "--yes", "--include-opportunities"]);
    run.expect_code(0);
    let mut expected = first.clone();
    expected.options.include_opportunities = true;
    assert_eq!(
        host.record(),
        expected,
        "the rerun kept the first record's before, with the options it ran with"
    );
    let (run, _) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert_eq!(host.state(), before);
}
