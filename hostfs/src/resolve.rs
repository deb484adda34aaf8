//! Resolving a path one component at a time, from descriptors, under the symlink trust
//! rule; and the directory and name it ends at.

use crate::error::Error;
use crate::meta::{FileKind, Meta};
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, renameat, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up (the kernel's own limit).
const MAX_SYMLINKS: usize = 40;

/// A directory, held open. Entries are reached through it, never through its path.
#[derive(Debug)]
pub struct Dir {
    /// An `O_PATH` descriptor: it needs only search permission to get, and every `*at`
    /// call works from it.
    fd: OwnedFd,
    /// The path it was reached by, for messages.
    pub path: PathBuf,
    pub meta: Meta,
}

/// Where a path leads: the directory holding its last component, the name in it, and
/// what is there now (`None`: nothing yet, e.g. a file `--create` will make).
#[derive(Debug)]
pub struct Location {
    pub dir: Dir,
    pub name: OsString,
    /// `dir.path` joined with `name`: the path as resolved.
    pub path: PathBuf,
    pub existing: Option<Meta>,
    /// Whether a symlink was followed on the way.
    pub via_symlink: bool,
}

fn path_flags() -> OFlag {
    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

impl Dir {
    fn open_start(absolute: bool) -> Result<Dir, Error> {
        let (text, shown) = if absolute {
            ("/", PathBuf::from("/"))
        } else {
            (".", PathBuf::new())
        };
        let fd = nix::fcntl::open(text, path_flags() & !OFlag::O_NOFOLLOW, Mode::empty())
            .map_err(|e| Error::sys(text, "open the directory", e))?;
        Dir::from_fd(fd, shown)
    }

    fn from_fd(fd: OwnedFd, path: PathBuf) -> Result<Dir, Error> {
        let meta = fstat(&fd)
            .map(|st| Meta::from_stat(&st))
            .map_err(|e| Error::sys(shown(&path), "look at the directory", e))?;
        Ok(Dir { fd, path, meta })
    }

    /// The subdirectory `name`, never through a symlink.
    fn child(&self, name: &OsStr) -> Result<Dir, Error> {
        let path = self.path.join(name);
        let fd = openat(&self.fd, name, path_flags(), Mode::empty()).map_err(|e| match e {
            Errno::ELOOP => Error::Changed { path: path.clone() },
            Errno::ENOENT => Error::NoDirectory { path: path.clone() },
            e => Error::sys(path.clone(), "open the directory", e),
        })?;
        Dir::from_fd(fd, path)
    }

    fn parent(&self) -> Result<Dir, Error> {
        let mut path = self.path.clone();
        if !path.pop() || path.as_os_str().is_empty() && !self.path.is_absolute() {
            path = self.path.join("..");
        }
        let fd = openat(&self.fd, "..", path_flags(), Mode::empty())
            .map_err(|e| Error::sys(path.clone(), "open the directory", e))?;
        Dir::from_fd(fd, path)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The path of an entry, for messages.
    pub fn entry_path(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// What is at `name` now (not following a symlink), or `None`.
    pub fn stat(&self, name: &OsStr) -> Result<Option<Meta>, Error> {
        match fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(Meta::from_stat(&st))),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(Error::sys(self.entry_path(name), "look at", e)),
        }
    }

    /// Opens `name` with `flags` (`O_NOFOLLOW | O_CLOEXEC` always added).
    pub fn open(&self, name: &OsStr, flags: OFlag, mode: u32) -> Result<File, Errno> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(&self.fd, name, flags, Mode::from_bits_truncate(mode)).map(File::from)
    }

    /// Creates `name`, which must not exist, for writing.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> Result<File, Errno> {
        self.open(
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOCTTY,
            mode,
        )
    }

    /// Opens (creating it, mode 0600, if missing) a lock file `name` for reading and
    /// writing, never through a symlink (`ELOOP`) and never blocking on a FIFO, and says
    /// what it is. Whether it is fit to be a lock is each caller's rule.
    pub fn open_lock_file(&self, name: &OsStr) -> Result<(File, Meta), Errno> {
        let file = self.open(
            name,
            OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
            0o600,
        )?;
        let meta = Meta::from_stat(&fstat(&file)?);
        Ok((file, meta))
    }

    pub fn rename(&self, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
        renameat(&self.fd, from, &self.fd, to)
    }

    /// Renames `from` to `to`, failing with `EEXIST` rather than replacing `to`.
    pub fn rename_noreplace(&self, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
        nix::fcntl::renameat2(
            &self.fd,
            from,
            &self.fd,
            to,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        )
    }

    /// Bytes an unprivileged user may still write on the directory's filesystem
    /// (`f_bavail`; root may use the reserved blocks too, which are not counted).
    pub fn available_bytes(&self) -> Result<u64, Errno> {
        let st = nix::sys::statvfs::fstatvfs(&self.fd)?;
        Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
    }

    pub fn unlink(&self, name: &OsStr) -> Result<(), Errno> {
        unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir)
    }

    /// The directory opened for reading (its entries, fsync): an `O_PATH` descriptor can
    /// do neither.
    fn readable(&self) -> Result<OwnedFd, Errno> {
        openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    }

    /// Makes the directory's entries (a rename, a new file) durable.
    pub fn fsync(&self) -> Result<(), Errno> {
        nix::unistd::fsync(self.readable()?)
    }

    /// The names in the directory (`.` and `..` left out).
    pub fn entries(&self) -> Result<Vec<OsString>, Errno> {
        let mut dir = nix::dir::Dir::from_fd(self.readable()?)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name != "." && name != ".." {
                names.push(name.to_os_string());
            }
        }
        Ok(names)
    }
}

