//! Acting, in one transaction: [`lock`] takes ACCESS EXCLUSIVE on the planned tables
//! (recheck.rs then reads again, under those locks, everything the plan rested on), and
//! `finish` runs the planned statement, checks that it took exactly the planned tables
//! and sequences, and commits. The statement names every table and never says CASCADE
//! (the plan already names everything a cascade would reach; should the schema have
//! changed anyway, PostgreSQL refuses instead of silently widening the set).

use crate::catalog::{self, Blocker};
use crate::interrupt::Interrupt;
use pgconn::Connection;
use postgres::error::SqlState;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the watcher asks `pg_blocking_pids` who holds us up.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// How long the end of a lock wait waits for the watcher to finish its last poll.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// What taking the locks needs from the plan.
pub struct LockRequest<'a> {
    /// The closure's tables as the statement names them (quoted, comma-separated).
    pub table_list: String,
    /// The closure as planned (for the blocker report).
    pub members: &'a BTreeSet<u32>,
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    /// The transaction will wait for its caller between the statement and COMMIT
    /// (`--go-on-stdin`'s `lock`): the server's idle-in-transaction timeout must not end
    /// the session meanwhile (the caller bounds that wait, and ending its input rolls
    /// back).
    pub waits_for_caller: bool,
}

/// Work done inside the transaction once the tables are locked and re-checked, right
/// before the statement (the archive): an error rolls the transaction back.
pub(crate) trait BeforeTruncate {
    fn run(&mut self, client: &mut postgres::Client) -> Result<(), crate::archive::ArchiveError>;
    /// The transaction was rolled back after `run` succeeded: undo what `run` left.
    fn rolled_back(&mut self);
}

/// Why nothing was truncated.
#[derive(Debug)]
pub enum ActError {
    /// The locks were not granted within the lock timeout.
    Locked {
        blockers: Vec<Blocker>,
    },
    /// A signal cancelled the running statement.
    Interrupted {
        signal: &'static str,
        blockers: Vec<Blocker>,
    },
    /// Something the plan rested on is not so any more (a planned table is gone, or
    /// the statement took other relations than planned).
    Changed {
        changes: Vec<String>,
    },
    /// A statement ran past the statement timeout.
    StatementTimeout,
    Db(postgres::Error),
    /// The archive could not be written.
    Archive(crate::archive::ArchiveError),
    /// `--go-on-stdin`: the caller did not say `go` while the statement waited for
    /// COMMIT (or a signal came): the gate's own error.
    Gate(conventions::ToolError),
}

/// Between the statement and COMMIT: waits for the caller's word to commit
/// (`--go-on-stdin`); an error rolls the transaction back.
pub(crate) type BeforeCommit<'a> = &'a mut dyn FnMut() -> Result<(), conventions::ToolError>;

/// Opens the transaction and takes ACCESS EXCLUSIVE on every planned table. On `Ok` the
/// transaction is open and the locks held: the caller must `finish` or [`rollback`].
/// On any error it has been rolled back.
pub fn lock(
    conn: &mut Connection,
    session_pid: i32,
    req: &LockRequest<'_>,
    interrupt: &Interrupt,
) -> Result<(), ActError> {
    let members: Vec<u32> = req.members.iter().copied().collect();
    let mut begin = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'",
        req.lock_timeout.as_millis(),
        req.statement_timeout.as_millis()
    );
    if req.waits_for_caller {
        begin.push_str("; SET LOCAL idle_in_transaction_session_timeout = 0");
    }
    let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", req.table_list);

    // The usual case costs one round trip: nobody holds a conflicting lock.
    if let Err(first) = conn
        .client
        .batch_execute(&format!("{begin}; {lock} NOWAIT"))
    {
        rollback(conn);
        if first.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) {
            return Err(lock_failed(conn, first, Vec::new(), &members, interrupt));
        }
        if let Some(signal) = interrupt.received() {
            return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
        }
        // Someone holds a lock: wait for it, watching who blocks us meanwhile.
        let watcher = Watcher::start(conn, session_pid, members.clone());
        let waited = conn.client.batch_execute(&format!("{begin}; {lock}"));
        let blockers = watcher.stop();
        if let Err(e) = waited {
            rollback(conn);
            return Err(lock_failed(conn, e, blockers, &members, interrupt));
        }
    }
    if let Some(signal) = interrupt.received() {
        rollback(conn);
        return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
    }
    Ok(())
}

/// A LOCK that failed because a planned name no longer names a table changed under us.
fn lock_failed(
    conn: &mut Connection,
    err: postgres::Error,
    blockers: Vec<Blocker>,
    members: &[u32],
    interrupt: &Interrupt,
) -> ActError {
    let gone = matches!(
        err.code(),
        Some(&SqlState::UNDEFINED_TABLE) | Some(&SqlState::WRONG_OBJECT_TYPE)
    );
    match err.as_db_error() {
        Some(db) if gone && interrupt.received().is_none() => ActError::Changed {
            changes: vec![format!("a planned table is gone: {}", db.message())],
        },
        _ => fail(conn, err, blockers, members, interrupt),
    }
}

