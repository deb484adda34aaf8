//! holdctl end to end: a Cornice host made of a real systemd sandbox (units `cornice` and
//! `cornice-monitor` reading an env file) and a real PostgreSQL database with the
//! Cornice-like fixture. Each test checks what really happened to the host, and that no
//! planted secret appears in any output.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::pg::{
    Cluster, TestDb, CORNICE_KEPT_TABLES as KEPT, CORNICE_RUNTIME_TABLES as RUNTIME,
};
use support::systemd::Sandbox;
use support::{bin_dir, repo_root, require, ToolRun};
use tempfile::TempDir;

/// A throwaway Cornice server: units, env file, database.
struct CorniceHost {
    sb: Sandbox,
    db: TestDb,
    dir: TempDir,
    env_file: PathBuf,
    jwt_secret: String,
}

fn unit(env_file: &Path) -> String {
    format!(
        "[Unit]\nDescription=Cornice (test)\nDefaultDependencies=no\n\n\
         [Service]\nEnvironmentFile={}\nExecStart=/bin/sleep 600\n\n\
         [Install]\nWantedBy=default.target\n",
        env_file.display()
    )
}

fn cornice_host(with_monitor: bool) -> Option<CorniceHost> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    require("root", support::root())?;
    let db = cluster.create_database("cornice");
    db.load_cornice_fixture(300);

    let dir = tempfile::Builder::new()
        .prefix("holdkit-cornice.")
        .tempdir()
        .unwrap();
    let env_file = dir.path().join("cornice.env");
    let jwt_secret = format!("planted-jwt-{}", support::unique("s"));
    std::fs::write(
        &env_file,
        format!(
            "# Cornice server settings\n\
             DATABASE_URL=postgresql+asyncpg://{}:{}@{}:{}/{}\n\
             JWT_SECRET={jwt_secret}\n\
             HIBERNATE_MODE=false\n\
             INGEST_ENABLED=true\n\
             LOG_LEVEL=info\n",
            cluster.user, cluster.password, cluster.host, cluster.port, db.name
        ),
    )
    .unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o640)).unwrap();

    let text = unit(&env_file);
    let mut units = vec![("cornice.service", text.as_str())];
    if with_monitor {
        units.push(("cornice-monitor.service", text.as_str()));
    }
    let sb = require("systemd sandbox", Sandbox::boot(&units))?;
    let mut enable = vec!["enable", "--now", "cornice.service"];
    if with_monitor {
        enable.push("cornice-monitor.service");
    }
    let out = sb.systemctl(&enable);
    assert!(out.status.success(), "enable: {out:?}");
    Some(CorniceHost {
        sb,
        db,
        dir,
        env_file,
        jwt_secret,
    })
}

impl CorniceHost {
    fn lock(&self) -> String {
        self.dir.path().join("holdctl.lock").display().to_string()
    }

    /// The test's own state directory (hold record and history).
    fn state_dir(&self) -> String {
        self.dir.path().join("state").display().to_string()
    }

    /// holdctl inside the sandbox, with a private lock file and state directory.
    fn holdctl(&self, args: &[&str]) -> ToolRun {
        let lock = self.lock();
        let state = self.state_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--lock", &lock, "--state-dir", &state]);
        let run = self.sb.run_tool("holdctl", &all, &[], None);
        self.assert_no_secret(&run.all_output());
        run
    }

    fn assert_no_secret(&self, text: &str) {
        assert!(
            !text.contains(&self.db.cluster.password),
            "database password leaked:\n{text}"
        );
        assert!(
            !text.contains(&self.jwt_secret),
            "JWT_SECRET leaked:\n{text}"
        );
    }

    fn counts(&self, tables: &[&str]) -> Vec<i64> {
        tables.iter().map(|t| self.db.count(t)).collect()
    }

    fn env_text(&self) -> String {
        std::fs::read_to_string(&self.env_file).unwrap()
    }

    /// Everything a hibernate could touch, to prove that nothing was.
    fn snapshot(&self) -> (String, BTreeMap<String, String>, Vec<String>) {
        let units = ["cornice.service", "cornice-monitor.service"]
            .iter()
            .map(|u| format!("{}/{}", self.sb.active_state(u), self.sb.unit_file_state(u)))
            .collect();
        (self.env_text(), self.db.fingerprint(), units)
    }

