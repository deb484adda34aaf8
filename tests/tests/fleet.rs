//! The holdkit.fleet Ansible collection end to end: real `ansible-playbook` and `ansible`
//! (ansible-core from PyPI) against sandboxed Cornice hosts, some over real ssh, the others
//! through the collection's sandbox connection. Each check reads the hosts themselves (env
//! files, unit states, table rows), and no planted secret may appear in any Ansible output,
//! -vvv included.

mod fleet_support;

use fleet_support::{Fleet, HostState};
use serde_json::{json, Value};

const HOSTS: [&str; 4] = ["cornice1", "cornice2", "cornice3", "cornice4"];

/// Asserts `name`'s env file holds the flags of a hibernated host (`hibernated`) or of
/// an awake one: hibernate and wake set the same two flags, opposite ways.
#[track_caller]
fn assert_flags(name: &str, state: &HostState, hibernated: bool) {
    for line in [
        format!("\nHIBERNATE_MODE={hibernated}\n"),
        format!("\nINGEST_ENABLED={}\n", !hibernated),
    ] {
        assert!(state.env.contains(&line), "{name}: {}", state.env);
    }
}

fn hibernated(fleet: &Fleet, name: &str, before: &HostState) {
    let host = fleet.host(name);
    let state = fleet.state(host);
    assert_flags(name, &state, true);
    assert_eq!(
        state.units[0], "cornice.service: inactive/disabled",
        "{name}"
    );
    if name != "cornice4" {
        assert_eq!(
            state.units[1], "cornice-monitor.service: inactive/disabled",
            "{name}"
        );
    }
    assert!(
        state.runtime_rows.iter().all(|&n| n == 0),
        "{name}: runtime emptied"
    );
    assert_eq!(
        state.kept_rows, before.kept_rows,
        "{name}: kept tables intact"
    );
    assert!(state.kept_rows.iter().all(|&n| n > 0), "{name}");
}

fn awake(fleet: &Fleet, name: &str) {
    let state = fleet.state(fleet.host(name));
    assert_flags(name, &state, false);
    assert_eq!(state.units[0], "cornice.service: active/enabled", "{name}");
    if name == "cornice4" {
        assert_eq!(
            state.units[1], "cornice-monitor.service: inactive/",
            "{name}: no monitor"
        );
    } else {
        assert_eq!(
            state.units[1], "cornice-monitor.service: active/enabled",
            "{name}"
        );
    }
}

fn states(fleet: &Fleet) -> Vec<HostState> {
    fleet.hosts.iter().map(|h| fleet.state(h)).collect()
}

/// --check --diff: every host reports what it would do, and nothing changes anywhere.
fn check_changes_nothing(fleet: &Fleet, before: &[HostState]) {
    let run = fleet.playbook("hibernate", &["--check", "--diff", "-vvv"]);
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(&states(fleet), before, "--check changed a host");
    let report = fleet.report("hibernate");
    for name in HOSTS {
        assert_eq!(report[name]["dry_run"], true, "{name}: {report}");
        assert_eq!(report[name]["changed"], true, "{name}: would change");
        assert_eq!(run.recap_changed(name), Some(1), "{name}: {}", run.output);
    }
    assert!(
        run.output.contains("+  HIBERNATE_MODE=true"),
        "diff shown: {}",
        run.output
    );
    assert!(
        run.output.contains("+  cornice.service: inactive/disabled"),
        "{}",
        run.output
    );
}

