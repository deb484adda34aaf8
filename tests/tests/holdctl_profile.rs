//! holdctl with hold profiles, against a real systemd sandbox and a real PostgreSQL: a
//! second application that is not Cornice (its own units, one of them optional and
//! absent; its own flags; its own tables with foreign keys and a group kept by default)
//! is planned, put on hold, shown and woken, and the host comes back exactly as it
//! began; the built-in cornice profile plans as a file holding its text does; profiles
//! root must not trust are refused before a byte is read, broken ones name their line;
//! `holdctl profiles` lists what a name can choose. Every holdctl run has its own lock
//! and state directory.

use reports::envelope::{decode, Envelope, ErrorKind};
use reports::holdctl::{Report, StepName};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::pg::{Cluster, TestDb, LEDGER_SQL};
use support::run::{bin, run_command, ToolRun};
use support::systemd::Sandbox;
use support::{require, ProfileScene};

const API: &str = "ledger-api.service";
const WORKER: &str = "ledger-worker.service";
/// In the profile, never installed on the host.
const BEAT: &str = "ledger-beat.service";

const RUNTIME: [&str; 3] = [
    "ledger.cache_entries",
    "ledger.event_payloads",
    "ledger.events",
];
const KEPT: [&str; 3] = [
    "ledger.accounts",
    "ledger.postings_archive",
    "ledger.schema_migrations",
];

/// The ledger profile; its env file is given here (the units name none).
fn ledger_profile(env_file: &Path) -> String {
    format!(
        r#"description = "Ledger API and its workers"
env_file = "{}"

[units]
api = "ledger-api"
others = ["ledger-worker", "ledger-beat"]

[flags]
MAINTENANCE = "1"
WORKERS = "0"

[tables]
schema = "ledger"
default = ["runtime"]
keep = ["schema_migrations"]

[tables.groups]
runtime = ["events", "event_payloads", "cache_entries"]
reference = ["accounts"]
history = ["postings_archive"]

[include]
history = {{ groups = ["history"] }}
"#,
        env_file.display()
    )
}

fn unit_text(what: &str) -> String {
    format!(
        "[Unit]\nDescription=Ledger {what} (hold test)\nDefaultDependencies=no\n\n\
         [Service]\nType=exec\nExecStart=/bin/sleep 600\n\n\
         [Install]\nWantedBy=default.target\n"
    )
}

/// A root-owned scene (0755): the profile directory, the env file, the state
/// directory and the lock.
struct Scene(ProfileScene);

impl std::ops::Deref for Scene {
    type Target = ProfileScene;

    fn deref(&self) -> &ProfileScene {
        &self.0
    }
}

impl Scene {
    fn new() -> Scene {
        Scene(ProfileScene::new("holdkit-hprofile."))
    }

    fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        for (flag, name) in [("--lock", "holdctl.lock"), ("--state-dir", "state")] {
            all.push(flag.into());
            all.push(self.path(name).display().to_string());
        }
        all
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![(
            "HOLDKIT_PROFILE_DIR".into(),
            self.profile_dir().display().to_string(),
        )]
    }

    /// holdctl outside any sandbox (runs that stop before a step).
    fn holdctl(&self, args: &[&str]) -> (ToolRun, Envelope<Report>) {
        let mut cmd = std::process::Command::new(bin("holdctl"));
        cmd.args(self.args(args)).envs(self.env());
        let run = run_command("holdctl", &mut cmd, None);
        let envelope = decode::<Report>(&run.stdout).unwrap();
        (run, envelope)
    }
}

/// The ledger host: the sandbox with the API and one worker enabled and running (the
/// third unit of the profile is not installed), the database, the env file.
struct Ledger {
    sb: Sandbox,
    db: TestDb,
    scene: Scene,
    env_file: PathBuf,
}

/// What hold and wake may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostState {
    env: String,
    units: Vec<(String, String, String)>,
    kept_rows: Vec<i64>,
}

fn ledger() -> Option<Ledger> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    require("root", support::root())?;
    let db = cluster.create_database("hprofile");
    db.exec(LEDGER_SQL);
    let scene = Scene::new();
    let env_file = scene.write(
        "ledger.env",
        &format!(
            "DATABASE_URL={}\n# the worker pool\nMAINTENANCE=0\nLOG=info\n",
            db.url()
        ),
        0o600,
    );
    let sb = require(
        "systemd sandbox",
        Sandbox::boot(&[(API, &unit_text("API")), (WORKER, &unit_text("worker"))]),
    )?;
    let out = sb.systemctl(&["enable", "--now", API, WORKER]);
    assert!(out.status.success(), "enable: {out:?}");
    Some(Ledger {
        sb,
        db,
        scene,
        env_file,
    })
}

