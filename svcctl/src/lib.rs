//! svcctl: control systemd units and report their state before and after. It speaks
//! D-Bus to the service manager itself and falls back to systemctl where it must. See
//! docs/svcctl.md for how it works.

pub mod dbus;
pub mod report;
pub mod state;
pub mod systemctl;
/// The unit-name rule lives in `conventions`, shared with the hold profiles.
pub use conventions::unit_name;
pub mod verbs;
mod view;

use clap::Parser;
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use dbus::manager::{bus_failure, DbusDriver};
use dbus::{Bus, BusError, SocketError};
pub use report::Verb;
use report::{Report, UnitReport};
use std::time::{Duration, Instant};
use systemctl::{Manager, Systemctl};
use unit_name::UnitName;
use verbs::{Driver, Plan};

/// Control systemd units and report their state before and after.
#[derive(Debug, Parser)]
#[command(name = "svcctl", version)]
pub struct Cli {
    /// What to do
    #[arg(value_enum)]
    pub verb: Verb,
    /// Units (a bare name means NAME.service)
    #[arg(required = true, value_name = "UNIT")]
    pub units: Vec<String>,
    /// With enable/disable: also start/stop (as systemctl)
    #[arg(long)]
    pub now: bool,
    /// A unit that does not exist is reported and skipped, not an error
    #[arg(long)]
    pub if_present: bool,
    /// The calling user's service manager
    #[arg(long)]
    pub user: bool,
    /// A remote host, through systemctl's own ssh transport
    #[arg(short = 'H', long, value_name = "HOST", conflicts_with = "user")]
    pub host: Option<String>,
    /// Bound on each job
    #[arg(long, value_name = "DUR", default_value = "90s", value_parser = conventions::parse_duration)]
    pub timeout: Duration,
    /// Report what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl HasCommonArgs for Cli {
    fn common_args(&self) -> &CommonArgs {
        &self.common
    }
}

pub fn run(cli: Cli, out: &Output) -> Outcome {
    let (verb, dry_run) = (cli.verb, cli.dry_run);
    match operate(&cli, out) {
        Ran::Done { report, changed } => {
            let view = view::render(verb, Some(&report), None, dry_run);
            let line = summary(&report, dry_run);
            Outcome::success(&report, changed, dry_run)
                .with_view(view)
                .with_summary(Some(line))
        }
        Ran::Failed {
            error,
            report,
            changed,
        } => {
            let view = view::render(verb, report.as_ref(), Some(&error), dry_run);
            match report {
                Some(report) => Outcome::failure_with(error, &report, changed, dry_run),
                None => Outcome::failure(error),
            }
            .with_view(view)
        }
    }
}

/// What a run did: its report, whether it changed anything, and its error; a failure
/// before the manager was reached has no report.
enum Ran {
    Done {
        report: Report,
        changed: bool,
    },
    Failed {
        error: ToolError,
        report: Option<Report>,
        changed: bool,
    },
}

impl Ran {
    fn failed(error: ToolError, report: Option<Report>) -> Ran {
        Ran::Failed {
            error,
            report,
            changed: false,
        }
    }
}

fn operate(cli: &Cli, out: &Output) -> Ran {
    let dry_run = cli.dry_run;
    let (manager, units) = match check_arguments(cli) {
        Ok(checked) => checked,
        Err(e) => return Ran::failed(e, None),
    };
    let mut driver = match connect(manager) {
        Ok(driver) => driver,
        Err(e) => return Ran::failed(e, None),
    };
    let report = |driver: &dyn Driver, units: Vec<UnitReport>| Report {
        verb: cli.verb,
        transport: driver.transport(),
        commands: driver.commands(),
        would_run: None,
        dbus_calls: driver.dbus_calls(),
        would_call: None,
        changes: driver.changes(),
        units,
    };
    let before = match driver.read_states(&units) {
        Ok(states) => states,
        Err(e) => return Ran::failed(e, Some(report(&*driver, vec![]))),
    };
    let plan = Plan::new(cli.verb, cli.now, units, before);

    let missing: Vec<String> = plan
        .entries
        .iter()
        .filter(|e| !e.present)
        .map(|e| e.unit.clone())
        .collect();
    if !missing.is_empty() && !cli.if_present {
        let err = ToolError::not_found(format!(
            "no such unit: {}; nothing was done for any unit (check the name, or pass --if-present to skip missing units)",
            missing.join(", ")
        ))
        .with("units", missing);
        return Ran::failed(err, Some(report(&*driver, plan.entries)));
    }
    for entry in &plan.entries {
        if !entry.present {
            out.progress(&format!(
                "{}: not found, skipped (--if-present)",
                entry.unit
            ));
        }
        for warning in &entry.warnings {
            out.warn(&format!("{}: {warning}", entry.unit));
        }
    }

    if cli.verb == Verb::Status || dry_run {
        let would_run = dry_run.then(|| plan.argvs(&*driver));
        let would_call = (dry_run && driver.transport() != report::Transport::Systemctl)
            .then(|| plan.calls(&*driver));
        let mut entries = plan.entries;
        if cli.verb == Verb::Status {
            // One read is both: status changes nothing.
            for entry in &mut entries {
                entry.after = entry.before.clone();
                entry.changed = false;
            }
        }
        let changed = entries.iter().any(|e| e.changed);
        let mut report = report(&*driver, entries);
        report.would_run = would_run;
        report.would_call = would_call;
        return Ran::Done { report, changed };
    }

    let warned: Vec<usize> = plan.entries.iter().map(|e| e.warnings.len()).collect();
    let progress = |m: &str| out.progress(m);
    let finished = plan.execute(&mut *driver, cli.timeout, &progress);
    for (entry, seen) in finished.units.iter().zip(warned) {
        for warning in entry.warnings.iter().skip(seen) {
            out.warn(&format!("{}: {warning}", entry.unit));
        }
    }
    let changed = finished.units.iter().any(|e| e.changed);
    let report = report(&*driver, finished.units);
    match finished.error {
        None => Ran::Done { report, changed },
        Some(error) => Ran::Failed {
            error,
            report: Some(report),
            changed,
        },
    }
}

