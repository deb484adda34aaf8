//! Ctrl-C (SIGINT) and SIGTERM: a thread waits for them, marks the run interrupted and
//! cancels the running statement through the driver's cancel token, so a lock wait or a
//! TRUNCATE stops at once and the server rolls the transaction back. The main thread
//! sees the cancelled statement, rolls back and reports.

use pgconn::Tls;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a pending cancel is sent again: a signal that arrives just before a
/// statement is sent would otherwise find the session idle and be lost.
const RESEND_EVERY: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Shared {
    /// The signal received, 0 while none.
    signal: AtomicI32,
    /// The session to cancel, while a statement may be running that a signal should stop.
    target: Mutex<Option<(postgres::CancelToken, Tls)>>,
}

/// The signal watcher. Dropping it stops the thread and restores nothing: the process
/// is about to end.
pub struct Interrupt {
    shared: Arc<Shared>,
    handle: Option<Handle>,
    thread: Option<JoinHandle<()>>,
}

impl Interrupt {
    /// Starts watching SIGINT and SIGTERM.
    pub fn install() -> std::io::Result<Interrupt> {
        let shared = Arc::new(Shared::default());
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pgtruncate-signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    worker.signal.store(sig, Ordering::SeqCst);
                    // Keep cancelling until the main thread disarms (or the watcher is closed).
                    loop {
                        let target = worker
                            .target
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clone();
                        match target {
                            Some((token, tls)) => {
                                let _ = tls.cancel(&token);
                            }
                            None if signals.is_closed() => break,
                            None => {}
                        }
                        if signals.is_closed() {
                            break;
                        }
                        std::thread::sleep(RESEND_EVERY);
                    }
                }
            })?;
        Ok(Interrupt {
            shared,
            handle: Some(handle),
            thread: Some(thread),
        })
    }

    /// From now on a signal cancels the statement running on this session.
    pub fn arm(&self, token: postgres::CancelToken, tls: Tls) {
        *self.shared.target.lock().unwrap_or_else(|e| e.into_inner()) = Some((token, tls));
    }

    /// Signals no longer cancel anything (before the clean-up after an interruption).
    pub fn disarm(&self) {
        *self.shared.target.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The signal's name, once one arrived.
    pub fn received(&self) -> Option<&'static str> {
        match self.shared.signal.load(Ordering::SeqCst) {
            0 => None,
            SIGINT => Some("SIGINT"),
            SIGTERM => Some("SIGTERM"),
            _ => Some("a signal"),
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.disarm();
        if let Some(handle) = self.handle.take() {
            handle.close();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