    fn assert_hibernated(&self, with_monitor: bool) {
        self.assert_hibernated_with(with_monitor, false)
    }

    fn assert_hibernated_with(&self, with_monitor: bool, opportunities_cleared: bool) {
        let text = self.env_text();
        assert!(text.contains("HIBERNATE_MODE=true\n"), "{text}");
        assert!(text.contains("INGEST_ENABLED=false\n"), "{text}");
        assert!(
            text.starts_with("# Cornice server settings\n"),
            "comments kept: {text}"
        );
        let mode = std::fs::metadata(&self.env_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "env file mode kept");
        assert_eq!(self.sb.active_state("cornice.service"), "inactive");
        assert_eq!(self.sb.unit_file_state("cornice.service"), "disabled");
        if with_monitor {
            assert_eq!(self.sb.active_state("cornice-monitor.service"), "inactive");
            assert_eq!(
                self.sb.unit_file_state("cornice-monitor.service"),
                "disabled"
            );
        }
        assert!(
            self.counts(&RUNTIME).iter().all(|&n| n == 0),
            "runtime emptied"
        );
        assert!(
            self.counts(&KEPT).iter().all(|&n| n > 0),
            "kept tables intact"
        );
        assert_eq!(
            self.db.count("opportunities") == 0,
            opportunities_cleared,
            "opportunities cleared only with --include-opportunities"
        );
        assert_eq!(self.db.count("alembic_version"), 1, "migrations kept");
    }
}

fn step<'a>(run: &'a ToolRun, name: &str) -> &'a serde_json::Value {
    run.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {}", run.json))
}

