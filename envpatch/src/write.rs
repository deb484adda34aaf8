//! Reading the file and replacing it atomically and durably, from descriptors only.
//!
//! FILE is resolved by `hostfs` under the symlink trust rule; from then on everything goes
//! through the directory's descriptor. The write: a temporary file in the file's own
//! directory (so the rename cannot cross filesystems), given the original's owner, group,
//! mode and extended attributes (ACLs, SELinux label), filled, fsynced, renamed over the
//! file, then the directory fsynced so the rename itself survives a crash.
//!
//! Concurrent runs are serialised by an exclusive flock on `.NAME.envpatch-lock` beside
//! the file, there only while a run holds it: mode 0600 and owned by root or the file's
//! owner, so no user who cannot write the file can open it, let alone hold it (a lock on
//! the directory or on the file itself can be taken by anyone who can read them). Unlike
//! a lock on the file, it survives the rename that replaces the file's inode. Holding it,
//! a run also removes the temporary files (and a lock file) that earlier runs killed
//! mid-edit left beside the file.

use conventions::ToolError;
use hostfs::lock::{self, LockError};
use hostfs::{user_name, FileKind, Location, Meta};
use nix::errno::Errno;
use nix::fcntl::Flock;
use nix::unistd::{AccessFlags, Gid, Uid};
use std::ffi::{OsStr, OsString};
use std::fs::{File, Permissions};
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// Suffix of the temporary files a write makes (and a crash can leave).
const TEMP_SUFFIX: &str = ".envpatch-tmp";
/// Suffix of the lock file beside the env file.
const LOCK_SUFFIX: &str = ".envpatch-lock";

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

    fn of(meta: &Meta) -> Ownership {
        Ownership {
            uid: meta.uid,
            gid: meta.gid,
            mode: meta.mode,
        }
    }
}

/// The file as it is now, read through a descriptor that stays open (its extended
/// attributes are copied from it).
#[derive(Debug)]
pub struct Existing {
    pub file: File,
    pub bytes: Vec<u8>,
    pub meta: Meta,
    pub ownership: Ownership,
}

/// FILE resolved under the trust rule (a dangling link root trusts leads to where
/// `--create` makes the file).
pub fn resolve(path: &Path) -> Result<Location, ToolError> {
    hostfs::resolve(path).map_err(ToolError::from)
}

/// Reads the file, or `None` when it does not exist. Anything but a regular file is
/// refused without being opened.
pub fn read(loc: &Location) -> Result<Option<Existing>, ToolError> {
    let Some((file, meta, bytes)) = loc.read(hostfs::MAX_TEXT_FILE)? else {
        return Ok(None);
    };
    Ok(Some(Existing {
        file,
        bytes,
        ownership: Ownership::of(&meta),
        meta,
    }))
}

/// Refuses (exit 6) when the caller may not write the file: the file's mode is a
/// promise a rename would otherwise silently break.
pub fn check_writable(loc: &Location) -> Result<(), ToolError> {
    let shown = loc.path.display().to_string();
    match nix::unistd::faccessat(
        loc.dir.fd(),
        loc.name.as_os_str(),
        AccessFlags::W_OK,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(()) => Ok(()),
        Err(Errno::EACCES) | Err(Errno::EPERM) => Err(ToolError::permission(format!(
            "{shown} is not writable by this user; run envpatch as a user who may write it (e.g. root)"
        ))
        .with("file", shown)),
        Err(Errno::EROFS) => Err(ToolError::failed(format!(
            "{shown} is on a read-only filesystem"
        ))),
        Err(_) => Ok(()), // anything else surfaces on the write itself
    }
}

/// Refuses (exit 3) a file with other hard links in a directory that someone other than
/// root and the file's owner can write: such a link can be planted there by that user
/// (to make root read and rewrite a file of root's, such as /etc/shadow).
pub fn check_hard_links(loc: &Location, existing: &Existing) -> Result<(), ToolError> {
    let meta = &existing.meta;
    if !hostfs::hard_link_may_be_planted(&loc.dir.meta, meta) {
        return Ok(());
    }
    let shown = loc.path.display().to_string();
    Err(ToolError::refused(format!(
        "{shown} has {} hard links and its directory {} can be written by {} (not only by root or the file's owner {}), so the link may have been planted to make root rewrite another file: nothing was touched; edit the file at its own path",
        meta.nlink,
        loc.dir.path.display(),
        writers(&loc.dir.meta),
        user_name(meta.uid)
    ))
    .with("file", shown)
    .with("hard_links", meta.nlink))
}