impl Ledger {
    fn holdctl(&self, args: &[&str]) -> (ToolRun, Report) {
        let all = self.scene.args(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let env = self.scene.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let run = self.sb.run_tool("holdctl", &all, &env, None);
        assert!(
            !run.all_output().contains(&self.db.cluster.password),
            "password leaked"
        );
        let report = decode::<Report>(&run.stdout)
            .unwrap()
            .report
            .expect("holdctl's report");
        (run, report)
    }

    fn state(&self) -> HostState {
        let units = [API, WORKER, BEAT]
            .iter()
            .map(|u| {
                let show = self.sb.show(u, &["ActiveState", "UnitFileState"]);
                (
                    u.to_string(),
                    show.get("ActiveState").cloned().unwrap_or_default(),
                    show.get("UnitFileState").cloned().unwrap_or_default(),
                )
            })
            .collect();
        HostState {
            env: std::fs::read_to_string(&self.env_file).unwrap(),
            units,
            kept_rows: KEPT.iter().map(|t| self.db.count(t)).collect(),
        }
    }

    fn runtime_rows(&self) -> Vec<i64> {
        RUNTIME.iter().map(|t| self.db.count(t)).collect()
    }
}

fn truncated(report: &Report, name: StepName) -> reports::pgtruncate::Report {
    let step = report
        .steps
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no {name} step: {report:?}"));
    decode::<reports::pgtruncate::Report>(&step.report.to_string())
        .unwrap()
        .report
        .unwrap()
}

fn tables(r: &reports::pgtruncate::Report) -> Vec<&str> {
    r.truncated.iter().map(|t| t.table.as_str()).collect()
}

fn argv_of(report: &Report, name: StepName) -> Vec<String> {
    report
        .steps
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.argv[1..].to_vec())
        .unwrap_or_default()
}

#[test]
fn a_second_application_is_planned_held_shown_and_woken_back_exactly() {
    let Some(host) = ledger() else {
        return;
    };
    let profile_file = host.scene.profile_dir().join("ledger.toml");
    std::fs::write(&profile_file, ledger_profile(&host.env_file)).unwrap();
    let before = host.state();
    let runtime_before = host.runtime_rows();
    let rows_before = host.db.fingerprint();
    assert!(runtime_before.iter().all(|&n| n > 0));

    // plan: the profile's units, flags, env file and tables; nothing touched.
    let (run, report) = host.holdctl(&["plan", "--profile", "ledger"]);
    run.expect_code(0);
    assert_eq!(
        (host.state(), host.runtime_rows()),
        (before.clone(), runtime_before.clone())
    );
    let profile = report.profile.clone().unwrap();
    assert_eq!(profile.name, "ledger");
    assert_eq!(profile.source, profile_file.display().to_string());
    let env_file = host.env_file.display().to_string();
    assert_eq!(
        argv_of(&report, StepName::SetFlags),
        [
            "--json=short",
            "--dry-run",
            "--",
            &env_file,
            "MAINTENANCE=1",
            "WORKERS=0"
        ]
    );
    assert_eq!(
        argv_of(&report, StepName::StopUnits)[1..],
        ["stop", "--if-present", "--dry-run", "--", API, WORKER, BEAT]
    );
    let truncate = argv_of(&report, StepName::Truncate);
    assert!(
        truncate.windows(2).any(|w| w == ["--preset", "ledger"]),
        "{truncate:?}"
    );
    let plan = truncated(&report, StepName::Truncate);
    assert_eq!(tables(&plan), RUNTIME);
    assert_eq!(plan.profile.as_ref().unwrap().sha256, profile.sha256);
    // --include adds a group of the profile; one it does not define is a usage error.
    let (run, report) = host.holdctl(&["plan", "--profile", "ledger", "--include", "history"]);
    run.expect_code(0);
    assert!(tables(&truncated(&report, StepName::Truncate)).contains(&"ledger.postings_archive"));
    let (run, report) = host.holdctl(&["plan", "--profile", "ledger", "--include", "nope"]);
    run.expect_code(2);
    assert!(report.steps.is_empty(), "refused before any step");
    let (run, _) = host.holdctl(&["plan", "--profile", "ledger", "--include-auth"]);
    run.expect_code(2);
    assert!(run.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--include auth"));
    assert_eq!(host.state(), before);

    // hibernate: flags on, units stopped and disabled, the runtime group archived and
    // emptied.
    let (run, report) = host.holdctl(&["hibernate", "--yes", "--profile", "ledger", "--archive"]);
    run.expect_code(0);
    let env = std::fs::read_to_string(&host.env_file).unwrap();
    assert!(
        env.contains("\nMAINTENANCE=1\n") && env.contains("\nWORKERS=0\n"),
        "{env}"
    );
    for unit in [API, WORKER] {
        assert_eq!(host.sb.active_state(unit), "inactive", "{unit}");
        assert_eq!(host.sb.unit_file_state(unit), "disabled", "{unit}");
    }
    assert_eq!(host.runtime_rows(), [0, 0, 0]);
    assert_eq!(host.state().kept_rows, before.kept_rows, "the kept tables");
    let record = report.hold.clone().unwrap();
    assert_eq!(record.options.profile.as_ref(), Some(&profile));
    assert_eq!(record.options.service, API);
    assert_eq!(record.options.others, [WORKER, BEAT]);
    let flags: Vec<(&str, Option<&str>)> = record
        .flags
        .iter()
        .map(|f| (f.key.as_str(), f.before.as_deref()))
        .collect();
    assert_eq!(flags, [("MAINTENANCE", Some("0")), ("WORKERS", None)]);
    let beat = record.units.iter().find(|u| u.unit == BEAT).unwrap();
    assert!(!beat.present, "the absent unit is recorded as absent");
    assert!(record.archive.is_some(), "the record names the archive");

    // status: on hold by the profile's flags, each unit, the runtime tables.
    let (run, report) = host.holdctl(&["status", "--profile", "ledger"]);
    run.expect_code(0);
    let env = report.env.unwrap();
    assert!(env.hibernating);
    assert_eq!(env.values["MAINTENANCE"].as_deref(), Some("1"));
    assert_eq!(env.values["WORKERS"].as_deref(), Some("0"));
    let units: BTreeMap<String, bool> = report
        .units
        .unwrap()
        .into_iter()
        .map(|u| (u.unit, u.present))
        .collect();
    assert_eq!(
        units,
        BTreeMap::from([
            (API.into(), true),
            (WORKER.into(), true),
            (BEAT.into(), false)
        ])
    );
    let listed: Vec<String> = report
        .tables
        .unwrap()
        .into_iter()
        .map(|t| t.table)
        .collect();
    assert_eq!(listed, RUNTIME);
    assert_eq!(report.hold.as_ref(), Some(&record));

    // The profile edited since the hold: wake says so, and undoes the hold as the
    // record says (the profile file gone would not stop it either), the rows put back
    // from the archive first.
    let mut text = ledger_profile(&host.env_file);
    text.push_str("# edited after the hold\n");
    std::fs::write(&profile_file, &text).unwrap();
    let (run, report) = host.holdctl(&["wake", "--restore"]);
    run.expect_code(0);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("changed since the hold")),
        "{:?}",
        report.warnings
    );
    assert_eq!(
        report.profile.as_ref(),
        Some(&profile),
        "the hold's profile"
    );
    assert_eq!(host.state(), before, "the host as it began");
    assert_eq!(
        host.db.fingerprint(),
        rows_before,
        "every row and sequence back from the archive"
    );
}

