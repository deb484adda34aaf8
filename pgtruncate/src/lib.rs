//! pgtruncate: empty a chosen set of PostgreSQL tables, safely, and say what was freed.
//!
//! Plan, then act (DESIGN.md section 5): resolve names to OIDs, compute everything a
//! cascade would reach in one recursive catalogue query, refuse to reach kept tables,
//! check privileges, then one transaction: lock, re-check, one TRUNCATE, commit.

pub mod catalog;
pub mod connect;
pub mod conninfo;
pub mod env_file;
pub mod interrupt;
pub mod names;
pub mod plan;
pub mod preset;
pub mod report;
pub mod tls;
pub mod truncate;

use catalog::Blocker;
use clap::Parser;
use connect::{ConnParams, ConnSource, ConnTarget, Connection, ProcessEnv};
use conventions::duration::{format_duration, human_age};
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use names::QualifiedName;
use plan::{KeptTable, Origin, Plan};
use postgres::error::SqlState;
use preset::{Group, Preset, Selection, MIGRATION_TABLES};
use report::{Report, TableEntry};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use truncate::{Act, ActError};

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

/// PostgreSQL's timeouts are int milliseconds.
const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// Schemas no run ever truncates.
fn is_system_schema(schema: &str) -> bool {
    schema == "pg_catalog"
        || schema == "information_schema"
        || schema.starts_with("pg_toast")
        || schema.starts_with("pg_temp")
}

pub fn run(cli: Cli, out: &Output) -> Outcome {
    let started = Instant::now();
    let mut report = Report {
        preset: cli.preset,
        ..Report::default()
    };
    let result = execute(&cli, out, &mut report);
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(changed) => Outcome::success(&report, changed, cli.dry_run),
        // Every error path returns before COMMIT or after a rollback: nothing changed.
        Err(err) => Outcome::failure_with(err, &report, false, cli.dry_run),
    }
}

