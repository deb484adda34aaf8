//! svcctl against a real systemd (the sandbox of scripts/sandbox/systemd.sh): every
//! "must hold" of its contract, over D-Bus and over the systemctl fallback. No fake
//! systemctl and no fake bus: each test boots its own manager.

use serde_json::Value;
use std::process::Command;
use support::run::run_command;
use support::systemd::{service_unit, Sandbox};
use support::{bin, require, ToolRun};

/// A system bus for the sandbox: dbus-daemon, socket-activated by the sandbox's systemd.
const DBUS_SOCKET: &str =
    "[Unit]\nDefaultDependencies=no\n[Socket]\nListenStream=/run/dbus/system_bus_socket\n";
const DBUS_SERVICE: &str = "[Unit]\nDefaultDependencies=no\nRequires=dbus.socket\nAfter=dbus.socket\n\
    [Service]\nType=notify\nNotifyAccess=main\n\
    ExecStart=/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only\n";

fn have_dbus_daemon() -> bool {
    require(
        "dbus-daemon",
        if std::path::Path::new("/usr/bin/dbus-daemon").exists() {
            Ok(())
        } else {
            Err("/usr/bin/dbus-daemon is not installed".into())
        },
    )
    .is_some()
}

fn boot(units: &[(&str, &str)]) -> Option<Sandbox> {
    require("systemd sandbox", Sandbox::boot(units))
}

/// `svcctl --json=short ARGS` inside the sandbox, as root.
fn svcctl(sb: &Sandbox, args: &[&str]) -> ToolRun {
    let mut all = vec!["--json=short"];
    all.extend_from_slice(args);
    sb.run_tool("svcctl", &all, &[], None)
}

fn main_pid(sb: &Sandbox, unit: &str) -> String {
    sb.show(unit, &["MainPID"])
        .remove("MainPID")
        .unwrap_or_default()
}

fn unit_entry<'a>(run: &'a ToolRun, unit: &str) -> &'a Value {
    run.json["units"]
        .as_array()
        .and_then(|units| units.iter().find(|u| u["unit"] == unit))
        .unwrap_or_else(|| panic!("no entry for {unit}: {}", run.stdout))
}

/// The verbs (after `systemctl --no-pager --no-ask-password [scope]`) of every command run.
fn commands(run: &ToolRun) -> Vec<Vec<String>> {
    run.json["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|argv| {
            argv.as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// The D-Bus method names called, in order.
fn members(run: &ToolRun) -> Vec<String> {
    run.json["dbus_calls"]
        .as_array()
        .expect("dbus_calls")
        .iter()
        .map(|call| call["member"].as_str().unwrap().to_string())
        .collect()
}

fn ran(run: &ToolRun, verb: &str) -> Option<Vec<String>> {
    commands(run)
        .into_iter()
        .find(|argv| argv.iter().any(|a| a == verb))
}

#[test]
fn start_and_stop_act_on_real_state_and_a_second_run_changes_nothing() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("api.service", &unit)]) else {
        return;
    };
    let first = svcctl(&sb, &["start", "api"]);
    first.expect_code(0);
    assert_eq!(first.json["changed"], true);
    assert_eq!(first.json["verb"], "start");
    let entry = unit_entry(&first, "api.service");
    assert_eq!(entry["present"], true);
    assert_eq!(entry["changed"], true);
    assert_eq!(entry["before"]["active"], "inactive");
    assert_eq!(entry["after"]["active"], "active");
    assert_eq!(entry["after"]["sub"], "running");
    let pid = main_pid(&sb, "api.service");
    assert_eq!(entry["after"]["main_pid"].to_string(), pid);
    assert_eq!(sb.active_state("api.service"), "active");
    // The argv an operator would type for the same effect, unit names after `--`.
    assert_eq!(
        ran(&first, "start").unwrap(),
        [
            "systemctl",
            "--no-pager",
            "--no-ask-password",
            "start",
            "--",
            "api.service"
        ]
    );
    // As root the manager's own socket, one job, its result from JobRemoved.
    assert_eq!(first.json["transport"], "private");
    assert_eq!(entry["job_result"], "done");
    assert_eq!(
        members(&first),
        ["GetAll", "StartUnit", "GetAll"],
        "{}",
        first.stdout
    );
    let show = ran(&first, "show").unwrap();
    assert!(show.contains(&"-p".to_string()), "{show:?}");

    let again = svcctl(&sb, &["start", "api.service"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false);
    assert_eq!(unit_entry(&again, "api.service")["changed"], false);
    assert!(ran(&again, "start").is_none(), "a no-op runs no start");
    assert_eq!(
        main_pid(&sb, "api.service"),
        pid,
        "the unit was not restarted"
    );

    let stop = svcctl(&sb, &["stop", "api"]);
    stop.expect_code(0);
    assert_eq!(stop.json["changed"], true);
    let entry = unit_entry(&stop, "api.service");
    assert_eq!(entry["after"]["active"], "inactive");
    assert_eq!(entry["after"]["main_pid"], 0);
    assert!(
        entry.get("warnings").is_none(),
        "a clean stop has no warnings"
    );
    assert_eq!(sb.active_state("api.service"), "inactive");

    let stop_again = svcctl(&sb, &["stop", "api"]);
    stop_again.expect_code(0);
    assert_eq!(stop_again.json["changed"], false);
    assert!(ran(&stop_again, "stop").is_none());
}