#[test]
fn wake_needs_no_profile_file_once_the_hold_is_recorded() {
    let Some(host) = ledger() else {
        return;
    };
    let file = host
        .scene
        .write("elsewhere.toml", &ledger_profile(&host.env_file), 0o644);
    let before = host.state();
    let (run, _) = host.holdctl(&["hibernate", "--yes", "--profile", file.to_str().unwrap()]);
    run.expect_code(0);
    assert_ne!(host.state(), before);
    std::fs::remove_file(&file).unwrap();
    let (run, report) = host.holdctl(&["wake"]);
    run.expect_code(0);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("cannot be read now")),
        "{:?}",
        report.warnings
    );
    assert_eq!(host.state(), before);
}

#[test]
fn the_built_in_cornice_profile_plans_as_its_text_in_a_file_does() {
    let Some(host) = holdctl_support::host(&["HIBERNATE_MODE=false\nINGEST_ENABLED=true\n"], true)
    else {
        return;
    };
    let text = std::fs::read_to_string(support::repo_root().join("profile/profiles/cornice.toml"))
        .unwrap();
    let file = host.dir.path().join("cornice.toml");
    std::fs::write(&file, text).unwrap();
    let (run, default) = host.holdctl(&["plan", "--include-opportunities"]);
    run.expect_code(0);
    let (run, from_file) = host.holdctl(&[
        "plan",
        "--include",
        "opportunities",
        "--profile",
        file.to_str().unwrap(),
    ]);
    run.expect_code(0);
    let argv = |r: &Report| -> Vec<Vec<String>> {
        r.steps
            .iter()
            .map(|s| {
                s.argv[1..]
                    .iter()
                    .map(|a| {
                        if a == file.to_str().unwrap() {
                            "cornice".into()
                        } else {
                            a.clone()
                        }
                    })
                    .collect()
            })
            .collect()
    };
    assert_eq!(argv(&default), argv(&from_file));
    assert_eq!(
        tables(&truncated(&default, StepName::Truncate)),
        tables(&truncated(&from_file, StepName::Truncate))
    );
    let (a, b) = (default.profile.unwrap(), from_file.profile.unwrap());
    assert_eq!((a.source.as_str(), a.sha256), ("built-in", b.sha256));
}