/// cornice3's database password is wrong: it fails with its error kind (batch 2, beside
/// cornice2), and cornice4 (batch 3) is left exactly as it was, rows and all.
fn broken_database_stops_the_rollout(fleet: &Fleet, before: &[HostState]) -> String {
    let env_file = &fleet.host("cornice3").env_file;
    let good = std::fs::read_to_string(env_file).unwrap();
    let wrong = support::unique("wrong-pw");
    let broken = good.replace(
        &format!(":{}@", fleet.cluster.password),
        &format!(":{wrong}@"),
    );
    assert_ne!(broken, good);
    std::fs::write(env_file, &broken).unwrap();

    let run = fleet.playbook("hibernate", &["-vvv"]);
    assert_ne!(run.code, 0, "{}", run.output);
    assert!(
        run.output.contains("\"error_kind\": \"permission\""),
        "{}",
        run.output
    );
    let report = fleet.report("hibernate");
    assert_eq!(report["cornice3"]["ok"], false, "{report}");
    assert_eq!(
        report["cornice3"]["error"]["kind"], "permission",
        "{report}"
    );
    // holdctl's dry run of every step found it before anything changed.
    assert_eq!(
        report["cornice3"]["not_run"],
        json!(["set_flags", "stop_units", "disable_units", "truncate"]),
        "the preflight stopped it"
    );
    assert!(
        report.get("cornice4").is_none(),
        "cornice4 was not run: {report}"
    );
    hibernated(fleet, "cornice1", &before[0]);
    assert_eq!(
        fleet.state(fleet.host("cornice4")),
        before[3],
        "cornice4 untouched"
    );
    assert!(before[3].runtime_rows.iter().all(|&n| n > 0));
    assert!(
        fleet
            .state(fleet.host("cornice3"))
            .runtime_rows
            .iter()
            .all(|&n| n > 0),
        "cornice3's rows kept"
    );
    assert_eq!(
        fleet.state(fleet.host("cornice3")).units,
        before[2].units,
        "cornice3's units untouched"
    );
    std::fs::write(env_file, &good).unwrap();
    wrong
}

/// An unreachable host (its sshd stopped) stops the rollout like a failed one.
fn unreachable_host_stops_the_rollout(fleet: &Fleet) {
    fleet.exec("cornice2", &["systemctl", "stop", "sshd.service"]);
    let cornice4 = fleet.state(fleet.host("cornice4"));
    let run = fleet.playbook("hibernate", &["-vvv"]);
    assert_ne!(run.code, 0, "{}", run.output);
    let report = fleet.report("hibernate");
    assert_eq!(report["cornice2"]["unreachable"], true, "{report}");
    assert_eq!(report["cornice1"]["ok"], true, "{report}");
    assert!(
        report.get("cornice4").is_none(),
        "cornice4 was not run: {report}"
    );
    assert_eq!(
        fleet.state(fleet.host("cornice4")),
        cornice4,
        "cornice4 untouched"
    );
    awake(fleet, "cornice4");
}

#[test]
fn a_rolling_hibernate_of_four_hosts_two_over_ssh() {
    let Some(fleet) = Fleet::boot(4, 2) else {
        return;
    };
    let connections: Vec<&str> = fleet.hosts.iter().map(|h| h.connection.as_str()).collect();
    assert_eq!(connections, ["ssh", "ssh", "sandbox", "sandbox"]);
    let before = states(&fleet);

    check_changes_nothing(&fleet, &before);
    let wrong_password = broken_database_stops_the_rollout(&fleet, &before);

    // Resumed by running the same playbook again.
    let run = fleet.playbook("hibernate", &["-vvv"]);
    assert_eq!(run.code, 0, "{}", run.output);
    for (i, name) in HOSTS.iter().enumerate() {
        hibernated(&fleet, name, &before[i]);
    }
    assert_eq!(
        run.recap_changed("cornice1"),
        Some(0),
        "cornice1 was done already"
    );

    let rerun = fleet.playbook("hibernate", &["-vvv"]);
    assert_eq!(rerun.code, 0, "{}", rerun.output);
    let report = fleet.report("hibernate");
    for name in HOSTS {
        assert_eq!(
            rerun.recap_changed(name),
            Some(0),
            "{name}: {}",
            rerun.output
        );
        assert_eq!(report[name]["changed"], false, "{name}: {report}");
        assert_eq!(report[name]["ok"], true, "{name}");
    }

    let wake = fleet.playbook("wake", &["-vvv"]);
    assert_eq!(wake.code, 0, "{}", wake.output);
    for name in HOSTS {
        awake(&fleet, name);
    }
    assert_eq!(fleet.report("wake").as_object().unwrap().len(), 4);

    unreachable_host_stops_the_rollout(&fleet);
    fleet.assert_no_secret_in_outputs(&[&wrong_password]);
}

