//! `--archive FILE`: checked before anything is locked ([`Job::prepare`]: FILE, its
//! directory, the free space, the restore order), then written inside the truncating
//! transaction, after the closure is locked and re-checked and before the TRUNCATE
//! ([`Job`] is the transaction's [`BeforeTruncate`] hook): every leaf table copied out
//! with `COPY ... TO STDOUT`, streamed into the file, which is made durable before the
//! TRUNCATE is sent.

use super::file::{Destination, Persisted};
use super::format::{self, Header, SeqSet};
use super::order::{self, Key, Order};
use super::ArchiveError;
use crate::catalog::{SequenceLink, SequenceUse};
use crate::names::QualifiedName;
use crate::plan::Plan;
use crate::truncate::BeforeTruncate;
use crate::Cli;
use conventions::{Output, ToolError};
use postgres::Client;
use reports::pgtruncate::{Archive, Report, SequenceValue, TableRows};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

/// How much smaller than the tables' size (`pg_table_size`) the archive is estimated to
/// be, by compression; the estimate is divided by [`CLEARLY`] again before free space is
/// called too small, so only a filesystem that clearly cannot hold it is refused.
fn shrink(c: super::Compression) -> u64 {
    match c {
        super::Compression::Gzip | super::Compression::Zstd => 4,
        super::Compression::None => 1,
    }
}
const CLEARLY: u64 = 4;

/// A table whose rows go into the archive: an ordinary table, or a partition (a
/// partitioned table's rows are its partitions').
#[derive(Debug, Clone)]
struct Leaf {
    name: QualifiedName,
    /// The root of its partition tree, or itself: the unit the restore order is of.
    group: u32,
    /// Every column but generated ones, in table order.
    columns: Vec<String>,
    table_bytes: u64,
}

/// The leaves in restore order.
#[derive(Debug, Clone)]
struct Layout {
    leaves: Vec<Leaf>,
    deferred: bool,
}

impl Layout {
    fn read(client: &mut Client, members: &[u32]) -> Result<Layout, ArchiveError> {
        let rows = client
            .query(
                "SELECT c.oid, n.nspname::pg_catalog.text, c.relname::pg_catalog.text,
                        c.relkind::pg_catalog.text,
                        COALESCE(pg_catalog.pg_partition_root(c.oid)::pg_catalog.oid, c.oid),
                        pg_catalog.pg_table_size(c.oid),
                        ARRAY(SELECT a.attname::pg_catalog.text FROM pg_catalog.pg_attribute a
                               WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid
                                 AND a.attnum OPERATOR(pg_catalog.>) 0
                                 AND NOT a.attisdropped
                                 AND a.attgenerated OPERATOR(pg_catalog.=) ''
                               ORDER BY a.attnum)
                   FROM pg_catalog.unnest($1::pg_catalog.oid[]) AS o(oid)
                   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) o.oid
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  ORDER BY n.nspname, c.relname",
                &[&members],
            )
            .map_err(|e| ArchiveError::db("reading the tables' columns", e))?;
        let mut leaves = Vec::new();
        let mut groups: Vec<u32> = Vec::new();
        for row in rows {
            let name = QualifiedName::new(row.get::<_, String>(1), row.get::<_, String>(2));
            let kind: String = row.get(3);
            if name.schema.contains(['\n', '\r']) || name.name.contains(['\n', '\r']) {
                return Err(ArchiveError::Name {
                    name: name.to_string(),
                });
            }
            match kind.as_str() {
                "r" => {}
                // Its rows are its partitions'.
                "p" => continue,
                _ => {
                    return Err(ArchiveError::Unsupported {
                        table: name.to_string(),
                    })
                }
            }
            let group: u32 = row.get(4);
            if !groups.contains(&group) {
                groups.push(group);
            }
            leaves.push(Leaf {
                name,
                group,
                columns: row.get(6),
                table_bytes: u64::try_from(row.get::<_, Option<i64>>(5).unwrap_or(0)).unwrap_or(0),
            });
        }
        let keys = foreign_keys(client, members)?;
        let (order, deferred) = match order::restore_order(&groups, &keys) {
            Order::Ok { groups, deferred } => (groups, deferred),
            Order::Cycle { constraints } => return Err(ArchiveError::Cycle { constraints }),
        };
        let rank: HashMap<u32, usize> = order.iter().enumerate().map(|(i, g)| (*g, i)).collect();
        // Stable: the leaves of a group keep their name order.
        leaves.sort_by_key(|l| rank.get(&l.group).copied().unwrap_or(usize::MAX));
        Ok(Layout { leaves, deferred })
    }

    fn table_bytes(&self) -> u64 {
        self.leaves.iter().map(|l| l.table_bytes).sum()
    }
}

