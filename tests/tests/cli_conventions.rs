//! The conventions every binary keeps: --help and --version are plain text with exit
//! 0; a bad flag prints one envelope with error.kind "usage" and exits 2; --json picks
//! the layout; -q keeps stderr to errors.

use std::process::Command;
use support::{bin, run_tool};

const TOOLS: [&str; 4] = ["envpatch", "svcctl", "pgtruncate", "holdctl"];

#[test]
fn help_and_version_are_plain_text_with_exit_zero() {
    for tool in TOOLS {
        for flag in ["--help", "--version"] {
            let out = Command::new(bin(tool)).arg(flag).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{tool} {flag}");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains(tool), "{tool} {flag} names the tool: {text}");
            assert!(
                serde_json::from_str::<serde_json::Value>(&text).is_err(),
                "{tool} {flag} is text, not JSON"
            );
        }
    }
}

#[test]
fn a_bad_flag_is_a_usage_envelope_with_exit_two() {
    for tool in TOOLS {
        let run = run_tool(tool, ["--no-such-flag"], &[], None);
        run.expect_code(2);
        assert_eq!(run.json["ok"], false);
        assert_eq!(run.error_kind(), Some("usage"));
        assert!(run.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--no-such-flag"));
        // clap's own words go to stderr, prefixed with the tool's name.
        assert!(
            run.stderr.starts_with(&format!("{tool}: ")),
            "{}",
            run.stderr
        );
        // Off a terminal the document is one line.
        assert_eq!(run.stdout.trim_end().lines().count(), 1, "{}", run.stdout);
    }
}

#[test]
fn json_layout_can_be_forced() {
    for tool in TOOLS {
        let pretty = run_tool(tool, ["--json=pretty", "--no-such-flag"], &[], None);
        assert!(
            pretty.stdout.trim_end().lines().count() > 5,
            "{}",
            pretty.stdout
        );
        let short = run_tool(tool, ["--json", "short", "--no-such-flag"], &[], None);
        assert_eq!(short.stdout.trim_end().lines().count(), 1);
        assert_eq!(pretty.json, short.json);
    }
}

#[test]
fn a_bad_json_style_is_a_usage_error() {
    for tool in TOOLS {
        run_tool(tool, ["--json=xml"], &[], None).expect_code(2);
    }
}

#[test]
fn no_colour_off_a_terminal() {
    for tool in TOOLS {
        let run = run_tool(tool, ["--no-such-flag"], &[("NO_COLOR", "")], None);
        assert!(!run.stderr.contains('\x1b'), "{tool}: {}", run.stderr);
    }
}

#[test]
fn a_report_with_an_unknown_or_mistyped_field_fails_the_schema_check() {
    let good = serde_json::json!({
        "tool": "envpatch", "version": "0.1.0", "schema_version": 1, "ok": false,
        "changed": false, "dry_run": false,
        "error": {"kind": "usage", "message": "x"}
    });
    support::run::check_report("envpatch", &good);
    let mut extra = good.clone();
    extra["surprise"] = serde_json::json!(1);
    let mut retyped = good.clone();
    retyped["changed"] = serde_json::json!("no");
    let mut kind = good.clone();
    kind["error"]["kind"] = serde_json::json!("oops");
    for bad in [extra, retyped, kind] {
        let caught = std::panic::catch_unwind(|| support::run::check_report("envpatch", &bad));
        assert!(caught.is_err(), "accepted: {bad}");
    }
}