#[test]
fn several_units_and_template_instances_go_in_one_call() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("plain.service", &unit), ("worker@.service", &unit)]) else {
        return;
    };
    let run = svcctl(&sb, &["start", "plain", "worker@one", "worker@two.service"]);
    run.expect_code(0);
    for u in ["plain.service", "worker@one.service", "worker@two.service"] {
        assert_eq!(sb.active_state(u), "active", "{u}");
        assert_eq!(unit_entry(&run, u)["after"]["active"], "active");
    }
    // One show before, one start for all three, and the polled show (same argv).
    let cmds = commands(&run);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert_eq!(
        cmds[1][cmds[1].len() - 3..],
        ["plain.service", "worker@one.service", "worker@two.service"]
    );

    let enable = svcctl(&sb, &["enable", "--now", "worker@three"]);
    enable.expect_code(0);
    assert_eq!(sb.unit_file_state("worker@three.service"), "enabled");
    assert_eq!(sb.active_state("worker@three.service"), "active");
    let entry = unit_entry(&enable, "worker@three.service");
    assert_eq!(entry["actions"], serde_json::json!(["enable", "start"]));
    assert_eq!(entry["before"]["enabled"], "disabled");
    assert_eq!(entry["after"]["enabled"], "enabled");

    let disable = svcctl(&sb, &["disable", "--now", "worker@three"]);
    disable.expect_code(0);
    assert_eq!(sb.unit_file_state("worker@three.service"), "disabled");
    assert_eq!(sb.active_state("worker@three.service"), "inactive");

    let restart = svcctl(&sb, &["restart", "plain"]);
    restart.expect_code(0);
    let entry = unit_entry(&restart, "plain.service");
    assert_ne!(entry["before"]["main_pid"], entry["after"]["main_pid"]);
    assert_eq!(entry["changed"], true, "a new main process is a change");
    assert_eq!(sb.active_state("plain.service"), "active");
}

