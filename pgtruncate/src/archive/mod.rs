//! `--archive FILE`: no row is emptied unless it is in a durable archive; `--undo FILE`:
//! put an archive back.
//!
//! - [`format`]: the archive (a `pg_dump --data-only` style SQL script with a header and
//!   a checksummed trailer): its writer's pieces and the strict parser `--undo` reads with.
//! - [`order`]: the restore order foreign keys impose.
//! - [`file`]: the archive file under the host's trust rules: a temp file created
//!   exclusively in FILE's directory, fsynced, renamed, the directory fsynced.
//! - [`write`]: the copy-out, run inside the truncating transaction.
//! - [`undo`]: the restore; [`keys`]: its foreign keys proven in bulk.

pub(crate) mod file;
pub(crate) mod format;
pub(crate) mod keys;
pub(crate) mod order;
pub(crate) mod undo;
pub(crate) mod write;

pub use reports::pgtruncate::Compression;

use crate::errors::db_error;
use conventions::ToolError;
use postgres::error::SqlState;
use std::path::{Path, PathBuf};

/// The compression FILE's name asks for: `.sql.gz`, `.sql.zst` or `.sql`.
pub(crate) fn compression_of(path: &Path, flag: &str) -> Result<Compression, ToolError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.ends_with(".sql.gz") {
        Ok(Compression::Gzip)
    } else if name.ends_with(".sql.zst") {
        Ok(Compression::Zstd)
    } else if name.ends_with(".sql") {
        Ok(Compression::None)
    } else {
        Err(ToolError::usage(format!(
            "{flag} {}: the name says how the archive is compressed: end it in .sql.gz (gzip), .sql.zst (zstd) or .sql (plain)",
            path.display()
        )))
    }
}

/// Why no archive was written (and so nothing was truncated).
#[derive(Debug)]
pub enum ArchiveError {
    /// A query or a COPY failed.
    Db { doing: String, err: postgres::Error },
    /// Reading a COPY's rows failed other than with the server's error.
    Read { doing: String, err: std::io::Error },
    /// A relation whose rows COPY cannot read on its own (a foreign table).
    Unsupported { table: String },
    /// Writing or syncing the file failed (a full disk, an I/O error).
    Write {
        path: PathBuf,
        doing: &'static str,
        err: std::io::Error,
    },
    /// FILE appeared while the archive was being written.
    Exists { path: PathBuf },
    /// COPY gave another number of rows than the count taken under the same lock.
    Rows {
        table: String,
        counted: u64,
        copied: u64,
    },
    /// The tables' foreign keys form a cycle that no load order satisfies.
    Cycle { constraints: Vec<String> },
    /// A name the archive's line format cannot hold.
    Name { name: String },
}

impl ArchiveError {
    pub(crate) fn db(doing: impl Into<String>, err: postgres::Error) -> ArchiveError {
        ArchiveError::Db {
            doing: doing.into(),
            err,
        }
    }

    pub(crate) fn into_tool_error(self) -> ToolError {
        match self {
            ArchiveError::Db { doing, err } if err.code() == Some(&SqlState::QUERY_CANCELED) => {
                ToolError::busy(format!(
                    "{doing} ran past the statement timeout: retry with a longer --statement-timeout; no archive was written and nothing was truncated"
                ))
            }
            ArchiveError::Db { doing, err } => db_error(&err, &doing),
            ArchiveError::Read { doing, err } => ToolError::failed(format!(
                "{doing} failed: {err}; the transaction was rolled back, nothing was truncated and no archive was left"
            )),
            ArchiveError::Unsupported { table } => ToolError::refused(format!(
                "{table} is not an ordinary table or partition (a foreign table?), whose rows --archive cannot copy: leave it out with --except; nothing was truncated"
            )),
            ArchiveError::Write { path, doing, err } => {
                let full = err.raw_os_error() == Some(nix::libc::ENOSPC)
                    || err.raw_os_error() == Some(nix::libc::EDQUOT);
                let what_to_do = if full {
                    "free space there or give --archive a path on a larger filesystem"
                } else {
                    "check the disk and the directory"
                };
                ToolError::failed(format!(
                    "cannot {doing} the archive {}: {err}: {what_to_do}; the transaction was rolled back, nothing was truncated and no archive was left",
                    path.display()
                ))
                .with("file", path.display().to_string())
            }
            ArchiveError::Exists { path } => ToolError::usage(format!(
                "{} appeared while the archive was being written: archives are never overwritten; give another path; nothing was truncated",
                path.display()
            ))
            .with("file", path.display().to_string()),
            ArchiveError::Rows {
                table,
                counted,
                copied,
            } => ToolError::failed(format!(
                "COPY of {table} gave {copied} rows where count(*) under the same lock gave {counted}: nothing was truncated; report this"
            )),
            ArchiveError::Cycle { constraints } => ToolError::refused(format!(
                "the tables' foreign keys form a cycle that no restore order satisfies ({}): make one of them DEFERRABLE, or leave a table of the cycle out; nothing was truncated",
                constraints.join(", ")
            ))
            .with("constraints", constraints),
            ArchiveError::Name { name } => ToolError::refused(format!(
                "{name} has a line break in its name, which the archive's line format cannot hold: rename it; nothing was truncated"
            )),
        }
    }
}
