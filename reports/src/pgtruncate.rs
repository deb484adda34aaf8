//! pgtruncate's report: the database, what was (or would be) emptied, kept, skipped, and
//! how much was freed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A built-in table catalogue (`--preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The Cornice server's tables, in the groups of its hibernate runbook.
    Cornice,
}

/// A group of a preset's tables (`--include GROUP`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Disk-heavy runtime data: what the runbook clears by default.
    Runtime,
    /// The opportunities catalog (`--include-opportunities`).
    Opportunities,
    /// Users, profiles and secrets (`--include-auth`).
    Auth,
    /// Market and arbitrage catalogs.
    Catalogs,
}

impl Preset {
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Cornice => "cornice",
        }
    }
}

impl Group {
    pub const ALL: [Group; 4] = [
        Group::Runtime,
        Group::Opportunities,
        Group::Auth,
        Group::Catalogs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Runtime => "runtime",
            Group::Opportunities => "opportunities",
            Group::Auth => "auth",
            Group::Catalogs => "catalogs",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The connection as a URL, without its password; null before it is known.
    pub database: Option<String>,
    pub preset: Option<Preset>,
    /// The preset groups chosen.
    pub groups: Vec<Group>,
    /// The TRUNCATE run (or, in a dry run, that would run); null when nothing is to do.
    pub statement: Option<String>,
    /// The tables chosen, emptied (or that would be).
    pub truncated: Vec<TableEntry>,
    /// Tables outside the chosen set that the cascade reaches (with `--allow-cascade`).
    pub cascaded: Vec<TableEntry>,
    /// Tables left alone, each with its reason.
    pub kept: Vec<TableEntry>,
    /// Preset tables this database does not have (skipped).
    pub missing: Vec<String>,
    /// Tables of the schema in no preset group (kept, unless `--include-auth`).
    pub unclassified: Vec<String>,
    pub sequences_reset: Vec<String>,
    /// Sequences only named in a column default: PostgreSQL does not reset them.
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
    pub group: Option<Group>,
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
    pub table: String,
}
