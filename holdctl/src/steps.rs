//! The runbook as lists of steps: which tool runs with which arguments, in which order.
//! Pure functions of the operator's choices, so the plan can be shown, tested and copied.

use crate::child::{Invocation, Sibling};
use std::path::{Path, PathBuf};

/// What the operator chose, resolved (the env file is known by now).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub env_file: PathBuf,
    pub service: String,
    pub monitor: String,
    /// Given on holdctl's command line; passed to pgtruncate in its environment.
    pub database_url: Option<String>,
    pub include_opportunities: bool,
    pub include_auth: bool,
    pub keep_api: bool,
    pub dry_run: bool,
}

/// The flags hibernate writes, and wake writes back.
pub const HIBERNATE_FLAGS: [(&str, &str); 2] =
    [("HIBERNATE_MODE", "true"), ("INGEST_ENABLED", "false")];
pub const WAKE_FLAGS: [(&str, &str); 2] = [("HIBERNATE_MODE", "false"), ("INGEST_ENABLED", "true")];

/// The runbook's fast path, in its order: flags, stop, disable, truncate, (start the API).
///
/// Both units go in one svcctl call per verb, so systemd reloads its unit files once for
/// the disable, as with `systemctl disable A B`. The call carries `--if-present` for the
/// monitor's sake (svcctl's flag is per call); the API's existence was already checked by
/// [`units_status`], which runs first, and `--if-present` skips only a unit that is both
/// missing and not running, which is where stop and disable leave a unit anyway.
pub fn hibernate(t: &Target) -> Vec<Invocation> {
    let mut steps = vec![
        set_flags("set_flags", t, &HIBERNATE_FLAGS),
        svcctl(
            "stop_units",
            t,
            &["stop", "--if-present"],
            &[&t.service, &t.monitor],
        ),
        svcctl(
            "disable_units",
            t,
            &["disable", "--if-present"],
            &[&t.service, &t.monitor],
        ),
        truncate("truncate", t, t.dry_run),
    ];
    if t.keep_api {
        steps.push(svcctl("start_api", t, &["start"], &[&t.service]));
    }
    steps
}

/// Flags back, then both units enabled and started. Restores no data.
pub fn wake(t: &Target) -> Vec<Invocation> {
    vec![
        set_flags("clear_flags", t, &WAKE_FLAGS),
        svcctl(
            "enable_units",
            t,
            &["enable", "--now", "--if-present"],
            &[&t.service, &t.monitor],
        ),
    ]
}

/// Read only: the flags and the runtime tables' sizes (a dry run of the truncate). The
/// units are read first, by [`units_status`], since they may name the env file.
pub fn status(t: &Target) -> Vec<Invocation> {
    let mut args = vec![path_arg(&t.env_file)];
    for (key, _) in HIBERNATE_FLAGS {
        args.push("--get".into());
        args.push(key.into());
    }
    vec![
        Invocation {
            name: "read_flags",
            tool: Sibling::Envpatch,
            args,
            env: vec![],
        },
        truncate("read_tables", t, true),
    ]
}

/// `svcctl status --if-present API MONITOR`, the first step of every operation: whether
/// the API exists (a wrong `--service` stops the run before anything is touched), the
/// units' state, and the API's EnvironmentFile= for finding the env file.
pub fn units_status(service: &str, monitor: &str) -> Invocation {
    Invocation {
        name: "read_units",
        tool: Sibling::Svcctl,
        args: vec![
            "status".into(),
            "--if-present".into(),
            "--".into(),
            service.into(),
            monitor.into(),
        ],
        env: vec![],
    }
}

fn set_flags(name: &'static str, t: &Target, flags: &[(&str, &str)]) -> Invocation {
    let mut args = Vec::new();
    if t.dry_run {
        args.push("--dry-run".into());
    }
    args.push(path_arg(&t.env_file));
    args.extend(flags.iter().map(|(k, v)| format!("{k}={v}")));
    Invocation {
        name,
        tool: Sibling::Envpatch,
        args,
        env: vec![],
    }
}

fn svcctl(name: &'static str, t: &Target, verb_and_flags: &[&str], units: &[&str]) -> Invocation {
    let mut args: Vec<String> = verb_and_flags.iter().map(|a| a.to_string()).collect();
    if t.dry_run {
        args.push("--dry-run".into());
    }
    args.push("--".into());
    args.extend(units.iter().map(|u| u.to_string()));
    Invocation {
        name,
        tool: Sibling::Svcctl,
        args,
        env: vec![],
    }
}

