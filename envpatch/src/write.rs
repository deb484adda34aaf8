//! Reading the file and replacing it atomically and durably.
//!
//! The write: a temporary file in the file's own directory (so the rename cannot cross
//! filesystems), given the original's owner, group and mode, filled, fsynced, renamed over
//! the file, then the directory fsynced so the rename itself survives a crash. Concurrent
//! envpatch runs are serialised by an exclusive flock on the directory, held around the
//! whole read-modify-write: unlike a lock on the file, it survives the rename (which
//! replaces the file's inode), and unlike a sidecar lock file it leaves nothing behind.

use conventions::ToolError;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{AccessFlags, Gid, Uid};
use std::fs::{File, Permissions};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Symlinks followed before giving up (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;

/// Owner, group and mode the new file gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
}

impl Ownership {
    /// A new file: owned by the caller, mode 0600 (env files hold secrets).
    pub fn caller_private() -> Ownership {
        Ownership {
            uid: Uid::effective().as_raw(),
            gid: Gid::effective().as_raw(),
            mode: 0o600,
        }
    }
}

/// The file as it is now.
#[derive(Debug, Clone)]
pub struct Existing {
    pub bytes: Vec<u8>,
    pub ownership: Ownership,
    pub hard_links: u64,
}

/// FILE with every symlink resolved (also a dangling one: its target is where a
/// `--create` makes the file). Relative links resolve against their own directory.
pub fn resolve(path: &Path) -> Result<PathBuf, ToolError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINKS {
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&current).map_err(|e| {
                    ToolError::io(&current.display().to_string(), "read the symlink", &e)
                })?;
                current = if link.is_absolute() {
                    link
                } else {
                    parent_dir(&current).join(link)
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == IoKind::NotFound => return Ok(current),
            Err(e) => return Err(ToolError::io(&current.display().to_string(), "look at", &e)),
        }
    }
    Err(ToolError::usage(format!(
        "{}: more than {MAX_SYMLINKS} levels of symlinks; point FILE at the real file",
        path.display()
    )))
}

/// The directory holding a path (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads the file, or `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<Existing>, ToolError> {
    let shown = path.display().to_string();
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(ToolError::io(&shown, "open", &e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| ToolError::io(&shown, "stat", &e))?;
    if !meta.is_file() {
        return Err(ToolError::usage(format!(
            "{shown} is not a regular file; give the path of an env file"
        ))
        .with("file", &shown));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(&shown, "read", &e))?;
    Ok(Some(Existing {
        bytes,
        ownership: Ownership {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        },
        hard_links: meta.nlink(),
    }))
}

/// Refuses (exit 6) when the caller may not write the file: the file's mode is a
/// promise a rename would otherwise silently break.
pub fn check_writable(path: &Path) -> Result<(), ToolError> {
    match nix::unistd::access(path, AccessFlags::W_OK) {
        Ok(()) => Ok(()),
        Err(Errno::EACCES) | Err(Errno::EPERM) => Err(ToolError::permission(format!(
            "{} is not writable by this user; run envpatch as a user who may write it (e.g. root)",
            path.display()
        ))
        .with("file", path.display().to_string())),
        Err(Errno::EROFS) => Err(ToolError::failed(format!(
            "{} is on a read-only filesystem",
            path.display()
        ))),
        Err(_) => Ok(()), // anything else surfaces on the write itself
    }
}

/// A failed write: whether the file was left as it was.
#[derive(Debug)]
pub enum WriteError {
    /// Nothing changed: the temporary file is gone, the file holds its old content.
    NotWritten(ToolError),
    /// The new content is in place but the directory could not be synced: a crash now
    /// could still bring back the old content.
    NotDurable(ToolError),
}

/// The file's directory, open for locking and for fsync.
pub struct Directory {
    path: PathBuf,
    file: File,
}