fn shown(path: &Path) -> PathBuf {
    if path.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        path.to_path_buf()
    }
}

/// Resolves `path` to a [`Location`] under the trust rule: a symlink is followed only
/// when it is owned by root, by the caller, or by the owner of what it points to. The
/// last component need not exist; every directory before it must.
pub fn resolve(path: &Path) -> Result<Location, Error> {
    let caller = nix::unistd::geteuid().as_raw();
    let mut pending: VecDeque<OsString> = VecDeque::new();
    let mut dir = Dir::open_start(path.is_absolute())?;
    push_components(&mut pending, path, false);
    if pending.is_empty() {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind: FileKind::Directory,
        });
    }
    let mut links = 0;
    let mut via_symlink = false;
    while let Some(name) = pending.pop_front() {
        if name == ".." {
            dir = dir.parent()?;
            continue;
        }
        let here = dir.entry_path(&name);
        let existing = dir.stat(&name)?;
        match existing {
            Some(meta) if meta.kind == FileKind::Symlink => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(Error::TooManyLinks {
                        path: path.to_path_buf(),
                    });
                }
                let target = readlinkat(dir.fd(), name.as_os_str())
                    .map_err(|e| Error::sys(here.clone(), "read the symlink", e))?;
                let target = PathBuf::from(target);
                let target_owner =
                    match fstatat(dir.fd(), name.as_os_str(), nix::fcntl::AtFlags::empty()) {
                        Ok(st) => Some(st.st_uid),
                        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => None,
                        Err(Errno::ELOOP) => {
                            return Err(Error::TooManyLinks {
                                path: path.to_path_buf(),
                            })
                        }
                        Err(e) => return Err(Error::sys(here, "look at the symlink's target", e)),
                    };
                let trusted = meta.uid == 0 || meta.uid == caller || Some(meta.uid) == target_owner;
                if !trusted {
                    return Err(Error::UntrustedLink {
                        link: here,
                        owner: meta.uid,
                        target,
                        target_owner,
                    });
                }
                via_symlink = true;
                if target.is_absolute() {
                    dir = Dir::open_start(true)?;
                }
                push_components(&mut pending, &target, true);
            }
            _ if pending.is_empty() => {
                let path = dir.entry_path(&name);
                return Ok(Location {
                    dir,
                    name,
                    path,
                    existing,
                    via_symlink,
                });
            }
            Some(meta) if meta.kind != FileKind::Directory => {
                return Err(Error::sys(here, "use it as a directory", Errno::ENOTDIR));
            }
            Some(_) => dir = dir.child(&name)?,
            None => return Err(Error::NoDirectory { path: here }),
        }
    }
    // A path that ends in `..` names a directory, not a file.
    Err(Error::NotRegular {
        path: path.to_path_buf(),
        kind: FileKind::Directory,
    })
}

/// Queues a path's components (`.` dropped, the root handled by the caller), in front of
/// what is pending when `front` (a symlink's target replaces the link).
fn push_components(pending: &mut VecDeque<OsString>, path: &Path, front: bool) {
    let names: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect();
    if front {
        for n in names.into_iter().rev() {
            pending.push_front(n);
        }
    } else {
        pending.extend(names);
    }
}

impl Location {
    /// Opens the file read-only if it exists, refusing anything but a regular file
    /// without opening it: it is looked at first (`fstatat`), opened with `O_NOFOLLOW |
    /// O_NONBLOCK`, and looked at again through the descriptor.
    pub fn open_regular(&self) -> Result<Option<(File, Meta)>, Error> {
        let Some(meta) = self.dir.stat(&self.name)? else {
            return Ok(None);
        };
        match meta.kind {
            FileKind::Regular => {}
            // Resolving followed every link: one here now was put there since.
            FileKind::Symlink => {
                return Err(Error::Changed {
                    path: self.path.clone(),
                })
            }
            kind => {
                return Err(Error::NotRegular {
                    path: self.path.clone(),
                    kind,
                })
            }
        }
        let file = self
            .dir
            .open(
                &self.name,
                OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
                0,
            )
            .map_err(|e| match e {
                Errno::ELOOP | Errno::ENOENT => Error::Changed {
                    path: self.path.clone(),
                },
                e => Error::sys(self.path.clone(), "open", e),
            })?;
        let now = fstat(&file)
            .map(|st| Meta::from_stat(&st))
            .map_err(|e| Error::sys(self.path.clone(), "look at", e))?;
        if !now.same_file(&meta) || now.kind != FileKind::Regular {
            return Err(Error::Changed {
                path: self.path.clone(),
            });
        }
        Ok(Some((file, now)))
    }

    /// [`open_regular`](Self::open_regular) and the whole content, at most `limit` bytes.
    pub fn read(&self, limit: u64) -> Result<Option<(File, Meta, Vec<u8>)>, Error> {
        let Some((file, meta)) = self.open_regular()? else {
            return Ok(None);
        };
        let bytes = read_bounded(&file, meta.size, limit).map_err(|e| match e {
            ReadError::TooLarge => Error::TooLarge {
                path: self.path.clone(),
                limit,
            },
            ReadError::Io(e) => Error::sys(
                self.path.clone(),
                "read",
                Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EIO as i32)),
            ),
        })?;
        Ok(Some((file, meta, bytes)))
    }
}

enum ReadError {
    TooLarge,
    Io(std::io::Error),
}

fn read_bounded(mut file: &File, size_hint: u64, limit: u64) -> Result<Vec<u8>, ReadError> {
    if size_hint > limit {
        return Err(ReadError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size_hint).unwrap_or(0));
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge);
    }
    Ok(bytes)
}
