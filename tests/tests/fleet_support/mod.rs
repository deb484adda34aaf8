//! A throwaway fleet of Cornice hosts booted by scripts/sandbox/fleet.sh (the same script
//! fleet-demo.sh uses), and real `ansible-playbook` / `ansible` runs against it.
// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::pg::{Cluster, CORNICE_KEPT_TABLES, CORNICE_RUNTIME_TABLES};
use support::{bin_dir, repo_root, require};

/// One host of the fleet, as fleet.sh lists it in hosts.tsv.
#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub pid: u32,
    pub connection: String,
    pub db: String,
    pub env_file: PathBuf,
}

/// Everything a hibernate or wake touches on one host, to compare before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostState {
    pub env: String,
    /// `unit: active/enabled` of cornice and cornice-monitor.
    pub units: Vec<String>,
    pub runtime_rows: Vec<i64>,
    pub kept_rows: Vec<i64>,
}

/// A finished ansible run.
#[derive(Debug)]
pub struct AnsibleRun {
    pub code: i32,
    /// stdout then stderr, as a person would read them.
    pub output: String,
    /// stdout alone: what a command prints as data (Python's warnings go to stderr).
    pub stdout: String,
}

impl AnsibleRun {
    /// The PLAY RECAP's `changed=` count of one host.
    pub fn recap_changed(&self, host: &str) -> Option<u32> {
        self.output.lines().rev().find_map(|line| {
            let rest = line.strip_prefix(host)?.trim_start().strip_prefix(':')?;
            let field = rest
                .split_whitespace()
                .find(|f| f.starts_with("changed="))?;
            field["changed=".len()..].parse().ok()
        })
    }
}

pub struct Fleet {
    pub dir: tempfile::TempDir,
    pub hosts: Vec<Host>,
    pub cluster: Cluster,
    ansible_bin: PathBuf,
    /// Every ansible output so far, for the secret check.
    outputs: std::cell::RefCell<Vec<String>>,
}

fn fleet_script() -> PathBuf {
    repo_root().join("scripts/sandbox/fleet.sh")
}

/// The ansible-core virtualenv (ensure_ansible in scripts/lib.sh exports HOLD_ANSIBLE_BIN).
pub fn ansible_bin() -> Result<PathBuf, String> {
    let dir = std::env::var_os("HOLD_ANSIBLE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/ansible-venv/bin"));
    if dir.join("ansible-playbook").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "no ansible-playbook in {} (HOLD_ANSIBLE_BIN; scripts/test.sh installs it)",
            dir.display()
        ))
    }
}

