//! What holdctl tells a person: a warning for a monitor that does not exist, status that
//! reads what it can, refusals of what this build cannot do, and on a terminal a short
//! view instead of the JSON, with Ctrl-C at the question ending it, nothing touched.

mod holdctl_support;

use holdctl_support::{host, Host, MONITOR};
use reports::holdctl::{Report, StepName};
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use support::pg::CORNICE_RUNTIME_TABLES as RUNTIME;
use support::{assert_short_view, bin};

#[test]
fn a_missing_monitor_warns_and_status_reads_what_it_can() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let before = host.state();
    let env_file = host.files[0].display().to_string();

    let (run, report) = host.holdctl(&["plan", "--monitor", "cornise-monitr"]);
    run.expect_code(0);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("cornise-monitr.service")),
        "{:?}",
        report.warnings
    );
    assert!(run.stderr.contains("warning") && run.stderr.contains("cornise-monitr"));
    // The default monitor, absent, is no warning.
    std::fs::remove_file(host.sb.unit_dir().join(MONITOR)).unwrap();
    host.sb.daemon_reload();
    let (run, report) = host.holdctl(&["plan"]);
    run.expect_code(0);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    // A missing API unit is exit 4 for status too; what it cannot read is not_run.
    let (run, report) = host.holdctl(&["status", "--service", "cornise"]);
    run.expect_code(4);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cornise.service does not exist"));
    assert_eq!(report.not_run, [StepName::ReadFlags, StepName::ReadTables]);
    // With --env-file it still reads the flags and the tables.
    let (run, report) = host.holdctl(&["status", "--service", "cornise", "--env-file", &env_file]);
    run.expect_code(4);
    assert!(report.not_run.is_empty(), "{:?}", report.not_run);
    assert_eq!(
        report.env.unwrap().values["HIBERNATE_MODE"].as_deref(),
        Some("false")
    );
    assert_eq!(report.tables.unwrap().len(), RUNTIME.len());
    // Units that cannot be read at all (svcctl refuses the name): the same.
    let (run, report) = host.holdctl(&["status", "--service", "bad/name", "--env-file", &env_file]);
    run.expect_code(2);
    assert!(report.env.is_some() && report.tables.is_some());
    let (run, report) = host.holdctl(&["status", "--service", "bad/name"]);
    run.expect_code(2);
    assert_eq!(report.not_run, [StepName::ReadFlags, StepName::ReadTables]);
    assert_eq!(host.state().files, before.files);

    // A user who may not enter the state directory still gets the rest of status.
    std::fs::create_dir_all(host.state_dir()).unwrap();
    std::fs::set_permissions(host.state_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = host.sb.command("runuser");
    cmd.args(["-u", "nobody", "--"])
        .arg(bin("holdctl"))
        .args(["--json=short", "status", "--state-dir"])
        .arg(host.state_dir());
    let run = support::run::run_command("holdctl", &mut cmd, None);
    let report = reports::envelope::decode::<Report>(&run.stdout)
        .unwrap()
        .report
        .unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("hold record cannot be read")),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.steps[0].name, StepName::ReadUnits);

    // An archive directory others can write, and a restore with no hold to restore,
    // are refused before anything is touched.
    let before = (host.state(), host.db.fingerprint());
    for (args, says) in [
        (
            &["hibernate", "--yes", "--archive=/tmp"][..],
            "archive directory",
        ),
        (&["wake", "--restore"][..], "no hold record"),
    ] {
        let (run, _) = host.holdctl(args);
        run.expect_code(3);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
        assert_eq!((host.state(), host.db.fingerprint()), before, "{args:?}");
        assert!(!host.record_file().exists());
    }
}

/// holdctl under a real pseudo-terminal (script(1)); `input` is typed once `wait_for`
/// has appeared on the screen. Returns the exit code and the screen.
fn on_terminal(host: &Host, args: &[&str], wait_for: Option<&str>, input: &str) -> (i32, String) {
    use std::io::{Read, Write};
    use std::sync::{Arc, Mutex};
    // exec: the shell script(1) starts must not stay in the terminal's foreground group,
    // or Ctrl-C kills it and script reports the shell's death instead of holdctl's exit.
    let mut cmdline = format!("exec {}", bin("holdctl").display());
    for arg in host.args(args) {
        cmdline.push(' ');
        cmdline.push_str(&arg);
    }
    let mut child = host
        .sb
        .command("script")
        .args(["-qec", &cmdline, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "dumb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let screen = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = wait_for {
        // Not a timing assertion: a bound on a wait that normally ends at once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !String::from_utf8_lossy(&screen.lock().unwrap()).contains(text) {
            assert!(
                std::time::Instant::now() < deadline,
                "no {text:?} on the screen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    stdin.write_all(input.as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    let text = String::from_utf8_lossy(&screen.lock().unwrap()).replace('\r', "");
    (status.code().unwrap_or(-1), text)
}

#[test]
fn on_a_terminal_holdctl_shows_a_short_view_and_ctrl_c_at_the_question_stops_it() {
    let Some(host) = host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true) else {
        return;
    };
    let before = (host.state(), host.db.fingerprint());
    let (code, screen) = on_terminal(&host, &["plan"], None, "");
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "holdctl: plan: hibernate would");
    assert!(
        screen.contains("truncate") && screen.contains("executions"),
        "{screen}"
    );

    // Ctrl-C at the question: exit 3, nothing touched, no record.
    let (code, screen) = on_terminal(&host, &["hibernate"], Some("proceed? [y/N]"), "\u{3}");
    assert_eq!(code, 3, "{screen}");
    assert!(screen.contains("interrupted"), "{screen}");
    assert_eq!(
        (host.state(), host.db.fingerprint()),
        before,
        "Ctrl-C touched nothing"
    );
    assert!(!host.record_file().exists());

    let (code, screen) = on_terminal(&host, &["hibernate"], Some("proceed? [y/N]"), "y\n");
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "holdctl: hibernated:");
    assert!(host.rows().iter().all(|&n| n == 0));

    let (code, screen) = on_terminal(&host, &["status"], None, "");
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "holdctl: status: hibernating");
    assert!(screen.contains("hold: since"), "{screen}");

    let (code, screen) = on_terminal(&host, &["wake"], None, "");
    assert_eq!(code, 0, "{screen}");
    assert_short_view(&screen, "holdctl: woke:");
    assert_eq!(host.state(), before.0);
}