fn writers(dir: &Meta) -> String {
    let mut who = Vec::new();
    if dir.uid != 0 {
        who.push(user_name(dir.uid));
    }
    if dir.mode & 0o020 != 0 {
        who.push(format!("group {}", dir.gid));
    }
    if dir.mode & 0o002 != 0 {
        who.push("every user".to_string());
    }
    who.join(", ")
}

/// The lock that serialises runs on one file. Dropping it removes the lock file (while
/// still holding it) and releases it.
pub struct EditLock<'a> {
    lock: Option<Flock<File>>,
    loc: &'a Location,
    name: OsString,
}

impl Drop for EditLock<'_> {
    fn drop(&mut self) {
        // Unlinked before release, and every taker checks after locking that the name
        // still leads to the file it locked: so nobody ever holds a lock on a file that
        // is no longer the lock, and nothing is left behind.
        if let Some(lock) = &self.lock {
            if let (Ok(st), Ok(Some(now))) = (
                nix::sys::stat::fstat(&**lock),
                self.loc.dir.stat(&self.name),
            ) {
                if Meta::from_stat(&st).same_file(&now) {
                    let _ = self.loc.dir.unlink(&self.name);
                }
            }
        }
        self.lock.take();
    }
}

/// Takes the file's edit lock (`.NAME.envpatch-lock`, there only while a run holds it),
/// waiting up to `timeout`. `owner` is the env file's owner, whose lock files are trusted
/// too.
pub fn lock(
    loc: &Location,
    timeout: Duration,
    owner: Option<u32>,
) -> Result<EditLock<'_>, ToolError> {
    let name = dot_name(&loc.name, LOCK_SUFFIX);
    let shown = loc.dir.entry_path(&name).display().to_string();
    let started = std::time::Instant::now();
    loop {
        let Some((file, meta)) = open_lock_file(loc, &name, &shown, owner)? else {
            // Removed by its last holder as we opened it: open the name again (a name
            // that keeps vanishing is someone else's doing: give up at the deadline).
            if started.elapsed() > timeout {
                return Err(ToolError::busy(format!(
                    "the envpatch lock of {} ({shown}) kept being removed while envpatch waited for it: retry",
                    loc.path.display()
                ))
                .with("lock", &shown));
            }
            continue;
        };
        let left = timeout.saturating_sub(started.elapsed());
        match lock::exclusive(file, left) {
            Ok(lock) => {
                // The holder before us may have removed it as we waited: then it is no
                // longer the lock, and we start again.
                if loc
                    .dir
                    .stat(&name)
                    .ok()
                    .flatten()
                    .is_some_and(|now| now.same_file(&meta))
                {
                    return Ok(EditLock {
                        lock: Some(lock),
                        loc,
                        name,
                    });
                }
            }
            Err(LockError::Busy) => {
                let holders = lock::holders(&meta);
                let who = match holders.first() {
                    Some(h) => format!("{} holds", h.describe()),
                    None => "another process holds".to_string(),
                };
                return Err(ToolError::busy(format!(
                    "{who} the envpatch lock of {} ({shown}) for longer than --lock-timeout {}; retry when it is done, or wait longer with --lock-timeout",
                    loc.path.display(),
                    conventions::duration::format_duration(timeout)
                ))
                .with("lock", &shown)
                .with("holder_pid", holders.first().map(|h| h.pid)));
            }
            Err(LockError::Sys(errno)) => {
                return Err(ToolError::failed(format!(
                    "cannot lock {shown}: {}",
                    errno.desc()
                )))
            }
        }
    }
}

