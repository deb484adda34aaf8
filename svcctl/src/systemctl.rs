//! Running systemctl: the argv (never a shell), the environment that makes its output
//! parseable, a log of every command run for the report, and what its stderr means.

use crate::report::{DbusCall, Job, Transport, UnitFileChange, UnitState};
use crate::state::{parse_jobs, parse_show, PROPERTIES};
use crate::unit_name::UnitName;
use crate::verbs::Step as _;
use crate::verbs::{Action, Driver, StepDone, StepFailed};
use conventions::ToolError;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Which service manager systemctl talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manager {
    /// The system manager of this host.
    System,
    /// The calling user's manager (`--user`).
    User,
    /// The system manager of a remote host, through systemctl's ssh transport (`-H`).
    Host(String),
}

impl Manager {
    fn args(&self) -> Vec<String> {
        match self {
            Manager::System => vec![],
            Manager::User => vec!["--user".into()],
            Manager::Host(host) => vec!["-H".into(), host.clone()],
        }
    }

    /// Checks a `-H` value: it reaches ssh as an argument, so it must not look like an
    /// option (`-oProxyCommand=...`) or hide whitespace.
    pub fn host(host: &str) -> Result<Manager, String> {
        if host.is_empty() {
            return Err("-H/--host needs a host, e.g. -H root@server".into());
        }
        if host.starts_with('-') {
            return Err(format!(
                "host \"{}\" starts with '-': a host is never an option",
                host.escape_debug()
            ));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "host \"{}\" contains whitespace or a control character",
                host.escape_debug()
            ));
        }
        Ok(Manager::Host(host.to_string()))
    }
}

/// What one systemctl run printed.
#[derive(Debug, Clone)]
pub struct Reply {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs systemctl for one manager and remembers each distinct argv it ran, in order.
#[derive(Debug)]
pub struct Systemctl {
    manager: Manager,
    commands: Vec<Vec<String>>,
}

impl Systemctl {
    pub fn new(manager: Manager) -> Systemctl {
        Systemctl {
            manager,
            commands: Vec::new(),
        }
    }

    /// The full argv: `systemctl --no-pager --no-ask-password [scope] ARGS... -- UNITS...`.
    pub fn argv(&self, args: &[&str], units: &[&UnitName]) -> Vec<String> {
        let mut argv: Vec<String> = vec![
            "systemctl".into(),
            "--no-pager".into(),
            "--no-ask-password".into(),
        ];
        argv.extend(self.manager.args());
        argv.extend(args.iter().map(|a| a.to_string()));
        if !units.is_empty() {
            argv.push("--".into());
            argv.extend(units.iter().map(|u| u.to_string()));
        }
        argv
    }

