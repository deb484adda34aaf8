//! pgtruncate: empty a chosen set of PostgreSQL tables, safely, and say what was freed.
//!
//! Plan, then act: resolve names to OIDs, compute everything a
//! cascade would reach in one recursive catalogue query, refuse to reach kept tables,
//! check privileges, then one transaction: lock, read again under the locks everything
//! the plan rested on and refuse if anything changed, the planned statement, commit.

mod archive;
pub mod catalog;
mod errors;
mod gate;
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
    /// A hold profile's table groups: a NAME (/etc/holdkit/profiles/NAME.toml, else built
    /// in: cornice) or a FILE (a path with a '/' or ending in .toml)
    #[arg(long, value_name = "NAME|FILE")]
    pub preset: Option<String>,
    /// Add the profile's include NAME (its groups, maybe the tables in no group), or else
    /// its group NAME alone (repeatable)
    #[arg(long, value_name = "NAME")]
    pub include: Vec<String>,
    /// The runbook's flag: the spelling of --include opportunities
    #[arg(long)]
    pub include_opportunities: bool,
    /// The runbook's flag: the spelling of --include auth (for cornice: every application
    /// table but the ones the profile keeps)
    #[arg(long)]
    pub include_auth: bool,
    /// Never truncate TABLE (repeatable)
    #[arg(long, value_name = "TABLE")]
    pub except: Vec<String>,
    /// Schema of unqualified names and of the preset's tables [default: the profile's
    /// schema, else public]
    #[arg(long, value_name = "NAME")]
    pub schema: Option<String>,
    /// Let CASCADE reach tables outside the chosen set (listed in the report)
    #[arg(long)]
    pub allow_cascade: bool,
    /// Run even though a table has a user-defined ON TRUNCATE trigger (with --undo: ON
    /// INSERT trigger); its function runs with this session's rights
    #[arg(long)]
    pub allow_triggers: bool,
    /// How long to wait for the table locks (not 0: PostgreSQL reads 0 as forever)
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = conventions::parse_duration)]
    pub lock_timeout: Duration,
    /// How long a statement may run beyond the lock wait
    #[arg(long, value_name = "DUR", default_value = "1m", value_parser = conventions::parse_duration)]
    pub statement_timeout: Duration,
    /// First write every row to be emptied into FILE, durably, in the same transaction:
    /// a pg_dump-style SQL script (FILE.sql.gz gzip, FILE.sql.zst zstd, FILE.sql plain)
    /// that --undo or `gunzip -c FILE | psql -1 -v ON_ERROR_STOP=1` (`zstd -dc` for
    /// .sql.zst) restores; FILE must not exist
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Put back an archive written by --archive (the tables must be empty), instead of
    /// truncating; with --dry-run, check it and the tables and change nothing
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["tables", "preset", "include", "include_opportunities", "include_auth", "except", "allow_cascade", "archive"]
    )]
    pub undo: Option<PathBuf>,
    /// Report what would be truncated; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Connect, plan and check, then wait on standard input: the line `lock` runs
    /// everything but COMMIT and waits for `go`; `go` commits. Input that ends without
    /// `go`: rolled back, exit 3, nothing emptied (for a caller with steps to finish
    /// first)
    #[arg(long, conflicts_with_all = ["dry_run", "undo"])]
    pub go_on_stdin: bool,
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
    let mut started = Instant::now();
    let mut report = Report::default();
    let result = run::execute(&cli, out, &mut report, &mut started);
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let outcome = match result {
        Ok(changed) => {
            let line = if cli.undo.is_some() {
                undo_summary(&report, cli.dry_run)
            } else {
                summary(&report, changed, cli.dry_run)
            };
            Outcome::success(&report, changed, cli.dry_run).with_summary(Some(line))
        }
        // Every error path returns before COMMIT or after a rollback: nothing changed.
        Err(err) => Outcome::failure_with(err, &report, false, cli.dry_run),
    };
    view::attach(outcome, &report)
}

/// `cornice@db:5432/cornice`: the database as a person reads it.
fn short_database(report: &Report) -> String {
    report
        .database
        .as_deref()
        .map(|u| {
            let u = u.split_once("://").map_or(u, |(_, rest)| rest);
            u.split_once('?')
                .map_or(u, |(before, _)| before)
                .to_string()
        })
        .unwrap_or_else(|| "the database".into())
}

/// `restored 13 table(s), 1200 rows, into cornice@db:5432/cornice from FILE in 94 ms`.
fn undo_summary(report: &Report, dry_run: bool) -> String {
    let db = short_database(report);
    let rows: u64 = report.restored.iter().map(|t| t.rows).sum();
    let tables = report.restored.len();
    let file = report.archive.as_ref().map_or("", |a| a.path.as_str());
    if dry_run {
        format!("would restore {tables} table(s), {rows} rows, into {db} from {file}")
    } else {
        format!(
            "restored {tables} table(s), {rows} rows, into {db} from {file} in {} ms",
            report.duration_ms
        )
    }
}

/// The one line a person reads: `emptied 13 tables in cornice@db:5432/cornice, freed
/// 39.8 MiB in 94 ms` (and where their rows were archived).
fn summary(report: &Report, changed: bool, dry_run: bool) -> String {
    use conventions::human::human_bytes;
    let db = short_database(report);
    let tables = report.truncated.len() + report.cascaded.len();
    let bytes = human_bytes(report.bytes_freed.unwrap_or(0).max(0) as u64);
    if dry_run {
        format!("would empty {tables} table(s) in {db}, holding {bytes}")
    } else if changed {
        let archived = report
            .archive
            .as_ref()
            .map(|a| {
                let size = human_bytes(a.bytes.unwrap_or(0));
                format!(", their rows archived in {} ({size})", a.path)
            })
            .unwrap_or_default();
        format!(
            "emptied {tables} table(s) in {db}, freed {bytes} in {} ms{archived}",
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