impl Fleet {
    /// Boots `hosts` hosts, the first `ssh` of them reached over ssh; None when skipped.
    pub fn boot(hosts: usize, ssh: usize) -> Option<Fleet> {
        let cluster = require("PostgreSQL test cluster", Cluster::from_env())?;
        require("root", support::root())?;
        let ansible_bin = require("ansible-core", ansible_bin())?;
        if ssh > 0 {
            require(
                "sshd",
                if Path::new("/usr/sbin/sshd").exists() {
                    Ok(())
                } else {
                    Err("/usr/sbin/sshd is missing (apt-get install openssh-server)".into())
                },
            )?;
        }
        let dir = tempfile::Builder::new()
            .prefix("holdkit-fleet.")
            .tempdir()
            .unwrap();
        let out = Command::new(fleet_script())
            .arg("start")
            .arg(dir.path())
            .arg(hosts.to_string())
            .arg(ssh.to_string())
            .env("HOLD_BIN_DIR", bin_dir())
            .env("HOLD_ANSIBLE_BIN", &ansible_bin)
            .output()
            .expect("run fleet.sh");
        let mut fleet = Fleet {
            dir,
            hosts: vec![],
            cluster,
            ansible_bin,
            outputs: Default::default(),
        };
        fleet.hosts = fleet.read_hosts();
        assert!(
            out.status.success(),
            "fleet.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(fleet.hosts.len(), hosts);
        Some(fleet)
    }

    fn read_hosts(&self) -> Vec<Host> {
        let text = std::fs::read_to_string(self.dir.path().join("hosts.tsv")).unwrap_or_default();
        text.lines()
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                Host {
                    name: f[0].into(),
                    pid: f[1].parse().unwrap(),
                    connection: f[3].into(),
                    db: f[5].into(),
                    env_file: f[6].into(),
                }
            })
            .collect()
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }

    fn ansible_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.ansible_bin.join(program));
        cmd.current_dir(self.dir.path())
            .env("ANSIBLE_CONFIG", self.dir.path().join("ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env_remove("DATABASE_URL");
        cmd
    }

    fn finish(&self, mut cmd: Command) -> AnsibleRun {
        let out = cmd.output().expect("run ansible");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let output = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        self.outputs.borrow_mut().push(output.clone());
        AnsibleRun {
            code: out.status.code().unwrap_or(-1),
            output,
            stdout,
        }
    }

    /// The collection's playbook NAME (`hibernate`, `wake`).
    pub fn playbook_path(name: &str) -> PathBuf {
        repo_root().join(format!("ansible/playbooks/{name}.yml"))
    }

    /// `ansible-playbook ansible/playbooks/NAME.yml ARGS`, from the fleet's directory.
    pub fn playbook(&self, name: &str, args: &[&str]) -> AnsibleRun {
        let mut cmd = self.ansible_command("ansible-playbook");
        cmd.arg(repo_root().join(format!("ansible/playbooks/{name}.yml")))
            .args(args);
        self.finish(cmd)
    }

    /// `ansible-playbook` from the directory `cwd`, under coreutils' `timeout`: a run still
    /// going after `limit` is killed with its whole process group and returns code 124, so a
    /// hang fails the test instead of hanging it.
    pub fn playbook_in(
        &self,
        cwd: &Path,
        playbook: &Path,
        args: &[&str],
        limit: Duration,
    ) -> AnsibleRun {
        let mut cmd = Command::new("timeout");
        cmd.arg("--kill-after=10")
            .arg(format!("{}s", limit.as_secs()))
            .arg(self.ansible_bin.join("ansible-playbook"))
            .arg(playbook)
            .args(args)
            .current_dir(cwd)
            .env("ANSIBLE_CONFIG", self.dir.path().join("ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_FORCE_COLOR", "0")
            .env_remove("DATABASE_URL");
        self.finish(cmd)
    }

    /// PROGRAM inside a host's sandbox (its mount and pid namespaces), the tools first on PATH.
    pub fn command_in(&self, host: &Host, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &host.pid.to_string(), "-m", "-p", "--"])
            .arg(program)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env_remove("DATABASE_URL");
        cmd
    }

    /// The JSON document the last run of playbook NAME wrote (host -> report).
    pub fn report(&self, name: &str) -> Value {
        let path = self.dir.path().join(format!("holdkit-{name}.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// One module on one host, ad hoc (`ansible HOST -m MODULE -a ARGS -vvv`, a bare MODULE
    /// meaning holdkit.fleet.MODULE);
    /// returns the run and the module's result as Ansible saw it. Always -vvv: the tree
    /// callback keeps `diff` only then, and every test thereby checks -vvv output for secrets.
    /// The tree drops `failed`: it is put back from the run's own verdict.
    pub fn module(
        &self,
        host: &str,
        module: &str,
        args: &Value,
        extra: &[&str],
    ) -> (AnsibleRun, Value) {
        let tree = tempfile::tempdir_in(self.dir.path()).unwrap();
        let mut cmd = self.ansible_command("ansible");
        cmd.arg(host)
            .arg("-m")
            .arg(if module.contains('.') {
                module.to_string()
            } else {
                format!("holdkit.fleet.{module}")
            })
            .arg("-a")
            .arg(args.to_string())
            .arg("-t")
            .arg(tree.path())
            .arg("-vvv")
            .args(extra);
        let run = self.finish(cmd);
        let text = std::fs::read_to_string(tree.path().join(host))
            .unwrap_or_else(|e| panic!("no result for {host} ({e}):\n{}", run.output));
        let mut result: Value = serde_json::from_str(&text).unwrap();
        let failed = run.output.contains(&format!("{host} | FAILED!"));
        assert_eq!(
            failed,
            run.code != 0,
            "exit {} but:\n{}",
            run.code,
            run.output
        );
        result["failed"] = Value::Bool(failed);
        (run, result)
    }

    /// `ansible-doc --json PLUGINS` against the installed collection.
    pub fn ansible_doc(&self, args: &[&str]) -> Value {
        let mut cmd = self.ansible_command("ansible-doc");
        cmd.arg("--json").args(args);
        let run = self.finish(cmd);
        assert_eq!(run.code, 0, "{}", run.output);
        // stdout only: a Python warning on stderr (cryptography's deprecations, printed when
        // ansible-core imports it) is not part of the document.
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", run.output))
    }

    /// The collection tarball `ansible-galaxy collection build` made.
    pub fn tarball(&self) -> PathBuf {
        self.dir.path().join("build/holdkit-fleet-0.1.0.tar.gz")
    }

    /// `systemctl show` of one unit inside a host's sandbox.
    pub fn unit(&self, host: &Host, unit: &str) -> String {
        let out = Command::new("nsenter")
            .args(["-t", &host.pid.to_string(), "-m", "-p", "--"])
            .args([
                "systemctl",
                "show",
                "-p",
                "ActiveState,UnitFileState",
                "--",
                unit,
            ])
            .output()
            .unwrap();
        let props: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        format!(
            "{}/{}",
            props.get("ActiveState").cloned().unwrap_or_default(),
            props.get("UnitFileState").cloned().unwrap_or_default()
        )
    }

    /// Runs CMD inside a host's sandbox (fleet.sh exec).
    pub fn exec(&self, host: &str, cmd: &[&str]) {
        let out = Command::new(fleet_script())
            .arg("exec")
            .arg(self.dir.path())
            .arg(host)
            .args(cmd)
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd:?} on {host}: {out:?}");
    }

    pub fn count(&self, host: &Host, table: &str) -> i64 {
        let mut client = self.cluster.connect(&host.db);
        client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    }

    pub fn state(&self, host: &Host) -> HostState {
        HostState {
            env: std::fs::read_to_string(&host.env_file).unwrap(),
            units: ["cornice.service", "cornice-monitor.service"]
                .iter()
                .map(|u| format!("{u}: {}", self.unit(host, u)))
                .collect(),
            runtime_rows: CORNICE_RUNTIME_TABLES
                .iter()
                .map(|t| self.count(host, t))
                .collect(),
            kept_rows: CORNICE_KEPT_TABLES
                .iter()
                .map(|t| self.count(host, t))
                .collect(),
        }
    }

    /// Secrets planted on the hosts: the database password and each host's JWT_SECRET.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.cluster.password.clone()];
        for host in &self.hosts {
            let env = std::fs::read_to_string(&host.env_file).unwrap();
            secrets.extend(
                env.lines()
                    .filter_map(|l| l.strip_prefix("JWT_SECRET="))
                    .map(str::to_string),
            );
        }
        secrets
    }

    /// No planted secret (nor any of `more`) appears in any ansible output so far.
    #[track_caller]
    pub fn assert_no_secret_in_outputs(&self, more: &[&str]) {
        let mut secrets = self.secrets();
        secrets.extend(more.iter().map(|s| s.to_string()));
        for output in self.outputs.borrow().iter() {
            for secret in &secrets {
                assert!(
                    !output.contains(secret.as_str()),
                    "a secret leaked into ansible's output:\n{output}"
                );
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = Command::new(fleet_script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

/// What `holdkit.fleet.hold_archive` records in a host's entry of the report document, next
/// to holdctl's report (`controller_archive`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerArchive {
    pub state: ArchiveTask,
    pub path: Option<PathBuf>,
    pub sha256: String,
    pub bytes: Option<u64>,
    pub verified: bool,
    pub fetched: bool,
    pub holds_auth: bool,
    pub remote_path: String,
    pub remote_removed: bool,
    pub put_back: bool,
    pub note: Option<String>,
    pub error: Option<String>,
}

/// What the hold_archive task was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveTask {
    Fetched,
    Restored,
}

/// Why a host has no holdctl report in the document (the hold or archive task failed first).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoReport {
    pub ok: bool,
    pub msg: Option<String>,
    pub error_kind: Option<reports::ErrorKind>,
    #[serde(default)]
    pub unreachable: bool,
}

/// One host's entry of the report document, decoded: holdctl's envelope, or why there is
/// none, and the archive's fate.
#[derive(Debug, Clone)]
pub struct HostEntry {
    pub holdctl: Option<reports::Envelope<reports::holdctl::Report>>,
    pub no_report: Option<NoReport>,
    pub archive: Option<ControllerArchive>,
}

/// Decodes a report document (host -> entry) with the report types.
pub fn decode_document(document: &Value) -> std::collections::BTreeMap<String, HostEntry> {
    let hosts = document.as_object().expect("a JSON object of hosts");
    hosts
        .iter()
        .map(|(host, entry)| {
            let mut entry = entry.as_object().expect("an entry per host").clone();
            let archive = entry
                .remove("controller_archive")
                .map(|a| serde_json::from_value(a).unwrap_or_else(|e| panic!("{host}: {e}")));
            let rest = Value::Object(entry);
            let (holdctl, no_report) = if rest.get("tool").is_some() {
                let envelope = serde_json::from_value(rest)
                    .unwrap_or_else(|e| panic!("{host}: holdctl's report: {e}"));
                (Some(envelope), None)
            } else {
                let why = serde_json::from_value(rest).unwrap_or_else(|e| panic!("{host}: {e}"));
                (None, Some(why))
            };
            (
                host.clone(),
                HostEntry {
                    holdctl,
                    no_report,
                    archive,
                },
            )
        })
        .collect()
}

/// `sha256sum` of a file (what holdctl reports as an archive's sha256).
pub fn sha256sum(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

impl Fleet {
    /// Every table's rows and a digest of their contents, per table of the fixture.
    pub fn fingerprint(&self, host: &Host) -> Vec<(String, i64, String)> {
        let mut client = self.cluster.connect(&host.db);
        CORNICE_RUNTIME_TABLES
            .iter()
            .chain(CORNICE_KEPT_TABLES.iter())
            .map(|table| {
                let row = client
                    .query_one(
                        &format!(
                            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
                        ),
                        &[],
                    )
                    .unwrap();
                (table.to_string(), row.get(0), row.get(1))
            })
            .collect()
    }

    /// `stat -c '%a %U'` of a path inside a host's sandbox; None when it does not exist.
    pub fn stat_in(&self, host: &Host, path: &str) -> Option<String> {
        let out = self
            .command_in(host, "stat")
            .args(["-c", "%a %U %F", "--", path])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The hosts' playbook variables directory beside the inventory.
    pub fn host_vars(&self, host: &str, yaml: &str) {
        let dir = self.dir.path().join("host_vars");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{host}.yml")), yaml).unwrap();
    }
}
