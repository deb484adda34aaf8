//! `hibernate --archive[=DIR]`: the file pgtruncate writes the emptied rows into,
//! `DIR/HOST-DATE-DB.sql.gz` (DIR by default `STATE_DIR/archives`, created 0700 and held
//! to the state directory's rule), and `wake --restore`, which puts it back.

use crate::child::StepRecord;
use crate::cli::Cli;
use crate::lock::{create_private_dir, refuse_shared_dir};
use crate::report::Draft;
use crate::steps::{self, Target};
use conventions::ToolError;
use reports::holdctl::HoldRecord;
use std::path::PathBuf;

/// The directory under the state directory that `--archive` alone means.
const DEFAULT_SUBDIR: &str = "archives";
/// A name that is never created: resolving it yields the directory it would be in.
const PROBE: &str = ".holdctl-probe";

/// The archive directory `--archive` names.
fn dir(cli: &Cli) -> Option<PathBuf> {
    cli.archive.as_ref().map(|given| {
        given
            .clone()
            .unwrap_or_else(|| cli.state_dir.join(DEFAULT_SUBDIR))
    })
}

/// The archive file for this hibernate, or `None` without `--archive`. `create`: the
/// directory is made (0700) when missing (a plan makes nothing: without the directory it
/// says so and checks no archive). The database's name comes from a `read_tables` step
/// (pgtruncate's dry run, which names the database it reached); the date is now, UTC.
pub fn choose_file(
    cli: &Cli,
    draft: &mut Draft,
    target: &Target,
    create: bool,
) -> Result<Option<String>, ToolError> {
    let Some(dir) = dir(cli) else {
        return Ok(None);
    };
    if create {
        create_private_dir(&dir, "--archive")?;
    }
    let loc = match hostfs::resolve(&dir.join(PROBE)) {
        Ok(loc) => loc,
        Err(hostfs::Error::NoDirectory { .. }) if !create => {
            draft.warn(format!(
                "the archive directory {} does not exist yet (hibernate creates it), so this plan checks no archive",
                dir.display()
            ));
            return Ok(None);
        }
        Err(e) => return Err(ToolError::from(e).with("archive_dir", dir.display().to_string())),
    };
    refuse_shared_dir(
        &loc.dir,
        "the archive directory",
        "read the archive (every emptied row) or plant one that wake --restore would load",
        "such as the default STATE_DIR/archives",
    )?;
    let step = steps::status(target)
        .into_iter()
        .next()
        .expect("status reads the tables");
    let database = draft
        .chain
        .run(&step, None)
        .and_then(StepRecord::pgtruncate)
        .and_then(|r| r.database.clone());
    if let Some(e) = draft.chain.error.take() {
        return Err(e);
    }
    let db = database.as_deref().map_or("db".to_string(), database_name);
    let stamp = crate::hold::now_rfc3339().replace([':', '-'], "");
    let name = format!(
        "{}-{}-{}.sql.gz",
        safe(&crate::hold::host_name()),
        stamp,
        safe(&db)
    );
    Ok(Some(dir.join(name).display().to_string()))
}

/// The database's name in a URL without its password (`postgresql://u@h:5432/db?x`).
fn database_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let after_host = path.split_once("://").map_or(path, |(_, rest)| rest);
    match after_host.split_once('/') {
        Some((_, db)) if !db.is_empty() => db.to_string(),
        _ => "db".to_string(),
    }
}

/// A word fit for a file name: letters, digits, `.`, `_` and `-`; anything else `_`.
fn safe(word: &str) -> String {
    let s: String = word
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.trim_start_matches('.').to_string()
}

/// `wake --restore`: the archive the record names; refused without one.
pub fn to_restore(record: Option<&HoldRecord>) -> Result<String, ToolError> {
    match record.and_then(|r| r.archive.as_ref()) {
        Some(archive) => Ok(archive.path.clone()),
        None => Err(ToolError::refused(match record {
            Some(_) => "wake --restore: the hold record names no archive (the hold was made without --archive, or its truncate did not run): nothing was changed; wake without --restore",
            None => "wake --restore: there is no hold record, so no archive to put back: nothing was changed; wake without --restore, or run pgtruncate --undo FILE by hand",
        })),
    }
}

/// The archive the truncate step wrote, from its report.
pub fn written(records: &[StepRecord]) -> Option<reports::pgtruncate::Archive> {
    records
        .iter()
        .filter(|r| r.name == reports::holdctl::StepName::Truncate && r.ok && !r.dry_run)
        .filter_map(StepRecord::pgtruncate)
        .find_map(|r| r.archive.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_takes_the_database_from_the_url() {
        assert_eq!(
            database_name("postgresql://u@127.0.0.1:5432/hold_12?sslmode=prefer"),
            "hold_12"
        );
        assert_eq!(database_name("postgresql://u@h"), "db");
        assert_eq!(safe("../a b/c"), "_a_b_c");
    }
}