fn truncate(name: &'static str, t: &Target, dry_run: bool) -> Invocation {
    let mut args = Vec::new();
    let mut env = Vec::new();
    // A URL from holdctl's command line travels in the child's environment, never in its
    // argv: argv is visible in `ps` and is echoed in the report.
    match &t.database_url {
        Some(url) => env.push(("DATABASE_URL".to_string(), url.clone())),
        None => {
            args.push("--env-file".into());
            args.push(path_arg(&t.env_file));
        }
    }
    args.push("--preset".into());
    args.push("cornice".into());
    if t.include_opportunities {
        args.push("--include-opportunities".into());
    }
    if t.include_auth {
        args.push("--include-auth".into());
    }
    if dry_run {
        args.push("--dry-run".into());
    }
    Invocation {
        name,
        tool: Sibling::Pgtruncate,
        args,
        env,
    }
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            env_file: "/etc/cornice/cornice.env".into(),
            service: "cornice".into(),
            monitor: "cornice-monitor".into(),
            database_url: None,
            include_opportunities: false,
            include_auth: false,
            keep_api: false,
            dry_run: false,
        }
    }

    fn names(steps: &[Invocation]) -> Vec<&str> {
        steps.iter().map(|s| s.name).collect()
    }

    #[test]
    fn hibernate_follows_the_runbook_order() {
        let steps = hibernate(&target());
        assert_eq!(
            names(&steps),
            ["set_flags", "stop_units", "disable_units", "truncate"]
        );
        assert_eq!(
            steps[0].args,
            [
                "/etc/cornice/cornice.env",
                "HIBERNATE_MODE=true",
                "INGEST_ENABLED=false"
            ]
        );
        assert_eq!(
            steps[1].args,
            ["stop", "--if-present", "--", "cornice", "cornice-monitor"]
        );
        assert_eq!(
            steps[2].args,
            [
                "disable",
                "--if-present",
                "--",
                "cornice",
                "cornice-monitor"
            ]
        );
        assert_eq!(
            steps[3].args,
            [
                "--env-file",
                "/etc/cornice/cornice.env",
                "--preset",
                "cornice"
            ]
        );
        let mut keep = target();
        keep.keep_api = true;
        keep.include_auth = true;
        keep.include_opportunities = true;
        let steps = hibernate(&keep);
        assert_eq!(steps.last().unwrap().name, "start_api");
        assert_eq!(steps.last().unwrap().args, ["start", "--", "cornice"]);
        assert!(steps[3].args.contains(&"--include-auth".to_string()));
        assert!(steps[3]
            .args
            .contains(&"--include-opportunities".to_string()));
    }

    #[test]
    fn a_plan_dry_runs_every_step() {
        let mut t = target();
        t.dry_run = true;
        for step in hibernate(&t).iter().chain(wake(&t).iter()) {
            assert!(step.args.contains(&"--dry-run".to_string()), "{step:?}");
        }
    }

    #[test]
    fn a_database_url_never_enters_argv() {
        let mut t = target();
        t.database_url = Some("postgresql://u:pw@h/db".into());
        let steps = hibernate(&t);
        let truncate = steps.iter().find(|s| s.name == "truncate").unwrap();
        assert!(!truncate.args.iter().any(|a| a.contains("pw")));
        assert!(!truncate.args.contains(&"--env-file".to_string()));
        assert_eq!(
            truncate.env,
            [(
                "DATABASE_URL".to_string(),
                "postgresql://u:pw@h/db".to_string()
            )]
        );
    }

    #[test]
    fn wake_enables_and_starts_with_the_monitor_optional() {
        let steps = wake(&target());
        assert_eq!(names(&steps), ["clear_flags", "enable_units"]);
        assert_eq!(
            steps[1].args,
            [
                "enable",
                "--now",
                "--if-present",
                "--",
                "cornice",
                "cornice-monitor"
            ]
        );
    }

    #[test]
    fn status_reads_only() {
        let steps = status(&target());
        assert_eq!(names(&steps), ["read_flags", "read_tables"]);
        assert!(steps[1].args.contains(&"--dry-run".to_string()));
        assert_eq!(
            steps[0].args[1..],
            ["--get", "HIBERNATE_MODE", "--get", "INGEST_ENABLED"]
        );
    }
}
