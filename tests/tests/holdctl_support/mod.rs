//! A Cornice host for holdctl's hold tests: a real systemd sandbox whose API unit (and
//! monitor) read one or two env files, a real PostgreSQL database with the Cornice-like
//! fixture, and holdctl run with the test's own lock and state directory.
#![allow(dead_code)]

use reports::holdctl::{HoldRecord, Report, StepName};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use support::pg::{Cluster, TestDb, CORNICE_RUNTIME_TABLES as RUNTIME};
use support::systemd::Sandbox;
use support::{require, ToolRun};
use tempfile::TempDir;

pub const API: &str = "cornice.service";
pub const MONITOR: &str = "cornice-monitor.service";

/// A Cornice host whose API unit reads one or two env files.
pub struct Host {
    pub sb: Sandbox,
    pub db: TestDb,
    pub dir: TempDir,
    pub files: Vec<PathBuf>,
}

/// What hold and wake may touch, for "exactly as before" comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    /// Each env file's bytes.
    pub files: Vec<(PathBuf, String)>,
    /// Each unit: (name, ActiveState, UnitFileState).
    pub units: Vec<(String, String, String)>,
}

/// `Type=exec`: the unit is active once its process runs the command, so the
/// environment read from /proc is the one systemd gave it.
pub fn unit_text(files: &[PathBuf]) -> String {
    let env: String = files
        .iter()
        .map(|f| format!("EnvironmentFile={}\n", f.display()))
        .collect();
    format!(
        "[Unit]\nDescription=Cornice (hold test)\nDefaultDependencies=no\n\n\
         [Service]\nType=exec\n{env}ExecStart=/bin/sleep 600\n\n\
         [Install]\nWantedBy=default.target\n"
    )
}

/// `contents[i]` is env file i; DATABASE_URL is added to the first.
pub fn host(contents: &[&str], with_monitor: bool) -> Option<Host> {
    let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
    require("root", support::root())?;
    let db = cluster.create_database("hold");
    db.load_cornice_fixture(30);
    let dir = tempfile::Builder::new()
        .prefix("holdkit-hold.")
        .tempdir()
        .unwrap();
    let mut files = Vec::new();
    for (i, text) in contents.iter().enumerate() {
        let file = dir.path().join(format!("env{i}.env"));
        let text = if i == 0 {
            format!("DATABASE_URL={}\n{text}", db.url())
        } else {
            text.to_string()
        };
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        files.push(file);
    }
    let text = unit_text(&files);
    let mut units = vec![(API, text.as_str())];
    if with_monitor {
        units.push((MONITOR, text.as_str()));
    }
    let sb = require("systemd sandbox", Sandbox::boot(&units))?;
    let mut enable = vec!["enable", "--now", API];
    if with_monitor {
        enable.push(MONITOR);
    }
    let out = sb.systemctl(&enable);
    assert!(out.status.success(), "enable: {out:?}");
    Some(Host { sb, db, dir, files })
}

impl Host {
    pub fn lock(&self) -> String {
        self.dir.path().join("holdctl.lock").display().to_string()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn record_file(&self) -> PathBuf {
        self.state_dir().join("hold.json")
    }

    pub fn history(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state_dir().join("holds")) {
            Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn args(&self, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.extend([
            "--lock".to_string(),
            self.lock(),
            "--state-dir".to_string(),
            self.state_dir().display().to_string(),
        ]);
        all
    }

    /// holdctl inside the sandbox with the test's own lock and state directory.
    pub fn holdctl(&self, args: &[&str]) -> (ToolRun, Report) {
        let all = self.args(args);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let run = self.sb.run_tool("holdctl", &all, &[], None);
        assert!(
            !run.all_output().contains(&self.db.cluster.password),
            "password leaked: {}",
            run.all_output()
        );
        let report = reports::envelope::decode::<Report>(&run.stdout)
            .unwrap()
            .report
            .expect("holdctl's report");
        (run, report)
    }

    pub fn state(&self) -> HostState {
        let mut units = Vec::new();
        for unit in [API, MONITOR] {
            let show = self.sb.show(unit, &["ActiveState", "UnitFileState"]);
            units.push((
                unit.to_string(),
                show.get("ActiveState").cloned().unwrap_or_default(),
                show.get("UnitFileState").cloned().unwrap_or_default(),
            ));
        }
        HostState {
            files: self
                .files
                .iter()
                .map(|f| (f.clone(), std::fs::read_to_string(f).unwrap()))
                .collect(),
            units,
        }
    }

    pub fn rows(&self) -> Vec<i64> {
        RUNTIME.iter().map(|t| self.db.count(t)).collect()
    }

    /// The hold record, checked against schemas/hold-record.schema.json and decoded.
    pub fn record(&self) -> HoldRecord {
        let text = std::fs::read_to_string(self.record_file()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schema_text = std::fs::read_to_string(
            support::repo_root()
                .join("schemas")
                .join(reports::schema::HOLD_RECORD_FILE),
        )
        .unwrap();
        let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{text}");
        let mode = std::fs::metadata(self.record_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the record is root's alone");
        serde_json::from_value(value).unwrap()
    }

    pub fn write_env(&self, i: usize, text: &str) {
        let text = if i == 0 {
            format!("DATABASE_URL={}\n{text}", self.db.url())
        } else {
            text.to_string()
        };
        std::fs::write(&self.files[i], text).unwrap();
    }

    /// The environment systemd gave the API's current process, one `KEY=value` a line.
    pub fn api_environment(&self) -> String {
        let out = self
            .sb
            .command("cat")
            .arg(format!("/proc/{}/environ", self.main_pid()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).replace('\0', "\n")
    }

    pub fn main_pid(&self) -> String {
        self.sb.show(API, &["MainPID"])["MainPID"].clone()
    }
}

pub fn names(steps: &[reports::holdctl::Step]) -> Vec<StepName> {
    steps.iter().map(|s| s.name).collect()
}