/// The foreign keys among `members`, between partition-tree roots (a key on a
/// partitioned table is cloned onto each partition and onto each partition it
/// references: all of them map to the same pair of roots).
fn foreign_keys(client: &mut Client, members: &[u32]) -> Result<Vec<Key>, ArchiveError> {
    let rows = client
        .query(
            "SELECT COALESCE(pg_catalog.pg_partition_root(k.conrelid)::pg_catalog.oid, k.conrelid),
                    COALESCE(pg_catalog.pg_partition_root(k.confrelid)::pg_catalog.oid, k.confrelid),
                    k.condeferrable,
                    pg_catalog.format('%I.%I.%I', n.nspname, c.relname, k.conname)
               FROM pg_catalog.pg_constraint k
               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) k.conrelid
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
              WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                AND k.conrelid OPERATOR(pg_catalog.=) ANY ($1)
                AND k.confrelid OPERATOR(pg_catalog.=) ANY ($1)
              ORDER BY 4",
            &[&members],
        )
        .map_err(|e| ArchiveError::db("reading the tables' foreign keys", e))?;
    Ok(rows
        .iter()
        .map(|r| Key {
            referencing: r.get(0),
            referenced: r.get(1),
            deferrable: r.get(2),
            name: r.get(3),
        })
        .collect())
}

/// `--archive`: checked before anything is locked; `None` without it, or with nothing
/// to empty (then nothing is written). A dry run reports the path and the size
/// estimate; a real run reports the archive once written ([`Job::report`]).
pub(crate) fn prepare(
    cli: &Cli,
    client: &mut Client,
    database: &str,
    plan: &Plan,
    sequences: &[SequenceUse],
    (out, report): (&Output, &mut Report),
) -> Result<Option<Job>, ToolError> {
    let Some(path) = &cli.archive else {
        return Ok(None);
    };
    if plan.roots.is_empty() || !plan.would_change {
        let w = format!(
            "no archive written to {}: there are no rows to empty",
            path.display()
        );
        out.warn(&w);
        report.warnings.push(w);
        return Ok(None);
    }
    // The sequences the statement resets, as the plan decided (an owned sequence a kept
    // table draws on is not reset, so the archive must not set it back either).
    let mut reset: Vec<QualifiedName> = sequences
        .iter()
        .filter(|s| s.link == SequenceLink::Owned && plan.reset_oids.contains(&s.sequence))
        .map(|s| s.name.clone())
        .collect();
    reset.sort();
    reset.dedup();
    let (job, planned) = Job::prepare(path, client, &plan.members, reset, database.to_string())?;
    if cli.dry_run {
        report.archive = Some(planned);
    } else {
        job.dest.remove_stale_temp_files();
    }
    Ok(Some(job))
}

/// The archive of one run: where it goes, and what it holds once written.
pub(crate) struct Job {
    dest: Destination,
    members: Vec<u32>,
    /// The sequences RESTART IDENTITY resets.
    sequences: Vec<QualifiedName>,
    /// The source database, without password.
    database: String,
    written: Option<(Persisted, Vec<TableRows>, Vec<SequenceValue>)>,
}

impl Job {
    /// Everything that can be checked before a lock is taken: FILE and its directory,
    /// the restore order (a cycle no order satisfies is refused), and the free space
    /// (a filesystem that clearly cannot hold the archive is refused). Returns the job
    /// and the dry run's report (path and size estimate).
    fn prepare(
        path: &Path,
        client: &mut Client,
        members: &[u32],
        sequences: Vec<QualifiedName>,
        database: String,
    ) -> Result<(Job, Archive), ToolError> {
        let dest = Destination::resolve(path)?;
        let layout = Layout::read(client, members).map_err(ArchiveError::into_tool_error)?;
        let estimate = layout.table_bytes() / shrink(dest.compression);
        dest.check_space(estimate / CLEARLY, estimate)?;
        let report = Archive {
            path: dest.shown.clone(),
            compression: dest.compression,
            bytes: None,
            bytes_estimate: Some(estimate),
            sha256: None,
            tables: Vec::new(),
            sequences: Vec::new(),
        };
        let job = Job {
            dest,
            members: members.to_vec(),
            sequences,
            database,
            written: None,
        };
        Ok((job, report))
    }

    /// The report of the archive written.
    pub fn report(&self) -> Option<Archive> {
        let (persisted, tables, sequences) = self.written.as_ref()?;
        Some(Archive {
            path: self.dest.shown.clone(),
            compression: self.dest.compression,
            bytes: Some(persisted.bytes),
            bytes_estimate: None,
            sha256: Some(persisted.sha256.clone()),
            tables: tables.clone(),
            sequences: sequences.clone(),
        })
    }

