//! svcctl: control systemd units and report their state before and after.

use clap::{Parser, ValueEnum};
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use std::time::Duration;

/// What to do with the units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
    #[arg(short = 'H', long, value_name = "HOST")]
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

pub fn run(_cli: Cli, _out: &Output) -> Outcome {
    Outcome::failure(ToolError::failed("svcctl: not implemented yet"))
}
