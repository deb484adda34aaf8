//! On a terminal: show what hibernate will do (its preflight, every step as a dry run)
//! and ask. Ctrl-C at the question ends holdctl (exit 3), nothing touched.

use crate::child::StepRecord;
use conventions::ToolError;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// Shows the plan on stderr and asks `proceed? [y/N]`; Ok(true) only for y/yes.
pub fn confirm(plan: &[StepRecord], interrupted: &AtomicBool) -> Result<bool, ToolError> {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "holdctl: hibernate will:");
    for record in plan {
        // Names from outside (paths, units, tables): scrubbed and escaped, as the view.
        let line = crate::view::step_line(record);
        let _ = write!(err, "{}", conventions::output::view_text(&line));
    }
    let _ = write!(err, "holdctl: proceed? [y/N] ");
    let _ = err.flush();
    drop(err);
    // The answer is read on a thread of its own: the signal handler only sets a flag
    // (and the read restarts after it), so the wait for the answer watches that flag.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer);
        let _ = tx.send(read);
    });
    loop {
        if interrupted.load(Ordering::SeqCst) {
            let _ = writeln!(std::io::stderr());
            return Err(ToolError::refused(
                "interrupted at the confirmation: nothing was changed",
            ));
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(answer)) => {
                return Ok(matches!(
                    answer.trim().to_ascii_lowercase().as_str(),
                    "y" | "yes"
                ))
            }
            Ok(Err(e)) => {
                return Err(ToolError::failed(format!(
                    "reading the answer from the terminal: {e}; nothing was changed"
                )))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
        }
    }
}
