//! What `fstat` says about a file, in the terms the trust rules use.

use nix::sys::stat::{FileStat, SFlag};

/// The kind of a file, for messages ("is a FIFO").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileKind {
    pub fn describe(self) -> &'static str {
        match self {
            FileKind::Regular => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symlink",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Unknown => "not a regular file",
        }
    }
}

/// Owner, mode, identity and size of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: FileKind,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits, setuid/setgid/sticky included.
    pub mode: u32,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
}

impl Meta {
    pub fn from_stat(st: &FileStat) -> Meta {
        let fmt = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let kind = match fmt {
            SFlag::S_IFREG => FileKind::Regular,
            SFlag::S_IFDIR => FileKind::Directory,
            SFlag::S_IFLNK => FileKind::Symlink,
            SFlag::S_IFIFO => FileKind::Fifo,
            SFlag::S_IFSOCK => FileKind::Socket,
            SFlag::S_IFCHR => FileKind::CharDevice,
            SFlag::S_IFBLK => FileKind::BlockDevice,
            _ => FileKind::Unknown,
        };
        Meta {
            kind,
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            nlink: st.st_nlink,
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    }

    /// Same inode (the file was not swapped between two looks).
    pub fn same_file(&self, other: &Meta) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    /// Whether some user other than root and `uid` may write here: group or others have
    /// write permission, or the owner is someone else. For a directory that means they
    /// can create, rename or remove its entries.
    pub fn writable_by_others_than(&self, uid: u32) -> bool {
        writable_by_others_than(self.uid, self.mode, uid)
    }
}

/// [`Meta::writable_by_others_than`] for a file known by its owner and mode: true when
/// its owner is neither root nor `uid`, or group or others may write it. The one rule for
/// "could another user have written this".
pub fn writable_by_others_than(owner: u32, mode: u32, uid: u32) -> bool {
    (owner != 0 && owner != uid) || mode & 0o022 != 0
}

/// Whether a file with other hard links could have been linked into this directory by a
/// user other than root and the file's owner (to make root read or rewrite a file of
/// root's through a path of theirs): it has more than one link and someone else may
/// write the directory.
pub fn hard_link_may_be_planted(dir: &Meta, file: &Meta) -> bool {
    file.nlink > 1 && dir.writable_by_others_than(file.uid)
}

/// "cornice (uid 999)", or "uid 999" when the user database has no name for it.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}
