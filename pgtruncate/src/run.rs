//! A run, phase by phase: arguments checked, connected, the plan gathered (gather.rs),
//! the guards, the locks and the re-check under them (recheck.rs), the statement and the
//! commit, the sizes after. Each phase returns before anything is touched when it
//! refuses.

use crate::catalog::{self, SessionInfo};
use crate::errors::{act_error, catalog_error, interrupted_error};
use crate::gate::{Gate, Word};
use crate::gather::{self, Facts};
use crate::interrupt::Interrupt;
use crate::names::QualifiedName;
use crate::plan::Plan;
use crate::preset::{self, Profile, Selection};
use crate::recheck::{self, Verified};
use crate::report::{Report, TableEntry};
use crate::truncate::{self, BeforeCommit, Finish};
use crate::{is_system_schema, resolve_target, Cli};
use conventions::{Output, ToolError};
use pgconn::{ConnTarget, Connection};
use postgres::Client;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// PostgreSQL's timeouts are int milliseconds.
const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// The longest pgtruncate waits for one host to answer; a larger `connect_timeout` is
/// lowered to it with a warning.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// How often the main thread looks for a signal while the connection is being opened.
const CONNECT_POLL: Duration = Duration::from_millis(50);

/// Everything but the envelope. Returns whether something changed (or would).
pub(crate) fn execute(
    cli: &Cli,
    out: &Output,
    report: &mut Report,
    started: &mut Instant,
) -> Result<bool, ToolError> {
    let args = Args::check(cli)?;
    // An archive to put back is read and checked whole before anything connects.
    let undo = cli
        .undo
        .as_deref()
        .map(|path| crate::archive::undo::Checked::open(path, report))
        .transpose()?;
    if let Some((profile, sel)) = &args.preset {
        report.preset = Some(profile.name.clone());
        report.profile = Some(preset::info(profile));
        report.groups = sel.groups.clone();
    }
    let interrupt = Interrupt::install()
        .map_err(|e| ToolError::failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let mut db = connect_to_target(cli, &args, out, report, &interrupt)?;
    let session = db.query(catalog::session_info)?;
    if session.in_recovery {
        return Err(ToolError::refused(format!(
            "{} is a hot standby (in recovery) and cannot be written: run pgtruncate against the primary; nothing was truncated",
            db.url
        )));
    }
    if let Some(archive) = undo {
        let options = crate::archive::undo::Options {
            lock_timeout: args.lock_timeout,
            statement_timeout: args.statement_timeout,
            dry_run: cli.dry_run,
            allow_triggers: cli.allow_triggers,
        };
        return archive.restore(&mut db.conn, &interrupt, &options, out, report);
    }
    let planned = gather::gather(&mut db, &args)?;
    if let Some(e) = planned.name_problems(&db.url) {
        return Err(e);
    }
    report.missing = planned.listing.missing.clone();
    report.unclassified = planned.listing.unclassified.clone();
    let plan = &planned.plan;
    fill_report(report, plan);
    for w in &plan.warnings {
        out.warn(w);
    }
    check_guards(cli, plan, &planned.facts, &session)?;
    if cli.allow_triggers {
        for w in trigger_warnings(&planned.facts) {
            out.warn(&w);
            report.warnings.push(w);
        }
    }
    let mut archive = crate::archive::write::prepare(
        cli,
        &mut db.conn.client,
        &db.url,
        plan,
        &planned.facts.sequences,
        (out, report),
    )?;
    if let Some(signal) = interrupt.received() {
        return Err(interrupted_error(signal, &[], &planned.facts.relations));
    }
    if let Some(changed) = finish_without_acting(cli, out, report, plan) {
        return Ok(changed);
    }
    let mut gate = cli.go_on_stdin.then(|| Gate::new(&interrupt, started));
    let word = gate.as_mut().map(Gate::first).transpose()?;

    out.progress(&format!(
        "truncating {} table(s) in {}",
        plan.roots.len(),
        db.url
    ));
    let waits_for_go = word == Some(Word::Lock);
    let verified = recheck::lock_and_recheck(&mut db, &args, &session, &planned, waits_for_go)?;
    // The transaction is open, the locks held, the plan verified: the archive is written
    // inside it, right before the statement.
    let mut wait_for_go = gate
        .as_mut()
        .filter(|_| waits_for_go)
        .map(|gate| move || gate.commit());
    act(
        &mut db,
        &args,
        &verified,
        archive.as_mut(),
        wait_for_go.as_mut().map(|w| w as BeforeCommit<'_>),
    )?;
    if let Some(job) = &archive {
        report.archive = job.report();
    }
    if interrupt.received().is_some() {
        let w = "an interrupt arrived after the TRUNCATE had committed: the tables were emptied";
        out.warn(w);
        report.warnings.push(w.into());
    }
    measure_after(&mut db.conn.client, out, report, plan);
    Ok(plan.would_change)
}

/// The arguments, checked before anything else: a usage error touches nothing, not even
/// the network.
pub(crate) struct Args {
    pub named: Vec<QualifiedName>,
    pub excepted: Vec<QualifiedName>,
    /// `--preset`: the profile and what the include flags select from it.
    pub preset: Option<(Profile, Selection)>,
    /// `--schema`, else the profile's, else public.
    pub schema: String,
    pub lock_timeout: Duration,
    /// `--lock-timeout` plus `--statement-timeout`, so the lock wait never trips it.
    pub statement_timeout: Duration,
}

impl Args {
    fn check(cli: &Cli) -> Result<Args, ToolError> {
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
        if cli.tables.is_empty() && cli.preset.is_none() && cli.undo.is_none() {
            return Err(ToolError::usage(
                "nothing to truncate: name the tables, or choose a --preset (built in: cornice)",
            ));
        }
        if cli.preset.is_none()
            && (!cli.include.is_empty() || cli.include_opportunities || cli.include_auth)
        {
            return Err(ToolError::usage(
                "--include, --include-opportunities and --include-auth choose a profile's groups: add --preset NAME|FILE (built in: cornice)",
            ));
        }
        if cli.schema.as_deref() == Some("") {
            return Err(ToolError::usage(
                "--schema is empty: give a schema name such as public",
            ));
        }
        let preset = preset::load(cli)?;
        let schema = match (&cli.schema, &preset) {
            (Some(s), _) => s.clone(),
            (None, Some((p, _))) => p.tables.schema.clone(),
            (None, None) => profile::DEFAULT_SCHEMA.to_string(),
        };
        if preset.is_some() && is_system_schema(&schema) {
            return Err(ToolError::refused(format!(
                "schema {schema} (--schema, else the profile's) is a system schema, which no preset ever truncates: give the application's schema; nothing was truncated"
            )));
        }
        let parse_all = |list: &[String]| -> Result<Vec<QualifiedName>, ToolError> {
            list.iter()
                .map(|t| QualifiedName::parse(t, &schema).map_err(ToolError::usage))
                .collect()
        };
        let named = parse_all(&cli.tables)?;
        let excepted = parse_all(&cli.except)?;
        if let Some(sys) = named.iter().find(|n| is_system_schema(&n.schema)) {
            return Err(ToolError::refused(format!(
                "{sys} is in a system schema, which pgtruncate never truncates; nothing was truncated"
            )));
        }
        Ok(Args {
            named,
            excepted,
            preset,
            schema,
            lock_timeout: cli.lock_timeout,
            statement_timeout,
        })
    }

    /// Startup options (`-c name=value`, after any the URL carries, so these win over
    /// the URL's and over `ALTER DATABASE/ROLE ... SET`): in force from the first query.
    fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "lock_timeout",
                format!("{}ms", self.lock_timeout.as_millis()),
            ),
            (
                "statement_timeout",
                format!("{}ms", self.statement_timeout.as_millis()),
            ),
            // Nothing a database owner plants in another schema is found by name.
            ("search_path", "pg_catalog".into()),
        ]
    }
}

