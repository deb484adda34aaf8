//! One holdctl at a time per host: an exclusive flock on a lock file that only its owner
//! can open, in a directory only its owner can write.
//!
//! A lock another user can open is no lock (they can hold it, plant a FIFO that hangs
//! the open, or a symlink that makes root truncate /etc/shadow). So the lock's directory
//! must be writable by the caller alone (the default, /run/holdkit, is created 0700), the
//! file is opened without following links and checked before use, and a file that holds
//! anything but a holdctl pid is never truncated. The holder is named from the kernel's
//! lock table.

use conventions::ToolError;
use hostfs::lock::{self, LockError};
use hostfs::{user_name, FileKind};
use nix::errno::Errno;
use nix::fcntl::Flock;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

/// Where the lock lives unless `--lock` says otherwise.
pub const DEFAULT_LOCK: &str = "/run/holdkit/holdctl.lock";

/// Held until dropped (the kernel also releases it if holdctl dies).
pub struct HostLock {
    _lock: Flock<File>,
}

/// Takes the lock without waiting, or says who holds it (exit 5). The default lock's
/// directory is created (mode 0700) when missing.
pub fn acquire(path: &Path) -> Result<HostLock, ToolError> {
    let shown = path.display().to_string();
    if path == Path::new(DEFAULT_LOCK) {
        if let Some(dir) = path.parent() {
            create_private_dir(dir, "--lock")?;
        }
    }
    let loc = hostfs::resolve(path)?;
    let caller = nix::unistd::geteuid().as_raw();
    refuse_shared_dir(
        &loc.dir,
        "the lock's directory",
        "plant or swap the lock file",
        &format!("such as the default {DEFAULT_LOCK}"),
    )
    .map_err(|e| e.with("lock", &shown))?;
    if let Some(meta) = loc.existing.filter(|m| m.kind != FileKind::Regular) {
        return Err(not_a_lock(&shown, &format!("is {}", meta.kind.describe())));
    }
    let (file, meta) = loc
        .dir
        .open_lock_file(&loc.name)
        .map_err(|errno| match errno {
            Errno::ELOOP => not_a_lock(&shown, "is a symlink"),
            errno => ToolError::from(hostfs::Error::Sys {
                path: path.to_path_buf(),
                doing: "open the holdctl lock file",
                errno,
            }),
        })?;
    if meta.kind != FileKind::Regular {
        return Err(not_a_lock(&shown, &format!("is {}", meta.kind.describe())));
    }
    if meta.uid != caller || meta.nlink != 1 {
        return Err(not_a_lock(
            &shown,
            &format!(
                "is owned by {} with {} link(s)",
                user_name(meta.uid),
                meta.nlink
            ),
        ));
    }
    let mut file = file;
    let content = read_small(&mut file);
    match lock::exclusive(file, Duration::ZERO) {
        Ok(mut lock) => {
            if !is_pid_record(&content) {
                return Err(not_a_lock(&shown, "holds other data"));
            }
            // Ours: empty, or the pid of an earlier holdctl. Best effort: the pid is for
            // the message a second run prints when /proc/locks cannot tell.
            let _ = lock.set_len(0);
            let _ = lock.seek(SeekFrom::Start(0));
            let _ = writeln!(lock, "{}", std::process::id());
            Ok(HostLock { _lock: lock })
        }
        Err(LockError::Busy) => {
            // The kernel's word first; the file's (ours, checked above) when it has none.
            let holder = lock::holders(&meta)
                .first()
                .map(|h| h.pid)
                .or_else(|| content.trim().parse().ok());
            let who = holder.map_or("another holdctl".to_string(), |pid| {
                format!("another holdctl (pid {pid})")
            });
            Err(ToolError::busy(format!(
                "{who} holds {shown}: wait for it to finish, then run again"
            ))
            .with("lock", &shown)
            .with("holder_pid", holder))
        }
        Err(LockError::Sys(errno)) => Err(ToolError::failed(format!(
            "{shown}: cannot lock: {}",
            errno.desc()
        ))),
    }
}

fn not_a_lock(shown: &str, why: &str) -> ToolError {
    ToolError::refused(format!(
        "{shown} {why}: it is not a holdctl lock file, and holdctl never truncates or follows anything else; nothing was changed: remove it, or choose another --lock"
    ))
    .with("lock", shown)
}

/// A directory of holdctl's own (`/run/holdkit` for the default lock, the state
/// directory): made 0700 if missing; an existing one is judged like any other.
pub(crate) fn create_private_dir(dir: &Path, option: &str) -> Result<(), ToolError> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(ToolError::permission(format!(
            "cannot create {}: {e}: holdctl changes the host and runs as root; as another user, give {option} a path in a directory of your own",
            dir.display()
        ))),
        Err(e) => Err(ToolError::io(&dir.display().to_string(), "create the directory", &e)),
    }
}

/// The one rule for holdctl's own directories (the lock's, the state directory): a
/// directory someone other than the caller (or root) can write is refused (exit 3), for
/// they could plant or swap what holdctl reads and writes there.
pub(crate) fn refuse_shared_dir(
    dir: &hostfs::Dir,
    what: &str,
    could: &str,
    instead: &str,
) -> Result<(), ToolError> {
    let caller = nix::unistd::geteuid().as_raw();
    if !dir.meta.writable_by_others_than(caller) {
        return Ok(());
    }
    Err(ToolError::refused(format!(
        "{what} {} can be written by users other than {} (owner {}, mode {:04o}), who could {could}: nothing was changed; use a directory only you can write, {instead}",
        dir.path.display(),
        user_name(caller),
        user_name(dir.meta.uid),
        dir.meta.mode
    )))
}

fn read_small(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(64).read_to_string(&mut text);
    text
}

/// Empty, or one pid and a newline: what holdctl writes.
fn is_pid_record(text: &str) -> bool {
    let t = text.strip_suffix('\n').unwrap_or(text);
    t.is_empty() || (t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_busy_and_names_the_holder() {
        let dir = tempdir();
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

    #[test]
    fn a_file_with_other_data_is_never_truncated() {
        let dir = tempdir();
        let path = dir.join("precious");
        std::fs::write(&path, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
        let err = acquire(&path).err().expect("not a lock");
        assert_eq!(err.kind, conventions::ErrorKind::Refused);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "root:x:0:0:root:/root:/bin/bash\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pid_records() {
        assert!(is_pid_record(""));
        assert!(is_pid_record("4121\n"));
        assert!(!is_pid_record("root:x:0:0\n"));
        assert!(!is_pid_record("12345678901\n"));
    }

    fn tempdir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "holdctl-lock-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        dir
    }
}
