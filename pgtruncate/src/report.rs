//! The report pgtruncate prints beside the envelope.

use crate::plan::Entry;

pub use reports::pgtruncate::{Report, TableEntry};

impl From<&Entry> for TableEntry {
    fn from(e: &Entry) -> Self {
        TableEntry {
            table: e.table.clone(),
            group: e.group.clone(),
            bytes_before: e.bytes_before,
            bytes_after: None,
            rows_estimate: e.rows_estimate,
            partitions: e.partitions,
            via: e.via.clone(),
            reason: e.reason.clone(),
        }
    }
}
