//! holdctl: put a Cornice server on hold (hibernate, wake, status, plan) by running
//! envpatch, svcctl and pgtruncate as child processes and chaining their JSON.

use clap::{Parser, Subcommand};
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Flags on, services stopped and disabled, runtime tables emptied
    Hibernate,
    /// Flags off, services enabled and started (cleared data is not restored)
    Wake,
    /// The flags, the units' state and the runtime tables' sizes; read only
    Status,
    /// What hibernate would do (hibernate --dry-run)
    Plan,
}

/// Put a Cornice server on hold safely, as the hibernate runbook does, one step per tool.
#[derive(Debug, Parser)]
#[command(name = "holdctl", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// The env file [default: the API unit's EnvironmentFile=]
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<PathBuf>,
    /// The API unit
    #[arg(long, value_name = "UNIT", default_value = "cornice", global = true)]
    pub service: String,
    /// The optional monitor unit (skipped if absent)
    #[arg(
        long,
        value_name = "UNIT",
        default_value = "cornice-monitor",
        global = true
    )]
    pub monitor: String,
    /// The database [default: DATABASE_URL from the env file]
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Also clear the opportunities catalog
    #[arg(long, global = true)]
    pub include_opportunities: bool,
    /// Empty every application table, users and secrets included
    #[arg(long, global = true)]
    pub include_auth: bool,
    /// After clearing, start the API again (in hibernate mode)
    #[arg(long, global = true)]
    pub keep_api: bool,
    /// Do not ask; required for hibernate when stdin is not a terminal
    #[arg(long, global = true)]
    pub yes: bool,
    /// The one-at-a-time lock file
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/run/lock/holdctl.lock",
        global = true
    )]
    pub lock: PathBuf,
    /// Report what would be done; change nothing
    #[arg(long, global = true)]
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
    Outcome::failure(ToolError::failed("holdctl: not implemented yet"))
}
