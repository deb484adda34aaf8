//! The report pgtruncate prints beside the envelope.

use crate::plan::{Entry, SequenceNotReset};
use crate::preset::{Group, Preset};
use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The connection, without its password.
    pub database: Option<String>,
    pub preset: Option<Preset>,
    pub groups: Vec<Group>,
    /// The TRUNCATE run (or, in a dry run, that would run).
    pub statement: Option<String>,
    pub truncated: Vec<TableEntry>,
    /// Tables outside the chosen set that the cascade reaches (with `--allow-cascade`).
    pub cascaded: Vec<TableEntry>,
    pub kept: Vec<TableEntry>,
    /// Preset tables this database does not have (skipped).
    pub missing: Vec<String>,
    /// Tables of the schema in no preset group.
    pub unclassified: Vec<String>,
    pub sequences_reset: Vec<String>,
    pub sequences_not_reset: Vec<SequenceNotReset>,
    pub warnings: Vec<String>,
    /// Bytes freed, measured after the commit; in a dry run, the bytes the tables hold
    /// now (an upper bound: emptied indexes keep a page or two).
    pub bytes_freed: Option<i64>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableEntry {
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
    /// `pg_total_relation_size` before, partitions summed.
    pub bytes_before: i64,
    /// The same after the commit; null in a dry run and for kept tables.
    pub bytes_after: Option<i64>,
    /// From the planner's statistics (`pg_class.reltuples`); null when never analysed.
    pub rows_estimate: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitions: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&Entry> for TableEntry {
    fn from(e: &Entry) -> Self {
        TableEntry {
            table: e.table.clone(),
            group: e.group,
            bytes_before: e.bytes_before,
            bytes_after: None,
            rows_estimate: e.rows_estimate,
            partitions: e.partitions,
            via: e.via.clone(),
            reason: e.reason.clone(),
        }
    }
}