#[test]
fn the_collection_builds_installs_offline_and_documents_every_module() {
    // No hosts: fleet.sh only builds the collection and installs the tarball offline.
    let Some(fleet) = Fleet::boot(0, 0) else {
        return;
    };
    assert!(
        fleet.tarball().is_file(),
        "ansible-galaxy collection build made no tarball"
    );
    let modules = ["hold", "hold_info", "envpatch", "svcctl", "pgtruncate"];
    let names: Vec<String> = modules
        .iter()
        .map(|m| format!("holdkit.fleet.{m}"))
        .collect();
    let args: Vec<&str> = names.iter().map(String::as_str).collect();
    let docs = fleet.ansible_doc(&args);
    for name in &names {
        let doc = &docs[name];
        assert!(doc["doc"]["short_description"].is_string(), "{name}: {doc}");
        let options = doc["doc"]["options"].as_object().unwrap();
        assert!(options.contains_key("bin_dir"), "{name}: the shared option");
        for option in options.values() {
            assert!(
                option["description"].is_string() || option["description"].is_array(),
                "{name}"
            );
        }
        assert!(
            doc["examples"].as_str().unwrap().contains(name.as_str()),
            "{name}: examples"
        );
        for field in ["holdkit", "rc", "error_kind", "msg"] {
            assert!(
                doc["return"][field].is_object(),
                "{name}: return value {field}"
            );
        }
    }
    let hold = &docs["holdkit.fleet.hold"]["doc"]["options"];
    for option in [
        "state",
        "include_opportunities",
        "include_auth",
        "keep_api",
        "env_file",
        "service",
        "monitor",
        "database_url",
        "state_dir",
        "archive",
        "restore",
    ] {
        assert!(hold[option].is_object(), "hold option {option}");
    }
    assert!(docs["holdkit.fleet.hold"]["return"]["archive"].is_object());
    // The archive modules: one on the controller (an action plugin), one on the host.
    let archives = fleet.ansible_doc(&["holdkit.fleet.hold_archive", "holdkit.fleet.archive_file"]);
    for (name, options, returned) in [
        (
            "holdkit.fleet.hold_archive",
            &[
                "state",
                "path",
                "sha256",
                "holds_auth",
                "fetch_auth",
                "keep_remote",
                "dest",
            ][..],
            "controller_archive",
        ),
        (
            "holdkit.fleet.archive_file",
            &["path", "sha256", "state", "src"][..],
            "archive_file",
        ),
    ] {
        let doc = &archives[name];
        for option in options {
            assert!(
                doc["doc"]["options"][option].is_object(),
                "{name}: {option}"
            );
        }
        assert!(doc["return"][returned].is_object(), "{name}: {returned}");
        assert!(doc["examples"].as_str().unwrap().contains(name), "{name}");
    }
    let connection = fleet.ansible_doc(&["-t", "connection", "holdkit.fleet.sandbox"]);
    assert!(connection["holdkit.fleet.sandbox"]["doc"]["options"]["sandbox_pid"].is_object());
}

/// One host over the sandbox connection, for the per-module tests.
fn one_host() -> Option<Fleet> {
    Fleet::boot(1, 0)
}

fn expect_ok(result: &Value, changed: bool) {
    assert_eq!(result["failed"], false, "{result}");
    assert_eq!(result["changed"], changed, "{result}");
    assert_eq!(result["holdkit"]["ok"], true, "{result}");
}

/// `module` on cornice1 in check mode with --diff: it would change something, and the
/// diff shows `shows`. The result, for more checks.
#[track_caller]
fn check_mode(fleet: &Fleet, module: &str, args: &Value, shows: &str) -> Value {
    let (_, check) = fleet.module("cornice1", module, args, &["--check", "--diff"]);
    expect_ok(&check, true);
    assert!(
        check["diff"]["after"].as_str().unwrap().contains(shows),
        "{check}"
    );
    check
}

#[test]
fn hold_module_hibernates_and_check_mode_touches_nothing() {
    let Some(fleet) = one_host() else { return };
    let host = fleet.host("cornice1").clone();
    let before = fleet.state(&host);
    let url = fleet.cluster.url(&host.db);
    let bin = support::bin_dir().display().to_string();
    let args = json!({"state": "hibernated", "database_url": url, "bin_dir": bin});

    let check = check_mode(&fleet, "hold", &args, "HIBERNATE_MODE=true");
    assert_eq!(check["holdkit"]["dry_run"], true);
    assert_eq!(fleet.state(&host), before, "check mode changed the host");

    let (_, real) = fleet.module("cornice1", "hold", &args, &[]);
    expect_ok(&real, true);
    hibernated(&fleet, "cornice1", &before);
    let (_, again) = fleet.module("cornice1", "hold", &args, &[]);
    expect_ok(&again, false);

    let (_, wake) = fleet.module(
        "cornice1",
        "hold",
        &json!({"state": "awake", "bin_dir": bin}),
        &[],
    );
    expect_ok(&wake, true);
    awake(&fleet, "cornice1");
    fleet.assert_no_secret_in_outputs(&[&url]);
}

