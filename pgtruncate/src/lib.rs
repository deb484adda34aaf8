//! pgtruncate: empty a chosen set of PostgreSQL tables, safely, and say what was freed.

use clap::Parser;
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use std::path::PathBuf;
use std::time::Duration;

/// Empty chosen PostgreSQL tables in one transaction, refusing to cascade into tables you
/// keep, and report what was freed.
#[derive(Debug, Parser)]
#[command(name = "pgtruncate", version)]
pub struct Cli {
    /// Tables to empty (schema.table, or --schema's default)
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,
    /// postgres://, postgresql://, postgresql+DRIVER:// URL or libpq key=value string [env: DATABASE_URL]
    #[arg(short, long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Read DATABASE_URL from this env file
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// A built-in table catalogue (built in: cornice)
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Add a preset group (repeatable)
    #[arg(long, value_name = "GROUP")]
    pub include: Vec<String>,
    /// The runbook's flag: also the opportunities group (cornice preset)
    #[arg(long)]
    pub include_opportunities: bool,
    /// The runbook's flag: every application table but the migration bookkeeping
    #[arg(long)]
    pub include_auth: bool,
    /// Never truncate TABLE (repeatable)
    #[arg(long, value_name = "TABLE")]
    pub except: Vec<String>,
    /// Schema of unqualified names
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,
    /// Let CASCADE reach tables outside the chosen set (listed in the report)
    #[arg(long)]
    pub allow_cascade: bool,
    /// How long to wait for the table locks
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = conventions::parse_duration)]
    pub lock_timeout: Duration,
    /// Report what would be truncated; change nothing
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
    Outcome::failure(ToolError::failed("pgtruncate: not implemented yet"))
}
