//! Why a path could not be used, with the exit code each reason has.

use crate::meta::{user_name, FileKind};
use conventions::ToolError;
use nix::errno::Errno;
use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A symlink that root may not follow: made by a user who does not own its target.
    UntrustedLink {
        link: PathBuf,
        owner: u32,
        target: PathBuf,
        /// The owner of what the link points to; `None` when it points nowhere.
        target_owner: Option<u32>,
    },
    /// Something other than a regular file (a FIFO, a device, a directory...).
    NotRegular { path: PathBuf, kind: FileKind },
    /// Larger than the bound for a file of its kind.
    TooLarge { path: PathBuf, limit: u64 },
    /// More symlinks than the kernel itself would follow.
    TooManyLinks { path: PathBuf },
    /// A directory on the way does not exist.
    NoDirectory { path: PathBuf },
    /// The file changed between two looks at it (swapped by someone): nothing was done.
    Changed { path: PathBuf },
    /// A system call failed.
    Sys {
        path: PathBuf,
        doing: &'static str,
        errno: Errno,
    },
}

impl Error {
    pub(crate) fn sys(path: impl Into<PathBuf>, doing: &'static str, errno: Errno) -> Error {
        Error::Sys {
            path: path.into(),
            doing,
            errno,
        }
    }

    /// The path the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Error::UntrustedLink { link, .. } => link,
            Error::NotRegular { path, .. }
            | Error::TooLarge { path, .. }
            | Error::TooManyLinks { path }
            | Error::NoDirectory { path }
            | Error::Changed { path }
            | Error::Sys { path, .. } => path,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UntrustedLink {
                link,
                owner,
                target,
                target_owner,
            } => {
                let points = match target_owner {
                    Some(t) => format!("{}, owned by {}", target.display(), user_name(*t)),
                    None => format!("{}, which does not exist", target.display()),
                };
                write!(
                    f,
                    "{} is a symlink made by {} to {points}: root follows a link only when root made it or it points to a file of its maker's own, so nothing was touched; give the real path, or have root make the link",
                    link.display(),
                    user_name(*owner)
                )
            }
            Error::NotRegular { path, kind } => write!(
                f,
                "{} is {}, not a regular file: give the path of a regular file; nothing was touched",
                path.display(),
                kind.describe()
            ),
            Error::TooLarge { path, limit } => write!(
                f,
                "{} is larger than {} MiB, too large for a file of settings: give the right path; nothing was touched",
                path.display(),
                limit / (1024 * 1024)
            ),
            Error::TooManyLinks { path } => write!(
                f,
                "{}: too many levels of symlinks: give the real path",
                path.display()
            ),
            Error::NoDirectory { path } => write!(
                f,
                "directory {} does not exist: create it first, or check the path",
                path.display()
            ),
            Error::Changed { path } => write!(
                f,
                "{} changed while it was being opened (replaced by another process): nothing was touched; run again",
                path.display()
            ),
            Error::Sys { path, doing, errno } => {
                write!(f, "{}: cannot {doing}: {}", path.display(), errno.desc())
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for ToolError {
    fn from(e: Error) -> ToolError {
        let path = e.path().display().to_string();
        let message = e.to_string();
        let err = match &e {
            Error::UntrustedLink { owner, target, .. } => ToolError::refused(message)
                .with("link_owner", owner)
                .with("link_target", target.display().to_string()),
            Error::NotRegular { kind, .. } => {
                ToolError::usage(message).with("file_type", kind.describe())
            }
            Error::TooLarge { .. } | Error::TooManyLinks { .. } => ToolError::usage(message),
            Error::NoDirectory { .. } => ToolError::not_found(message),
            Error::Changed { .. } => ToolError::busy(message),
            Error::Sys { errno, .. } => match *errno {
                Errno::ENOENT => ToolError::not_found(message),
                Errno::EACCES | Errno::EPERM => ToolError::permission(message),
                Errno::ELOOP => ToolError::usage(message),
                Errno::EWOULDBLOCK | Errno::EINTR => ToolError::busy(message),
                _ => ToolError::failed(message),
            },
        };
        err.with("file", path)
    }
}
