//! Finding a profile by name or path and reading it under the host's trust rules: a file
//! root may follow only if nobody else can have chosen its content.

use crate::error::Error;
use crate::model::{Profile, Source};
use crate::validate;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where named profiles live.
pub const DEFAULT_DIR: &str = "/etc/holdkit/profiles";

/// Overrides [`DEFAULT_DIR`] (tests, staging). Read from the caller's own environment,
/// which a root caller controls; it never widens what is trusted: files there are held
/// to the same rules.
pub const DIR_VAR: &str = "HOLDKIT_PROFILE_DIR";

/// No profile is larger than this.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// The profiles compiled in, by name.
const BUILT_IN: [(&str, &str); 1] = [("cornice", include_str!("../profiles/cornice.toml"))];

/// The names of the built-in profiles.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

/// The text of a built-in profile.
pub fn built_in_text(name: &str) -> Option<&'static str> {
    BUILT_IN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// What `--preset`/`--profile` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// A bare word: `NAME.toml` in the profile directory, else the built-in `NAME`.
    Name(String),
    /// A profile file.
    File(PathBuf),
}

impl Spec {
    /// A bare `[a-z0-9_-]+` word is a name; anything with a `/` or ending in `.toml` is a
    /// path; anything else is refused rather than guessed.
    pub fn parse(given: &str) -> Result<Spec, Error> {
        if given.contains('/') || given.ends_with(".toml") {
            return Ok(Spec::File(PathBuf::from(given)));
        }
        let word = !given.is_empty()
            && given
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if word {
            Ok(Spec::Name(given.to_string()))
        } else {
            Err(Error::BadSpec {
                given: given.to_string(),
            })
        }
    }
}

/// The profile directory: `$HOLDKIT_PROFILE_DIR` if set, else [`DEFAULT_DIR`].
pub fn profile_dir() -> PathBuf {
    std::env::var_os(DIR_VAR)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_DIR), PathBuf::from)
}

/// Loads a profile from [`profile_dir`] or the built-ins.
pub fn load(spec: &Spec) -> Result<Profile, Error> {
    load_in(spec, &profile_dir())
}

/// Loads a profile: a name from `dir` first (a file there overrides a built-in profile
/// of the same name, as /etc overrides what a package ships), then the built-ins.
pub fn load_in(spec: &Spec, dir: &Path) -> Result<Profile, Error> {
    match spec {
        Spec::File(path) => {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            match read_trusted(path)? {
                Some(text) => parse_file(&text, path, &name),
                None => Err(Error::NoFile { path: path.clone() }),
            }
        }
        Spec::Name(name) => {
            let path = dir.join(format!("{name}.toml"));
            if let Some(text) = read_trusted_if_dir(&path)? {
                return parse_file(&text, &path, name);
            }
            match built_in_text(name) {
                Some(text) => {
                    validate::parse(text, &format!("built-in {name}"), name, Source::BuiltIn)
                }
                None => Err(Error::UnknownName {
                    name: name.clone(),
                    dir: dir.to_path_buf(),
                    built_in: built_in_names(),
                }),
            }
        }
    }
}

/// One profile a name can choose, as `holdctl profiles` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    /// Where `load` would read it from: a file in `dir` hides the built-in of its name.
    pub source: Source,
}

/// The profiles a name can choose: every `NAME.toml` in `dir` whose NAME is a profile
/// name, and the built-ins no file hides; sorted by name. Nothing is read or checked
/// here: [`load_in`] applies the trust rules to the one chosen. A missing directory
/// holds none.
pub fn list_in(dir: &Path) -> Result<Vec<Listed>, Error> {
    let mut listed: Vec<Listed> = Vec::new();
    // Resolving an entry of `dir` opens `dir` itself under the symlink rule.
    match hostfs::resolve(&dir.join("probe.toml")) {
        Ok(loc) => {
            let names = loc.dir.entries().map_err(|errno| {
                Error::Fs(hostfs::Error::Sys {
                    path: dir.to_path_buf(),
                    doing: "list the directory",
                    errno,
                })
            })?;
            for entry in names {
                let entry = entry.to_string_lossy();
                let Some(name) = entry.strip_suffix(".toml") else {
                    continue;
                };
                if matches!(Spec::parse(name), Ok(Spec::Name(_))) {
                    listed.push(Listed {
                        name: name.to_string(),
                        source: Source::File(dir.join(entry.as_ref())),
                    });
                }
            }
        }
        Err(hostfs::Error::NoDirectory { .. }) => {}
        Err(e) => return Err(Error::Fs(e)),
    }
    for name in built_in_names() {
        if !listed.iter().any(|l| l.name == name) {
            listed.push(Listed {
                name: name.to_string(),
                source: Source::BuiltIn,
            });
        }
    }
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(listed)
}

fn parse_file(text: &str, path: &Path, name: &str) -> Result<Profile, Error> {
    validate::parse(
        text,
        &path.display().to_string(),
        name,
        Source::File(path.to_path_buf()),
    )
}

/// [`read_trusted`], a missing directory counting as no file.
fn read_trusted_if_dir(path: &Path) -> Result<Option<String>, Error> {
    match read_trusted(path) {
        Err(Error::Fs(hostfs::Error::NoDirectory { .. })) => Ok(None),
        other => other,
    }
}

/// The file's text if it exists and root may trust it: reached without a link another
/// user planted, a regular file, owned by root or the caller, writable by no one else,
/// and not a hard link another user could have made. Those are checked on the open
/// descriptor before a byte is read.
fn read_trusted(path: &Path) -> Result<Option<String>, Error> {
    let loc = hostfs::resolve(path).map_err(Error::Fs)?;
    let Some((file, meta)) = loc.open_regular().map_err(Error::Fs)? else {
        return Ok(None);
    };
    let euid = nix::unistd::geteuid().as_raw();
    let shown = loc.path.clone();
    let untrusted = |reason: String| Error::Untrusted {
        path: shown.clone(),
        reason,
    };
    if meta.uid != 0 && meta.uid != euid {
        return Err(untrusted(format!(
            "is owned by {}",
            hostfs::user_name(meta.uid)
        )));
    }
    if hostfs::writable_by_others_than(meta.uid, meta.mode, euid) {
        let who = if meta.mode & 0o002 != 0 {
            "everyone"
        } else {
            "its group"
        };
        return Err(untrusted(format!(
            "is writable by {who} (mode {:04o})",
            meta.mode
        )));
    }
    if hostfs::hard_link_may_be_planted(&loc.dir.meta, &meta) {
        return Err(untrusted(format!(
            "has {} hard links and its directory {} can be written by other users, so the link may have been planted",
            meta.nlink,
            loc.dir.path.display()
        )));
    }
    if meta.size > MAX_PROFILE_BYTES {
        return Err(Error::Fs(hostfs::Error::TooLarge {
            path: shown,
            limit: MAX_PROFILE_BYTES,
        }));
    }
    let mut bytes = Vec::new();
    (&file)
        .take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::Fs(hostfs::Error::Sys {
                path: shown.clone(),
                doing: "read",
                errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc_eio())),
            })
        })?;
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(Error::Fs(hostfs::Error::TooLarge {
            path: shown,
            limit: MAX_PROFILE_BYTES,
        }));
    }
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        Error::Syntax {
            file: shown.display().to_string(),
            line: Some(line),
            message: "not valid UTF-8 (TOML is UTF-8)".into(),
        }
    })
}

fn libc_eio() -> i32 {
    nix::errno::Errno::EIO as i32
}
