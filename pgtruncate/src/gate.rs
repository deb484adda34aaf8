//! `--go-on-stdin`: the plan is made and every guard passed, but nothing is locked until
//! the caller says so on standard input, one line at a time:
//! - `lock` (optional, first): take the locks, re-check, write the archive and run the
//!   statement, everything but COMMIT, then wait for `go` with the transaction open;
//! - `go`: do what is left, then COMMIT.
//!
//! A caller with other steps to finish first (holdctl disables the units) starts it early,
//! says `lock` once nothing writes to the tables any more and `go` once its steps
//! succeeded. If they fail, or the caller dies, the input ends without `go` and pgtruncate
//! rolls back: nothing is emptied until `go`.

use crate::interrupt::Interrupt;
use conventions::ToolError;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::time::Instant;

/// How often the wait looks for a signal.
const POLL_MS: u16 = 50;

/// The longest line the caller may write (`lock`, `go`).
const MAX_LINE: usize = 16;

/// What the caller said first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Word {
    /// Everything but COMMIT, then wait for `go`.
    Lock,
    /// Everything, COMMIT included.
    Go,
}

/// Where the run waits, for the messages: what is true of the database there.
#[derive(Clone, Copy)]
enum Waiting {
    BeforeLocks,
    BeforeCommit,
}

impl Waiting {
    fn word(self) -> &'static str {
        match self {
            Waiting::BeforeLocks => "`lock` or `go`",
            Waiting::BeforeCommit => "`go`",
        }
    }

    fn state(self) -> &'static str {
        match self {
            Waiting::BeforeLocks => "nothing was locked or truncated",
            Waiting::BeforeCommit => "the statement was rolled back: nothing was truncated",
        }
    }
}

/// The caller's input. The time spent waiting on it is the caller's, not the run's: each
/// wait moves the run's start later by as much, so `duration_ms` leaves it out, on error
/// too.
pub(crate) struct Gate<'a> {
    interrupt: &'a Interrupt,
    started: &'a mut Instant,
}

impl<'a> Gate<'a> {
    pub fn new(interrupt: &'a Interrupt, started: &'a mut Instant) -> Self {
        Gate { interrupt, started }
    }

    /// Waits, nothing locked yet, for `lock` or `go`.
    pub fn first(&mut self) -> Result<Word, ToolError> {
        let at = Waiting::BeforeLocks;
        match self.line(at)?.as_slice() {
            b"lock" => Ok(Word::Lock),
            b"go" => Ok(Word::Go),
            _ => Err(not_told(at, "its input is not the line `lock` or `go`")),
        }
    }

    /// Waits, the statement run and not committed, for `go`; the caller rolls back on an
    /// error.
    pub fn commit(&mut self) -> Result<(), ToolError> {
        let at = Waiting::BeforeCommit;
        match self.line(at)?.as_slice() {
            b"go" => Ok(()),
            _ => Err(not_told(at, "its input is not the line `go`")),
        }
    }

    /// One line of input; an interrupt, the end of the input or an overlong line is an
    /// error.
    fn line(&mut self, at: Waiting) -> Result<Vec<u8>, ToolError> {
        let since = Instant::now();
        let line = self.read_line(at);
        *self.started += since.elapsed();
        line
    }

    fn read_line(&self, at: Waiting) -> Result<Vec<u8>, ToolError> {
        let stdin = std::io::stdin();
        let mut line = Vec::new();
        loop {
            if let Some(signal) = self.interrupt.received() {
                return Err(interrupted(at, signal));
            }
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(POLL_MS)) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(not_told(at, &format!("its input cannot be read ({e})"))),
            }
            // One byte at a time from the descriptor itself: a buffered reader would take
            // the next line too, and poll would then wait for input already read.
            let mut byte = [0u8; 1];
            match nix::unistd::read(stdin.as_fd(), &mut byte) {
                Ok(0) => {
                    return Err(not_told(
                        at,
                        &format!("its input ended before the line {}", at.word()),
                    ))
                }
                Ok(_) if byte[0] == b'\n' => return Ok(line),
                Ok(_) if line.len() < MAX_LINE => line.push(byte[0]),
                Ok(_) => {
                    return Err(not_told(
                        at,
                        &format!("its input is not the line {}", at.word()),
                    ))
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(not_told(at, &format!("its input cannot be read ({e})"))),
            }
        }
    }
}

/// As an interrupt anywhere else (the same kind), said of where it came.
fn interrupted(at: Waiting, signal: &str) -> ToolError {
    ToolError::busy(format!(
        "interrupted by {signal} while waiting for {}: {}",
        at.word(),
        at.state()
    ))
    .with("interrupted", signal)
}

fn not_told(at: Waiting, why: &str) -> ToolError {
    ToolError::refused(format!(
        "--go-on-stdin: {why}, so {}: the caller's earlier steps did not finish (rerun it)",
        at.state()
    ))
}