#[test]
fn hold_info_module_reads_and_changes_nothing() {
    let Some(fleet) = one_host() else { return };
    let host = fleet.host("cornice1").clone();
    let before = fleet.state(&host);
    let bin = support::bin_dir().display().to_string();
    let (_, info) = fleet.module("cornice1", "hold_info", &json!({"bin_dir": bin}), &[]);
    expect_ok(&info, false);
    assert_eq!(
        info["holdkit"]["env"]["values"]["HIBERNATE_MODE"], "false",
        "{info}"
    );
    assert_eq!(info["holdkit"]["units"][0]["active"], "active", "{info}");
    assert!(
        info["holdkit"]["runtime_bytes"].as_u64().unwrap() > 0,
        "{info}"
    );
    let (_, checked) = fleet.module(
        "cornice1",
        "hold_info",
        &json!({"bin_dir": bin}),
        &["--check"],
    );
    expect_ok(&checked, false);
    assert_eq!(fleet.state(&host), before);

    let (_, missing) = fleet.module(
        "cornice1",
        "hold_info",
        &json!({"bin_dir": bin, "env_file": format!("{}.absent", host.env_file.display())}),
        &[],
    );
    assert_eq!(missing["failed"], true, "{missing}");
    assert_eq!(missing["error_kind"], "not_found", "{missing}");
    assert_eq!(missing["rc"], 4, "{missing}");
    assert_eq!(missing["holdkit"]["ok"], false, "{missing}");
    fleet.assert_no_secret_in_outputs(&[]);
}

#[test]
fn envpatch_module_sets_keys_and_never_shows_a_secret_value() {
    let Some(fleet) = one_host() else { return };
    let host = fleet.host("cornice1").clone();
    let bin = support::bin_dir().display().to_string();
    let token = support::unique("planted-token");
    let path = host.env_file.display().to_string();
    let args = json!({"path": path, "set": {"HIBERNATE_MODE": "true", "API_TOKEN": token},
                      "unset": ["INGEST_ENABLED"], "bin_dir": bin});
    let before = std::fs::read(&host.env_file).unwrap();

    check_mode(&fleet, "envpatch", &args, "HIBERNATE_MODE=true");
    assert_eq!(
        std::fs::read(&host.env_file).unwrap(),
        before,
        "check mode wrote the file"
    );

    let (_, real) = fleet.module("cornice1", "envpatch", &args, &["--diff"]);
    expect_ok(&real, true);
    let text = std::fs::read_to_string(&host.env_file).unwrap();
    assert!(text.contains("\nHIBERNATE_MODE=true\n"), "{text}");
    assert!(text.contains(&format!("\nAPI_TOKEN={token}\n")), "{text}");
    assert!(!text.contains("INGEST_ENABLED"), "{text}");
    let (_, again) = fleet.module("cornice1", "envpatch", &args, &[]);
    expect_ok(&again, false);

    let (_, missing) = fleet.module(
        "cornice1",
        "envpatch",
        &json!({"path": format!("{path}.absent"), "set": {"A": "1"}, "bin_dir": bin}),
        &[],
    );
    assert_eq!(missing["failed"], true, "{missing}");
    assert_eq!(missing["error_kind"], "not_found", "{missing}");
    assert_eq!(missing["rc"], 4, "{missing}");
    fleet.assert_no_secret_in_outputs(&[&token]);
}

