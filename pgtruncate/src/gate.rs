//! `--go-on-stdin`: the plan is made and every guard passed, but nothing is locked until
//! the caller writes the line `go` on standard input. A caller with other steps to finish
//! first (holdctl stops the units while pgtruncate connects and plans) starts it early
//! and says go once they succeeded; if they fail, or the caller dies, the input ends
//! without `go` and pgtruncate exits with nothing touched.

use crate::interrupt::Interrupt;
use conventions::ToolError;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How often the wait looks for a signal.
const POLL_MS: u16 = 50;

/// Waits for `go` on stdin; an interrupt, the end of the input or any other line is an
/// error (nothing was locked yet). Returns how long it waited.
pub(crate) fn wait_for_go(interrupt: &Interrupt) -> Result<Duration, ToolError> {
    let since = Instant::now();
    let stdin = std::io::stdin();
    let mut line = Vec::new();
    loop {
        if let Some(signal) = interrupt.received() {
            return Err(interrupted(signal));
        }
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(POLL_MS)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(not_told(&format!("its input cannot be read ({e})"))),
        }
        let mut byte = [0u8; 1];
        match stdin.lock().read(&mut byte) {
            Ok(0) => return Err(not_told("its input ended before the line `go`")),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() < 16 => line.push(byte[0]),
            Ok(_) => return Err(not_told("its input is not the line `go`")),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(not_told(&format!("its input cannot be read ({e})"))),
        }
    }
    if line == b"go" {
        Ok(since.elapsed())
    } else {
        Err(not_told("its input is not the line `go`"))
    }
}

/// As an interrupt anywhere else (the same kind), but there was no statement yet.
fn interrupted(signal: &str) -> ToolError {
    ToolError::busy(format!(
        "interrupted by {signal} while waiting for `go`: nothing was locked or truncated"
    ))
    .with("interrupted", signal)
}

fn not_told(why: &str) -> ToolError {
    ToolError::refused(format!(
        "--go-on-stdin: {why}, so nothing was locked or truncated: the caller's earlier steps did not finish (rerun it)"
    ))
}