#[test]
fn enable_and_disable_judge_the_unit_file_state_not_the_exit_code() {
    let unit = service_unit("/bin/sleep 300", "");
    let static_unit = "[Unit]\nDefaultDependencies=no\n[Service]\nExecStart=/bin/sleep 300\n";
    let Some(sb) = boot(&[("api.service", &unit), ("helper.service", static_unit)]) else {
        return;
    };
    let link = sb.unit_dir().join("default.target.wants/api.service");
    let enable = svcctl(&sb, &["enable", "api"]);
    enable.expect_code(0);
    assert_eq!(enable.json["changed"], true);
    assert!(link.symlink_metadata().is_ok());
    assert_eq!(sb.unit_file_state("api.service"), "enabled");
    assert_eq!(
        sb.active_state("api.service"),
        "inactive",
        "enable alone starts nothing"
    );

    // systemctl returns 0 for a no-op enable; svcctl says nothing changed and runs none.
    let again = svcctl(&sb, &["enable", "api"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false);
    assert!(ran(&again, "enable").is_none());

    let stat = svcctl(&sb, &["enable", "helper"]);
    stat.expect_code(0);
    assert_eq!(stat.json["changed"], false);
    let warnings = unit_entry(&stat, "helper.service")["warnings"].to_string();
    assert!(warnings.contains("[Install]"), "{}", stat.stdout);
    assert!(stat.stderr.contains("warning"), "{}", stat.stderr);

    let disable = svcctl(&sb, &["disable", "api"]);
    disable.expect_code(0);
    assert_eq!(disable.json["changed"], true);
    assert!(link.symlink_metadata().is_err());
    let again = svcctl(&sb, &["disable", "api"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false);
}

#[test]
fn mask_stops_first_and_unmask_undoes_it() {
    // mask needs a unit whose file is not in /etc/systemd/system (systemd refuses to
    // replace a real file there with the /dev/null link): a transient unit is one.
    let Some(sb) = boot(&[]) else {
        return;
    };
    let out = sb
        .command("systemd-run")
        .args([
            "-q",
            "-p",
            "DefaultDependencies=no",
            "--unit=transient",
            "/bin/sleep",
            "300",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "systemd-run: {out:?}");
    assert_eq!(sb.active_state("transient.service"), "active");

    let mask = svcctl(&sb, &["mask", "transient"]);
    mask.expect_code(0);
    let entry = unit_entry(&mask, "transient.service");
    assert_eq!(entry["actions"], serde_json::json!(["stop", "mask"]));
    assert_eq!(entry["after"]["load"], "masked");
    let cmds = commands(&mask);
    let stop_at = cmds
        .iter()
        .position(|c| c.contains(&"stop".into()))
        .unwrap();
    let mask_at = cmds
        .iter()
        .position(|c| c.contains(&"mask".into()))
        .unwrap();
    assert!(stop_at < mask_at, "mask stops first: {cmds:?}");
    assert_eq!(sb.active_state("transient.service"), "inactive");
    assert_eq!(sb.unit_file_state("transient.service"), "masked");

    let again = svcctl(&sb, &["mask", "transient"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false);

    let unmask = svcctl(&sb, &["unmask", "transient"]);
    unmask.expect_code(0);
    assert_eq!(unmask.json["changed"], true);
    assert!(!sb.unit_dir().join("transient.service").exists());
    assert_ne!(sb.unit_file_state("transient.service"), "masked");
}

#[test]
fn a_unit_ignoring_sigterm_still_ends_stopped_with_a_warning() {
    let stubborn = service_unit(
        "/bin/sh -c 'trap \"\" TERM; while :; do sleep 1; done'",
        "TimeoutStopSec=2",
    );
    let failing_stop = service_unit("/bin/sleep 300", "ExecStop=/bin/false");
    let Some(sb) = boot(&[
        ("stubborn.service", &stubborn),
        ("badstop.service", &failing_stop),
    ]) else {
        return;
    };
    assert!(sb
        .systemctl(&["start", "stubborn.service", "badstop.service"])
        .status
        .success());
    let run = svcctl(&sb, &["stop", "stubborn", "badstop"]);
    run.expect_code(0);
    for (unit, result) in [
        ("stubborn.service", "timeout"),
        ("badstop.service", "exit-code"),
    ] {
        let entry = unit_entry(&run, unit);
        assert_eq!(entry["after"]["main_pid"], 0, "{unit}");
        assert!(
            ["inactive", "failed"].contains(&entry["after"]["active"].as_str().unwrap()),
            "{unit}: {entry}"
        );
        assert_eq!(entry["after"]["result"], result, "{unit}");
        assert!(
            entry["warnings"].to_string().contains(result),
            "{unit} warns about Result={result}: {entry}"
        );
        assert_eq!(sb.show(unit, &["MainPID"])["MainPID"], "0");
    }
}

#[test]
fn a_timeout_shorter_than_the_stop_is_exit_5_with_the_job_still_queued() {
    let stubborn = service_unit(
        "/bin/sh -c 'trap \"\" TERM; while :; do sleep 1; done'",
        "TimeoutStopSec=3",
    );
    let Some(sb) = boot(&[("stubborn.service", &stubborn)]) else {
        return;
    };
    assert!(sb
        .systemctl(&["start", "stubborn.service"])
        .status
        .success());
    let run = svcctl(&sb, &["stop", "--timeout", "500ms", "stubborn"]);
    run.expect_code(5);
    assert_eq!(run.error_kind(), Some("busy"));
    let entry = unit_entry(&run, "stubborn.service");
    assert_eq!(entry["pending_job"]["type"], "stop");
    assert_eq!(entry["pending_job"]["unit"], "stubborn.service");
    assert_eq!(entry["after"]["active"], "deactivating");
    assert_eq!(run.json["error"]["jobs"][0]["type"], "stop");
    assert!(ran(&run, "list-jobs").is_some());
    // It really is still queued in systemd right now.
    let job = sb.show("stubborn.service", &["Job"]).remove("Job").unwrap();
    assert_eq!(entry["pending_job"]["id"].to_string(), job);
    assert_eq!(
        entry["pending_job"]["path"],
        format!("/org/freedesktop/systemd1/job/{job}")
    );
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("job {job}")), "{message}");
    assert!(
        entry.get("job_result").is_none(),
        "the job has no result yet"
    );
}

#[test]
fn a_unit_that_fails_to_start_is_exit_1_and_a_oneshot_counts_when_it_ran() {
    let broken = service_unit("/bin/false", "Type=oneshot");
    let fine = service_unit("/bin/true", "Type=oneshot");
    let Some(sb) = boot(&[("broken.service", &broken), ("once.service", &fine)]) else {
        return;
    };
    let run = svcctl(&sb, &["start", "broken"]);
    run.expect_code(1);
    assert_eq!(run.error_kind(), Some("failed"));
    let entry = unit_entry(&run, "broken.service");
    assert_eq!(entry["after"]["active"], "failed");
    assert_eq!(entry["after"]["result"], "exit-code");
    assert_eq!(run.json["error"]["units"][0], "broken.service");
    assert_eq!(entry["job_result"], "failed");
    assert!(
        run.stderr.contains("broken.service did not start"),
        "{}",
        run.stderr
    );

    let once = svcctl(&sb, &["start", "once"]);
    once.expect_code(0);
    let entry = unit_entry(&once, "once.service");
    assert_eq!(entry["after"]["active"], "inactive");
    assert_eq!(entry["after"]["result"], "success");
    assert_eq!(entry["changed"], true, "the oneshot ran");
}

#[test]
fn if_present_skips_a_missing_unit_and_without_it_nothing_is_touched() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("cornice.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "cornice.service"]).status.success());
    let pid = main_pid(&sb, "cornice.service");

    let strict = svcctl(&sb, &["stop", "cornice", "cornice-monitor"]);
    strict.expect_code(4);
    assert_eq!(strict.error_kind(), Some("not_found"));
    assert_eq!(strict.json["error"]["units"][0], "cornice-monitor.service");
    assert_eq!(strict.json["changed"], false);
    assert!(
        ran(&strict, "stop").is_none(),
        "nothing ran: {}",
        strict.stdout
    );
    assert_eq!(sb.active_state("cornice.service"), "active");
    assert_eq!(
        main_pid(&sb, "cornice.service"),
        pid,
        "the existing unit was not touched"
    );

    let lenient = svcctl(&sb, &["stop", "--if-present", "cornice", "cornice-monitor"]);
    lenient.expect_code(0);
    let monitor = unit_entry(&lenient, "cornice-monitor.service");
    assert_eq!(monitor["present"], false);
    assert_eq!(monitor["changed"], false);
    assert_eq!(monitor["skipped"], "not found");
    assert_eq!(unit_entry(&lenient, "cornice.service")["changed"], true);
    assert_eq!(sb.active_state("cornice.service"), "inactive");
    let stop = ran(&lenient, "stop").unwrap();
    assert!(
        !stop.contains(&"cornice-monitor.service".to_string()),
        "{stop:?}"
    );
}

#[test]
fn invalid_names_are_usage_errors_before_any_systemctl_call() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("api.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "api.service"]).status.success());
    let pid = main_pid(&sb, "api.service");
    for bad in [
        "-x",
        "../etc/passwd",
        "a b",
        "foo;reboot",
        "",
        "api*",
        "ap?",
        "[a]pi",
        "foo@.service",
    ] {
        let run = svcctl(&sb, &["stop", "--", "api", bad]);
        run.expect_code(2);
        assert_eq!(run.error_kind(), Some("usage"), "{bad:?}");
        assert!(
            run.json.get("commands").is_none(),
            "{bad:?}: {}",
            run.stdout
        );
        assert_eq!(
            main_pid(&sb, "api.service"),
            pid,
            "{bad:?} touched the good unit"
        );
    }
    // Outside any service manager too: had systemctl run, this would be exit 1.
    let host = support::run_tool("svcctl", ["--json=short", "stop", "--", "a b"], &[], None);
    host.expect_code(2);
    let flags = svcctl(&sb, &["stop", "--now", "api"]);
    flags.expect_code(2);
    assert_eq!(main_pid(&sb, "api.service"), pid);
}

#[test]
fn dry_run_reads_the_real_state_and_touches_nothing() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("api.service", &unit)]) else {
        return;
    };
    assert!(sb
        .systemctl(&["enable", "--now", "api.service"])
        .status
        .success());
    let pid = main_pid(&sb, "api.service");
    let link = sb.unit_dir().join("default.target.wants/api.service");
    let run = svcctl(&sb, &["disable", "--now", "--dry-run", "api"]);
    run.expect_code(0);
    assert_eq!(run.json["dry_run"], true);
    assert_eq!(run.json["changed"], true, "it would change");
    let entry = unit_entry(&run, "api.service");
    assert_eq!(entry["changed"], true);
    assert_eq!(entry["actions"], serde_json::json!(["disable", "stop"]));
    assert_eq!(entry["before"]["active"], "active");
    assert!(entry["after"].is_null());
    let would = run.json["would_run"].to_string();
    assert!(
        would.contains("\"disable\"") && would.contains("\"stop\""),
        "{would}"
    );
    assert_eq!(commands(&run).len(), 1, "only the state was read");
    assert_eq!(members(&run), ["GetAll"], "only the state was read");
    let would_call: Vec<&str> = run.json["would_call"]
        .as_array()
        .expect("would_call")
        .iter()
        .map(|c| c["member"].as_str().unwrap())
        .collect();
    assert_eq!(would_call, ["DisableUnitFiles", "Reload", "StopUnit"]);
    assert_eq!(main_pid(&sb, "api.service"), pid);
    assert_eq!(sb.unit_file_state("api.service"), "enabled");
    assert!(link.symlink_metadata().is_ok());

    let noop = svcctl(&sb, &["start", "--dry-run", "api"]);
    noop.expect_code(0);
    assert_eq!(noop.json["changed"], false);
    assert_eq!(noop.json["would_run"], serde_json::json!([]));
}

