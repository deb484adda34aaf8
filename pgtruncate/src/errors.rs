//! Failures in the contract's kinds, with messages that name the table, the session
//! or the timeout and say what to do.

use crate::catalog::{self, Blocker, Relation};
use crate::interrupt::Interrupt;
use crate::truncate::ActError;
use conventions::duration::{format_duration, human_age};
use conventions::ToolError;
use pgconn::Connection;
use postgres::error::SqlState;
use std::collections::HashMap;
use std::time::Duration;

/// A failed catalogue query, in the contract's kinds.
pub(crate) fn catalog_error(
    err: postgres::Error,
    conn: &mut Connection,
    interrupt: &Interrupt,
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

pub(crate) fn db_error(err: &postgres::Error, doing: &str) -> ToolError {
    let detail = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => pgconn::error_chain(err),
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

fn name_blockers(blockers: &[Blocker], relations: &HashMap<u32, Relation>) -> Vec<Blocker> {
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

pub(crate) fn interrupted_error(
    signal: &str,
    blockers: &[Blocker],
    relations: &HashMap<u32, Relation>,
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

pub(crate) fn act_error(
    err: ActError,
    relations: &HashMap<u32, Relation>,
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
        ActError::Changed { changes } => changed_error(&changes, &[], &[]),
        ActError::StatementTimeout => ToolError::busy(format!(
            "the TRUNCATE ran past its statement timeout ({}): retry with a longer --statement-timeout; nothing was truncated",
            format_duration(statement_timeout)
        )),
        ActError::Db(e) => db_error(&e, "TRUNCATE failed"),
        ActError::Archive(e) => e.into_tool_error(),
        ActError::Gate(e) => e,
    }
}

/// Something the plan rested on changed between the plan and the locks (or the statement
/// took other relations than planned): refused, rolled back. `added` and `removed` name
/// the tables that joined or left the closure, when that is what changed.
pub(crate) fn changed_error(changes: &[String], added: &[String], removed: &[String]) -> ToolError {
    let e = ToolError::refused(format!(
        "the database changed between the plan and the locks: {}; rolled back, nothing was truncated: run pgtruncate again, it will plan afresh",
        changes.join("; ")
    ))
    .with("changes", changes);
    if added.is_empty() && removed.is_empty() {
        return e;
    }
    e.with("added", added).with("removed", removed)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