fn step_names(run: &ToolRun) -> Vec<String> {
    run.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hibernate_does_the_runbook_and_a_rerun_changes_nothing() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let kept_before = host.counts(&KEPT);
    // No --env-file: it comes from the API unit's EnvironmentFile=.
    let run = host.holdctl(&["hibernate", "--yes"]);
    run.expect_code(0);
    host.assert_hibernated(true);
    assert_eq!(host.counts(&KEPT), kept_before);
    assert_eq!(run.json["changed"], true);
    assert_eq!(run.json["env_file"], host.env_file.display().to_string());
    assert_eq!(
        step_names(&run),
        [
            "read_units",
            "read_flags",
            "set_flags",
            "stop_units",
            "disable_units",
            "truncate"
        ]
    );
    assert_eq!(run.json["not_run"], serde_json::json!([]));
    for s in run.json["steps"].as_array().unwrap() {
        assert_eq!(s["exit_code"], 0, "{s}");
        assert_eq!(s["ok"], true);
        assert!(
            s["argv"][0].as_str().unwrap().starts_with('/'),
            "argv names the binary: {s}"
        );
        assert_eq!(s["report"]["ok"], true);
    }
    assert!(
        step(&run, "truncate")["report"]["bytes_freed"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Every step's argv can be run by hand: the truncate names no URL, only the env file.
    let argv = step(&run, "truncate")["argv"].to_string();
    assert!(argv.contains("--env-file"), "{argv}");

    let again = host.holdctl(&["hibernate", "--yes"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false, "{}", again.json);
    assert!(again.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["changed"] == false));
    host.assert_hibernated(true);
}

#[test]
fn plan_touches_nothing_and_says_what_would_change() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let before = host.snapshot();
    let mtime = std::fs::metadata(&host.env_file)
        .unwrap()
        .modified()
        .unwrap();
    let run = host.holdctl(&["plan"]);
    run.expect_code(0);
    assert_eq!(run.json["dry_run"], true);
    assert_eq!(run.json["changed"], true, "the plan would change things");
    for name in ["set_flags", "stop_units", "disable_units", "truncate"] {
        let s = step(&run, name);
        assert_eq!(s["report"]["dry_run"], true, "{s}");
        assert_eq!(s["changed"], true, "{s}");
        assert!(s["argv"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--dry-run"));
    }
    assert_eq!(host.snapshot(), before);
    assert_eq!(
        std::fs::metadata(&host.env_file)
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    // `hibernate --dry-run` is the same plan.
    let same = host.holdctl(&["hibernate", "--dry-run"]);
    same.expect_code(0);
    assert_eq!(step_names(&same), step_names(&run));
    assert_eq!(host.snapshot(), before);
}

#[test]
fn hibernate_off_a_terminal_without_yes_refuses_and_touches_nothing() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let before = host.snapshot();
    let run = host.holdctl(&["hibernate"]);
    run.expect_code(3);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--yes"));
    assert_eq!(host.snapshot(), before);
}

#[test]
fn a_wrong_service_name_is_exit_4_before_anything_is_touched() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let before = host.snapshot();
    let env_file = host.env_file.display().to_string();
    for operation in ["hibernate", "wake"] {
        let run = host.holdctl(&[
            operation,
            "--yes",
            "--service",
            "cornise",
            "--env-file",
            &env_file,
        ]);
        run.expect_code(4);
        let message = run.json["error"]["message"].as_str().unwrap();
        assert!(message.contains("cornise.service"), "{message}");
        assert!(message.contains("--service"), "{message}");
        assert_eq!(step_names(&run), ["read_units"]);
        assert_eq!(host.snapshot(), before, "{operation} touched nothing");
    }
}

#[test]
fn a_second_holdctl_is_busy_and_names_the_holder() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let before = host.snapshot();
    // Hold the lock the way another holdctl would: flock(1) on the same file, in the sandbox.
    let mut holder = host
        .sb
        .command("flock")
        .args(["--exclusive", &host.lock(), "sleep", "30"])
        .spawn()
        .expect("flock holder");
    // Wait until the holder has the lock.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let probe = host
            .sb
            .command("flock")
            .args(["--nonblock", &host.lock(), "true"])
            .status()
            .unwrap();
        if !probe.success() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A pid written into the file is not believed while the kernel knows the holder.
    std::fs::write(host.lock(), "4242\n").unwrap();
    let holder_pid = String::from_utf8(
        host.sb
            .command("pgrep")
            .args(["-x", "flock"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let holder_pid: u32 = holder_pid.trim().parse().expect("one flock process");
    let run = host.holdctl(&["hibernate", "--yes"]);
    let _ = holder.kill();
    let _ = holder.wait();
    run.expect_code(5);
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("pid {holder_pid}")),
        "{}",
        run.json
    );
    assert_eq!(run.json["error"]["holder_pid"], holder_pid);
    assert_eq!(host.snapshot(), before);
}

#[test]
fn a_database_that_is_down_stops_hibernate_before_anything_is_touched() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    // Point the app at a port where nothing listens: the truncate's dry run fails, in
    // the preflight, before the flags, the units or the record are touched.
    let good = host.env_text();
    let bad = good.replace(&format!(":{}/", host.db.cluster.port), ":1/");
    assert_ne!(good, bad);
    std::fs::write(&host.env_file, &bad).unwrap();
    let before = host.snapshot();
    let run = host.holdctl(&["hibernate", "--yes", "--keep-api"]);
    assert_ne!(run.code, 0);
    let preflight = run.json["preflight"].as_array().unwrap();
    let truncate = preflight.iter().find(|s| s["name"] == "truncate").unwrap();
    assert_eq!(run.code, truncate["exit_code"].as_i64().unwrap() as i32);
    assert_eq!(step_names(&run), ["read_units", "read_flags"]);
    assert_eq!(
        run.json["not_run"],
        serde_json::json!([
            "set_flags",
            "stop_units",
            "disable_units",
            "truncate",
            "start_api"
        ])
    );
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("truncate") && message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(host.snapshot(), before);
    assert!(!Path::new(&host.state_dir()).join("hold.json").exists());

    // Fixed, the same command does the job.
    std::fs::write(&host.env_file, &good).unwrap();
    let again = host.holdctl(&["hibernate", "--yes", "--keep-api"]);
    again.expect_code(0);
    assert!(host.counts(&RUNTIME).iter().all(|&n| n == 0));
    assert_eq!(
        host.sb.active_state("cornice.service"),
        "active",
        "--keep-api"
    );
}

#[test]
fn keep_api_starts_the_api_again_in_hibernate_mode() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let run = host.holdctl(&["hibernate", "--yes", "--keep-api"]);
    run.expect_code(0);
    assert_eq!(step_names(&run).last().unwrap(), "start_api");
    assert_eq!(host.sb.active_state("cornice.service"), "active");
    assert_eq!(host.sb.unit_file_state("cornice.service"), "disabled");
    assert_eq!(host.sb.active_state("cornice-monitor.service"), "inactive");
    // The API really came up with the hibernate flags in its environment.
    let pid = host.sb.show("cornice.service", &["MainPID"])["MainPID"].clone();
    let environ = host
        .sb
        .command("cat")
        .arg(format!("/proc/{pid}/environ"))
        .output()
        .unwrap();
    let environ = String::from_utf8_lossy(&environ.stdout);
    assert!(
        environ.split('\0').any(|v| v == "HIBERNATE_MODE=true"),
        "{environ:?}"
    );
    assert!(environ.split('\0').any(|v| v == "INGEST_ENABLED=false"));
}

