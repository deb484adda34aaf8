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

/// The `error` of a usage error's envelope, decoded into the tool's report type.
#[track_caller]
fn usage_error(tool: &str, args: &[&str]) -> reports::envelope::ErrorInfo {
    use reports::envelope::decode;
    let run = run_tool(tool, args, &[], None);
    run.expect_code(2);
    let error = match tool {
        "envpatch" => decode::<reports::envpatch::Report>(&run.stdout).map(|e| e.error),
        "svcctl" => decode::<reports::svcctl::Report>(&run.stdout).map(|e| e.error),
        "pgtruncate" => decode::<reports::pgtruncate::Report>(&run.stdout).map(|e| e.error),
        "holdctl" => decode::<reports::holdctl::Report>(&run.stdout).map(|e| e.error),
        other => panic!("no report type for {other}"),
    }
    .unwrap_or_else(|e| panic!("{tool} {args:?}: {e}\n{}", run.stdout))
    .unwrap_or_else(|| panic!("{tool} {args:?}: no error in {}", run.stdout));
    assert_eq!(error.kind, reports::ErrorKind::Usage, "{tool} {args:?}");
    let message = &error.message;
    // One line that ends by saying what to do, without clap's usage block.
    assert!(!message.contains('\n'), "{tool} {args:?}: {message:?}");
    assert!(
        message.ends_with("; see --help"),
        "{tool} {args:?}: {message}"
    );
    assert!(!message.contains("Usage:"), "{tool} {args:?}: {message}");
    assert!(
        !message.contains("For more information"),
        "{tool} {args:?}: {message}"
    );
    error
}

#[test]
fn a_usage_error_names_what_is_wrong() {
    // A missing positional: the argument is named, not cut off after the colon.
    let e = usage_error("svcctl", &["stop"]);
    assert_eq!(
        e.message,
        "the following required arguments were not provided: <UNIT>...; see --help"
    );
    let e = usage_error("svcctl", &[]);
    assert!(e.message.contains("<VERB>, <UNIT>..."), "{}", e.message);

    // No subcommand at all: the subcommands, not the tool's description.
    let e = usage_error("holdctl", &[]);
    assert!(e.message.contains("requires a subcommand"), "{}", e.message);
    for op in ["hibernate", "wake", "status", "plan"] {
        assert!(e.message.contains(op), "{op}: {}", e.message);
    }
    assert!(!e.message.contains("hold safely"), "{}", e.message);
    let e = usage_error("holdctl", &["--yes"]);
    assert!(e.message.contains("requires a subcommand"), "{}", e.message);
    let e = usage_error("holdctl", &["sleep"]);
    assert!(e.message.contains("'sleep'"), "{}", e.message);

    // A bad value: the value, the flag, and why.
    let e = usage_error("svcctl", &["stop", "cornice", "--timeout", "soon"]);
    assert!(
        e.message.contains("'soon'") && e.message.contains("--timeout"),
        "{}",
        e.message
    );
    let e = usage_error("svcctl", &["halt", "cornice"]);
    assert!(
        e.message.contains("'halt'") && e.message.contains("possible values: "),
        "{}",
        e.message
    );
    let e = usage_error("pgtruncate", &["--json=loud", "public.requests"]);
    assert!(
        e.message.contains("'loud'") && e.message.contains("possible values: "),
        "{}",
        e.message
    );

    // An unknown flag, with clap's tip kept.
    for tool in TOOLS {
        let e = usage_error(tool, &["--no-such-flag"]);
        assert!(
            e.message
                .starts_with("unexpected argument '--no-such-flag' found"),
            "{tool}: {}",
            e.message
        );
    }
    let e = usage_error("svcctl", &["stop", "cornice", "--timeout", "-3"]);
    assert!(e.message.contains("tip: "), "{}", e.message);
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
    // ok and error must agree: ok with an error, or a failure without one, is wrong.
    let mut ok_with_error = good.clone();
    ok_with_error["ok"] = serde_json::json!(true);
    let mut failed_without_error = good.clone();
    failed_without_error["error"] = serde_json::Value::Null;
    for bad in [extra, retyped, kind, ok_with_error, failed_without_error] {
        let caught = std::panic::catch_unwind(|| support::run::check_report("envpatch", &bad));
        assert!(caught.is_err(), "accepted: {bad}");
    }
}