/// The session, with catalogue failures mapped to the contract's kinds.
pub(crate) struct Db<'a> {
    pub conn: Connection,
    pub interrupt: &'a Interrupt,
    /// The connection as a URL without password, for messages.
    pub url: String,
    pub lock_timeout: Duration,
}

impl Db<'_> {
    pub fn query<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, ToolError> {
        match f(&mut self.conn.client) {
            Ok(v) => Ok(v),
            Err(e) => Err(catalog_error(
                e,
                &mut self.conn,
                self.interrupt,
                &self.url,
                self.lock_timeout,
            )),
        }
    }
}

/// Resolves the connection, bounds its timeout, and opens it so that a signal ends the
/// wait at once.
fn connect_to_target<'a>(
    cli: &Cli,
    args: &Args,
    out: &Output,
    report: &mut Report,
    interrupt: &'a Interrupt,
) -> Result<Db<'a>, ToolError> {
    let mut target = resolve_target(cli, out, report)?;
    if target.connect_timeout > MAX_CONNECT_TIMEOUT {
        let w = format!(
            "connect_timeout {}s is above pgtruncate's maximum of {}s: waiting {}s per host",
            target.connect_timeout.as_secs(),
            MAX_CONNECT_TIMEOUT.as_secs(),
            MAX_CONNECT_TIMEOUT.as_secs()
        );
        out.warn(&w);
        report.warnings.push(w);
        target.connect_timeout = MAX_CONNECT_TIMEOUT;
    }
    let url = target.display_url();
    report.database = Some(url.clone());
    let conn = connect_interruptibly(&target, args.settings(), interrupt)?;
    interrupt.arm(conn.client.cancel_token(), conn.tls.clone());
    Ok(Db {
        conn,
        interrupt,
        url,
        lock_timeout: args.lock_timeout,
    })
}