/// Opens (creating it if need be) the lock file, and checks it is one no other user can
/// hold: a private regular file of root's, the caller's or the env file's owner. `None`
/// when the file opened was unlinked meanwhile (its holder's last act).
fn open_lock_file(
    loc: &Location,
    name: &OsStr,
    shown: &str,
    owner: Option<u32>,
) -> Result<Option<(File, Meta)>, ToolError> {
    let (file, meta) = loc.dir.open_lock_file(name).map_err(|errno| match errno {
        Errno::ELOOP => ToolError::refused(format!(
            "the lock file {shown} is a symlink, which envpatch never follows: remove it; nothing was touched"
        ))
        .with("lock", shown),
        errno => ToolError::from(hostfs::Error::Sys {
            path: shown.into(),
            doing: "open the lock file",
            errno,
        }),
    })?;
    if meta.kind == FileKind::Regular && meta.nlink == 0 {
        return Ok(None);
    }
    let caller = Uid::effective().as_raw();
    let trusted_owner = meta.uid == 0 || meta.uid == caller || Some(meta.uid) == owner;
    if meta.kind != FileKind::Regular || meta.nlink > 1 || meta.mode & 0o077 != 0 || !trusted_owner
    {
        let what = if meta.kind == FileKind::Regular && meta.nlink > 1 {
            "hard-linked"
        } else {
            meta.kind.describe()
        };
        return Err(ToolError::refused(format!(
            "the lock file {shown} is {what}, owned by {} with mode {:04o}: a lock must be a private file of root's or the env file's owner, or another user could hold it; remove it and run again; nothing was touched",
            user_name(meta.uid),
            meta.mode
        ))
        .with("lock", shown));
    }
    Ok(Some((file, meta)))
}