/// Everything but the envelope. Returns whether something changed (or would).
fn execute(cli: &Cli, out: &Output, report: &mut Report) -> Result<bool, ToolError> {
    // Arguments first: a usage error touches nothing, not even the network.
    if cli.lock_timeout.is_zero() {
        return Err(ToolError::usage(
            "--lock-timeout 0 would wait forever (PostgreSQL reads 0 as no timeout): give a duration such as 5s",
        ));
    }
    if cli.statement_timeout.is_zero() {
        return Err(ToolError::usage(
            "--statement-timeout 0 would never time out: give a duration such as 1m",
        ));
    }
    let statement_timeout = cli.lock_timeout + cli.statement_timeout;
    if statement_timeout > MAX_TIMEOUT {
        return Err(ToolError::usage(
            "--lock-timeout plus --statement-timeout must stay under 24 days",
        ));
    }
    if cli.tables.is_empty() && cli.preset.is_none() {
        return Err(ToolError::usage(
            "nothing to truncate: name the tables, or choose a --preset (built in: cornice)",
        ));
    }
    if cli.preset.is_none()
        && (!cli.include.is_empty() || cli.include_opportunities || cli.include_auth)
    {
        return Err(ToolError::usage(
            "--include, --include-opportunities and --include-auth choose preset groups: add --preset cornice",
        ));
    }
    if cli.schema.is_empty() {
        return Err(ToolError::usage(
            "--schema is empty: give a schema name such as public",
        ));
    }
    let parse_all = |list: &[String]| -> Result<Vec<QualifiedName>, ToolError> {
        list.iter()
            .map(|t| QualifiedName::parse(t, &cli.schema).map_err(ToolError::usage))
            .collect()
    };
    let named = parse_all(&cli.tables)?;
    let excepted = parse_all(&cli.except)?;
    if let Some(sys) = named.iter().find(|n| is_system_schema(&n.schema)) {
        return Err(ToolError::refused(format!(
            "{sys} is in a system schema, which pgtruncate never truncates; nothing was truncated"
        )));
    }
    let selection = cli
        .preset
        .map(|p| Selection::new(p, &cli.include, cli.include_opportunities, cli.include_auth));
    if let Some(sel) = &selection {
        report.groups = sel.groups.clone();
    }

    // The connection.
    let target = resolve_target(cli, out, report)?;
    report.database = Some(target.display_url());
    let interrupt = interrupt::Interrupt::install()
        .map_err(|e| ToolError::failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let settings = [
        (
            "lock_timeout",
            format!("{}ms", cli.lock_timeout.as_millis()),
        ),
        (
            "statement_timeout",
            format!("{}ms", statement_timeout.as_millis()),
        ),
    ];
    let mut conn = target.connect(&settings)?;
    interrupt.arm(conn.client.cancel_token(), conn.tls.clone());
    let db = target.display_url();
    let catalog_err = |e: postgres::Error, conn: &mut Connection| {
        catalog_error(e, conn, &interrupt, &db, cli.lock_timeout)
    };
    let session = match catalog::session_info(&mut conn.client) {
        Ok(s) => s,
        Err(e) => return Err(catalog_err(e, &mut conn)),
    };
    if session.in_recovery {
        return Err(ToolError::refused(format!(
            "{db} is a hot standby (in recovery) and cannot be written: run pgtruncate against the primary; nothing was truncated"
        )));
    }

    // Names to OIDs.
    let mut chosen: BTreeMap<u32, Origin> = BTreeMap::new();
    let mut kept: Vec<KeptTable> = Vec::new();
    let lookup: Vec<QualifiedName> = named.iter().chain(&excepted).cloned().collect();
    let found = match catalog::resolve(&mut conn.client, &lookup) {
        Ok(f) => f,
        Err(e) => return Err(catalog_err(e, &mut conn)),
    };
    let mut unknown = Vec::new();
    let mut not_tables = Vec::new();
    let mut except_oids = Vec::new();
    for (i, (name, hit)) in lookup.iter().zip(&found).enumerate() {
        match hit {
            None => unknown.push(name.to_string()),
            Some(f) if !f.kind.is_table() => {
                not_tables.push(format!("{name} is {}", f.kind.describe()))
            }
            Some(f) if i < named.len() => {
                chosen.insert(f.oid, Origin::Named);
            }
            Some(f) => except_oids.push((f.oid, name.clone())),
        }
    }
    if !unknown.is_empty() || !not_tables.is_empty() {
        let mut problems: Vec<String> = unknown
            .iter()
            .map(|n| format!("table {n} does not exist"))
            .collect();
        problems.extend(not_tables.iter().cloned());
        return Err(ToolError::not_found(format!(
            "{} in {db}: check the name and schema (names match the catalog exactly, case included); nothing was truncated",
            problems.join("; ")
        ))
        .with("missing", &unknown)
        .with("not_tables", &not_tables));
    }
    if let (Some(preset), Some(sel)) = (cli.preset, &selection) {
        let tables = match catalog::schema_tables(&mut conn.client, &cli.schema) {
            Ok(t) => t,
            Err(e) => return Err(catalog_err(e, &mut conn)),
        };
        let present: HashMap<&str, u32> = tables.iter().map(|(n, o)| (n.as_str(), *o)).collect();
        for group in Group::ALL {
            for &t in preset.tables(group) {
                match present.get(t) {
                    None => report
                        .missing
                        .push(QualifiedName::new(&cli.schema, t).to_string()),
                    Some(&oid) if sel.groups.contains(&group) => {
                        chosen.entry(oid).or_insert(Origin::Group(group));
                    }
                    Some(&oid) => kept.push(KeptTable {
                        oid,
                        reason: format!("group {} not included", group.as_str()),
                        group: Some(group),
                        absolute: false,
                    }),
                }
            }
        }
        for (t, oid) in &tables {
            if MIGRATION_TABLES.contains(&t.as_str()) {
                if !chosen.contains_key(oid) {
                    kept.push(KeptTable {
                        oid: *oid,
                        reason: "migration bookkeeping: no preset ever truncates it".into(),
                        group: None,
                        absolute: true,
                    });
                }
            } else if preset.group_of(t).is_none() {
                report
                    .unclassified
                    .push(QualifiedName::new(&cli.schema, t).to_string());
                if sel.everything {
                    chosen.entry(*oid).or_insert(Origin::Unclassified);
                } else if !chosen.contains_key(oid) {
                    kept.push(KeptTable {
                        oid: *oid,
                        reason: format!(
                            "unclassified: in no group of the {} preset",
                            preset.as_str()
                        ),
                        group: None,
                        absolute: false,
                    });
                }
            }
        }
    }
    for (oid, name) in except_oids {
        chosen.remove(&oid);
        kept.retain(|k| k.oid != oid);
        kept.push(KeptTable {
            oid,
            reason: "--except".into(),
            group: cli
                .preset
                .filter(|_| name.schema == cli.schema)
                .and_then(|p| p.group_of(&name.name)),
            absolute: true,
        });
    }
    // A kept table named on the command line is chosen: explicit wins over a group.
    kept.retain(|k| !chosen.contains_key(&k.oid));

    // The closure and the facts about every table involved: a fixed number of queries.
    let seeds: Vec<u32> = chosen.keys().copied().collect();
    let closure = match catalog::closure(&mut conn.client, &seeds) {
        Ok(c) => c,
        Err(e) => return Err(catalog_err(e, &mut conn)),
    };
    let mut wanted: Vec<u32> = closure.members.iter().copied().collect();
    wanted.extend(kept.iter().map(|k| k.oid));
    wanted.sort_unstable();
    wanted.dedup();
    let relations = match catalog::relations(&mut conn.client, &wanted) {
        Ok(r) => r,
        Err(e) => return Err(catalog_err(e, &mut conn)),
    };
    let members: Vec<u32> = closure.members.iter().copied().collect();
    let sequences = match catalog::sequences(&mut conn.client, &members) {
        Ok(s) => s,
        Err(e) => return Err(catalog_err(e, &mut conn)),
    };
    let plan = plan::build(&chosen, &kept, &closure, &relations, &sequences);
    fill_report(report, &plan);
    for w in &plan.warnings {
        out.warn(w);
    }

    // Guards: each refuses with nothing touched.
    if !plan.cascade_paths.is_empty() && (plan.reaches_protected || !cli.allow_cascade) {
        // The message names a few; error.cascade_paths has every one.
        const SHOWN: usize = 3;
        let mut list: Vec<String> = plan
            .cascade_paths
            .iter()
            .take(SHOWN)
            .map(|p| format!("{} ({}: {})", p.table, p.kept_because, p.path))
            .collect();
        if plan.cascade_paths.len() > SHOWN {
            list.push(format!(
                "and {} more (error.cascade_paths lists every path)",
                plan.cascade_paths.len() - SHOWN
            ));
        }
        let what_to_do = if plan.reaches_protected {
            "a table protected by --except or migration bookkeeping is never truncated, not even with --allow-cascade: drop the tables that reference it from the set"
        } else {
            "add those tables to the set, or pass --allow-cascade to truncate them too"
        };
        return Err(ToolError::refused(format!(
            "TRUNCATE would cascade into {} table(s) outside the chosen set: {}; nothing was truncated: {what_to_do}",
            plan.cascade_paths.len(),
            list.join("; ")
        ))
        .with("cascade_paths", &plan.cascade_paths));
    }
    if !plan.no_truncate_privilege.is_empty() {
        return Err(ToolError::permission(format!(
            "role {} has no TRUNCATE privilege on {}: GRANT TRUNCATE ON those tables TO {}, or connect as their owner; nothing was truncated",
            session.user,
            plan.no_truncate_privilege.join(", "),
            session.user
        ))
        .with("tables", &plan.no_truncate_privilege)
        .with("role", &session.user));
    }
    if !plan.sequences_not_owned_by_role.is_empty() {
        return Err(ToolError::permission(format!(
            "RESTART IDENTITY needs role {} to own the sequences {}: connect as their owner; nothing was truncated",
            session.user,
            plan.sequences_not_owned_by_role.join(", ")
        ))
        .with("sequences", &plan.sequences_not_owned_by_role)
        .with("role", &session.user));
    }
    if let Some(signal) = interrupt.received() {
        return Err(interrupted_error(signal, &[], &relations));
    }

    if cli.dry_run {
        report.bytes_freed = Some(
            report
                .truncated
                .iter()
                .chain(&report.cascaded)
                .map(|e| e.bytes_before)
                .sum(),
        );
        return Ok(plan.would_change);
    }
    if plan.roots.is_empty() {
        // Never send `TRUNCATE` with an empty list (`TRUNCATE cascade;` empties a table).
        let w = "nothing to truncate: every chosen table is missing or excepted";
        out.warn(w);
        report.warnings.push(w.into());
        report.bytes_freed = Some(0);
        return Ok(false);
    }

    if !plan.would_change {
        // Already empty with fresh sequences: no locks taken on a live application.
        out.progress("every table is already empty and its sequences fresh: nothing to do");
        for e in report.truncated.iter_mut().chain(&mut report.cascaded) {
            e.bytes_after = Some(e.bytes_before);
        }
        report.statement = None;
        report.bytes_freed = Some(0);
        return Ok(false);
    }

    let table_list = plan
        .roots
        .iter()
        .filter_map(|o| relations.get(o).map(|r| r.name.sql()))
        .collect::<Vec<_>>()
        .join(", ");
    out.progress(&format!(
        "truncating {} table(s) in {}",
        plan.roots.len(),
        target.display_url()
    ));
    let act = Act {
        table_list,
        seeds: &seeds,
        members: &closure.members,
        lock_timeout: cli.lock_timeout,
        statement_timeout,
    };
    if let Err(e) = truncate::execute(&mut conn, session.pid, &act, &interrupt) {
        return Err(act_error(
            e,
            &relations,
            cli.lock_timeout,
            statement_timeout,
        ));
    }
    if interrupt.received().is_some() {
        let w = "an interrupt arrived after the TRUNCATE had committed: the tables were emptied";
        out.warn(w);
        report.warnings.push(w.into());
    }

    // Sizes after the commit (inside the transaction the new files already look small).
    match catalog::sizes(&mut conn.client, &members) {
        Ok(after) => {
            let mut freed = 0;
            for (entries, plan_entries) in [
                (&mut report.truncated, &plan.truncated),
                (&mut report.cascaded, &plan.cascaded),
            ] {
                for (entry, planned) in entries.iter_mut().zip(plan_entries) {
                    let bytes_after: i64 = planned
                        .relations
                        .iter()
                        .map(|o| after.get(o).copied().unwrap_or(0))
                        .sum();
                    entry.bytes_after = Some(bytes_after);
                    freed += (entry.bytes_before - bytes_after).max(0);
                }
            }
            report.bytes_freed = Some(freed);
        }
        Err(e) => {
            let w = format!(
                "the tables were truncated, but their sizes afterwards could not be read: {}",
                connect::error_chain(&e)
            );
            out.warn(&w);
            report.warnings.push(w);
        }
    }
    Ok(plan.would_change)
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

fn fill_report(report: &mut Report, plan: &Plan) {
    report.statement = plan.statement.clone();
    report.truncated = plan.truncated.iter().map(TableEntry::from).collect();
    report.cascaded = plan.cascaded.iter().map(TableEntry::from).collect();
    report.kept = plan.kept.iter().map(TableEntry::from).collect();
    report.sequences_reset = plan.sequences_reset.clone();
    report.sequences_not_reset = plan.sequences_not_reset.clone();
    report.warnings.extend(plan.warnings.iter().cloned());
}

/// A failed catalogue query, in the contract's kinds.
fn catalog_error(
    err: postgres::Error,
    conn: &mut Connection,
    interrupt: &interrupt::Interrupt,
    db: &str,
    lock_timeout: Duration,
) -> ToolError {
    if let Some(signal) = interrupt.received() {
        return ToolError::busy(format!(
            "interrupted by {signal} while reading the catalog of {db}: nothing was truncated"
        ))
        .with("interrupted", signal);
    }
    match err.code() {
        Some(&SqlState::LOCK_NOT_AVAILABLE) => {
            // A size lookup waited behind an ACCESS EXCLUSIVE lock (e.g. a migration).
            let holders = catalog::lock_holders(&mut conn.client, &[]).unwrap_or_default();
            ToolError::busy(format!(
                "reading table sizes in {db} waited longer than --lock-timeout {} for a lock (a schema change in progress?): retry with a longer --lock-timeout; nothing was truncated",
                format_duration(lock_timeout)
            ))
            .with("blockers", holders)
        }
        Some(&SqlState::QUERY_CANCELED) => ToolError::busy(format!(
            "a catalog query on {db} ran past the statement timeout: retry with a longer --statement-timeout; nothing was truncated"
        )),
        _ => db_error(&err, &format!("reading the catalog of {db}")),
    }
}

fn db_error(err: &postgres::Error, doing: &str) -> ToolError {
    let detail = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => connect::error_chain(err),
    };
    let code = err.code().map(|c| c.code().to_string());
    let e = match err.code() {
        Some(&SqlState::INSUFFICIENT_PRIVILEGE) => ToolError::permission(format!(
            "{doing}: {detail}: connect as a role with the privilege; nothing was truncated"
        )),
        Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {
            ToolError::busy(format!("{doing}: {detail}: retry; nothing was truncated"))
        }
        Some(&SqlState::READ_ONLY_SQL_TRANSACTION) => ToolError::refused(format!(
            "{doing}: {detail}: the server is read-only; nothing was truncated"
        )),
        _ => ToolError::failed(format!("{doing}: {detail}; nothing was truncated")),
    };
    match code {
        Some(c) => e.with("sqlstate", c),
        None => e,
    }
}

fn name_blockers(
    blockers: &[Blocker],
    relations: &HashMap<u32, catalog::Relation>,
) -> Vec<Blocker> {
    blockers
        .iter()
        .cloned()
        .map(|mut b| {
            b.table = b
                .table_oid
                .and_then(|o| relations.get(&o))
                .map(|r| r.name.to_string());
            b
        })
        .collect()
}

/// "pid 4121 (cornice, idle in transaction for 3m)"
fn describe_blocker(b: &Blocker) -> String {
    let who = b
        .application_name
        .clone()
        .filter(|a| !a.is_empty())
        .or_else(|| b.user.clone())
        .unwrap_or_else(|| "unknown".into());
    let state = b.state.clone().unwrap_or_else(|| "unknown state".into());
    let age = b
        .state_age_s
        .or(b.transaction_age_s)
        .map(|s| format!(" for {}", human_age(Duration::from_secs_f64(s.max(0.0)))))
        .unwrap_or_default();
    format!("pid {} ({who}, {state}{age})", b.pid)
}

fn interrupted_error(
    signal: &str,
    blockers: &[Blocker],
    relations: &HashMap<u32, catalog::Relation>,
) -> ToolError {
    let blockers = name_blockers(blockers, relations);
    let waiting = blockers
        .first()
        .map(|b| format!(" while waiting for a lock held by {}", describe_blocker(b)))
        .unwrap_or_default();
    ToolError::busy(format!(
        "interrupted by {signal}{waiting}: the statement was cancelled and rolled back; nothing was truncated"
    ))
    .with("interrupted", signal)
    .with("blockers", blockers)
}

fn act_error(
    err: ActError,
    relations: &HashMap<u32, catalog::Relation>,
    lock_timeout: Duration,
    statement_timeout: Duration,
) -> ToolError {
    match err {
        ActError::Locked { blockers } => {
            let blockers = name_blockers(&blockers, relations);
            let message = match blockers.first() {
                Some(b) => {
                    let table = b
                        .table
                        .as_ref()
                        .map_or_else(|| "a table of the set".to_string(), |t| format!("table {t}"));
                    let more = match blockers.len() {
                        1 => String::new(),
                        n => format!(" and {} more session(s)", n - 1),
                    };
                    format!(
                        "{table} is locked by {}{more}: stop the service or retry with a longer --lock-timeout (waited {}); nothing was truncated",
                        describe_blocker(b),
                        format_duration(lock_timeout)
                    )
                }
                None => format!(
                    "the tables' locks were not granted within --lock-timeout {}: retry, or with a longer --lock-timeout; nothing was truncated",
                    format_duration(lock_timeout)
                ),
            };
            ToolError::busy(message)
                .with("blockers", blockers)
                .with("lock_timeout", format_duration(lock_timeout))
        }
        ActError::Interrupted { signal, blockers } => {
            interrupted_error(signal, &blockers, relations)
        }
        ActError::ClosureChanged { added, removed } => {
            let names = |oids: &[u32]| -> Vec<String> {
                oids.iter()
                    .map(|o| relations.get(o).map_or_else(|| format!("oid {o}"), |r| r.name.to_string()))
                    .collect()
            };
            ToolError::busy(
                "the tables a cascade would reach changed between the plan and the lock (a foreign key or partition was added or dropped): run again to plan afresh; nothing was truncated",
            )
            .with("added", names(&added))
            .with("removed", names(&removed))
        }
        ActError::StatementTimeout => ToolError::busy(format!(
            "the TRUNCATE ran past its statement timeout ({}): retry with a longer --statement-timeout; nothing was truncated",
            format_duration(statement_timeout)
        )),
        ActError::Db(e) => db_error(&e, "TRUNCATE failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use catalog::RelKind;

    #[test]
    fn blocker_description_reads_like_an_operator_would_say_it() {
        let b = Blocker {
            pid: 4121,
            user: Some("cornice".into()),
            application_name: Some("".into()),
            state: Some("idle in transaction".into()),
            transaction_age_s: Some(200.0),
            state_age_s: Some(180.2),
            query: Some("SELECT 1".into()),
            table: Some("public.requests".into()),
            table_oid: None,
        };
        assert_eq!(
            describe_blocker(&b),
            "pid 4121 (cornice, idle in transaction for 3m)"
        );
    }

    #[test]
    fn relkind_helpers() {
        assert!(RelKind::PartitionedTable.is_table());
        assert!(!RelKind::View.is_table());
        assert_eq!(RelKind::View.describe(), "a view");
    }
}
