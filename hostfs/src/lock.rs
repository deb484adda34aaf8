//! Exclusive flocks taken with a deadline, and who holds one, from the kernel's own lock
//! table (`/proc/locks`), which no other user can forge.

use crate::meta::Meta;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::time::{Duration, Instant};

/// A process holding a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`), control characters escaped.
    pub command: Option<String>,
}

impl Holder {
    /// "pid 4121 (envpatch)".
    pub fn describe(&self) -> String {
        match &self.command {
            Some(c) => format!("pid {} ({c})", self.pid),
            None => format!("pid {}", self.pid),
        }
    }
}

/// Why a lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Still held by someone else when the deadline passed.
    Busy,
    Sys(Errno),
}

/// Takes an exclusive flock on `file`, waiting up to `timeout` (zero: try once).
pub fn exclusive(file: File, timeout: Duration) -> Result<Flock<File>, LockError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut handle = file;
    loop {
        match Flock::lock(handle, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((back, Errno::EWOULDBLOCK)) | Err((back, Errno::EINTR)) => {
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(LockError::Busy);
                }
                std::thread::sleep(pause.min(timeout - waited));
                pause = (pause * 2).min(Duration::from_millis(16));
                handle = back;
            }
            Err((_, errno)) => return Err(LockError::Sys(errno)),
        }
    }
}

/// The processes holding a flock on the file `meta` describes (waiters left out).
pub fn holders(meta: &Meta) -> Vec<Holder> {
    let Ok(table) = std::fs::read_to_string("/proc/locks") else {
        return Vec::new();
    };
    let wanted = format!(
        "{:02x}:{:02x}:{}",
        nix::sys::stat::major(meta.dev),
        nix::sys::stat::minor(meta.dev),
        meta.ino
    );
    let mut found: Vec<Holder> = Vec::new();
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 4121 08:01:1234 0 EOF"; waiters have "->" second.
        if fields.len() < 6 || fields[1] != "FLOCK" || fields[5] != wanted {
            continue;
        }
        let Ok(pid) = fields[4].parse::<u32>() else {
            continue;
        };
        if pid == 0 || found.iter().any(|h| h.pid == pid) {
            continue;
        }
        let command = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .ok()
            .map(|c| c.trim_end_matches('\n').escape_debug().to_string());
        found.push(Holder { pid, command });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_busy_and_its_holder_is_this_process() {
        let dir = std::env::temp_dir().join(format!("hostfs-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l");
        let first = exclusive(File::create(&path).unwrap(), Duration::ZERO).unwrap();
        let second = exclusive(File::open(&path).unwrap(), Duration::from_millis(30));
        assert!(matches!(second, Err(LockError::Busy)));
        let st = nix::sys::stat::stat(&path).unwrap();
        let holders = holders(&Meta::from_stat(&st));
        assert_eq!(holders.len(), 1, "{holders:?}");
        assert_eq!(holders[0].pid, std::process::id());
        drop(first);
        assert!(exclusive(File::open(&path).unwrap(), Duration::ZERO).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