#[test]
fn wake_brings_the_services_back_and_restores_no_data() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    host.holdctl(&["hibernate", "--yes"]).expect_code(0);
    let run = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert_eq!(run.json["changed"], true);
    assert!(run.json["note"]
        .as_str()
        .unwrap()
        .contains("restores no data"));
    assert!(run.stderr.contains("restores no data"));
    let text = host.env_text();
    assert!(text.contains("HIBERNATE_MODE=false\n") && text.contains("INGEST_ENABLED=true\n"));
    for u in ["cornice.service", "cornice-monitor.service"] {
        assert_eq!(host.sb.active_state(u), "active", "{u}");
        assert_eq!(host.sb.unit_file_state(u), "enabled", "{u}");
    }
    assert!(
        host.counts(&RUNTIME).iter().all(|&n| n == 0),
        "wake restores nothing"
    );
    let again = host.holdctl(&["wake"]);
    again.expect_code(0);
    assert_eq!(again.json["changed"], false);
}

#[test]
fn status_reads_flags_units_and_tables_and_changes_nothing() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let before = host.snapshot();
    let run = host.holdctl(&["status"]);
    run.expect_code(0);
    assert_eq!(run.json["changed"], false);
    assert_eq!(run.json["env"]["values"]["HIBERNATE_MODE"], "false");
    assert_eq!(run.json["env"]["values"]["INGEST_ENABLED"], "true");
    assert_eq!(run.json["env"]["hibernating"], false);
    let units = run.json["units"].as_array().unwrap();
    assert_eq!(units.len(), 2);
    assert!(units
        .iter()
        .all(|u| u["active"] == "active" && u["enabled"] == "enabled"));
    let tables = run.json["tables"].as_array().unwrap();
    assert_eq!(tables.len(), RUNTIME.len(), "{}", run.json["tables"]);
    assert!(run.json["runtime_bytes"].as_u64().unwrap() > 0);
    assert_eq!(host.snapshot(), before);

    host.holdctl(&["hibernate", "--yes"]).expect_code(0);
    let after = host.holdctl(&["status"]);
    after.expect_code(0);
    assert_eq!(after.json["changed"], false);
    assert_eq!(after.json["env"]["hibernating"], true);
    assert!(after.json["units"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["active"] == "inactive" && u["enabled"] == "disabled"));
}

#[test]
fn a_host_without_the_monitor_unit_hibernates() {
    let Some(host) = cornice_host(false) else {
        return;
    };
    let run = host.holdctl(&["hibernate", "--yes"]);
    run.expect_code(0);
    host.assert_hibernated(false);
    // The missing monitor is reported and skipped in the same calls that stop and
    // disable the API.
    for name in ["stop_units", "disable_units"] {
        let units = &step(&run, name)["report"]["units"];
        assert_eq!(units[0]["changed"], true, "{units}");
        assert_eq!(units[1]["unit"], "cornice-monitor.service", "{units}");
        assert_eq!(units[1]["present"], false, "{units}");
        assert_eq!(units[1]["changed"], false, "{units}");
    }
    let wake = host.holdctl(&["wake"]);
    wake.expect_code(0);
    assert_eq!(host.sb.active_state("cornice.service"), "active");
}

