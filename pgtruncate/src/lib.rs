//! pgtruncate: empty a chosen set of PostgreSQL tables, safely, and say what was freed.
//!
//! Plan, then act: resolve names to OIDs, compute everything a
//! cascade would reach in one recursive catalogue query, refuse to reach kept tables,
//! check privileges, then one transaction: lock, read again under the locks everything
//! the plan rested on and refuse if anything changed, the planned statement, commit.

pub mod catalog;
mod errors;
mod gather;
pub mod interrupt;
pub mod names;
pub mod plan;
pub mod preset;
mod recheck;
pub mod redact;
pub mod report;
mod reset;
mod run;
pub mod select;
pub mod truncate;
mod view;

use clap::Parser;
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use pgconn::ConnTarget;
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
    /// Let a DATABASE_URL from an env file another user can write connect over a Unix
    /// socket, where the server sees root (peer authentication); refused without it
    #[arg(long)]
    pub allow_socket: bool,
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
    let outcome =
        match result {
            Ok(changed) => Outcome::success(&report, changed, cli.dry_run)
                .with_summary(Some(summary(&report, changed, cli.dry_run))),
            // Every error path returns before COMMIT or after a rollback: nothing changed.
            Err(err) => Outcome::failure_with(err, &report, false, cli.dry_run),
        };
    view::attach(outcome, &report)
}

/// The one line a person reads: `emptied 13 tables in cornice@db:5432/cornice, freed
/// 39.8 MiB in 94 ms`.
fn summary(report: &Report, changed: bool, dry_run: bool) -> String {
    use conventions::human::human_bytes;
    let db = report
        .database
        .as_deref()
        .map(|u| {
            let u = u.split_once("://").map_or(u, |(_, rest)| rest);
            u.split_once('?')
                .map_or(u, |(before, _)| before)
                .to_string()
        })
        .unwrap_or_else(|| "the database".into());
    let tables = report.truncated.len() + report.cascaded.len();
    let bytes = human_bytes(report.bytes_freed.unwrap_or(0).max(0) as u64);
    if dry_run {
        format!("would empty {tables} table(s) in {db}, holding {bytes}")
    } else if changed {
        format!(
            "emptied {tables} table(s) in {db}, freed {bytes} in {} ms",
            report.duration_ms
        )
    } else {
        format!("{tables} table(s) in {db} already empty: nothing to do")
    }
}

/// The target the arguments name ([`pgconn::resolve`]), its warnings in the report.
fn resolve_target(cli: &Cli, out: &Output, report: &mut Report) -> Result<ConnTarget, ToolError> {
    let choice = pgconn::Choice {
        database_url: cli.database_url.as_deref(),
        env_file: cli.env_file.as_deref(),
        allow_socket: cli.allow_socket,
    };
    pgconn::resolve(&choice, &mut |w| {
        out.warn(&w);
        report.warnings.push(w);
    })
}
