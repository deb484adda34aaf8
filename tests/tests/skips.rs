//! A test that skips itself says so where a person and scripts/test.sh see it: libtest
//! hides what a passing test prints with the print macros, so the notice is written past
//! it, and appended to the file `HOLD_SKIP_LOG` names (test.sh counts its lines). In CI
//! the same missing precondition fails the test instead.

use std::process::{Command, Output};
use support::{require, SKIP_LOG_VAR};

/// Skips itself, always: the precondition it asks for is missing on purpose. Ignored, so
/// only the checks below run it, each in a child process of this test binary.
#[test]
#[ignore = "run by the skip-notice checks in this file, in a child process"]
fn skip_probe() {
    let precondition: Result<(), String> = Err("it is missing on purpose".into());
    if require("the skip probe's precondition", precondition).is_some() {
        panic!("require returned a precondition that is missing");
    }
}

/// Runs `skip_probe` alone in a child process of this test binary, as cargo test would
/// (output captured), with `CI` as given and the skip log in a fresh directory.
fn run_probe(ci: Option<&str>) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let skip_log = dir.path().join("skips.log");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--ignored", "--exact", "skip_probe", "--test-threads=1"])
        .env(SKIP_LOG_VAR, &skip_log)
        .env_remove("CI");
    if let Some(ci) = ci {
        cmd.env("CI", ci);
    }
    let out = cmd.output().unwrap();
    let logged = std::fs::read_to_string(&skip_log).unwrap_or_default();
    (out, logged)
}

#[test]
fn a_skip_is_announced_on_stderr_and_counted_in_the_skip_log() {
    let (out, logged) = run_probe(None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // It ran and passed, so libtest captured (and dropped) whatever the macros printed.
    assert!(stdout.contains("1 passed"), "{stdout}");
    let notice = "*** SKIPPED: skip_probe: the skip probe's precondition is not available: \
                  it is missing on purpose.";
    assert!(stderr.contains(notice), "no notice on stderr:\n{stderr}");
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), 1, "one line per skip in the log: {logged:?}");
    assert!(lines[0].starts_with(notice), "{logged:?}");
}

#[test]
fn in_ci_a_missing_precondition_fails_the_test_and_logs_no_skip() {
    let (out, logged) = run_probe(Some("1"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(101), "{stdout}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(
        stdout.contains("the skip probe's precondition is required in CI"),
        "{stdout}"
    );
    assert_eq!(logged, "", "a failure in CI is not a skip");
}