#[test]
fn status_reports_environment_files_and_never_their_contents() {
    let dir = tempfile::tempdir().unwrap();
    let env = dir.path().join("cornice.env");
    let secret = "s3cr3t-planted-9c1f";
    std::fs::write(&env, format!("DATABASE_PASSWORD={secret}\nAPP=1\n")).unwrap();
    let unit = service_unit(
        "/bin/sleep 300",
        &format!(
            "EnvironmentFile=-/etc/cornice/optional.env\nEnvironmentFile={}",
            env.display()
        ),
    );
    let Some(sb) = boot(&[("cornice.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "cornice.service"]).status.success());
    let run = svcctl(
        &sb,
        &["status", "--if-present", "--", "cornice", "cornice-monitor"],
    );
    run.expect_code(0);
    assert_eq!(run.json["changed"], false);
    let entry = unit_entry(&run, "cornice.service");
    let files = serde_json::json!(["/etc/cornice/optional.env", env.display().to_string()]);
    assert_eq!(entry["before"]["environment_files"], files);
    assert_eq!(
        entry["after"], entry["before"],
        "status: one read, both states"
    );
    assert_eq!(entry["after"]["active"], "active");
    assert_eq!(entry["after"]["enabled"], "disabled");
    assert_eq!(
        unit_entry(&run, "cornice-monitor.service")["present"],
        false
    );
    assert_eq!(commands(&run).len(), 1);
    assert!(!run.all_output().contains(secret));
}

#[test]
fn permission_denied_is_exit_6_and_the_unit_is_untouched() {
    // A system bus in the sandbox, so an unprivileged caller reaches systemd at all;
    // no polkit, so systemd refuses.
    if !have_dbus_daemon() {
        return;
    }
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[
        ("api.service", &unit),
        ("dbus.socket", DBUS_SOCKET),
        ("dbus.service", DBUS_SERVICE),
    ]) else {
        return;
    };
    assert!(sb
        .systemctl(&["start", "dbus.service", "api.service"])
        .status
        .success());
    let pid = main_pid(&sb, "api.service");
    let as_nobody = |args: &[&str]| {
        let mut cmd = sb.command("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin("svcctl"))
            .arg("--json=short")
            .args(args);
        run_command("svcctl", &mut cmd, None)
    };
    // Reading works for anyone, through the system bus (the private socket is root's).
    let status = as_nobody(&["status", "api"]);
    status.expect_code(0);
    assert_eq!(status.json["transport"], "system-bus");
    assert_eq!(
        members(&status),
        ["Hello", "AddMatch", "GetNameOwner", "Subscribe", "GetAll"]
    );
    assert_eq!(
        unit_entry(&status, "api.service")["after"]["active"],
        "active"
    );

    let stop = as_nobody(&["stop", "api"]);
    stop.expect_code(6);
    assert_eq!(stop.error_kind(), Some("permission"));
    assert!(stop.stderr.contains("Access denied") || stop.stderr.contains("authentication"));
    assert_eq!(
        stop.json["error"]["bus_error"], "org.freedesktop.DBus.Error.AccessDenied",
        "{}",
        stop.stdout
    );
    assert!(members(&stop).contains(&"StopUnit".to_string()));
    assert_eq!(stop.json["changed"], false);
    assert_eq!(sb.active_state("api.service"), "active");
    assert_eq!(main_pid(&sb, "api.service"), pid);

    let enable = as_nobody(&["enable", "api"]);
    enable.expect_code(6);
    assert!(
        members(&enable).contains(&"EnableUnitFiles".to_string()),
        "{}",
        enable.stdout
    );
    assert_eq!(sb.unit_file_state("api.service"), "disabled");
}

#[test]
fn no_service_manager_is_exit_1_never_a_false_success() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("api.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "api.service"]).status.success());
    let pid = main_pid(&sb, "api.service");
    // systemctl itself exits 0 here ("Running in chroot, ignoring command").
    let offline = sb.run_tool(
        "svcctl",
        &["--json=short", "stop", "api"],
        &[("SYSTEMD_OFFLINE", "1")],
        None,
    );
    offline.expect_code(1);
    assert_eq!(offline.error_kind(), Some("failed"));
    let message = offline.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no service manager was reached"),
        "{message}"
    );
    assert!(message.contains("chroot"), "{message}");
    assert_eq!(main_pid(&sb, "api.service"), pid);

    // This host's PID 1 is not systemd (the sandbox's is): outside it, nothing answers.
    let pid1 = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if pid1.trim() != "systemd" {
        let host = support::run_tool("svcctl", ["--json=short", "stop", "api"], &[], None);
        host.expect_code(1);
        let message = host.json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("no service manager was reached"),
            "{message}"
        );
    }
}

#[test]
fn user_and_host_pass_through_to_systemctl() {
    // A user manager for root inside the sandbox: a trimmed user@.service (the real one
    // needs PAM and logind), with its unit directory under a temp XDG_CONFIG_HOME.
    let config = tempfile::tempdir().unwrap();
    let user_units = config.path().join("systemd/user");
    std::fs::create_dir_all(&user_units).unwrap();
    std::fs::write(
        user_units.join("mine.service"),
        "[Service]\nExecStart=/bin/sleep 300\n",
    )
    .unwrap();
    let user_at = format!(
        "[Unit]\nDefaultDependencies=no\n[Service]\nUser=%i\nType=notify\n\
         ExecStartPre=+/bin/mkdir -p -m 0700 /run/user/%i\nExecStart=/lib/systemd/systemd --user\n\
         Environment=XDG_RUNTIME_DIR=/run/user/%i XDG_CONFIG_HOME={}\nDelegate=yes\nKillMode=mixed\n",
        config.path().display()
    );
    let Some(sb) = boot(&[("user@.service", &user_at)]) else {
        return;
    };
    let started = sb.systemctl(&["start", "user@0.service"]);
    assert!(
        started.status.success(),
        "user manager: {started:?}\n{}",
        sb.log()
    );
    let env = [("XDG_RUNTIME_DIR", "/run/user/0")];
    let run = sb.run_tool(
        "svcctl",
        &["--json=short", "--user", "start", "mine"],
        &env,
        None,
    );
    run.expect_code(0);
    assert_eq!(
        unit_entry(&run, "mine.service")["after"]["active"],
        "active"
    );
    assert!(
        commands(&run).iter().all(|c| c[3] == "--user"),
        "{}",
        run.stdout
    );
    assert_eq!(run.json["transport"], "user");
    assert_eq!(unit_entry(&run, "mine.service")["job_result"], "done");
    let user_state = sb
        .command("systemctl")
        .args(["--user", "show", "-p", "ActiveState", "mine.service"])
        .env("XDG_RUNTIME_DIR", "/run/user/0")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&user_state.stdout).trim(),
        "ActiveState=active"
    );
    // The system manager has no such unit: --user really went elsewhere.
    assert_eq!(
        sb.show("mine.service", &["LoadState"])["LoadState"],
        "not-found"
    );

    // -H reaches systemctl's ssh transport; an unreachable host is a failure, never success.
    let remote = sb.run_tool(
        "svcctl",
        &[
            "--json=short",
            "-H",
            "nobody@host.invalid",
            "status",
            "mine",
        ],
        &[],
        None,
    );
    remote.expect_code(1);
    assert_eq!(commands(&remote)[0][3..5], ["-H", "nobody@host.invalid"]);
    assert_eq!(remote.json["transport"], "systemctl");
    assert_eq!(remote.json["dbus_calls"], serde_json::json!([]));
    let option_host = svcctl(
        &sb,
        &["--host=-oProxyCommand=touch /tmp/pwned", "status", "mine"],
    );
    option_host.expect_code(2);
    assert!(option_host.json.get("commands").is_none());
}

