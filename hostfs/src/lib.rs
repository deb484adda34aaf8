//! Files on a host as root may touch them.
//!
//! These tools run as root beside users who own directories of their own. Every path is
//! resolved here one component at a time, from descriptors:
//!
//! - [`resolve`]: a symlink is followed only when root owns it or its owner owns what it
//!   points to (following it then grants nothing its owner did not already have); any other
//!   link is an [`Error::UntrustedLink`], whatever the kernel's `fs.protected_symlinks` says.
//!   The result is the directory, open, and the final name in it: every step after that
//!   works on the descriptor (`openat`, `renameat`, `fsync`), so a directory swapped
//!   mid-run redirects nothing.
//! - [`Location::open_regular`] / [`Location::read`]: `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC`
//!   after an `fstatat` that says "regular file", then `fstat` of the descriptor: a FIFO,
//!   socket or device is [`Error::NotRegular`] and is never opened (so never a hang), and
//!   reads are bounded.
//! - [`lock`]: flocks with a deadline and the holder's pid, from the kernel's own table.
//! - [`xattrs`]: extended attributes (ACLs, SELinux labels) copied from one descriptor to
//!   another.

mod error;
pub mod lock;
mod meta;
mod resolve;
pub mod xattrs;

pub use error::Error;
pub use meta::{hard_link_may_be_planted, user_name, writable_by_others_than, FileKind, Meta};
pub use resolve::{resolve, Dir, Location};

/// The largest env file (or similar small text file) these tools read.
pub const MAX_TEXT_FILE: u64 = 16 * 1024 * 1024;