/// The driver's connect blocks, and its timeout covers only the TCP connect, not a
/// server that accepts and never answers: connect on a worker thread and wait for it, a
/// signal, or `connect_timeout` per host, whichever comes first. A worker left behind
/// ends with the process.
fn connect_interruptibly(
    target: &ConnTarget,
    settings: Vec<(&'static str, String)>,
    interrupt: &Interrupt,
) -> Result<Connection, ToolError> {
    let url = target.display_url();
    let (tx, rx) = mpsc::channel();
    let worker_target = target.clone();
    std::thread::Builder::new()
        .name("pgtruncate-connect".into())
        .spawn(move || {
            let _ = tx.send(worker_target.connect(&settings));
        })
        .map_err(|e| ToolError::failed(format!("cannot start connecting to {url}: {e}")))?;
    let hosts = u32::try_from(target.hosts.len().max(1)).unwrap_or(u32::MAX);
    let allowed = target.connect_timeout.saturating_mul(hosts);
    let deadline = Instant::now() + allowed;
    loop {
        match rx.recv_timeout(CONNECT_POLL) {
            Ok(result) => return result,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(ToolError::failed(format!(
                    "cannot connect to {url}: the connection attempt ended without a result; nothing was truncated"
                )))
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        if let Some(signal) = interrupt.received() {
            return Err(ToolError::busy(format!(
                "interrupted by {signal} while connecting to {url}: nothing was truncated"
            ))
            .with("interrupted", signal));
        }
        if Instant::now() >= deadline {
            return Err(ToolError::failed(format!(
                "cannot connect to {url}: no answer within {}s (connect_timeout {}s per host): check that the server runs and accepts connections there; nothing was truncated",
                allowed.as_secs(),
                target.connect_timeout.as_secs()
            )));
        }
    }
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

/// The guards: each refuses with nothing touched.
fn check_guards(
    cli: &Cli,
    plan: &Plan,
    facts: &Facts,
    session: &SessionInfo,
) -> Result<(), ToolError> {
    if !plan.cascade_paths.is_empty() && (plan.reaches_protected || !cli.allow_cascade) {
        return Err(cascade_refusal(plan));
    }
    if !plan.foreign_tables.is_empty() {
        return Err(ToolError::refused(format!(
            "TRUNCATE would reach foreign table(s) {}: their data lives on another server, which the foreign data wrapper would empty with this session's user mapping; nothing was truncated: leave them out, or detach them from the set",
            plan.foreign_tables.join(", ")
        ))
        .with("foreign_tables", &plan.foreign_tables));
    }
    if facts.firing_triggers().next().is_some() && !cli.allow_triggers {
        return Err(trigger_refusal(facts, session));
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
    Ok(())
}

fn cascade_refusal(plan: &Plan) -> ToolError {
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
        "a table protected by --except, migration bookkeeping or an extension is never truncated, not even with --allow-cascade: drop the tables that reach it from the set"
    } else {
        "add those tables to the set, or pass --allow-cascade to truncate them too"
    };
    ToolError::refused(format!(
        "TRUNCATE would cascade into {} table(s) outside the chosen set: {}; nothing was truncated: {what_to_do}",
        plan.cascade_paths.len(),
        list.join("; ")
    ))
    .with("cascade_paths", &plan.cascade_paths)
}

#[derive(serde::Serialize)]
struct TriggerEntry {
    table: String,
    trigger: String,
    function: String,
}

fn trigger_entries(facts: &Facts) -> Vec<TriggerEntry> {
    facts
        .firing_triggers()
        .map(|t| TriggerEntry {
            table: facts.table_name(t.table),
            trigger: t.trigger.clone(),
            function: t.function.clone(),
        })
        .collect()
}

fn describe_triggers(entries: &[TriggerEntry]) -> String {
    entries
        .iter()
        .map(|t| {
            format!(
                "table {} has ON TRUNCATE trigger {} running {}",
                t.table, t.trigger, t.function
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn trigger_refusal(facts: &Facts, session: &SessionInfo) -> ToolError {
    let entries = trigger_entries(facts);
    ToolError::refused(format!(
        "{}: a trigger's function runs with this session's rights (role {}); nothing was truncated: review the function, then drop or disable the trigger, or pass --allow-triggers to run it",
        describe_triggers(&entries),
        session.user
    ))
    .with("triggers", &entries)
}

fn trigger_warnings(facts: &Facts) -> Vec<String> {
    let entries = trigger_entries(facts);
    if entries.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "{} (--allow-triggers: they run with this session's rights)",
        describe_triggers(&entries)
    )]
}

/// A dry run, an empty set, or nothing to empty: the report is complete without a
/// transaction. `None` when the TRUNCATE must run.
fn finish_without_acting(
    cli: &Cli,
    out: &Output,
    report: &mut Report,
    plan: &Plan,
) -> Option<bool> {
    if cli.dry_run {
        report.bytes_freed = Some(
            report
                .truncated
                .iter()
                .chain(&report.cascaded)
                .map(|e| e.bytes_before)
                .sum(),
        );
        return Some(plan.would_change);
    }
    if plan.roots.is_empty() {
        // Never send `TRUNCATE` with an empty list (`TRUNCATE cascade;` empties a table).
        let w = "nothing to truncate: every chosen table is missing or excepted";
        out.warn(w);
        report.warnings.push(w.into());
        report.bytes_freed = Some(0);
        return Some(false);
    }
    if !plan.would_change {
        // Already empty with fresh sequences: no locks taken on a live application.
        out.progress("every table is already empty and its sequences fresh: nothing to do");
        for e in report.truncated.iter_mut().chain(&mut report.cascaded) {
            e.bytes_after = Some(e.bytes_before);
        }
        report.statement = None;
        report.bytes_freed = Some(0);
        return Some(false);
    }
    None
}

/// The statement and the commit, in the transaction the re-check left open.
fn act(
    db: &mut Db<'_>,
    args: &Args,
    verified: &Verified,
    archive: Option<&mut crate::archive::write::Job>,
    before_commit: Option<BeforeCommit<'_>>,
) -> Result<(), ToolError> {
    let now = &verified.gathered;
    let Some(statement) = now.plan.statement.as_deref() else {
        truncate::rollback(&mut db.conn);
        return Ok(());
    };
    let finish = Finish {
        statement,
        members: &now.facts.closure.members,
        sequences: &now.plan.reset_oids,
    };
    let hook = archive.map(|j| j as &mut dyn truncate::BeforeTruncate);
    truncate::finish(&mut db.conn, &finish, db.interrupt, hook, before_commit).map_err(|e| {
        act_error(
            e,
            &now.facts.relations,
            args.lock_timeout,
            args.statement_timeout,
        )
    })
}

/// Sizes after the commit (inside the transaction the new files already look small).
fn measure_after(client: &mut Client, out: &Output, report: &mut Report, plan: &Plan) {
    match catalog::sizes(client, &plan.members) {
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
                pgconn::error_chain(&e)
            );
            out.warn(&w);
            report.warnings.push(w);
        }
    }
}