#[test]
fn the_terminal_prompt_asks_and_only_yes_proceeds() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let before = host.snapshot();
    let holdctl = bin_dir().join("holdctl");
    let cmdline = format!(
        "{} hibernate --json=short --lock {} --state-dir {}",
        holdctl.display(),
        host.lock(),
        host.state_dir()
    );
    let on_pty = |answer: &str| -> (i32, String) {
        // script(1) gives holdctl a real terminal and types the answer into it.
        let mut child = host
            .sb
            .command("script")
            .args(["-qec", &cmdline, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let answer = answer.to_string();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            // Give holdctl time to show the plan before typing, like a person would.
            std::thread::sleep(std::time::Duration::from_millis(1500));
            let _ = stdin.write_all(answer.as_bytes());
            std::thread::sleep(std::time::Duration::from_millis(500));
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    };

    let (code, screen) = on_pty("n\n");
    host.assert_no_secret(&screen);
    assert!(screen.contains("proceed? [y/N]"), "{screen}");
    assert!(screen.contains("truncate"), "the plan is shown: {screen}");
    assert_eq!(code, 3, "{screen}");
    assert_eq!(host.snapshot(), before, "a no touches nothing");

    let (code, screen) = on_pty("y\n");
    host.assert_no_secret(&screen);
    assert_eq!(code, 0, "{screen}");
    let json_line = screen
        .lines()
        .find(|l| l.trim_start().starts_with("{\"tool\":\"holdctl\""))
        .unwrap_or_else(|| panic!("no envelope on the terminal: {screen}"));
    let report: serde_json::Value = serde_json::from_str(json_line.trim()).unwrap();
    assert_eq!(report["ok"], true);
    host.assert_hibernated(true);
}

#[test]
fn hibernate_server_script_is_a_plain_pipeline_of_the_tools() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    let script = repo_root().join("scripts/hibernate_server.sh");
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = host
        .sb
        .command(&script)
        .arg("--include-opportunities")
        .env("PATH", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    host.assert_no_secret(&format!("{stdout}{stderr}"));
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // One JSON report per step, as JSON lines.
    let tools: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line"))
        .map(|v| {
            assert_eq!(v["ok"], true, "{v}");
            v["tool"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        tools,
        [
            "svcctl",
            "envpatch",
            "svcctl",
            "svcctl",
            "svcctl",
            "svcctl",
            "pgtruncate"
        ]
    );
    // --include-opportunities was passed on to pgtruncate.
    host.assert_hibernated_with(true, true);
}

/// A host whose API unit reads two env files, the first with DATABASE_URL and
/// HIBERNATE_MODE, the second (optional, `-`) with INGEST_ENABLED and its own
/// HIBERNATE_MODE, which overrides the first; a third, optional and missing. The unit
/// writes the environment systemd gave it to `seen.env` when it starts.
struct TwoFileHost {
    sb: Sandbox,
    db: TestDb,
    other: TestDb,
    dir: TempDir,
    first: PathBuf,
    second: PathBuf,
}

impl TwoFileHost {
    /// `holdctl --json=short ARGS` inside the sandbox, with a private lock file and state
    /// directory, `env` added.
    fn holdctl(&self, args: &[&str], env: &[(&str, &str)]) -> ToolRun {
        let lock = self.dir.path().join("holdctl.lock");
        let state = self.dir.path().join("state");
        let mut all = vec![
            "--json=short",
            "--lock",
            lock.to_str().unwrap(),
            "--state-dir",
            state.to_str().unwrap(),
        ];
        all.extend(args);
        self.sb.run_tool("holdctl", &all, env, None)
    }
}

fn two_file_host() -> Option<TwoFileHost> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    require("root", support::root())?;
    let db = cluster.create_database("cornice");
    db.load_cornice_fixture(50);
    let other = cluster.create_database("otherdb");
    other.load_cornice_fixture(50);
    let dir = tempfile::Builder::new()
        .prefix("holdkit-two-env.")
        .tempdir()
        .unwrap();
    let first = dir.path().join("cornice.env");
    let second = dir.path().join("flags.env");
    std::fs::write(
        &first,
        format!(
            "DATABASE_URL=postgresql://{}:{}@{}:{}/{}\nHIBERNATE_MODE=false\nLOG_LEVEL=info\n",
            cluster.user, cluster.password, cluster.host, cluster.port, db.name
        ),
    )
    .unwrap();
    std::fs::write(&second, "INGEST_ENABLED=true\nHIBERNATE_MODE=false\n").unwrap();
    let seen = dir.path().join("seen.env");
    let unit = format!(
        "[Unit]\nDescription=Cornice (two env files)\nDefaultDependencies=no\n\n\
         [Service]\nEnvironmentFile={}\nEnvironmentFile=-{}\nEnvironmentFile=-{}/missing.env\n\
         ExecStart=/bin/sh -c 'env > {}; exec sleep 600'\n\n\
         [Install]\nWantedBy=default.target\n",
        first.display(),
        second.display(),
        dir.path().display(),
        seen.display()
    );
    let sb = require(
        "systemd sandbox",
        Sandbox::boot(&[("cornice.service", unit.as_str())]),
    )?;
    let out = sb.systemctl(&["enable", "--now", "cornice.service"]);
    assert!(out.status.success(), "enable: {out:?}");
    Some(TwoFileHost {
        sb,
        db,
        other,
        dir,
        first,
        second,
    })
}

#[test]
fn several_environment_files_are_edited_where_systemd_reads_them() {
    let Some(host) = two_file_host() else {
        return;
    };
    let first_before = std::fs::read_to_string(&host.first).unwrap();
    // The operator's shell names another database: it must not matter.
    let port = host.other.cluster.port.to_string();
    let pg_env = [
        ("PGDATABASE", host.other.name.as_str()),
        ("PGHOST", host.other.cluster.host.as_str()),
        ("PGPORT", port.as_str()),
        ("PGUSER", host.other.cluster.user.as_str()),
        ("PGPASSWORD", host.other.cluster.password.as_str()),
    ];
    let run = host.holdctl(&["hibernate", "--yes", "--keep-api"], &pg_env);
    run.expect_code(0);
    // Both flags are read by systemd from the second file: edited there, the first file
    // (whose HIBERNATE_MODE systemd overrides) left as it was.
    assert_eq!(
        std::fs::read_to_string(&host.second).unwrap(),
        "INGEST_ENABLED=false\nHIBERNATE_MODE=true\n"
    );
    assert_eq!(std::fs::read_to_string(&host.first).unwrap(), first_before);
    // The database emptied is the one systemd gives the unit, not PGDATABASE's.
    assert!(RUNTIME.iter().all(|t| host.db.count(t) == 0));
    assert!(
        RUNTIME.iter().all(|t| host.other.count(t) > 0),
        "otherdb untouched"
    );
    assert_eq!(run.json["env_file"], host.first.display().to_string());
    // systemd itself, starting the API again, reads the flags as intended.
    let seen = std::fs::read_to_string(host.dir.path().join("seen.env")).unwrap();
    assert!(seen.lines().any(|l| l == "HIBERNATE_MODE=true"), "{seen}");
    assert!(seen.lines().any(|l| l == "INGEST_ENABLED=false"), "{seen}");
    let flags_steps: Vec<&serde_json::Value> = run.json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "set_flags")
        .collect();
    assert_eq!(flags_steps.len(), 1, "{}", run.json);
}

#[test]
fn env_files_without_database_url_stop_hibernate_before_anything_is_touched() {
    let Some(host) = two_file_host() else {
        return;
    };
    std::fs::write(&host.first, "HIBERNATE_MODE=false\n").unwrap();
    let before = (
        std::fs::read_to_string(&host.second).unwrap(),
        host.sb.active_state("cornice.service"),
    );
    let run = host.holdctl(
        &["hibernate", "--yes"],
        &[("DATABASE_URL", host.other.url().as_str())],
    );
    run.expect_code(4);
    let message = run.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("DATABASE_URL"), "{message}");
    assert_eq!(
        (
            std::fs::read_to_string(&host.second).unwrap(),
            host.sb.active_state("cornice.service")
        ),
        before
    );
    assert!(RUNTIME.iter().all(|t| host.other.count(t) > 0));
    assert!(RUNTIME.iter().all(|t| host.db.count(t) > 0));
}