/// What the statement must do, from the verified plan.
pub struct Finish<'a> {
    /// Exactly the report's `statement`.
    pub statement: &'a str,
    /// Every table the statement empties (roots and their partitions and children).
    pub members: &'a BTreeSet<u32>,
    /// The sequences it resets.
    pub sequences: &'a BTreeSet<u32>,
}

/// Runs `before` (the archive) and the statement in the transaction [`lock`] opened,
/// checks the statement locked (so touched) exactly the planned tables and sequences,
/// waits for `before_commit` when there is one, and commits. On any error it has been
/// rolled back: nothing was touched, and what `before` wrote is undone, unless the
/// connection was lost while the COMMIT was on its way (its outcome is then unknown, and
/// the archive is kept).
pub(crate) fn finish(
    conn: &mut Connection,
    f: &Finish<'_>,
    interrupt: &Interrupt,
    mut before: Option<&mut dyn BeforeTruncate>,
    before_commit: Option<BeforeCommit<'_>>,
) -> Result<(), ActError> {
    let members: Vec<u32> = f.members.iter().copied().collect();
    if let Some(hook) = before.as_mut() {
        if let Err(e) = hook.run(&mut conn.client) {
            rollback(conn);
            if let Some(signal) = interrupt.received() {
                return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
            }
            return Err(ActError::Archive(e));
        }
    }
    let outcome = statement_and_commit(conn, f, interrupt, &members, before_commit);
    if let Err(Failure {
        error,
        commit_unknown,
    }) = outcome
    {
        if !commit_unknown {
            if let Some(hook) = before.as_mut() {
                hook.rolled_back();
            }
        }
        return Err(error);
    }
    interrupt.disarm();
    Ok(())
}

/// Why [`statement_and_commit`] did not commit, and whether it may have all the same.
struct Failure {
    error: ActError,
    /// The COMMIT was sent and the connection failed before its answer.
    commit_unknown: bool,
}

fn statement_and_commit(
    conn: &mut Connection,
    f: &Finish<'_>,
    interrupt: &Interrupt,
    members: &[u32],
    before_commit: Option<BeforeCommit<'_>>,
) -> Result<(), Failure> {
    let failed = |error| Failure {
        error,
        commit_unknown: false,
    };
    // An interrupt before the statement, or before COMMIT, rolls everything back.
    let stop_if_interrupted = |conn: &mut Connection| match interrupt.received() {
        Some(signal) => {
            rollback(conn);
            Err(failed(interrupted(
                conn,
                signal,
                Vec::new(),
                members,
                interrupt,
            )))
        }
        None => Ok(()),
    };
    stop_if_interrupted(conn)?;
    if let Err(e) = conn.client.batch_execute(f.statement) {
        rollback(conn);
        return Err(failed(fail(conn, e, Vec::new(), members, interrupt)));
    }
    // Every relation TRUNCATE empties and every sequence it or ALTER SEQUENCE resets is
    // locked by this transaction: names resolved to anything else (a schema renamed
    // since the re-check) show up here.
    let held = match catalog::held_locks(&mut conn.client) {
        Ok(h) => h,
        Err(e) => {
            rollback(conn);
            return Err(failed(fail(conn, e, Vec::new(), members, interrupt)));
        }
    };
    let changes = unplanned_locks(&held, f.members, f.sequences);
    if !changes.is_empty() {
        rollback(conn);
        return Err(failed(ActError::Changed { changes }));
    }
    if let Some(wait) = before_commit {
        if let Err(e) = wait() {
            // A signal there was the gate's to report; none may cancel the ROLLBACK.
            interrupt.disarm();
            rollback(conn);
            return Err(failed(ActError::Gate(e)));
        }
    }
    stop_if_interrupted(conn)?;
    if let Err(e) = conn.client.batch_execute("COMMIT") {
        let commit_unknown = e.as_db_error().is_none();
        rollback(conn);
        return Err(Failure {
            error: fail(conn, e, Vec::new(), members, interrupt),
            commit_unknown,
        });
    }
    Ok(())
}

/// The differences between the relations the statement locked and the planned ones.
pub fn unplanned_locks(
    held: &catalog::HeldLocks,
    tables: &BTreeSet<u32>,
    sequences: &BTreeSet<u32>,
) -> Vec<String> {
    let mut changes = Vec::new();
    differences(
        &held.tables,
        tables,
        [
            "reached tables the plan does not name",
            "did not reach planned tables",
        ],
        &mut changes,
    );
    differences(
        &held.sequences,
        sequences,
        [
            "reset sequences the plan does not name",
            "did not reset planned sequences",
        ],
        &mut changes,
    );
    changes
}

