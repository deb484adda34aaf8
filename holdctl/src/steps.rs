//! The runbook as lists of steps: which tool runs with which arguments, in which order.
//! Pure functions of the operator's choices, so the plan can be shown, tested and copied.

use crate::child::{Invocation, Sibling};
use reports::holdctl::{HoldRecord, StepName};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the operator chose, resolved: units as svcctl named them, the env files as the
/// API unit reads them, and where each flag and the database URL live in them; the
/// profile's flags and its name for pgtruncate.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub env: EnvLayout,
    /// The API unit's full name, from svcctl's report.
    pub service: String,
    /// The other units' full names, from svcctl's report.
    pub others: Vec<String>,
    /// The flags hibernate writes, in the profile's order.
    pub flags: Vec<(String, String)>,
    /// What wake writes without a hold record (`None`: unset).
    pub wake_flags: Vec<(String, Option<String>)>,
    /// `--profile` as given: pgtruncate's `--preset`.
    pub profile: String,
    /// pgtruncate's `--include`s.
    pub includes: Vec<String>,
    /// Given to holdctl (`--database-url` or `HOLDCTL_DATABASE_URL`); passed to
    /// pgtruncate in its environment.
    pub database_url: Option<String>,
    pub keep_api: bool,
    /// pgtruncate's `--allow-socket`, for the env file's URL.
    pub allow_socket: bool,
    /// hibernate: pgtruncate's `--archive FILE`.
    pub archive: Option<String>,
    /// wake: the archive `pgtruncate --undo` puts back first.
    pub restore: Option<String>,
    pub dry_run: bool,
}

/// The env files a unit reads, in order (systemd reads them in order, a later assignment
/// overriding an earlier one), and which one systemd takes each key from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EnvLayout {
    pub files: Vec<PathBuf>,
    /// For each key read: the index of the last file that assigns it, as systemd reads
    /// it; `None` when none does.
    pub found: Vec<(String, Option<usize>)>,
    /// Each file's keys as systemd read them, in the files' order (empty when unread).
    pub systemd_values: Vec<BTreeMap<String, Option<String>>>,
}

impl EnvLayout {
    /// One file, nothing read yet (everything goes there).
    pub fn single(file: PathBuf) -> EnvLayout {
        EnvLayout {
            files: vec![file],
            ..EnvLayout::default()
        }
    }

    /// The file systemd takes `key` from, if any.
    pub fn source_of(&self, key: &str) -> Option<&Path> {
        self.found
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, i)| *i)
            .map(|i| self.files[i].as_path())
    }

    /// A key's value before anything changes, in the file a flag is written to, as
    /// systemd read it: `None` when that file does not assign it.
    pub fn value_in_its_file(&self, key: &str) -> Option<String> {
        let file = self.file_for(key);
        let i = self.files.iter().position(|f| f == file)?;
        self.systemd_values.get(i)?.get(key).cloned().flatten()
    }

    /// Where a flag is written: the file systemd takes it from, or the last file when no
    /// file assigns it yet (it then overrides nothing and is read last).
    pub fn file_for(&self, key: &str) -> &Path {
        self.source_of(key)
            .or_else(|| self.files.last().map(PathBuf::as_path))
            .unwrap_or_else(|| Path::new(""))
    }
}

/// Where pgtruncate reads the database from, unless holdctl is given one.
pub const URL_KEY: &str = "DATABASE_URL";

impl Target {
    /// The API unit, then the others.
    pub fn units(&self) -> Vec<&str> {
        std::iter::once(self.service.as_str())
            .chain(self.others.iter().map(String::as_str))
            .collect()
    }
}