/// The envelope contract holds for a missing sandbox too: --help and version stay text.
#[test]
fn help_is_plain_text() {
    let out = Command::new(bin("svcctl")).arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--if-present"));
}

#[test]
fn a_running_unit_whose_file_is_gone_is_still_stopped() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("orphan.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "orphan.service"]).status.success());
    std::fs::remove_file(sb.unit_dir().join("orphan.service")).unwrap();
    sb.daemon_reload();
    assert_eq!(
        sb.show("orphan.service", &["LoadState"])["LoadState"],
        "not-found"
    );
    assert_eq!(sb.active_state("orphan.service"), "active");
    let run = svcctl(&sb, &["stop", "--if-present", "orphan"]);
    run.expect_code(0);
    let entry = unit_entry(&run, "orphan.service");
    assert_eq!(entry["present"], true, "it still runs: {entry}");
    assert_eq!(entry["changed"], true);
    assert_eq!(sb.active_state("orphan.service"), "inactive");
}

#[test]
fn job_results_say_why_a_start_failed() {
    // Type=exec: the start job fails when the binary cannot be executed.
    let missing_binary = service_unit("/nonexistent/holdkit-binary", "Type=exec");
    let base = service_unit("/bin/false", "Type=oneshot");
    let top = "[Unit]\nDefaultDependencies=no\nRequires=base.service\nAfter=base.service\n\
               [Service]\nExecStart=/bin/sleep 300\n";
    let Some(sb) = boot(&[
        ("noexec.service", &missing_binary),
        ("base.service", &base),
        ("top.service", top),
    ]) else {
        return;
    };
    let run = svcctl(&sb, &["start", "noexec"]);
    run.expect_code(1);
    let entry = unit_entry(&run, "noexec.service");
    assert_eq!(entry["job_result"], "failed", "{}", run.stdout);
    assert_eq!(entry["after"]["active"], "failed");
    assert_eq!(run.json["error"]["job_results"]["noexec.service"], "failed");
    assert!(run.stderr.contains("result failed"), "{}", run.stderr);

    let run = svcctl(&sb, &["start", "top"]);
    run.expect_code(1);
    assert_eq!(run.error_kind(), Some("failed"));
    let entry = unit_entry(&run, "top.service");
    assert_eq!(entry["job_result"], "dependency", "{}", run.stdout);
    assert_eq!(
        run.json["error"]["units"],
        serde_json::json!(["top.service"])
    );
    assert!(run.stderr.contains("dependency"), "{}", run.stderr);
    // systemd does not say which dependency failed; the job that failed meanwhile does.
    assert_eq!(
        run.json["error"]["failed_meanwhile"]["base.service"], "failed",
        "{}",
        run.stdout
    );
    // It never ran: its dependency failed first.
    assert_eq!(entry["after"]["active"], "inactive");
    assert_eq!(entry["after"]["main_pid"], 0);
    assert_eq!(sb.active_state("top.service"), "inactive");
    assert_eq!(sb.active_state("base.service"), "failed");
}

