//! A real systemd booted as PID 1 of its own pid, mount and cgroup namespaces, with only
//! the test's units (scripts/sandbox/systemd.sh does the booting; this wraps it). Each
//! test boots its own, so tests cannot disturb each other; boot takes about a second.

use crate::run::{bin, run_command, ToolRun};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

pub struct Sandbox {
    /// Host pid of the sandbox's systemd (PID 1 inside).
    pub pid: u32,
    cgroup: String,
    /// Holds `units/` (the sandbox's /etc/systemd/system) and `systemd.log`.
    dir: TempDir,
}

fn script() -> PathBuf {
    crate::repo_root().join("scripts/sandbox/systemd.sh")
}

impl Sandbox {
    /// Boots a sandbox with these units (`name`, unit file text) already in place.
    pub fn boot(units: &[(&str, &str)]) -> Result<Sandbox, String> {
        crate::root()?;
        if !Path::new("/usr/lib/systemd/systemd").exists() {
            return Err("/usr/lib/systemd/systemd is not installed".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("holdkit-systemd.")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let unit_dir = dir.path().join("units");
        std::fs::create_dir(&unit_dir).map_err(|e| format!("unit dir: {e}"))?;
        for (name, text) in units {
            std::fs::write(unit_dir.join(name), text)
                .map_err(|e| format!("write unit {name}: {e}"))?;
        }
        let log = dir.path().join("systemd.log");
        let out = Command::new(script())
            .arg("start")
            .arg(&unit_dir)
            .arg(&log)
            .output()
            .map_err(|e| format!("run systemd.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "systemd sandbox did not boot: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut words = text.split_whitespace();
        let pid = words
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("systemd.sh printed no pid: {text}"))?;
        let cgroup = words.next().unwrap_or_default().to_string();
        Ok(Sandbox { pid, cgroup, dir })
    }

    /// The host directory that is `/etc/systemd/system` inside the sandbox.
    pub fn unit_dir(&self) -> PathBuf {
        self.dir.path().join("units")
    }

    /// The sandbox systemd's own log (its console output), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("systemd.log")).unwrap_or_default()
    }

    /// Writes (or replaces) a unit file; call [`daemon_reload`](Self::daemon_reload) after.
    pub fn write_unit(&self, name: &str, text: &str) {
        std::fs::write(self.unit_dir().join(name), text)
            .unwrap_or_else(|e| panic!("write unit {name}: {e}"));
    }

    #[track_caller]
    pub fn daemon_reload(&self) {
        let out = self.systemctl(&["daemon-reload"]);
        assert!(out.status.success(), "daemon-reload: {out:?}");
    }

    /// A command that runs `program` inside the sandbox (both its mount and pid namespace).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid.to_string())
            .args(["-m", "-p", "--"])
            .arg(program);
        cmd
    }

    /// Plain `systemctl ARGS` inside the sandbox, as an operator would type it.
    pub fn systemctl(&self, args: &[&str]) -> Output {
        self.command("systemctl")
            .args(["--no-pager", "--no-ask-password"])
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .expect("run systemctl in sandbox")
    }

    /// `systemctl show -p ...` of one unit, as a map.
    pub fn show(&self, unit: &str, props: &[&str]) -> HashMap<String, String> {
        let out = self.systemctl(&["show", "-p", &props.join(","), "--", unit]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// ActiveState of a unit.
    pub fn active_state(&self, unit: &str) -> String {
        self.show(unit, &["ActiveState"])
            .remove("ActiveState")
            .unwrap_or_default()
    }

    /// UnitFileState of a unit.
    pub fn unit_file_state(&self, unit: &str) -> String {
        self.show(unit, &["UnitFileState"])
            .remove("UnitFileState")
            .unwrap_or_default()
    }

    /// Runs a holdkit binary inside the sandbox and checks its envelope.
    #[track_caller]
    pub fn run_tool(
        &self,
        tool: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> ToolRun {
        let mut cmd = self.command(bin(tool));
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_command(tool, &mut cmd, stdin)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.pid.to_string())
            .arg(&self.cgroup)
            .status();
    }
}

/// A minimal service unit for tests: `DefaultDependencies=no` (the sandbox has no basic
/// targets), the given ExecStart, and an `[Install]` section so enable/disable work.
pub fn service_unit(exec_start: &str, extra_service: &str) -> String {
    format!(
        "[Unit]\nDescription=holdkit test unit\nDefaultDependencies=no\n\n\
         [Service]\nExecStart={exec_start}\n{extra_service}\n\n\
         [Install]\nWantedBy=default.target\n"
    )
}