/// The runbook's fast path, in its order: flags, stop, disable, truncate, (start the API).
///
/// All units go in one svcctl call per verb, so systemd reloads its unit files once for
/// the disable, as with `systemctl disable A B`. The call carries `--if-present` for the
/// other units' sake (svcctl's flag is per call); the API's existence was already checked
/// by [`units_status`], which runs first, and `--if-present` skips only a unit that is
/// both missing and not running, which is where stop and disable leave a unit anyway.
pub fn hibernate(t: &Target) -> Vec<Invocation> {
    let flags: Vec<(String, Option<String>)> = t
        .flags
        .iter()
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    let mut steps = set_flags(StepName::SetFlags, t, &flags);
    let units = t.units();
    steps.extend([
        svcctl(StepName::StopUnits, t, &["stop", "--if-present"], &units),
        svcctl(
            StepName::DisableUnits,
            t,
            &["disable", "--if-present"],
            &units,
        ),
        hibernate_truncate(t),
    ]);
    if t.keep_api {
        steps.push(svcctl(StepName::StartApi, t, &["start"], &[&t.service]));
    }
    steps
}

/// The truncate step of [`hibernate`] alone.
pub fn hibernate_truncate(t: &Target) -> Invocation {
    truncate(StepName::Truncate, t, t.dry_run)
}

/// wake without a hold record (a host hibernated by hand): the profile's `wake_flags`
/// (a flag without one unset), then every unit enabled and started. Restores no data.
pub fn wake_by_runbook(t: &Target) -> Vec<Invocation> {
    let mut steps = set_flags(StepName::ClearFlags, t, &t.wake_flags);
    steps.push(svcctl(
        StepName::EnableUnits,
        t,
        &["enable", "--now", "--if-present"],
        &t.units(),
    ));
    steps
}

/// A unit's activity now, as `read_units` saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitNow {
    pub unit: String,
    pub active: bool,
}

/// wake with a hold record: exactly what the record says. Each flag back to its value
/// before (unset again when it was absent), in its own file; only the units enabled
/// before are enabled; a unit running now that was not before is stopped, one running
/// now that was before (started by `--keep-api`) is restarted so it reads the flags
/// again, and one that was running before and is not now is started. Restores no data.
pub fn wake_from_record(t: &Target, record: &HoldRecord, now: &[UnitNow]) -> Vec<Invocation> {
    let mut steps = Vec::new();
    // The data back before anything else, so no unit starts without it.
    if let Some(file) = &t.restore {
        let mut undo = connection(t);
        undo.0.extend(["--undo".to_string(), file.clone()]);
        if t.dry_run {
            undo.0.push("--dry-run".into());
        }
        steps.push(Invocation {
            name: StepName::RestoreData,
            tool: Sibling::Pgtruncate,
            args: undo.0,
            env: undo.1,
            read_only: t.dry_run,
        });
    }
    let mut files: Vec<&str> = Vec::new();
    for flag in &record.flags {
        if !files.contains(&flag.file.as_str()) {
            files.push(&flag.file);
        }
    }
    for file in files {
        let mut args = Vec::new();
        let mut assignments = Vec::new();
        for flag in record.flags.iter().filter(|f| f.file == file) {
            match &flag.before {
                Some(value) => assignments.push(format!("{}={value}", flag.key)),
                None => args.extend(["--unset".to_string(), flag.key.clone()]),
            }
        }
        if t.dry_run {
            args.push("--dry-run".into());
        }
        args.push("--".into());
        args.push(file.to_string());
        args.extend(assignments);
        steps.push(Invocation {
            name: StepName::RestoreFlags,
            tool: Sibling::Envpatch,
            args,
            env: vec![],
            read_only: t.dry_run,
        });
    }
    let running_now = |unit: &str| now.iter().any(|u| u.unit == unit && u.active);
    let units = |keep: &dyn Fn(&reports::holdctl::UnitBefore) -> bool| -> Vec<&str> {
        record
            .units
            .iter()
            .filter(|u| keep(u))
            .map(|u| u.unit.as_str())
            .collect()
    };
    let enable = units(&|u| u.was_enabled());
    let stop = units(&|u| u.present && !u.was_active() && running_now(&u.unit));
    let restart = units(&|u| u.was_active() && running_now(&u.unit));
    let start = units(&|u| u.was_active() && !running_now(&u.unit));
    for (name, verb, list) in [
        (StepName::EnableUnits, "enable", enable),
        (StepName::StopUnits, "stop", stop),
        (StepName::RestartUnits, "restart", restart),
        (StepName::StartUnits, "start", start),
    ] {
        if !list.is_empty() {
            steps.push(svcctl(name, t, &[verb, "--if-present"], &list));
        }
    }
    steps
}

