//! svcctl: control systemd units and report their state before and after
//! (DESIGN.md section 4). See docs/svcctl.md for how it works.

pub mod state;
pub mod systemctl;
pub mod unit_name;
pub mod verbs;

use clap::{Parser, ValueEnum};
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use serde::Serialize;
use std::time::Duration;
use systemctl::{Manager, Systemctl};
use unit_name::UnitName;
use verbs::{read_states, Plan, UnitReport};

/// What to do with the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Status,
    Start,
    Stop,
    Restart,
    Enable,
    Disable,
    Mask,
    Unmask,
}

/// Control systemd units through systemctl and report their state before and after.
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

/// The report beside the envelope's fields.
#[derive(Debug, Serialize)]
pub struct Report {
    pub verb: Verb,
    /// Every distinct systemctl argv run, in order (a poll repeats a `show` listed once).
    pub commands: Vec<Vec<String>>,
    /// With --dry-run: the argv that would run, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_run: Option<Vec<Vec<String>>>,
    pub units: Vec<UnitReport>,
}

pub fn run(cli: Cli, out: &Output) -> Outcome {
    let dry_run = cli.dry_run;
    let (manager, units) = match check_arguments(&cli) {
        Ok(checked) => checked,
        Err(e) => return Outcome::failure(e),
    };
    let mut systemctl = Systemctl::new(manager);
    let before = match read_states(&mut systemctl, &units) {
        Ok(states) => states,
        Err(e) => {
            let report = Report {
                verb: cli.verb,
                commands: systemctl.commands().to_vec(),
                would_run: None,
                units: vec![],
            };
            return Outcome::failure_with(e, &report, false, dry_run);
        }
    };
    let plan = Plan::new(cli.verb, cli.now, units, before);

    let missing: Vec<String> = plan
        .entries
        .iter()
        .filter(|e| !e.present)
        .map(|e| e.unit.clone())
        .collect();
    if !missing.is_empty() && !cli.if_present {
        let report = Report {
            verb: cli.verb,
            commands: systemctl.commands().to_vec(),
            would_run: None,
            units: plan.entries,
        };
        let err = ToolError::not_found(format!(
            "no such unit: {}; nothing was done for any unit (check the name, or pass --if-present to skip missing units)",
            missing.join(", ")
        ))
        .with("units", missing);
        return Outcome::failure_with(err, &report, false, dry_run);
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
        let would_run = dry_run.then(|| plan.argvs(&systemctl));
        let mut entries = plan.entries;
        if cli.verb == Verb::Status {
            // One read is both: status changes nothing.
            for entry in &mut entries {
                entry.after = entry.before.clone();
                entry.changed = false;
            }
        }
        let changed = entries.iter().any(|e| e.changed);
        let report = Report {
            verb: cli.verb,
            commands: systemctl.commands().to_vec(),
            would_run,
            units: entries,
        };
        return Outcome::success(&report, changed, dry_run);
    }

    let warned: Vec<usize> = plan.entries.iter().map(|e| e.warnings.len()).collect();
    let progress = |m: &str| out.progress(m);
    let finished = plan.execute(&mut systemctl, cli.timeout, &progress);
    for (entry, seen) in finished.units.iter().zip(warned) {
        for warning in entry.warnings.iter().skip(seen) {
            out.warn(&format!("{}: {warning}", entry.unit));
        }
    }
    let changed = finished.units.iter().any(|e| e.changed);
    let report = Report {
        verb: cli.verb,
        commands: systemctl.commands().to_vec(),
        would_run: None,
        units: finished.units,
    };
    match finished.error {
        None => Outcome::success(&report, changed, false),
        Some(e) => Outcome::failure_with(e, &report, changed, false),
    }
}

/// Everything that can be refused before systemctl runs: flags that do not fit the verb,
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