impl Directory {
    pub fn open(path: &Path) -> Result<Directory, ToolError> {
        let file = File::open(path).map_err(|e| {
            let shown = path.display().to_string();
            if e.kind() == IoKind::NotFound {
                ToolError::not_found(format!("directory {shown} does not exist; create it first"))
                    .with("file", &shown)
            } else {
                ToolError::io(&shown, "open the directory", &e)
            }
        })?;
        Ok(Directory {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Takes the exclusive lock that serialises envpatch runs in this directory, waiting
    /// up to `timeout`. Released when the returned guard drops (or the process ends).
    pub fn lock(&self, timeout: Duration) -> Result<Flock<File>, ToolError> {
        let shown = self.path.display().to_string();
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        let mut handle = self
            .file
            .try_clone()
            .map_err(|e| ToolError::io(&shown, "open the directory", &e))?;
        loop {
            match Flock::lock(handle, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => return Ok(lock),
                Err((back, Errno::EWOULDBLOCK)) | Err((back, Errno::EINTR)) => {
                    if Instant::now() >= deadline {
                        return Err(ToolError::busy(format!(
                            "another process has held the envpatch lock on {shown} for {}; retry when it is done, or wait longer with --lock-timeout",
                            conventions::duration::format_duration(timeout)
                        ))
                        .with("directory", &shown));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(16));
                    handle = back;
                }
                Err((_, errno)) => {
                    return Err(ToolError::failed(format!(
                        "cannot lock {shown}: {}",
                        errno.desc()
                    )))
                }
            }
        }
    }

    /// Replaces `target` (a file in this directory) with `content`, atomically and durably.
    pub fn replace(
        &self,
        target: &Path,
        content: &[u8],
        ownership: Ownership,
    ) -> Result<(), WriteError> {
        let shown = target.display().to_string();
        let unchanged = |doing: &str, err: &dyn std::fmt::Display| {
            WriteError::NotWritten(
                ToolError::failed(format!(
                    "cannot write {shown}: {doing} failed ({err}); {shown} was not changed"
                ))
                .with("file", &shown),
            )
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".envpatch-tmp")
            .permissions(Permissions::from_mode(0o600))
            .tempfile_in(&self.path)
            .map_err(|e| {
                let err = ToolError::io(
                    &self.path.display().to_string(),
                    "create a temporary file in",
                    &e,
                );
                WriteError::NotWritten(err.with("file", &shown))
            })?;
        // Owner first: chown clears setuid/setgid bits, the mode below sets them again.
        let meta = temp
            .as_file()
            .metadata()
            .map_err(|e| unchanged("stat of the temporary copy", &e))?;
        if meta.uid() != ownership.uid || meta.gid() != ownership.gid {
            nix::unistd::fchown(
                temp.as_file(),
                Some(Uid::from_raw(ownership.uid)),
                Some(Gid::from_raw(ownership.gid)),
            )
            .map_err(|errno| {
                let message = format!(
                    "cannot give the new {shown} its owner (uid {}, gid {}): {}; run envpatch as root or as the owner; {shown} was not changed",
                    ownership.uid,
                    ownership.gid,
                    errno.desc()
                );
                WriteError::NotWritten(if errno == Errno::EPERM {
                    ToolError::permission(message).with("file", &shown)
                } else {
                    ToolError::failed(message).with("file", &shown)
                })
            })?;
        }
        temp.as_file()
            .set_permissions(Permissions::from_mode(ownership.mode))
            .map_err(|e| unchanged("setting the mode of the temporary copy", &e))?;
        temp.write_all(content)
            .map_err(|e| unchanged("writing the temporary copy", &e))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| unchanged("fsync of the temporary copy", &e))?;
        // On failure the PersistError owns the temporary file and removes it when dropped.
        temp.persist(target)
            .map_err(|e| unchanged("renaming the temporary copy over it", &e.error))?;
        self.file.sync_all().map_err(|e| {
            WriteError::NotDurable(
                ToolError::failed(format!(
                    "{shown} was replaced but fsync of its directory {} failed ({e}); a crash now may bring back the old content: run envpatch again",
                    self.path.display()
                ))
                .with("file", &shown),
            )
        })
    }
}
