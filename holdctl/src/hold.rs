//! The hold record, `STATE_DIR/hold.json`: what hibernate found before its first change,
//! which wake undoes, then moves to `STATE_DIR/holds/` (the history).
//!
//! wake obeys the record, so a record someone else could have written is worth nothing:
//! the state directory must be writable by the caller alone (the lock's rule), the record
//! is opened without following links, and one not owned by root or the caller, writable
//! by group or others, or with other hard links is refused (exit 3), never believed. It
//! is written as a temp file created exclusively, fsynced, renamed over the record and
//! the directory fsynced, all through the directory's descriptor: a crash leaves the old
//! record or the new one.

use crate::lock::{create_private_dir, refuse_shared_dir};
use conventions::ToolError;
use hostfs::{user_name, Dir, FileKind};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use reports::holdctl::HoldRecord;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where the record, its history and archives live unless `--state-dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/holdkit";
const RECORD: &str = "hold.json";
const HISTORY: &str = "holds";
const TEMP_PREFIX: &str = ".hold.json.tmp-";
/// A name that is never created: resolving it yields the directory it would be in.
const PROBE: &str = ".holdctl-probe";
/// A record is a page of JSON; anything larger is not one.
const MAX_RECORD: u64 = 1024 * 1024;

/// The state directory, open; everything in it is reached through its descriptor.
pub struct StateDir {
    dir: Dir,
    path: PathBuf,
}

/// Opens the state directory, creating it (0700) when `create`; `None` when it does not
/// exist and may not be created (status and plans only read).
pub fn open(path: &Path, create: bool) -> Result<Option<StateDir>, ToolError> {
    if create {
        create_private_dir(path, "--state-dir")?;
    }
    let Some(dir) = private_dir(path, create)? else {
        return Ok(None);
    };
    Ok(Some(StateDir {
        dir,
        path: path.to_path_buf(),
    }))
}

/// The directory at `path`, held open, after the one rule for holdctl's directories.
fn private_dir(path: &Path, must_exist: bool) -> Result<Option<Dir>, ToolError> {
    let loc = match hostfs::resolve(&path.join(PROBE)) {
        Ok(loc) => loc,
        Err(hostfs::Error::NoDirectory { .. }) if !must_exist => return Ok(None),
        Err(e) => return Err(ToolError::from(e).with("state_dir", path.display().to_string())),
    };
    if loc.name != PROBE || loc.existing.is_some() {
        return Err(ToolError::refused(format!(
            "{} holds {PROBE}, which holdctl never creates: nothing was changed; remove it",
            path.display()
        )));
    }
    refuse_shared_dir(
        &loc.dir,
        "the state directory",
        "plant a hold record that wake would obey",
        &format!("such as the default {DEFAULT_STATE_DIR} (--state-dir)"),
    )?;
    Ok(Some(loc.dir))
}

impl StateDir {
    /// `STATE_DIR/hold.json` as a path, for messages and the report.
    pub fn record_path(&self) -> PathBuf {
        self.path.join(RECORD)
    }

    /// The record, if there is one, after the trust checks.
    pub fn read(&self) -> Result<Option<HoldRecord>, ToolError> {
        let name = OsStr::new(RECORD);
        let shown = self.record_path().display().to_string();
        let Some(meta) = self.dir.stat(name)? else {
            return Ok(None);
        };
        if meta.kind != FileKind::Regular {
            return Err(untrusted(&shown, &format!("is {}", meta.kind.describe())));
        }
        let mut file = self
            .dir
            .open(
                name,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
                0,
            )
            .map_err(|errno| match errno {
                Errno::ELOOP => untrusted(&shown, "is a symlink"),
                errno => sys(&shown, "open the hold record", errno),
            })?;
        let now = nix::sys::stat::fstat(&file)
            .map(|st| hostfs::Meta::from_stat(&st))
            .map_err(|e| sys(&shown, "look at the hold record", e))?;
        if !now.same_file(&meta) || now.kind != FileKind::Regular {
            return Err(untrusted(&shown, "changed while it was being opened"));
        }
        let caller = nix::unistd::geteuid().as_raw();
        if hostfs::writable_by_others_than(now.uid, now.mode, caller) {
            return Err(untrusted(
                &shown,
                &format!(
                    "could have been written by someone other than {} (owner {}, mode {:04o})",
                    user_name(caller),
                    user_name(now.uid),
                    now.mode
                ),
            ));
        }
        if now.nlink != 1 {
            return Err(untrusted(
                &shown,
                &format!("has {} hard links (one may be planted)", now.nlink),
            ));
        }
        let mut bytes = Vec::new();
        (&mut file)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ToolError::io(&shown, "read the hold record", &e))?;
        if bytes.len() as u64 > MAX_RECORD {
            return Err(untrusted(&shown, "is too large to be a hold record"));
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ToolError::failed(format!(
                "{shown} does not read as a hold record ({e}): nothing was changed; look at it, and move it aside if it is not one (wake then does what the runbook says)"
            ))
            .with("hold_file", &shown)
        })
    }

    /// Writes the record atomically and durably.
    pub fn write(&self, record: &HoldRecord) -> Result<(), ToolError> {
        let shown = self.record_path().display().to_string();
        self.remove_stale_temps();
        let temp = OsString::from(format!("{TEMP_PREFIX}{}", std::process::id()));
        let mut text = serde_json::to_string_pretty(record)
            .map_err(|e| ToolError::failed(format!("encoding the hold record: {e}")))?;
        text.push('\n');
        let written = (|| -> Result<(), (&'static str, Errno)> {
            let mut file = self
                .dir
                .create_new(&temp, 0o600)
                .map_err(|e| ("create the hold record's temp file", e))?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| ("write the hold record", io_errno(&e)))?;
            self.dir
                .rename(&temp, OsStr::new(RECORD))
                .map_err(|e| ("rename the hold record into place", e))?;
            self.dir
                .fsync()
                .map_err(|e| ("fsync the state directory", e))
        })();
        written.map_err(|(doing, errno)| {
            let _ = self.dir.unlink(&temp);
            sys(&shown, doing, errno)
        })
    }

    /// Moves the record into `STATE_DIR/holds/`, named by the time of the wake; returns
    /// its new path.
    pub fn retire(&self) -> Result<PathBuf, ToolError> {
        let history_path = self.path.join(HISTORY);
        match nix::sys::stat::mkdirat(
            self.dir.fd(),
            HISTORY,
            nix::sys::stat::Mode::from_bits_truncate(0o700),
        ) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(sys(&history_path.display().to_string(), "create", e)),
        }
        let history = private_dir(&history_path, true)?.ok_or_else(|| {
            ToolError::not_found(format!("{} does not exist", history_path.display()))
        })?;
        let stamp = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .replace(':', "");
        let mut name = OsString::from(format!("hold-{stamp}.json"));
        let mut n = 1;
        while history.stat(&name)?.is_some() {
            n += 1;
            name = OsString::from(format!("hold-{stamp}-{n}.json"));
        }
        let moved = history.entry_path(&name);
        let shown = moved.display().to_string();
        nix::fcntl::renameat(self.dir.fd(), RECORD, history.fd(), name.as_os_str())
            .map_err(|e| sys(&shown, "move the hold record into the history", e))?;
        history
            .fsync()
            .and_then(|()| self.dir.fsync())
            .map_err(|e| sys(&shown, "fsync the state directory", e))?;
        Ok(moved)
    }

    /// Whether an earlier hold was undone (the history holds a record).
    pub fn has_history(&self) -> bool {
        private_dir(&self.path.join(HISTORY), false)
            .ok()
            .flatten()
            .and_then(|d| d.entries().ok())
            .is_some_and(|names| names.iter().any(|n| n.to_string_lossy().ends_with(".json")))
    }

    /// Temp files a crashed run left behind (the directory is the caller's alone).
    fn remove_stale_temps(&self) {
        for name in self.dir.entries().unwrap_or_default() {
            if name.to_string_lossy().starts_with(TEMP_PREFIX) {
                let _ = self.dir.unlink(&name);
            }
        }
    }
}

fn untrusted(shown: &str, why: &str) -> ToolError {
    ToolError::refused(format!(
        "the hold record {shown} {why}: holdctl never obeys a record another user could have written or planted; nothing was changed; look at it and remove it (wake then does what the runbook says)"
    ))
    .with("hold_file", shown)
}

fn sys(shown: &str, doing: &'static str, errno: Errno) -> ToolError {
    ToolError::from(hostfs::Error::Sys {
        path: PathBuf::from(shown),
        doing,
        errno,
    })
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32))
}

/// Now, for the record (RFC 3339, UTC, seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Who asked: `SUDO_USER` (the person behind sudo), else the user holdctl runs as.
pub fn who() -> String {
    if let Some(user) = std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()) {
        return conventions::output::terminal_safe(&user, false);
    }
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// This host's name.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}