/// What `held` has beyond `planned`, and what it lacks, each said with its words.
fn differences(
    held: &BTreeSet<u32>,
    planned: &BTreeSet<u32>,
    [extra_words, missing_words]: [&str; 2],
    changes: &mut Vec<String>,
) {
    let list = |set: BTreeSet<&u32>| -> String {
        set.iter()
            .map(|o| format!("oid {o}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (set, words) in [
        (
            held.difference(planned).collect::<BTreeSet<_>>(),
            extra_words,
        ),
        (planned.difference(held).collect(), missing_words),
    ] {
        if !set.is_empty() {
            changes.push(format!("the statement {words} ({})", list(set)));
        }
    }
}

pub fn rollback(conn: &mut Connection) {
    // A cancel request still in flight must not hit the ROLLBACK; and should the
    // ROLLBACK fail, closing the session rolls back all the same.
    let _ = conn.client.batch_execute("ROLLBACK");
}

fn fail(
    conn: &mut Connection,
    err: postgres::Error,
    blockers: Vec<Blocker>,
    members: &[u32],
    interrupt: &Interrupt,
) -> ActError {
    if let Some(signal) = interrupt.received() {
        return interrupted(conn, signal, blockers, members, interrupt);
    }
    match err.code() {
        Some(&SqlState::LOCK_NOT_AVAILABLE) => ActError::Locked {
            blockers: or_lock_holders(conn, blockers, members),
        },
        Some(&SqlState::QUERY_CANCELED) => ActError::StatementTimeout,
        _ => ActError::Db(err),
    }
}

fn interrupted(
    conn: &mut Connection,
    signal: &'static str,
    blockers: Vec<Blocker>,
    members: &[u32],
    interrupt: &Interrupt,
) -> ActError {
    interrupt.disarm();
    rollback(conn);
    ActError::Interrupted {
        signal,
        blockers: or_lock_holders(conn, blockers, members),
    }
}

/// When the watcher saw nothing (a very short timeout), the sessions holding locks on
/// our tables are the blockers.
fn or_lock_holders(conn: &mut Connection, blockers: Vec<Blocker>, members: &[u32]) -> Vec<Blocker> {
    if !blockers.is_empty() {
        return blockers;
    }
    catalog::lock_holders(&mut conn.client, members).unwrap_or_default()
}

/// A second session that, while the main one waits for its locks, keeps the last
/// answer of `pg_blocking_pids` (which says nothing once the wait is over).
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Blocker>>>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    fn start(conn: &Connection, waiting_pid: i32, tables: Vec<u32>) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (config, tls) = (conn.config.clone(), conn.tls.clone());
        let (stop_w, seen_w) = (Arc::clone(&stop), Arc::clone(&seen));
        let thread = std::thread::Builder::new()
            .name("pgtruncate-blockers".into())
            .spawn(move || {
                let Ok(mut client) = tls.connect(&config) else {
                    return;
                };
                while !stop_w.load(Ordering::SeqCst) {
                    if let Ok(now) = catalog::blocking_sessions(&mut client, waiting_pid, &tables) {
                        if !now.is_empty() {
                            *seen_w.lock().unwrap_or_else(|e| e.into_inner()) = now;
                        }
                    }
                    std::thread::sleep(WATCH_EVERY);
                }
            })
            .ok();
        Watcher { stop, seen, thread }
    }

    /// Stops watching; returns the last blockers seen. A watcher still stuck in its own
    /// connect (a server that stopped answering) is left behind rather than waited for.
    fn stop(mut self) -> Vec<Blocker> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + STOP_WAIT;
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_beyond_or_short_of_the_plan_are_named() {
        let planned_tables = BTreeSet::from([1, 2]);
        let planned_seqs = BTreeSet::from([10]);
        let exact = catalog::HeldLocks {
            tables: planned_tables.clone(),
            sequences: planned_seqs.clone(),
        };
        assert!(unplanned_locks(&exact, &planned_tables, &planned_seqs).is_empty());
        // A name that resolved elsewhere: table 3 emptied instead of 2, sequence 11 reset.
        let swapped = catalog::HeldLocks {
            tables: BTreeSet::from([1, 3]),
            sequences: BTreeSet::from([10, 11]),
        };
        assert_eq!(
            unplanned_locks(&swapped, &planned_tables, &planned_seqs),
            vec![
                "the statement reached tables the plan does not name (oid 3)",
                "the statement did not reach planned tables (oid 2)",
                "the statement reset sequences the plan does not name (oid 11)",
            ]
        );
    }
}