/// The main pid of a unit is alive inside the sandbox (asked without systemctl, which
/// cannot reach a manager whose sockets are gone).
fn alive(sb: &Sandbox, pid: &str) -> bool {
    sb.command("kill")
        .args(["-0", pid])
        .status()
        .unwrap()
        .success()
}

#[test]
fn without_the_private_socket_root_uses_the_bus_and_without_both_falls_back_to_systemctl() {
    if !have_dbus_daemon() {
        return;
    }
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[
        ("api.service", &unit),
        ("other.service", &unit),
        ("dbus.socket", DBUS_SOCKET),
        ("dbus.service", DBUS_SERVICE),
    ]) else {
        return;
    };
    assert!(sb
        .systemctl(&["start", "dbus.service", "api.service", "other.service"])
        .status
        .success());
    let other_pid = main_pid(&sb, "other.service");
    let rm = |path: &str| assert!(sb.command("rm").arg(path).status().unwrap().success());
    rm("/run/systemd/private");

    let stop = svcctl(&sb, &["stop", "api"]);
    stop.expect_code(0);
    assert_eq!(stop.json["transport"], "system-bus", "{}", stop.stdout);
    assert_eq!(unit_entry(&stop, "api.service")["job_result"], "done");
    assert_eq!(sb.active_state("api.service"), "inactive");

    // No socket at all: systemctl is asked, finds no manager either, and svcctl says so.
    rm("/run/dbus/system_bus_socket");
    let run = svcctl(&sb, &["stop", "other"]);
    run.expect_code(1);
    assert_eq!(run.json["transport"], "systemctl");
    assert_eq!(run.json["dbus_calls"], serde_json::json!([]));
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no service manager was reached"),
        "{message}"
    );
    assert!(ran(&run, "show").is_some(), "{}", run.stdout);
    assert!(ran(&run, "stop").is_none(), "nothing was stopped");
    assert!(alive(&sb, &other_pid), "other.service was not touched");
}