/// Removes the temporary files earlier runs on this file left when they were killed
/// mid-edit: only names of envpatch's own pattern for this file, only regular files
/// owned by the caller or the file's owner. Call with the lock held. Returns how many.
pub fn remove_stale_temps(loc: &Location, owner: Option<u32>) -> usize {
    let Ok(names) = loc.dir.entries() else {
        return 0;
    };
    let caller = Uid::effective().as_raw();
    let mut removed = 0;
    for name in names.iter().filter(|n| is_temp_of(n, &loc.name)) {
        let Ok(Some(meta)) = loc.dir.stat(name) else {
            continue;
        };
        let ours = meta.uid == caller || Some(meta.uid) == owner;
        if meta.kind == FileKind::Regular && ours && loc.dir.unlink(name).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `.NAME.TOKEN.envpatch-tmp`, TOKEN being 6 to 16 letters or digits (today's writes use
/// 16 hex digits; earlier versions used 6 alphanumerics).
fn is_temp_of(candidate: &OsStr, name: &OsStr) -> bool {
    let c = candidate.as_bytes();
    let n = name.as_bytes();
    let Some(rest) = c.strip_prefix(b".").and_then(|r| r.strip_prefix(n)) else {
        return false;
    };
    let Some(token) = rest
        .strip_prefix(b".")
        .and_then(|r| r.strip_suffix(TEMP_SUFFIX.as_bytes()))
    else {
        return false;
    };
    (6..=16).contains(&token.len()) && token.iter().all(u8::is_ascii_alphanumeric)
}

fn dot_name(name: &OsStr, suffix: &str) -> OsString {
    let mut out = OsString::from(".");
    out.push(name);
    out.push(suffix);
    out
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

/// Replaces `dest` (a name in the file's directory: the file itself or its backup) with
/// `content`, atomically and durably, with `ownership` and the extended attributes of
/// `attrs_from`. The temporary file is named after `loc`'s file, so a later run on that
/// file finds it should this run be killed.
pub fn replace(
    loc: &Location,
    dest: &OsStr,
    content: &[u8],
    ownership: Ownership,
    attrs_from: Option<&File>,
) -> Result<(), WriteError> {
    let shown = loc.dir.entry_path(dest).display().to_string();
    let unchanged = |doing: &str, err: &dyn std::fmt::Display| {
        WriteError::NotWritten(
            ToolError::failed(format!(
                "cannot write {shown}: {doing} failed ({err}); {shown} was not changed"
            ))
            .with("file", &shown),
        )
    };
    let (temp_name, temp) = create_temp(loc).map_err(|errno| {
        let err = ToolError::from(hostfs::Error::Sys {
            path: loc.dir.path.clone(),
            doing: "create a temporary file in",
            errno,
        });
        WriteError::NotWritten(err.with("file", &shown))
    })?;
    let filled = fill(&temp, content, ownership, attrs_from, &shown, &unchanged).and_then(|()| {
        loc.dir
            .rename(&temp_name, dest)
            .map_err(|e| unchanged("renaming the temporary copy over it", &e.desc()))
    });
    if let Err(e) = filled {
        let _ = loc.dir.unlink(&temp_name);
        return Err(e);
    }
    loc.dir.fsync().map_err(|e| {
        WriteError::NotDurable(
            ToolError::failed(format!(
                "{shown} was replaced but fsync of its directory {} failed ({}); a crash now may bring back the old content: run envpatch again",
                loc.dir.path.display(),
                e.desc()
            ))
            .with("file", &shown),
        )
    })
}

/// A new temporary file beside the file, mode 0600, never an existing name.
fn create_temp(loc: &Location) -> Result<(OsString, File), Errno> {
    let seed = RandomState::new();
    let mut last = Errno::EEXIST;
    for attempt in 0u64..8 {
        let token = format!("{:016x}", seed.hash_one((std::process::id(), attempt)));
        let name = dot_name(&loc.name, &format!(".{token}{TEMP_SUFFIX}"));
        match loc.dir.create_new(&name, 0o600) {
            Ok(file) => return Ok((name, file)),
            Err(Errno::EEXIST) => last = Errno::EEXIST,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Owner, mode and attributes first, then the content, then fsync.
fn fill(
    temp: &File,
    content: &[u8],
    ownership: Ownership,
    attrs_from: Option<&File>,
    shown: &str,
    unchanged: &dyn Fn(&str, &dyn std::fmt::Display) -> WriteError,
) -> Result<(), WriteError> {
    let meta = temp
        .metadata()
        .map_err(|e| unchanged("stat of the temporary copy", &e))?;
    use std::os::unix::fs::MetadataExt;
    // Owner first: chown clears setuid/setgid bits and file capabilities, which the mode
    // and the attributes below set again.
    if meta.uid() != ownership.uid || meta.gid() != ownership.gid {
        nix::unistd::fchown(
            temp,
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
                ToolError::permission(message).with("file", shown)
            } else {
                ToolError::failed(message).with("file", shown)
            })
        })?;
    }
    temp.set_permissions(Permissions::from_mode(ownership.mode))
        .map_err(|e| unchanged("setting the mode of the temporary copy", &e))?;
    if let Some(original) = attrs_from {
        hostfs::xattrs::copy_all(original, temp).map_err(|e| {
            unchanged(
                &format!(
                    "copying the extended attribute {} (an ACL, a security label or a capability)",
                    e.name.to_string_lossy()
                ),
                &e.error,
            )
        })?;
    }
    let mut writer = temp;
    writer
        .write_all(content)
        .map_err(|e| unchanged("writing the temporary copy", &e))?;
    temp.sync_all()
        .map_err(|e| unchanged("fsync of the temporary copy", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_own_temp_names_count() {
        let name = OsStr::new("cornice.env");
        for ok in [
            ".cornice.env.0123456789abcdef.envpatch-tmp",
            ".cornice.env.AbC123.envpatch-tmp",
        ] {
            assert!(is_temp_of(OsStr::new(ok), name), "{ok}");
        }
        for not in [
            "cornice.env",
            ".cornice.env.envpatch-lock",
            ".cornice.env.x.0123456789abcdef.envpatch-tmp",
            ".cornice.envX.0123456789abcdef.envpatch-tmp",
            ".cornice.env.ab.envpatch-tmp",
            ".cornice.env.0123456789abcdef0.envpatch-tmp",
            ".cornice.env.01234/6789.envpatch-tmp",
        ] {
            assert!(!is_temp_of(OsStr::new(not), name), "{not}");
        }
    }
}