    fn write(&mut self, client: &mut Client) -> Result<(), ArchiveError> {
        // Read again under the locks: nobody can change these tables now.
        let layout = Layout::read(client, &self.members)?;
        let counts = count_rows(client, &layout.leaves)?;
        let sets = sequence_values(client, &self.sequences)?;
        let (server_version, time) = server_facts(client)?;
        let header = Header {
            tool: format!("pgtruncate {}", env!("CARGO_PKG_VERSION")),
            time,
            database: self.database.clone(),
            server_version,
            tables: layout
                .leaves
                .iter()
                .zip(&counts)
                .map(|(l, n)| (l.name.clone(), *n))
                .collect(),
            sequences: sets.iter().map(|s| s.sequence.clone()).collect(),
        };
        let mut file = self.dest.create()?;
        file.write(header.text(layout.deferred).as_bytes())?;
        for (leaf, counted) in layout.leaves.iter().zip(&counts) {
            file.write(format::copy_start(&leaf.name, &leaf.columns).as_bytes())?;
            let copied = copy_out(client, leaf, &mut file)?;
            if copied != *counted {
                return Err(ArchiveError::Rows {
                    table: leaf.name.to_string(),
                    counted: *counted,
                    copied,
                });
            }
            file.write(format::COPY_END.as_bytes())?;
        }
        file.write(format::setvals_text(&sets).as_bytes())?;
        let trailer = format::trailer(&header.tables, &file.content_sha256());
        let persisted = file.persist(&trailer)?;
        let tables = header
            .tables
            .iter()
            .map(|(t, rows)| TableRows {
                table: t.to_string(),
                rows: *rows,
            })
            .collect();
        let sequences = sets
            .iter()
            .map(|s| SequenceValue {
                sequence: s.sequence.to_string(),
                value: s.value,
                is_called: s.is_called,
            })
            .collect();
        self.written = Some((persisted, tables, sequences));
        Ok(())
    }
}

impl BeforeTruncate for Job {
    fn run(&mut self, client: &mut Client) -> Result<(), ArchiveError> {
        self.write(client)
    }

    fn rolled_back(&mut self) {
        if self.written.take().is_some() {
            // The rows are still in place: an archive of them would only mislead.
            let _ = self.dest.remove();
        }
    }
}

/// Streams one table's rows into the archive; returns how many rows (COPY text format
/// ends every row with a newline and escapes the newlines in values).
fn copy_out(
    client: &mut Client,
    leaf: &Leaf,
    file: &mut super::file::ArchiveFile<'_>,
) -> Result<u64, ArchiveError> {
    let sql = format!(
        "COPY {}{} TO STDOUT",
        leaf.name.sql(),
        format::column_list(&leaf.columns)
    );
    let doing = || format!("COPY of {}", leaf.name);
    let mut reader = client
        .copy_out(&sql)
        .map_err(|e| ArchiveError::db(doing(), e))?;
    let mut rows = 0u64;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) => return Err(read_error(doing(), e)),
        };
        if chunk.is_empty() {
            return Ok(rows);
        }
        rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        file.write(chunk)?;
        let n = chunk.len();
        reader.consume(n);
    }
}

/// The driver wraps the server's error in an `io::Error` on a COPY's reader.
fn read_error(doing: String, e: std::io::Error) -> ArchiveError {
    match e
        .into_inner()
        .map(|inner| inner.downcast::<postgres::Error>())
    {
        Some(Ok(pg)) => ArchiveError::db(doing, *pg),
        Some(Err(other)) => ArchiveError::Read {
            doing,
            err: std::io::Error::other(other.to_string()),
        },
        None => ArchiveError::Read {
            doing,
            err: std::io::Error::other("the connection failed"),
        },
    }
}

/// `count(*)` of every leaf, in one statement, under the same locks as the COPY.
fn count_rows(client: &mut Client, leaves: &[Leaf]) -> Result<Vec<u64>, ArchiveError> {
    if leaves.is_empty() {
        return Ok(Vec::new());
    }
    let sql = leaves
        .iter()
        .enumerate()
        .map(|(i, l)| {
            format!(
                "SELECT {i}::pg_catalog.int4, pg_catalog.count(*) FROM ONLY {}",
                l.name.sql()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = client
        .query(&sql, &[])
        .map_err(|e| ArchiveError::db("counting the tables' rows", e))?;
    let mut counts = vec![0u64; leaves.len()];
    for r in rows {
        let i: i32 = r.get(0);
        let n: i64 = r.get(1);
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
            *slot = u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(counts)
}

/// Each sequence's position before the TRUNCATE resets it.
fn sequence_values(
    client: &mut Client,
    sequences: &[QualifiedName],
) -> Result<Vec<SeqSet>, ArchiveError> {
    if sequences.is_empty() {
        return Ok(Vec::new());
    }
    let sql = sequences
        .iter()
        .enumerate()
        .map(|(i, q)| {
            format!(
                "SELECT {i}::pg_catalog.int4, last_value, is_called FROM {}",
                q.sql()
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let rows = client
        .query(&sql, &[])
        .map_err(|e| ArchiveError::db("reading the sequences' values", e))?;
    let mut sets: Vec<Option<SeqSet>> = vec![None; sequences.len()];
    for r in rows {
        let i: i32 = r.get(0);
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| sets.get_mut(i)) {
            *slot = Some(SeqSet {
                sequence: sequences[i as usize].clone(),
                value: r.get(1),
                is_called: r.get(2),
            });
        }
    }
    Ok(sets.into_iter().flatten().collect())
}

/// The server's version and the transaction's start, in UTC.
fn server_facts(client: &mut Client) -> Result<(String, String), ArchiveError> {
    let row = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version'),
                    pg_catalog.to_char(pg_catalog.timezone('UTC', pg_catalog.now()),
                                       'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[],
        )
        .map_err(|e| ArchiveError::db("reading the server's version", e))?;
    Ok((row.get(0), row.get(1)))
}