/// Read only: the runtime tables' sizes (a dry run of the truncate). The units and the
/// env files are read first, by [`units_status`] and [`read_flags`].
pub fn status(t: &Target) -> Vec<Invocation> {
    vec![truncate(StepName::ReadTables, t, true)]
}

/// `envpatch --get` of `keys` (the flags and DATABASE_URL) in one env file: which keys
/// it assigns, as each reader reads them (DATABASE_URL's value is redacted; that it is
/// there is what counts).
pub fn read_flags(file: &Path, keys: &[String]) -> Invocation {
    let mut args = Vec::new();
    for key in keys {
        args.push("--get".into());
        args.push(key.clone());
    }
    args.push("--".into());
    args.push(path_arg(file));
    Invocation {
        name: StepName::ReadFlags,
        tool: Sibling::Envpatch,
        args,
        env: vec![],
        read_only: true,
    }
}

/// `svcctl status --if-present API OTHERS...`, the first step of every operation:
/// whether the API exists (a wrong `--service` stops the run before anything is
/// touched), the units' full names and state, and the API's EnvironmentFile= lines.
pub fn units_status(units: &[String]) -> Invocation {
    let mut args: Vec<String> = vec!["status".into(), "--if-present".into(), "--".into()];
    args.extend(units.iter().cloned());
    Invocation {
        name: StepName::ReadUnits,
        tool: Sibling::Svcctl,
        args,
        env: vec![],
        read_only: true,
    }
}

/// One envpatch run per env file that gets a flag, in the files' order: `KEY=value`,
/// or `--unset KEY` for `None`.
fn set_flags(name: StepName, t: &Target, flags: &[(String, Option<String>)]) -> Vec<Invocation> {
    let mut steps = Vec::new();
    for file in &t.env.files {
        let here: Vec<&(String, Option<String>)> = flags
            .iter()
            .filter(|(k, _)| t.env.file_for(k) == file.as_path())
            .collect();
        if here.is_empty() {
            continue;
        }
        let mut args = Vec::new();
        for (k, v) in &here {
            if v.is_none() {
                args.extend(["--unset".to_string(), k.clone()]);
            }
        }
        if t.dry_run {
            args.push("--dry-run".into());
        }
        args.push("--".into());
        args.push(path_arg(file));
        args.extend(
            here.iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}"))),
        );
        steps.push(Invocation {
            name,
            tool: Sibling::Envpatch,
            args,
            env: vec![],
            read_only: t.dry_run,
        });
    }
    steps
}

fn svcctl(name: StepName, t: &Target, verb_and_flags: &[&str], units: &[&str]) -> Invocation {
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
        read_only: t.dry_run,
    }
}

/// pgtruncate's connection: a URL given to holdctl travels in the child's environment,
/// never in its argv (argv is visible in `ps` and is echoed in the report). Otherwise
/// pgtruncate reads it from the env file systemd takes DATABASE_URL from (the last one
/// when none has it: pgtruncate then says so, exit 4).
fn connection(t: &Target) -> (Vec<String>, Vec<(String, String)>) {
    let mut args = Vec::new();
    let mut env = Vec::new();
    match &t.database_url {
        Some(url) => env.push(("DATABASE_URL".to_string(), url.clone())),
        None => {
            args.push("--env-file".into());
            args.push(path_arg(t.env.file_for(URL_KEY)));
            if t.allow_socket {
                args.push("--allow-socket".into());
            }
        }
    }
    (args, env)
}