/// The one line a person reads: `stopped cornice.service; cornice-monitor.service already
/// stopped`, `cornice.service active/enabled`.
fn summary(report: &Report, dry_run: bool) -> String {
    use conventions::human::list;
    if report.verb == Verb::Status {
        let states: Vec<String> = report
            .units
            .iter()
            .map(|u| match &u.before {
                Some(s) if u.present => format!(
                    "{} {}/{}",
                    u.unit,
                    s.active,
                    s.enabled.as_deref().unwrap_or("-")
                ),
                _ => format!("{} not found", u.unit),
            })
            .collect();
        return list(&states);
    }
    let verb = serde_json::to_value(report.verb)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let done = match report.verb {
        Verb::Stop => "stopped",
        Verb::Start => "started",
        Verb::Restart => "restarted",
        Verb::Enable => "enabled",
        Verb::Disable => "disabled",
        Verb::Mask => "masked",
        Verb::Unmask => "unmasked",
        Verb::Status => "read",
    };
    let pick = |changed: bool| -> Vec<String> {
        report
            .units
            .iter()
            .filter(|u| u.present && u.changed == changed)
            .map(|u| u.unit.clone())
            .collect()
    };
    let (acted, untouched) = (pick(true), pick(false));
    let skipped: Vec<String> = report
        .units
        .iter()
        .filter(|u| !u.present)
        .map(|u| u.unit.clone())
        .collect();
    let mut parts = Vec::new();
    if !acted.is_empty() {
        parts.push(if dry_run {
            format!("would {verb} {}", list(&acted))
        } else {
            format!("{done} {}", list(&acted))
        });
    }
    if !untouched.is_empty() {
        parts.push(format!("{} already {done}", list(&untouched)));
    }
    if !skipped.is_empty() {
        parts.push(format!("{} not found (skipped)", list(&skipped)));
    }
    parts.join("; ")
}

/// The way to the manager: systemctl for `-H` and where no manager can answer (offline,
/// chroot); else the first D-Bus endpoint that accepts a connection; else systemctl,
/// which then says why no manager was reached (never a false success).
fn connect(manager: Manager) -> Result<Box<dyn Driver>, ToolError> {
    let user = match manager {
        Manager::Host(_) => return Ok(Box::new(Systemctl::new(manager))),
        Manager::User => true,
        Manager::System => false,
    };
    if offline_or_chroot() {
        return Ok(Box::new(Systemctl::new(manager)));
    }
    let deadline = Instant::now() + dbus::CONNECT_BOUND;
    for endpoint in dbus::endpoints(user) {
        match Bus::connect(&endpoint, deadline) {
            Ok(bus) => return Ok(Box::new(DbusDriver::new(bus))),
            Err(BusError::Socket(SocketError::Absent(_))) => continue,
            Err(BusError::Impostor(why)) => return Err(ToolError::refused(why)),
            Err(e) => return Err(bus_failure(endpoint.transport, &e)),
        }
    }
    Ok(Box::new(Systemctl::new(manager)))
}

/// What makes systemctl itself refuse to talk to a manager: `SYSTEMD_OFFLINE=1`, or a
/// root directory that is not PID 1's (a chroot). systemctl then says so, and svcctl
/// reports that no manager was reached.
fn offline_or_chroot() -> bool {
    use std::os::unix::fs::MetadataExt;
    if let Some(value) = std::env::var_os("SYSTEMD_OFFLINE") {
        if matches!(value.to_str(), Some("1" | "yes" | "true" | "on")) {
            return true;
        }
    }
    match (std::fs::metadata("/"), std::fs::metadata("/proc/1/root/")) {
        (Ok(ours), Ok(init)) => (ours.dev(), ours.ino()) != (init.dev(), init.ino()),
        // Not allowed to look (not root): let the connection decide.
        _ => false,
    }
}

/// Everything that can be refused before the manager is reached: flags that do not fit the verb,
/// the host, and every unit name.
fn check_arguments(cli: &Cli) -> Result<(Manager, Vec<UnitName>), ToolError> {
    if cli.now && !matches!(cli.verb, Verb::Enable | Verb::Disable) {
        return Err(ToolError::usage(
            "--now goes with enable or disable only; use start or stop directly",
        ));
    }
    let manager = match (&cli.host, cli.user) {
        (Some(host), _) => Manager::host(host).map_err(ToolError::usage)?,
        (None, true) => Manager::User,
        (None, false) => Manager::System,
    };
    let mut units: Vec<UnitName> = Vec::new();
    for input in &cli.units {
        let unit = UnitName::parse(input)
            .map_err(|e| ToolError::usage(format!("{e}; nothing was run")).with("unit", input))?;
        // The same unit twice is one unit (and one record in `show`).
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    Ok((manager, units))
}