#[test]
fn unit_names_come_from_svcctl_a_dotted_name_included() {
    let Some(host) = cornice_host(false) else {
        return;
    };
    // `cornice.api` is not a unit type suffix: svcctl (and systemd) read cornice.api.service.
    host.sb
        .write_unit("cornice.api.service", &unit(&host.env_file));
    host.sb.daemon_reload();
    let out = host.sb.systemctl(&["start", "cornice.api.service"]);
    assert!(out.status.success(), "{out:?}");
    let run = host.holdctl(&["hibernate", "--yes", "--service", "cornice.api"]);
    run.expect_code(0);
    assert_eq!(host.sb.active_state("cornice.api.service"), "inactive");
    assert!(step(&run, "stop_units")["argv"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "cornice.api.service"));
    // A dotted name that does not exist stops the run before the env file is touched
    // (wake with no hold record names its units by --service; with one, by the record).
    std::fs::remove_file(Path::new(&host.state_dir()).join("hold.json")).unwrap();
    let before = host.env_text();
    let run = host.holdctl(&["wake", "--service", "cornice.gone"]);
    run.expect_code(4);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cornice.gone.service"));
    assert_eq!(host.env_text(), before);
    assert_eq!(step_names(&run), ["read_units"]);
}

#[test]
fn a_database_url_given_on_the_command_line_leaves_argv_at_once() {
    let Some(host) = cornice_host(true) else {
        return;
    };
    // holdctl with siblings that record their parent's command line before running the
    // real tool: the parent is holdctl, after it moved the URL out of its argv.
    let tools = support::holdctl_with_wrappers("holdkit-argv.", |tool| {
        Some(format!(
            "#!/bin/sh\nrecord=\"$(dirname \"$0\")/parents.txt\"\n\
             tr '\\0' ' ' < /proc/$PPID/cmdline >> \"$record\"\necho >> \"$record\"\nexec {} \"$@\"\n",
            support::bin(tool).display()
        ))
    });
    let record = tools.path().join("parents.txt");
    let url = host.db.url();
    let lock = host.lock();
    let state = host.state_dir();
    let mut cmd = host.sb.command(tools.path().join("holdctl"));
    cmd.args([
        "--json=short",
        "--database-url",
        &url,
        "plan",
        "--lock",
        &lock,
        "--state-dir",
        &state,
    ]);
    let run = support::run::run_command("holdctl", &mut cmd, None);
    run.expect_code(0);
    let parents = std::fs::read_to_string(&record).unwrap();
    assert!(parents.lines().count() >= 3, "{parents}");
    assert!(
        !parents.contains(&host.db.cluster.password) && !parents.contains("--database-url"),
        "holdctl's argv still held the URL: {parents}"
    );
    // ...and pgtruncate got it, through its environment: the plan read the right tables.
    assert!(step(&run, "truncate")["report"]["truncated"]
        .as_array()
        .is_some_and(|t| t.len() == RUNTIME.len()));
    host.assert_no_secret(&run.all_output());

    // HOLDCTL_DATABASE_URL is the same thing, given directly (as the Ansible module does):
    // it wins over the env file's DATABASE_URL, here made wrong.
    let text = host.env_text();
    let broken = text.replace(&format!("/{}\n", host.db.name), "/no_such_db\n");
    assert_ne!(broken, text);
    std::fs::write(&host.env_file, &broken).unwrap();
    let run = host.sb.run_tool(
        "holdctl",
        &[
            "--json=short",
            "plan",
            "--lock",
            &lock,
            "--state-dir",
            &state,
        ],
        &[("HOLDCTL_DATABASE_URL", url.as_str())],
        None,
    );
    run.expect_code(0);
    assert!(step(&run, "truncate")["report"]["truncated"]
        .as_array()
        .is_some_and(|t| t.len() == RUNTIME.len()));
    assert!(!step(&run, "truncate")["argv"]
        .to_string()
        .contains("--env-file"));
    host.assert_no_secret(&run.all_output());
}