/// Two busy loops, one per core, killed when dropped.
struct Load(Vec<std::process::Child>);

impl Load {
    fn both_cores() -> Load {
        Load(
            (0..2)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("spawn a busy loop")
                })
                .collect(),
        )
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn three_hundred_connects_under_load_never_hang() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("api.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "api.service"]).status.success());
    let load = Load::both_cores();
    // One shell inside the sandbox runs the loop; `timeout` turns a hang into exit 124.
    let script = "fails=0; for i in $(seq 300); do \
                  timeout 10 \"$0\" -q --json=short status api >/dev/null 2>&1 || { fails=$((fails+1)); echo \"run $i: exit $?\"; }; \
                  done; echo \"fails=$fails\"";
    let started = std::time::Instant::now();
    let out = sb
        .command("sh")
        .args(["-c", script])
        .arg(bin("svcctl"))
        .output()
        .unwrap();
    let took = started.elapsed();
    drop(load);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.trim_end().ends_with("fails=0"), "{text}");
    assert!(took < std::time::Duration::from_secs(120), "{took:?}");
}

#[test]
fn stop_runs_no_systemctl() {
    let unit = service_unit("/bin/sleep 300", "");
    let Some(sb) = boot(&[("api.service", &unit)]) else {
        return;
    };
    assert!(sb.systemctl(&["start", "api.service"]).status.success());
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let out = sb
        .command("strace")
        .args(["-f", "-qq", "-e", "trace=execve,execveat", "-o"])
        .arg(&trace)
        .arg(bin("svcctl"))
        .args(["--json=short", "stop", "api"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sb.active_state("api.service"), "inactive");
    let text = std::fs::read_to_string(&trace).unwrap();
    let execs: Vec<&str> = text.lines().filter(|l| l.contains("execve")).collect();
    assert_eq!(execs.len(), 1, "only svcctl itself: {text}");
    assert!(execs[0].contains("svcctl"), "{text}");
    assert!(!text.contains("systemctl"), "{text}");
}

/// A listener process, killed when dropped (also when a test panics).
struct Listener(std::process::Child);

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A listener on `socket` run as `uid` that accepts and then says nothing.
fn silent_listener(socket: &std::path::Path, uid: u32) -> Listener {
    let child = Listener(
        Command::new("setpriv")
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .arg("--clear-groups")
            .args([
                // The system's interpreter: a root-only one earlier on PATH is not nobody's.
                "/usr/bin/python3",
                "-c",
                "import socket, sys, time\n\
             s = socket.socket(socket.AF_UNIX)\n\
             s.bind(sys.argv[1]); s.listen(8)\n\
             conns = []\n\
             while True: conns.append(s.accept()[0])",
            ])
            .arg(socket)
            .spawn()
            .expect("start python3"),
    );
    for _ in 0..200 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(socket.exists(), "the listener did not bind {socket:?}");
    child
}

/// A user manager socket (`$XDG_RUNTIME_DIR/systemd/private`) in a fresh directory.
fn runtime_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let systemd = dir.path().join("systemd");
    std::fs::create_dir(&systemd).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&systemd, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socket = systemd.join("private");
    (dir, socket)
}