mod holdctl_support;

#[track_caller]
fn refused_before_reading(scene: &Scene, profile: &Path, says: &str) {
    for command in [&["plan"][..], &["hibernate", "--yes"][..]] {
        let mut args = command.to_vec();
        args.extend(["--profile", profile.to_str().unwrap()]);
        let (run, envelope) = scene.holdctl(&args);
        run.expect_code(3);
        let err = envelope.error.unwrap();
        assert_eq!(err.kind, ErrorKind::Refused);
        assert!(err.message.contains(says), "{}", err.message);
        assert!(envelope.report.unwrap().steps.is_empty(), "no step ran");
        assert!(
            !scene.path("state").exists(),
            "not even the state directory made"
        );
    }
}

#[test]
fn profiles_root_must_not_trust_are_refused_and_broken_ones_name_their_line() {
    if require("root", support::root()).is_none() {
        return;
    }
    let scene = Scene::new();
    let env = scene.path("ledger.env");
    // Would parse: a refusal, not a usage error, shows the trust check came first.
    let owned = scene.write("owned.toml", &ledger_profile(&env), 0o644);
    support::give_to_nobody(&owned);
    refused_before_reading(&scene, &owned, "is owned by nobody");

    // nobody's symlink, in nobody's directory, to root's own profile.
    let roots = scene.write("roots.toml", &ledger_profile(&env), 0o644);
    let home = scene.path("home-nobody");
    std::fs::create_dir(&home).unwrap();
    support::give_to_nobody(&home);
    let link = home.join("ledger.toml");
    let out = support::as_nobody("ln")
        .arg("-s")
        .arg(&roots)
        .arg(&link)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    refused_before_reading(&scene, &link, "symlink");

    // Broken ones: a usage error naming the file and the line.
    let good = ledger_profile(&env);
    for (name, text, line) in [
        (
            "unknown.toml",
            good.replace("[flags]", "colour = \"red\"\n[flags]"),
            8,
        ),
        (
            "twice.toml",
            good.replace(
                "reference = [\"accounts\"]",
                "reference = [\"accounts\", \"events\"]",
            ),
            19,
        ),
        ("noapi.toml", good.replace("api = \"ledger-api\"\n", ""), 4),
        ("notoml.toml", good.replace("[units]", "[units"), 4),
    ] {
        let file = scene.write(name, &text, 0o644);
        let (run, envelope) = scene.holdctl(&["plan", "--profile", file.to_str().unwrap()]);
        run.expect_code(2);
        let err = envelope.error.unwrap();
        assert_eq!(err.kind, ErrorKind::Usage, "{name}");
        assert!(
            err.message.contains(&file.display().to_string()),
            "{name}: {}",
            err.message
        );
        assert_eq!(
            run.json["error"]["file"],
            file.display().to_string(),
            "{name}"
        );
        assert_eq!(run.json["error"]["line"], line, "{name}: {}", err.message);
        assert!(envelope.report.unwrap().steps.is_empty(), "{name}");
    }
    assert!(!scene.path("state").exists(), "no state directory was made");
}

#[test]
fn holdctl_profiles_lists_the_built_in_and_the_directory_ones() {
    if require("root", support::root()).is_none() {
        return;
    }
    let scene = Scene::new();
    let ledger = scene.profile_dir().join("ledger.toml");
    std::fs::write(&ledger, ledger_profile(&scene.path("ledger.env"))).unwrap();
    let broken = scene.profile_dir().join("broken.toml");
    std::fs::write(&broken, "[units\n").unwrap();
    let (run, envelope) = scene.holdctl(&["profiles"]);
    run.expect_code(0);
    let listed = envelope.report.unwrap().profiles.unwrap();
    let by_name: BTreeMap<&str, &reports::holdctl::ListedProfile> =
        listed.iter().map(|p| (p.name.as_str(), p)).collect();
    assert_eq!(
        by_name.keys().copied().collect::<Vec<_>>(),
        ["broken", "cornice", "ledger"]
    );
    assert_eq!(by_name["cornice"].source, "built-in");
    assert_eq!(by_name["cornice"].api.as_deref(), Some("cornice.service"));
    assert_eq!(by_name["ledger"].source, ledger.display().to_string());
    assert_eq!(by_name["ledger"].api.as_deref(), Some(API));
    assert!(by_name["ledger"].error.is_none());
    let problem = by_name["broken"].error.as_deref().unwrap();
    assert!(problem.contains("line 1"), "{problem}");
}