fn truncate(name: StepName, t: &Target, dry_run: bool) -> Invocation {
    let (mut args, env) = connection(t);
    args.push("--preset".into());
    args.push(t.profile.clone());
    for include in &t.includes {
        args.push("--include".into());
        args.push(include.clone());
    }
    if let (Some(file), StepName::Truncate) = (&t.archive, name) {
        args.push("--archive".into());
        args.push(file.clone());
    }
    if dry_run {
        args.push("--dry-run".into());
    }
    Invocation {
        name,
        tool: Sibling::Pgtruncate,
        args,
        env,
        read_only: dry_run,
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
            env: EnvLayout::single("/etc/cornice/cornice.env".into()),
            service: "cornice.service".into(),
            others: vec!["cornice-monitor.service".into()],
            flags: vec![
                ("HIBERNATE_MODE".into(), "true".into()),
                ("INGEST_ENABLED".into(), "false".into()),
            ],
            wake_flags: vec![
                ("HIBERNATE_MODE".into(), Some("false".into())),
                ("INGEST_ENABLED".into(), None),
            ],
            profile: "cornice".into(),
            includes: vec![],
            database_url: None,
            keep_api: false,
            allow_socket: false,
            archive: None,
            restore: None,
            dry_run: false,
        }
    }

    fn names(steps: &[Invocation]) -> Vec<&str> {
        steps.iter().map(|s| s.name.as_str()).collect()
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
                "--",
                "/etc/cornice/cornice.env",
                "HIBERNATE_MODE=true",
                "INGEST_ENABLED=false"
            ]
        );
        assert_eq!(
            steps[1].args,
            [
                "stop",
                "--if-present",
                "--",
                "cornice.service",
                "cornice-monitor.service"
            ]
        );
        assert_eq!(
            steps[2].args,
            [
                "disable",
                "--if-present",
                "--",
                "cornice.service",
                "cornice-monitor.service"
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
        keep.includes = vec!["opportunities".into(), "auth".into()];
        keep.allow_socket = true;
        let steps = hibernate(&keep);
        assert_eq!(steps.last().unwrap().name, StepName::StartApi);
        assert_eq!(
            steps.last().unwrap().args,
            ["start", "--", "cornice.service"]
        );
        assert!(steps[3].args.contains(&"--allow-socket".to_string()));
        assert!(steps[3]
            .args
            .ends_with(&["--include", "opportunities", "--include", "auth"].map(String::from)));
    }

    #[test]
    fn each_flag_goes_where_systemd_reads_it_and_the_url_comes_from_its_file() {
        let mut t = target();
        t.env = EnvLayout {
            files: vec![
                "/etc/a.env".into(),
                "/etc/b.env".into(),
                "/etc/c.env".into(),
            ],
            found: vec![
                ("HIBERNATE_MODE".into(), Some(0)),
                ("INGEST_ENABLED".into(), None),
                ("DATABASE_URL".into(), Some(1)),
            ],
            ..EnvLayout::default()
        };
        let steps = hibernate(&t);
        assert_eq!(
            names(&steps),
            [
                "set_flags",
                "set_flags",
                "stop_units",
                "disable_units",
                "truncate"
            ]
        );
        assert_eq!(steps[0].args, ["--", "/etc/a.env", "HIBERNATE_MODE=true"]);
        // Found in none: the last file, read last, overriding nothing.
        assert_eq!(steps[1].args, ["--", "/etc/c.env", "INGEST_ENABLED=false"]);
        assert_eq!(steps[4].args[..2], ["--env-file", "/etc/b.env"]);
    }

    #[test]
    fn a_plan_dry_runs_every_step() {
        let mut t = target();
        t.dry_run = true;
        for step in hibernate(&t).iter().chain(wake_by_runbook(&t).iter()) {
            assert!(step.args.contains(&"--dry-run".to_string()), "{step:?}");
            assert!(step.read_only, "{step:?}");
        }
        t.dry_run = false;
        for step in hibernate(&t).iter().chain(wake_by_runbook(&t).iter()) {
            assert!(!step.args.contains(&"--dry-run".to_string()), "{step:?}");
            assert!(!step.read_only, "{step:?}");
        }
    }

    #[test]
    fn a_database_url_never_enters_argv() {
        let mut t = target();
        t.database_url = Some("postgresql://u:pw@h/db".into());
        let steps = hibernate(&t);
        let truncate = steps.iter().find(|s| s.name == StepName::Truncate).unwrap();
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
        let steps = wake_by_runbook(&target());
        assert_eq!(names(&steps), ["clear_flags", "enable_units"]);
        // A flag without a wake value is unset, one with is written.
        assert_eq!(
            steps[0].args,
            [
                "--unset",
                "INGEST_ENABLED",
                "--",
                "/etc/cornice/cornice.env",
                "HIBERNATE_MODE=false"
            ]
        );
        assert_eq!(
            steps[1].args,
            [
                "enable",
                "--now",
                "--if-present",
                "--",
                "cornice.service",
                "cornice-monitor.service"
            ]
        );
    }

    #[test]
    fn wake_from_a_record_undoes_exactly_what_it_says() {
        use reports::holdctl::{FlagBefore, HoldOptions, UnitBefore};
        let unit = |name: &str, enabled: &str, active: &str| UnitBefore {
            unit: name.into(),
            present: true,
            enabled: Some(enabled.into()),
            active: Some(active.into()),
        };
        let record = HoldRecord {
            format: 1,
            since: "2026-01-01T00:00:00Z".into(),
            by: "root".into(),
            host: "h".into(),
            options: HoldOptions {
                service: "cornice.service".into(),
                monitor: "cornice-monitor.service".into(),
                env_file: None,
                include_opportunities: false,
                include_auth: false,
                keep_api: true,
                profile: None,
                others: vec!["cornice-monitor.service".into()],
                include: vec![],
            },
            archive: None,
            database: None,
            flags: vec![
                FlagBefore {
                    file: "/etc/a.env".into(),
                    key: "HIBERNATE_MODE".into(),
                    before: None,
                },
                FlagBefore {
                    file: "/etc/b.env".into(),
                    key: "INGEST_ENABLED".into(),
                    before: Some("false".into()),
                },
            ],
            units: vec![
                unit("cornice.service", "enabled", "active"),
                unit("cornice-monitor.service", "disabled", "inactive"),
            ],
        };
        // The API runs through the hold (--keep-api); the monitor was started since.
        let now = [
            UnitNow {
                unit: "cornice.service".into(),
                active: true,
            },
            UnitNow {
                unit: "cornice-monitor.service".into(),
                active: true,
            },
        ];
        let steps = wake_from_record(&target(), &record, &now);
        assert_eq!(
            names(&steps),
            [
                "restore_flags",
                "restore_flags",
                "enable_units",
                "stop_units",
                "restart_units"
            ]
        );
        assert_eq!(
            steps[0].args,
            ["--unset", "HIBERNATE_MODE", "--", "/etc/a.env"]
        );
        assert_eq!(steps[1].args, ["--", "/etc/b.env", "INGEST_ENABLED=false"]);
        assert_eq!(
            steps[2].args,
            ["enable", "--if-present", "--", "cornice.service"]
        );
        assert_eq!(
            steps[3].args,
            ["stop", "--if-present", "--", "cornice-monitor.service"]
        );
        assert_eq!(
            steps[4].args,
            ["restart", "--if-present", "--", "cornice.service"]
        );
    }

    #[test]
    fn status_reads_only() {
        let steps = status(&target());
        assert_eq!(names(&steps), ["read_tables"]);
        assert!(steps[0].args.contains(&"--dry-run".to_string()));
        let keys = ["HIBERNATE_MODE", "INGEST_ENABLED", "DATABASE_URL"].map(String::from);
        let read = read_flags(Path::new("/etc/x.env"), &keys);
        assert_eq!(
            read.args,
            [
                "--get",
                "HIBERNATE_MODE",
                "--get",
                "INGEST_ENABLED",
                "--get",
                "DATABASE_URL",
                "--",
                "/etc/x.env"
            ]
        );
    }
}