    /// Runs `argv` (from [`argv`](Self::argv)) and records it. A failure to start
    /// systemctl at all is an error; its own failures are in the [`Reply`].
    pub fn run(&mut self, argv: Vec<String>) -> Result<Reply, ToolError> {
        let output = Command::new(&argv[0])
            .args(&argv[1..])
            .env("LC_ALL", "C")
            .env("SYSTEMD_COLORS", "0")
            .env_remove("SYSTEMD_PAGER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output();
        self.record(&argv);
        let output = output.map_err(|e| {
            ToolError::failed(
                format!(
                    "cannot run systemctl: {e}; no service manager was reached (is systemd installed and systemctl on PATH?)"
                ),
            )
            .with("command", &argv)
        })?;
        Ok(Reply {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Adds `argv` to the commands reported, once: polling repeats the same `show`.
    pub fn record(&mut self, argv: &[String]) {
        if !self.commands.iter().any(|c| c == argv) {
            self.commands.push(argv.to_vec());
        }
    }

    /// Every distinct argv run (or recorded) so far.
    pub fn command_log(&self) -> &[Vec<String>] {
        &self.commands
    }

    /// The `show` that reads the state of `units`.
    pub fn show_argv(&self, units: &[UnitName]) -> Vec<String> {
        let refs: Vec<&UnitName> = units.iter().collect();
        self.argv(&["show", "-p", PROPERTIES], &refs)
    }

    /// Polls `show` until none of `which` has a job, or the deadline passes.
    fn wait_for_jobs(
        &mut self,
        units: &[UnitName],
        which: &[usize],
        timeout: Duration,
    ) -> Result<Vec<UnitState>, StepFailed> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        loop {
            let states = self.read_states(units).map_err(StepFailed::Error)?;
            let pending: Vec<usize> = which
                .iter()
                .copied()
                .filter(|&i| states[i].job.is_some())
                .collect();
            if pending.is_empty() {
                return Ok(states);
            }
            let now = Instant::now();
            if now >= deadline {
                let jobs = self.pending_jobs(units, &states, &pending);
                return Err(StepFailed::TimedOut {
                    after: states,
                    pending: pending.into_iter().zip(jobs).collect(),
                });
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The queued jobs of the `pending` units, from `systemctl list-jobs` (falling back to
    /// the Job property when list-jobs says nothing).
    fn pending_jobs(
        &mut self,
        units: &[UnitName],
        states: &[UnitState],
        pending: &[usize],
    ) -> Vec<Option<Job>> {
        let names: Vec<&UnitName> = pending.iter().map(|&i| &units[i]).collect();
        let argv = self.argv(&["list-jobs", "--no-legend"], &names);
        let listed = self
            .run(argv)
            .map(|r| parse_jobs(&r.stdout))
            .unwrap_or_default();
        pending
            .iter()
            .map(|&i| {
                let name = units[i].as_str();
                listed.iter().find(|j| j.unit == name).cloned().or_else(|| {
                    states[i].job.map(|id| Job {
                        id,
                        unit: name.to_string(),
                        job_type: "unknown".into(),
                        state: "unknown".into(),
                        path: None,
                    })
                })
            })
            .collect()
    }

    pub fn manager(&self) -> &Manager {
        &self.manager
    }
}

impl Driver for Systemctl {
    fn transport(&self) -> Transport {
        Transport::Systemctl
    }

    /// One `systemctl show` for all units.
    fn read_states(&mut self, units: &[UnitName]) -> Result<Vec<UnitState>, ToolError> {
        let reply = self.run(self.show_argv(units))?;
        if let Some(err) = diagnose(&reply).into_error("reading unit state") {
            return Err(err);
        }
        parse_show(&reply.stdout, units.len()).map_err(|e| {
            ToolError::failed(format!(
                "cannot read unit state: {e}; run `systemctl show` on these units by hand to see why"
            ))
        })
    }

    fn run_step(
        &mut self,
        action: Action,
        units: &[UnitName],
        which: &[usize],
        timeout: Duration,
    ) -> Result<StepDone, StepFailed> {
        let names: Vec<&UnitName> = which.iter().map(|&i| &units[i]).collect();
        let reply = self
            .run(self.argv(action.args(), &names))
            .map_err(StepFailed::Error)?;
        let listed: Vec<String> = names.iter().map(|u| u.to_string()).collect();
        if let Some(e) =
            diagnose(&reply).into_error(&format!("{} {}", action.doing(), listed.join(", ")))
        {
            return Err(StepFailed::Error(e.with("units", &listed)));
        }
        let after = if action.queues_job() {
            Some(self.wait_for_jobs(units, which, timeout)?)
        } else {
            None
        };
        Ok(StepDone {
            after,
            job_results: vec![],
            other_failures: vec![],
        })
    }

    fn step_argv(&self, action: Action, units: &[&UnitName]) -> Vec<String> {
        self.argv(action.args(), units)
    }

    fn step_calls(&self, _: Action, _: &[&UnitName]) -> Vec<DbusCall> {
        vec![]
    }

    fn commands(&self) -> Vec<Vec<String>> {
        self.commands.clone()
    }

    fn dbus_calls(&self) -> Vec<DbusCall> {
        vec![]
    }

    fn changes(&self) -> Vec<UnitFileChange> {
        vec![]
    }
}

/// What systemctl's answer means, beyond its exit code (which differs between versions
/// and is 0 for some non-answers, e.g. in a chroot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Diagnosis {
    /// Nothing in stderr says it failed, and it exited 0.
    Fine,
    /// No service manager answered: chroot, SYSTEMD_OFFLINE, PID 1 not systemd, no bus.
    NoManager(String),
    /// The manager refused: polkit, Access denied.
    Denied(String),
    /// A named unit does not exist.
    NoSuchUnit(String),
    /// Any other failure, with systemctl's words.
    Failed(String),
}

/// Reads systemctl's stderr (and exit status) into a [`Diagnosis`].
pub fn diagnose(reply: &Reply) -> Diagnosis {
    let text = reply.stderr.trim();
    let first = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or(text)
            .trim()
            .to_string()
    };
    const NO_MANAGER: [&str; 6] = [
        "Running in chroot, ignoring",
        "has not been booted with systemd",
        "Failed to connect to bus",
        "Failed to connect to user scope bus",
        "System has not been booted",
        "Host is down",
    ];
    if let Some(needle) = NO_MANAGER.iter().find(|n| text.contains(*n)) {
        return Diagnosis::NoManager(first(needle));
    }
    // With exit 0, anything else on stderr is a warning ("Unit x.service does not exist,
    // proceeding anyway." from mask), not a failure: the state after is the judge.
    if reply.success {
        return Diagnosis::Fine;
    }
    const DENIED: [&str; 3] = [
        "Access denied",
        "Interactive authentication required",
        "Permission denied",
    ];
    if let Some(needle) = DENIED.iter().find(|n| text.contains(*n)) {
        return Diagnosis::Denied(first(needle));
    }
    const MISSING: [&str; 4] = [
        "not found",
        "does not exist",
        "not loaded",
        "No such file or directory",
    ];
    if let Some(needle) = MISSING.iter().find(|n| text.contains(*n)) {
        return Diagnosis::NoSuchUnit(first(needle));
    }
    let words = if text.is_empty() {
        "systemctl failed without saying why".to_string()
    } else {
        text.lines().next().unwrap_or(text).trim().to_string()
    };
    Diagnosis::Failed(words)
}

impl Diagnosis {
    /// The error for a step that did not go through (`doing` says what svcctl was doing).
    pub fn into_error(self, doing: &str) -> Option<ToolError> {
        match self {
            Diagnosis::Fine => None,
            Diagnosis::NoManager(words) => Some(
                ToolError::failed(format!(
                    "no service manager was reached while {doing} (systemctl: {words}); \
                     run svcctl on a host booted with systemd, outside a chroot and without SYSTEMD_OFFLINE"
                ))
                .with("systemctl_said", words),
            ),
            Diagnosis::Denied(words) => Some(
                ToolError::permission(format!(
                    "the service manager refused {doing} (systemctl: {words}); run svcctl as root or grant the rights through polkit"
                ))
                .with("systemctl_said", words),
            ),
            Diagnosis::NoSuchUnit(words) => Some(
                ToolError::not_found(format!(
                    "a unit was not found while {doing} (systemctl: {words}); check the unit name, or pass --if-present"
                ))
                .with("systemctl_said", words),
            ),
            Diagnosis::Failed(words) => Some(
                ToolError::failed(format!("systemctl failed while {doing}: {words}"))
                    .with("systemctl_said", words),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conventions::ErrorKind;

    fn reply(success: bool, stderr: &str) -> Reply {
        Reply {
            success,
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn argv_puts_units_after_double_dash_and_passes_the_scope() {
        let u = UnitName::parse("cornice").unwrap();
        let sys = Systemctl::new(Manager::System);
        assert_eq!(
            sys.argv(&["--no-block", "stop"], &[&u]),
            [
                "systemctl",
                "--no-pager",
                "--no-ask-password",
                "--no-block",
                "stop",
                "--",
                "cornice.service"
            ]
        );
        let user = Systemctl::new(Manager::User);
        assert_eq!(user.argv(&["show"], &[&u])[3], "--user");
        let host = Systemctl::new(Manager::host("root@db1").unwrap());
        assert_eq!(host.argv(&["show"], &[&u])[3..5], ["-H", "root@db1"]);
    }

    #[test]
    fn hosts_that_look_like_options_are_refused() {
        assert!(Manager::host("-oProxyCommand=sh").is_err());
        assert!(Manager::host("a b").is_err());
        assert!(Manager::host("").is_err());
        assert!(Manager::host("admin@db1.example:2222").is_ok());
    }

    #[test]
    fn stderr_is_classified() {
        assert_eq!(diagnose(&reply(true, "")), Diagnosis::Fine);
        // systemctl exits 0 in a chroot or with SYSTEMD_OFFLINE=1: still no manager.
        assert!(matches!(
            diagnose(&reply(true, "Running in chroot, ignoring command 'stop'\n")),
            Diagnosis::NoManager(_)
        ));
        assert!(matches!(
            diagnose(&reply(false, "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n")),
            Diagnosis::NoManager(_)
        ));
        assert!(matches!(
            diagnose(&reply(false, "Failed to stop a.service: Access denied\nSee system logs\n")),
            Diagnosis::Denied(w) if w == "Failed to stop a.service: Access denied"
        ));
        assert!(matches!(
            diagnose(&reply(
                false,
                "Failed to start x.service: Interactive authentication required.\n"
            )),
            Diagnosis::Denied(_)
        ));
        assert!(matches!(
            diagnose(&reply(
                false,
                "Failed to stop nope.service: Unit nope.service not loaded.\n"
            )),
            Diagnosis::NoSuchUnit(_)
        ));
        assert!(matches!(
            diagnose(&reply(
                false,
                "Failed to enable unit: Unit file nope.service does not exist.\n"
            )),
            Diagnosis::NoSuchUnit(_)
        ));
        assert_eq!(
            diagnose(&reply(
                true,
                "Unit t.service does not exist, proceeding anyway.\n"
            )),
            Diagnosis::Fine
        );
        assert!(matches!(
            diagnose(&reply(false, "")),
            Diagnosis::Failed(w) if w.contains("without saying")
        ));
    }

    #[test]
    fn errors_map_to_the_exit_code_table() {
        let kind = |d: Diagnosis| d.into_error("stopping").map(|e| e.kind);
        assert_eq!(kind(Diagnosis::Fine), None);
        assert_eq!(
            kind(Diagnosis::NoManager("x".into())),
            Some(ErrorKind::Failed)
        );
        assert_eq!(
            kind(Diagnosis::Denied("x".into())),
            Some(ErrorKind::Permission)
        );
        assert_eq!(
            kind(Diagnosis::NoSuchUnit("x".into())),
            Some(ErrorKind::NotFound)
        );
        let msg = Diagnosis::NoManager("Running in chroot".into())
            .into_error("reading unit state")
            .unwrap()
            .message;
        assert!(msg.contains("no service manager was reached"), "{msg}");
    }
}
