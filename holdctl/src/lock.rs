//! One holdctl at a time per host: an exclusive flock on a lock file that also names its
//! holder's pid, so a second run can say who holds it.

use conventions::ToolError;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Held until dropped (the kernel also releases it if holdctl dies).
pub struct HostLock {
    _lock: Flock<File>,
}

/// Takes the lock without waiting, or says who holds it (exit 5).
pub fn acquire(path: &Path) -> Result<HostLock, ToolError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| {
            ToolError::io(
                &path.display().to_string(),
                "open the holdctl lock file",
                &e,
            )
        })?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut lock) => {
            // Best effort: the pid is for the message a second run prints.
            let _ = lock.set_len(0);
            let _ = lock.seek(SeekFrom::Start(0));
            let _ = writeln!(lock, "{}", std::process::id());
            Ok(HostLock { _lock: lock })
        }
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            let holder = text.trim().parse::<u32>().ok();
            let who = holder.map_or("another holdctl".to_string(), |pid| {
                format!("another holdctl (pid {pid})")
            });
            Err(ToolError::busy(format!(
                "{who} holds {}: wait for it to finish, then run again",
                path.display()
            ))
            .with("lock", path.display().to_string())
            .with("holder_pid", holder))
        }
        Err((_, errno)) => Err(ToolError::failed(format!(
            "{}: cannot lock: {errno}",
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_busy_and_names_the_holder() {
        let dir = std::env::temp_dir().join(format!("holdctl-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("holdctl.lock");
        let first = acquire(&path).expect("first lock");
        let err = acquire(&path).err().expect("second lock must fail");
        assert_eq!(err.kind, conventions::ErrorKind::Busy);
        assert!(
            err.message.contains(&format!("pid {}", std::process::id())),
            "{}",
            err.message
        );
        drop(first);
        assert!(acquire(&path).is_ok(), "free again once dropped");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
