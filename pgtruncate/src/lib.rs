//! pgtruncate: empty a chosen set of PostgreSQL tables, safely, and say what was freed.
//!
//! Plan, then act: resolve names to OIDs, compute everything a
//! cascade would reach in one recursive catalogue query, refuse to reach kept tables,
//! check privileges, then one transaction: lock, re-check, one TRUNCATE, commit.

pub mod catalog;
pub mod connect;
pub mod env_file;
mod errors;
pub mod interrupt;
pub mod names;
pub mod plan;
pub mod preset;
pub mod redact;
pub mod report;
mod run;
pub mod select;
pub mod tls;
pub mod truncate;

use clap::Parser;
use connect::{ConnParams, ConnSource, ConnTarget, ProcessEnv};
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use preset::{Group, Preset};
use report::Report;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Empty chosen PostgreSQL tables in one transaction, refusing to cascade into tables you
/// keep, and report what was freed.
#[derive(Debug, Parser)]
#[command(name = "pgtruncate", version)]
pub struct Cli {
    /// Tables to empty (schema.table, or --schema's default; "Quoted" parts accepted)
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,
    /// postgres://, postgresql://, postgresql+DRIVER:// URL or libpq key=value string
    /// [default: --env-file's DATABASE_URL, then env DATABASE_URL, then PG* variables]
    #[arg(short, long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Read DATABASE_URL from this env file
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// A built-in table catalogue
    #[arg(long, value_name = "NAME", value_enum)]
    pub preset: Option<Preset>,
    /// Add a preset group (repeatable)
    #[arg(long, value_name = "GROUP", value_enum)]
    pub include: Vec<Group>,
    /// The runbook's flag: also the opportunities group (cornice preset)
    #[arg(long)]
    pub include_opportunities: bool,
    /// The runbook's flag: every application table but the migration bookkeeping
    #[arg(long)]
    pub include_auth: bool,
    /// Never truncate TABLE (repeatable)
    #[arg(long, value_name = "TABLE")]
    pub except: Vec<String>,
    /// Schema of unqualified names and of the preset's tables
    #[arg(long, value_name = "NAME", default_value = "public")]
    pub schema: String,
    /// Let CASCADE reach tables outside the chosen set (listed in the report)
    #[arg(long)]
    pub allow_cascade: bool,
    /// Run even though a table has a user-defined ON TRUNCATE trigger (its function runs
    /// with this session's rights)
    #[arg(long)]
    pub allow_triggers: bool,
    /// How long to wait for the table locks (not 0: PostgreSQL reads 0 as forever)
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = conventions::parse_duration)]
    pub lock_timeout: Duration,
    /// How long a statement may run beyond the lock wait
    #[arg(long, value_name = "DUR", default_value = "1m", value_parser = conventions::parse_duration)]
    pub statement_timeout: Duration,
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

/// Schemas no run ever truncates: `information_schema` and every `pg_*` (PostgreSQL
/// reserves the prefix: pg_catalog, pg_toast*, pg_temp*).
pub fn is_system_schema(schema: &str) -> bool {
    schema == "information_schema" || schema.starts_with("pg_")
}

pub fn run(cli: Cli, out: &Output) -> Outcome {
    let started = Instant::now();
    let mut report = Report {
        preset: cli.preset,
        ..Report::default()
    };
    let result = run::execute(&cli, out, &mut report);
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(changed) => Outcome::success(&report, changed, cli.dry_run),
        // Every error path returns before COMMIT or after a rollback: nothing changed.
        Err(err) => Outcome::failure_with(err, &report, false, cli.dry_run),
    }
}

/// The connection string by precedence: `--database-url`, then the env file's
/// DATABASE_URL, then the DATABASE_URL variable, then `PG*` variables and defaults.
fn resolve_target(cli: &Cli, out: &Output, report: &mut Report) -> Result<ConnTarget, ToolError> {
    let warn = |w: String, report: &mut Report| {
        out.warn(&w);
        report.warnings.push(w);
    };
    let env_url = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty());
    if let Some(u) = &env_url {
        conventions::secrets::redact_value("DATABASE_URL", u);
    }
    let (text, source) = if let Some(url) = &cli.database_url {
        (Some(url.clone()), ConnSource::Flag)
    } else {
        let from_file = match &cli.env_file {
            Some(path) => match env_file::read_key(path, "DATABASE_URL") {
                Ok(Some(v)) if !v.is_empty() => Some((v, ConnSource::EnvFile(path.clone()))),
                Ok(_) => {
                    let fallback = if env_url.is_some() {
                        "the DATABASE_URL environment variable"
                    } else {
                        "the PG* environment variables and libpq defaults"
                    };
                    warn(
                        format!("{} has no DATABASE_URL: using {fallback}", path.display()),
                        report,
                    );
                    None
                }
                Err(env_file::EnvFileError::Io(e)) => {
                    return Err(ToolError::io(
                        &path.display().to_string(),
                        "read the env file",
                        &e,
                    ))
                }
                Err(env_file::EnvFileError::Malformed { line, problem }) => {
                    return Err(ToolError::usage(format!(
                        "{} line {line}: {problem}: fix the env file",
                        path.display()
                    )))
                }
            },
            None => None,
        };
        match (from_file, env_url) {
            (Some((v, s)), _) => (Some(v), s),
            (None, Some(v)) => (Some(v), ConnSource::EnvVar),
            (None, None) => (None, ConnSource::Defaults),
        }
    };
    if let Some(t) = &text {
        conventions::secrets::redact_value("DATABASE_URL", t);
    }
    let params = match &text {
        Some(t) => {
            ConnParams::parse(t).map_err(|e| ToolError::usage(format!("database URL: {e}")))?
        }
        None => ConnParams::default(),
    };
    let target = ConnTarget::resolve(&params, source, &ProcessEnv)
        .map_err(|e| ToolError::usage(format!("database connection: {e}")))?;
    for w in &target.warnings {
        warn(w.clone(), report);
    }
    Ok(target)
}
