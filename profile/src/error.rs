//! Why a profile could not be used, each reason with its exit code.

use conventions::ToolError;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// `--preset`/`--profile` given something that is neither a name nor a path.
    BadSpec { given: String },
    /// No profile of that name, built in or in the directory.
    UnknownName {
        name: String,
        dir: PathBuf,
        built_in: Vec<&'static str>,
    },
    /// A profile file named by path that does not exist.
    NoFile { path: PathBuf },
    /// A file root must not trust: owned by another user, writable by others, a hard link
    /// that may have been planted. Nothing of it was read.
    Untrusted { path: PathBuf, reason: String },
    /// Refused by the host's file rules (a planted symlink, a FIFO, too large...).
    Fs(hostfs::Error),
    /// Not TOML, or not the profile format (an unknown key, a wrong type).
    Syntax {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// Valid TOML in the profile format, but not a usable profile.
    Invalid {
        file: String,
        line: Option<usize>,
        problem: String,
    },
    /// `--include NAME` that is neither an include nor a group of the profile.
    UnknownInclude {
        profile: String,
        include: String,
        known: Vec<String>,
        groups: Vec<String>,
    },
}

fn at(file: &str, line: Option<usize>) -> String {
    match line {
        Some(n) => format!("{file} line {n}"),
        None => file.to_string(),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadSpec { given } => write!(
                f,
                "profile \"{}\" is neither a profile name (lowercase letters, digits, '-' and '_') nor a path (one with a '/' or ending in .toml): give a name such as cornice or a file such as ./ledger.toml",
                given.escape_debug()
            ),
            Error::UnknownName {
                name,
                dir,
                built_in,
            } => write!(
                f,
                "no profile {name}: neither built in ({}) nor {}/{name}.toml; write that file (root's, writable by no one else) or give a profile file's path",
                built_in.join(", "),
                dir.display()
            ),
            Error::NoFile { path } => write!(
                f,
                "profile file {} does not exist: check the path",
                path.display()
            ),
            Error::Untrusted { path, reason } => write!(
                f,
                "profile file {} {reason}, so another user could have chosen what it says: nothing of it was read; make it root's (or yours) and writable by no one else",
                path.display()
            ),
            Error::Fs(e) => write!(f, "profile: {e}"),
            Error::Syntax {
                file,
                line,
                message,
            } => write!(
                f,
                "profile {}: {message}; fix the file (docs/contract.md describes the format)",
                at(file, *line)
            ),
            Error::Invalid {
                file,
                line,
                problem,
            } => write!(f, "profile {}: {problem}; fix the file", at(file, *line)),
            Error::UnknownInclude {
                profile,
                include,
                known,
                groups,
            } => {
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                write!(
                    f,
                    "--include {include}: profile {profile} has no include or group of that name (includes: {}; groups: {}); nothing was truncated",
                    list(known),
                    list(groups)
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The file (or built-in profile) the error is about, when there is one.
    fn file(&self) -> Option<String> {
        match self {
            Error::NoFile { path } | Error::Untrusted { path, .. } => {
                Some(path.display().to_string())
            }
            Error::Fs(e) => Some(e.path().display().to_string()),
            Error::Syntax { file, .. } | Error::Invalid { file, .. } => Some(file.clone()),
            _ => None,
        }
    }

    pub fn line(&self) -> Option<usize> {
        match self {
            Error::Syntax { line, .. } | Error::Invalid { line, .. } => *line,
            _ => None,
        }
    }
}

impl From<Error> for ToolError {
    fn from(e: Error) -> ToolError {
        let message = e.to_string();
        let mut err = match &e {
            // An unknown name is a word the command line got wrong, as an unknown value
            // of any option is; a file named by path that is not there is not found.
            Error::BadSpec { .. }
            | Error::UnknownName { .. }
            | Error::Syntax { .. }
            | Error::Invalid { .. }
            | Error::UnknownInclude { .. } => ToolError::usage(message),
            Error::NoFile { .. } => ToolError::not_found(message),
            Error::Untrusted { .. } => ToolError::refused(message),
            Error::Fs(fs) => ToolError {
                message,
                ..ToolError::from(fs.clone())
            },
        };
        if let Some(file) = e.file() {
            err = err.with("file", file);
        }
        if let Some(line) = e.line() {
            err = err.with("line", line);
        }
        err
    }
}