#[test]
fn svcctl_module_stops_units_and_reports_their_real_state() {
    let Some(fleet) = one_host() else { return };
    let host = fleet.host("cornice1").clone();
    let bin = support::bin_dir().display().to_string();
    let args = json!({"verb": "disable", "now": true, "units": ["cornice", "cornice-monitor"],
                      "bin_dir": bin});

    check_mode(
        &fleet,
        "svcctl",
        &args,
        "cornice.service: inactive/disabled",
    );
    assert_eq!(fleet.unit(&host, "cornice.service"), "active/enabled");

    let (_, real) = fleet.module("cornice1", "svcctl", &args, &[]);
    expect_ok(&real, true);
    assert_eq!(fleet.unit(&host, "cornice.service"), "inactive/disabled");
    assert_eq!(
        fleet.unit(&host, "cornice-monitor.service"),
        "inactive/disabled"
    );
    assert_eq!(
        real["holdkit"]["units"][0]["after"]["active"], "inactive",
        "{real}"
    );
    let (_, again) = fleet.module("cornice1", "svcctl", &args, &[]);
    expect_ok(&again, false);

    let (_, missing) = fleet.module(
        "cornice1",
        "svcctl",
        &json!({"verb": "stop", "units": ["no-such-unit"], "bin_dir": bin}),
        &[],
    );
    assert_eq!(missing["failed"], true, "{missing}");
    assert_eq!(missing["error_kind"], "not_found", "{missing}");
    assert_eq!(missing["rc"], 4, "{missing}");
    let (_, skipped) = fleet.module(
        "cornice1",
        "svcctl",
        &json!({"verb": "stop", "units": ["no-such-unit"], "if_present": true, "bin_dir": bin}),
        &[],
    );
    expect_ok(&skipped, false);
}

#[test]
fn pgtruncate_module_empties_tables_with_the_url_from_its_environment() {
    let Some(fleet) = one_host() else { return };
    let host = fleet.host("cornice1").clone();
    let bin = support::bin_dir().display().to_string();
    let url = fleet.cluster.url(&host.db);
    let args = json!({"tables": ["requests", "market_snapshots"], "database_url": url,
                      "bin_dir": bin});
    let requests = fleet.count(&host, "requests");
    assert!(requests > 0);

    check_mode(&fleet, "pgtruncate", &args, "public.requests: emptied");
    assert_eq!(
        fleet.count(&host, "requests"),
        requests,
        "check mode truncated"
    );

    let (_, real) = fleet.module("cornice1", "pgtruncate", &args, &[]);
    expect_ok(&real, true);
    assert_eq!(fleet.count(&host, "requests"), 0);
    assert_eq!(fleet.count(&host, "market_snapshots"), 0);
    assert!(fleet.count(&host, "executions") > 0, "other tables kept");
    assert!(fleet.count(&host, "users") > 0, "other tables kept");
    let (_, again) = fleet.module("cornice1", "pgtruncate", &args, &[]);
    expect_ok(&again, false);

    let wrong = support::unique("wrong-pw");
    let bad_url = url.replace(&fleet.cluster.password, &wrong);
    let (_, denied) = fleet.module(
        "cornice1",
        "pgtruncate",
        &json!({"tables": ["executions"], "database_url": bad_url, "bin_dir": bin}),
        &[],
    );
    assert_eq!(denied["failed"], true, "{denied}");
    assert_eq!(denied["error_kind"], "permission", "{denied}");
    assert_eq!(denied["rc"], 6, "{denied}");
    assert!(fleet.count(&host, "executions") > 0, "nothing truncated");
    fleet.assert_no_secret_in_outputs(&[&url, &bad_url, &wrong]);
}

#[test]
fn sandbox_connection_copies_files_into_and_out_of_the_sandbox() {
    let Some(fleet) = one_host() else { return };
    let host = fleet.host("cornice1").clone();
    // /run is the sandbox's own tmpfs: the file exists only through its mount namespace.
    let text = support::unique("copied through nsenter");
    let (_, copied) = fleet.module(
        "cornice1",
        "ansible.builtin.copy",
        &json!({"content": text, "dest": "/run/holdkit-fleet-copy.txt", "mode": "0600"}),
        &[],
    );
    assert_eq!(copied["failed"], false, "{copied}");
    assert_eq!(copied["changed"], true, "{copied}");
    assert!(
        !std::path::Path::new("/run/holdkit-fleet-copy.txt").exists(),
        "written outside the sandbox"
    );
    let out = std::process::Command::new("nsenter")
        .args([
            "-t",
            &host.pid.to_string(),
            "-m",
            "-p",
            "--",
            "cat",
            "/run/holdkit-fleet-copy.txt",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), text);

    let dest = fleet.dir.path().join("fetched.txt");
    let (_, fetched) = fleet.module(
        "cornice1",
        "ansible.builtin.fetch",
        &json!({"src": "/run/holdkit-fleet-copy.txt", "dest": dest, "flat": true}),
        &[],
    );
    assert_eq!(fetched["failed"], false, "{fetched}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), text);
}
