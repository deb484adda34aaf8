//! Acting: one transaction that locks the closure, checks it is still the planned one,
//! and runs one TRUNCATE naming every table, with RESTART IDENTITY and without CASCADE
//! (the plan already names everything a cascade would reach; should the schema have
//! changed anyway, PostgreSQL refuses instead of silently widening the set).

use crate::catalog::{self, Blocker};
use crate::connect::Connection;
use crate::interrupt::Interrupt;
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

/// What the transaction needs from the plan.
pub struct Act<'a> {
    /// The closure's tables as the statement names them (quoted, comma-separated).
    pub table_list: String,
    /// The chosen tables the closure is computed from.
    pub seeds: &'a [u32],
    /// The closure as planned.
    pub members: &'a BTreeSet<u32>,
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
}

/// Work done inside the transaction once the closure is locked and re-checked, right
/// before the TRUNCATE (the archive): an error rolls the transaction back.
pub(crate) trait BeforeTruncate {
    fn run(&mut self, client: &mut postgres::Client) -> Result<(), crate::archive::ArchiveError>;
    /// The TRUNCATE was rolled back after `run` succeeded: undo what `run` left.
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
    /// A foreign key or partition was added or removed between plan and lock.
    ClosureChanged {
        added: Vec<u32>,
        removed: Vec<u32>,
    },
    /// A statement ran past the statement timeout.
    StatementTimeout,
    Db(postgres::Error),
    /// The archive could not be written.
    Archive(crate::archive::ArchiveError),
}

/// Runs the transaction. On any error it has been rolled back: nothing was touched.
pub(crate) fn execute(
    conn: &mut Connection,
    session_pid: i32,
    act: &Act<'_>,
    interrupt: &Interrupt,
    mut before: Option<&mut dyn BeforeTruncate>,
) -> Result<(), ActError> {
    let members: Vec<u32> = act.members.iter().copied().collect();
    let begin = format!(
        "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'",
        act.lock_timeout.as_millis(),
        act.statement_timeout.as_millis()
    );
    let lock = format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", act.table_list);

    // The usual case costs one round trip: nobody holds a conflicting lock.
    if let Err(first) = conn
        .client
        .batch_execute(&format!("{begin}; {lock} NOWAIT"))
    {
        rollback(conn);
        if first.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) {
            return Err(fail(conn, first, Vec::new(), &members, interrupt));
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
            return Err(fail(conn, e, blockers, &members, interrupt));
        }
    }
    if let Some(signal) = interrupt.received() {
        rollback(conn);
        return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
    }

    // With the locks held nobody can add a foreign key into, or a partition to, the
    // closure: check that nobody did since the plan.
    let now = match catalog::closure(&mut conn.client, act.seeds) {
        Ok(c) => c.members,
        Err(e) => {
            rollback(conn);
            return Err(fail(conn, e, Vec::new(), &members, interrupt));
        }
    };
    if now != *act.members {
        rollback(conn);
        return Err(ActError::ClosureChanged {
            added: now.difference(act.members).copied().collect(),
            removed: act.members.difference(&now).copied().collect(),
        });
    }
    if let Some(signal) = interrupt.received() {
        rollback(conn);
        return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
    }

    if let Some(hook) = before.as_mut() {
        if let Err(e) = hook.run(&mut conn.client) {
            rollback(conn);
            if let Some(signal) = interrupt.received() {
                return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
            }
            return Err(ActError::Archive(e));
        }
        if let Some(signal) = interrupt.received() {
            rollback(conn);
            hook.rolled_back();
            return Err(interrupted(conn, signal, Vec::new(), &members, interrupt));
        }
    }

    // TRUNCATE and COMMIT in one message: a failing TRUNCATE skips the COMMIT.
    let statement = format!("TRUNCATE TABLE {} RESTART IDENTITY; COMMIT", act.table_list);
    if let Err(e) = conn.client.batch_execute(&statement) {
        rollback(conn);
        // The server refused: the transaction is rolled back. (A lost connection leaves
        // the COMMIT's outcome unknown, and what the hook wrote with it.)
        if e.as_db_error().is_some() {
            if let Some(hook) = before.as_mut() {
                hook.rolled_back();
            }
        }
        return Err(fail(conn, e, Vec::new(), &members, interrupt));
    }
    interrupt.disarm();
    Ok(())
}

fn rollback(conn: &mut Connection) {
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
