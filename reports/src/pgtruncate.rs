//! pgtruncate's report: the database, what was (or would be) emptied, kept, skipped, and
//! how much was freed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The hold profile a `--preset` run followed: which one, read from where, which text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInfo {
    /// The profile's name (a file's stem when given by path).
    pub name: String,
    /// `built-in`, or the path of the profile file read.
    pub source: String,
    /// SHA-256 of the profile's text, hex.
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The connection as a URL, without its password; null before it is known.
    pub database: Option<String>,
    /// The profile's name (`--preset NAME|FILE`); null without a preset.
    pub preset: Option<String>,
    /// The profile followed; null without a preset.
    #[serde(default)]
    pub profile: Option<ProfileInfo>,
    /// The profile's groups chosen, in the profile's order.
    pub groups: Vec<String>,
    /// The TRUNCATE run (or, in a dry run, that would run); null when nothing is to do.
    pub statement: Option<String>,
    /// The tables chosen, emptied (or that would be).
    pub truncated: Vec<TableEntry>,
    /// Tables outside the chosen set that the cascade reaches (with `--allow-cascade`).
    pub cascaded: Vec<TableEntry>,
    /// Tables left alone, each with its reason.
    pub kept: Vec<TableEntry>,
    /// Tables of the profile's groups this database does not have (skipped).
    pub missing: Vec<String>,
    /// Tables of the schema in no profile group and not in its `keep` (kept, unless an
    /// include adds the unclassified tables, as cornice's `--include-auth` does).
    pub unclassified: Vec<String>,
    pub sequences_reset: Vec<String>,
    /// Sequences of the emptied tables that are not reset: named only in a column
    /// default (PostgreSQL does not reset those), or owned by an emptied table but drawn
    /// on by a kept table's default (with a `reason`).
    pub sequences_not_reset: Vec<SequenceNotReset>,
    pub warnings: Vec<String>,
    /// Bytes freed, measured after the commit; in a dry run, the bytes the tables hold
    /// now (an upper bound); null when not measured.
    pub bytes_freed: Option<i64>,
    pub duration_ms: u64,
    /// `--archive FILE`: the archive written before the TRUNCATE (in a dry run: its path
    /// and size estimate); `--undo FILE`: the archive read. Null without either.
    #[serde(default)]
    pub archive: Option<Archive>,
    /// `--undo`: each table loaded back, with the rows loaded.
    #[serde(default)]
    pub restored: Vec<TableRows>,
    /// `--undo`: each sequence set back, with its value.
    #[serde(default)]
    pub sequences: Vec<SequenceValue>,
}

/// How an archive's bytes are compressed, chosen by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// `.sql.gz`
    Gzip,
    /// `.sql`
    None,
    /// `.sql.zst`
    Zstd,
}

/// An archive: a plain SQL script (`pg_dump --data-only` style) of the rows a TRUNCATE
/// emptied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Archive {
    pub path: String,
    pub compression: Compression,
    /// The file's size; null in a dry run.
    pub bytes: Option<u64>,
    /// A dry run's estimate of `bytes` (from the tables' sizes); null otherwise.
    #[serde(default)]
    pub bytes_estimate: Option<u64>,
    /// SHA-256 of the file as stored (what `sha256sum FILE` prints); null in a dry run.
    pub sha256: Option<String>,
    /// Each table in the archive (leaf partitions on their own), in restore order.
    pub tables: Vec<TableRows>,
    /// Each sequence the archive sets back, with its value before the TRUNCATE.
    pub sequences: Vec<SequenceValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableRows {
    /// schema.table, quoted where needed.
    pub table: String,
    pub rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SequenceValue {
    /// schema.sequence, quoted where needed.
    pub sequence: String,
    /// `last_value`, as `setval` takes it back.
    pub value: i64,
    /// Whether `nextval` had returned `value` (the next call gives the one after);
    /// false: the next call gives `value` itself.
    pub is_called: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// schema.table, quoted where needed (the form pgtruncate takes back as an argument).
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The profile group the table is in.
    pub group: Option<String>,
    /// `pg_total_relation_size` before, partitions summed.
    pub bytes_before: i64,
    /// The same after the commit; null in a dry run and for kept tables.
    pub bytes_after: Option<i64>,
    /// From the planner's statistics (`pg_class.reltuples`); null when never analysed.
    pub rows_estimate: Option<i64>,
    /// A partitioned table: how many partitions its entry sums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<usize>,
    /// `cascaded`: the path that reaches it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// `kept`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SequenceNotReset {
    pub sequence: String,
    /// The emptied table that names it in a default, or owns it.
    pub table: String,
    /// Why an owned sequence is left alone (e.g. `used by kept table public.user_secrets:
    /// ...`); absent for a sequence only named in a default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
