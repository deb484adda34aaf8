//! The env file as envpatch reads it: the workspace's readers of python-dotenv 1.x and
//! systemd 252's `EnvironmentFile=` (the `envfile` crate), and [`Readings`], what an
//! edit keeps of one text under both.

mod readings;

pub use envfile::{
    decode, split_lines, systemd_assignments, systemd_env, systemd_name_is_valid, Assignment,
    ContentError, Document, Entries, Entry, EntryKind, Line, SystemdAssignment, SystemdReader,
};
pub use readings::{keeps, KeySet, Readings, Sequences};