#[test]
fn a_manager_socket_held_by_another_user_is_refused() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let (dir, socket) = runtime_dir();
    let listener = silent_listener(&socket, 65534);
    let run = support::run_tool(
        "svcctl",
        ["--json=short", "--user", "status", "api"],
        &[("XDG_RUNTIME_DIR", dir.path().to_str().unwrap())],
        None,
    );
    drop(listener);
    run.expect_code(3);
    assert_eq!(run.error_kind(), Some("refused"));
    assert!(run.stderr.contains("uid 65534"), "{}", run.stderr);
}

#[test]
fn a_manager_that_never_answers_is_given_up_on() {
    let Some(()) = require("root", support::root()) else {
        return;
    };
    let (dir, socket) = runtime_dir();
    let listener = silent_listener(&socket, 0);
    let started = std::time::Instant::now();
    let run = support::run_tool(
        "svcctl",
        ["--json=short", "--user", "stop", "api"],
        &[("XDG_RUNTIME_DIR", dir.path().to_str().unwrap())],
        None,
    );
    let took = started.elapsed();
    drop(listener);
    run.expect_code(1);
    assert!(run.stderr.contains("in time"), "{}", run.stderr);
    // The connect-and-login bound, not the 90 s job timeout.
    assert!(took < std::time::Duration::from_secs(15), "{took:?}");
}
