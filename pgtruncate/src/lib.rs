//! pgtruncate: empty a chosen set of PostgreSQL tables, safely, and say what was freed.
//!
//! Plan, then act: resolve names to OIDs, compute everything a
//! cascade would reach in one recursive catalogue query, refuse to reach kept tables,
//! check privileges, then one transaction: lock, re-check, one TRUNCATE, commit.

mod archive;
pub mod catalog;
pub mod connect;
pub mod conninfo;
pub mod env_source;
mod errors;
pub mod interrupt;
pub mod names;
pub mod pgpass;
pub mod plan;
pub mod preset;
pub mod redact;
pub mod report;
mod run;
pub mod select;
pub mod target;
pub mod tls;
pub mod tls_config;
pub mod truncate;

use clap::Parser;
use connect::{ConnParams, ConnSource, ConnTarget, Credentials, ProcessEnv};
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
    /// a pg_dump-style SQL script (FILE.sql.gz gzip, FILE.sql plain) that --undo or
    /// `gunzip -c FILE | psql -1 -v ON_ERROR_STOP=1` restores; FILE must not exist
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
        Ok(changed) => {
            let line = if cli.undo.is_some() {
                undo_summary(&report, cli.dry_run)
            } else {
                summary(&report, changed, cli.dry_run)
            };
            out.progress(&line);
            Outcome::success(&report, changed, cli.dry_run)
        }
        // Every error path returns before COMMIT or after a rollback: nothing changed.
        Err(err) => Outcome::failure_with(err, &report, false, cli.dry_run),
    }
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

/// The connection string by precedence: `--database-url`, then the env file's
/// DATABASE_URL, then the DATABASE_URL variable, then `PG*` variables and defaults.
fn resolve_target(cli: &Cli, out: &Output, report: &mut Report) -> Result<ConnTarget, ToolError> {
    let warn = |w: String, report: &mut Report| {
        out.warn(&w);
        report.warnings.push(w);
    };
    let env_url = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty());
    // Its password is kept out of every output even when another source wins.
    if let Some(pw) = env_url
        .as_deref()
        .and_then(conventions::secrets::url_password)
    {
        conventions::secrets::remember(&pw);
    }
    let (text, source, credentials) = if let Some(url) = &cli.database_url {
        (Some(url.clone()), ConnSource::Flag, Credentials::Caller)
    } else if let Some(path) = &cli.env_file {
        // An env file named is the only source: never DATABASE_URL or PG* of our own
        // environment, which may name another database.
        let file = env_source::read(path)?;
        let url = env_source::database_url(&file, path)?;
        let euid = nix::unistd::geteuid().as_raw();
        let credentials = match file.distrust_reason(euid) {
            None => Credentials::Caller,
            Some(reason) => {
                warn(
                    format!(
                        "{} {reason}: its DATABASE_URL is used only with the credentials it carries itself (no PG* variables, PGPASSWORD or pgpass file of pgtruncate's own environment); make it owned by root and writable by no one else to lift this",
                        path.display()
                    ),
                    report,
                );
                Credentials::StringOnly
            }
        };
        (Some(url), ConnSource::EnvFile(path.clone()), credentials)
    } else if let Some(url) = env_url {
        (Some(url), ConnSource::EnvVar, Credentials::Caller)
    } else {
        (None, ConnSource::Defaults, Credentials::Caller)
    };
    // Only the password is secret: the rest of the URL names the target, and the report
    // and the messages must show it. Remembered before parsing, so that a string the
    // parser refuses still cannot show its password.
    if let Some(pw) = text.as_deref().and_then(conventions::secrets::url_password) {
        conventions::secrets::remember(&pw);
    }
    let params = match &text {
        Some(t) => {
            ConnParams::parse(t).map_err(|e| ToolError::usage(format!("database URL: {e}")))?
        }
        None => ConnParams::default(),
    };
    let target = ConnTarget::resolve(&params, source, &ProcessEnv, credentials)
        .map_err(|e| ToolError::usage(format!("database connection: {e}")))?;
    for w in &target.warnings {
        warn(w.clone(), report);
    }
    Ok(target)
}
