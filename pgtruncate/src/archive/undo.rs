//! `--undo FILE`: put an archive back.
//!
//! FILE is opened under the same trust rules as an env file (hostfs: a link followed
//! only when root or its target's owner made it, a regular file only) and refused when
//! anyone but root and the caller could have written it. It is read whole and checked
//! ([`Checked::open`]: format, listed tables and sequences, counts, checksum) before
//! anything connects. Then one transaction ([`Checked::restore`]): lock the archive's
//! tables, refuse if any holds rows, load each with `COPY ... FROM STDIN` from a second
//! pass over the file (checked again as it goes), set each sequence, commit. Every
//! statement is built here from the parsed, validated names; no text of the file is
//! ever sent as SQL, only COPY rows as COPY data.

use super::format::{self, Event, Manifest, ParseError, Parser};
use super::{compression_of, keys, Compression};
use crate::catalog::{self, RelKind};
use crate::interrupt::Interrupt;
use crate::names::QualifiedName;
use conventions::{Output, ToolError};
use flate2::bufread::MultiGzDecoder;
use pgconn::Connection;
use postgres::error::SqlState;
use postgres::Client;
use reports::pgtruncate::{Archive, Report, SequenceValue, TableRows};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::path::Path;
use std::time::Duration;

const READ_BUFFER: usize = 256 * 1024;

/// An archive read whole and found valid, its file still open.
pub(crate) struct Checked {
    file: File,
    shown: String,
    compression: Compression,
    manifest: Manifest,
}

/// The file's bytes, hashed on their way to the decoder.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The archive's text from its stored bytes.
fn decoded<'r, R: Read + 'r>(
    raw: R,
    compression: Compression,
) -> io::Result<Box<dyn BufRead + 'r>> {
    let raw = BufReader::with_capacity(READ_BUFFER, raw);
    Ok(match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(raw),
        )),
        // Several concatenated frames are read as one stream, as `zstd -dc` does.
        Compression::Zstd => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            zstd::stream::read::Decoder::with_buffer(raw)?,
        )),
    })
}

impl Checked {
    /// Opens FILE under the trust rules and checks it whole. Fills `report.archive`.
    pub fn open(path: &Path, report: &mut Report) -> Result<Checked, ToolError> {
        let shown = path.display().to_string();
        let compression = compression_of(path, "--undo")?;
        let with_flag = |e: hostfs::Error| {
            let e: ToolError = e.into();
            ToolError {
                message: format!("--undo: {}", e.message),
                ..e
            }
        };
        let loc = hostfs::resolve(path).map_err(with_flag)?;
        let Some((file, meta)) = loc.open_regular().map_err(with_flag)? else {
            return Err(ToolError::not_found(format!(
                "--undo {shown} does not exist: give the path of the archive --archive wrote"
            ))
            .with("file", &shown));
        };
        let euid = nix::unistd::geteuid().as_raw();
        if meta.writable_by_others_than(euid) {
            return Err(ToolError::refused(format!(
                "--undo {shown} is owned by {} with mode {:04o}: an archive anyone but root could have written is never loaded, since it could hold other rows than the ones emptied; nothing was restored",
                hostfs::user_name(meta.uid),
                meta.mode
            ))
            .with("file", &shown));
        }
        if hostfs::hard_link_may_be_planted(&loc.dir.meta, &meta) {
            return Err(ToolError::refused(format!(
                "--undo {shown} has {} hard links and its directory {} can be written by other users, so the link may have been planted: give the archive's own path; nothing was restored",
                meta.nlink,
                loc.dir.path.display()
            ))
            .with("file", &shown));
        }
        let mut raw = HashingReader {
            inner: &file,
            hasher: Sha256::new(),
            bytes: 0,
        };
        let manifest = {
            let text =
                decoded(&mut raw, compression).map_err(|e| ToolError::io(&shown, "read", &e))?;
            format::parse(text).map_err(|e| refusal(&shown, e))?
        };
        // Whatever the decoder left unread still counts for the file's digest.
        io::copy(&mut raw, &mut io::sink()).map_err(|e| ToolError::io(&shown, "read", &e))?;
        report.archive = Some(Archive {
            path: shown.clone(),
            compression,
            bytes: Some(raw.bytes),
            bytes_estimate: None,
            sha256: Some(format::hex(&raw.hasher.finalize())),
            tables: table_rows(&manifest),
            sequences: sequence_values(&manifest),
        });
        Ok(Checked {
            file,
            shown,
            compression,
            manifest,
        })
    }

    /// The one transaction that puts the archive back (with `dry_run`: everything up to
    /// the load, then a rollback). Returns whether something changed.
    pub fn restore(
        mut self,
        conn: &mut Connection,
        interrupt: &Interrupt,
        options: &Options,
        out: &Output,
        report: &mut Report,
    ) -> Result<bool, ToolError> {
        let client = &mut conn.client;
        let result = self.load(client, options, out, report);
        if result.is_err() || options.dry_run {
            let _ = client.batch_execute("ROLLBACK");
        }
        interrupt.disarm();
        if let Err(e) = result {
            if let Some(signal) = interrupt.received() {
                return Err(ToolError::busy(format!(
                    "interrupted by {signal}: the restore was cancelled and rolled back; nothing was restored"
                ))
                .with("interrupted", signal));
            }
            return Err(e);
        }
        report.restored = table_rows(&self.manifest);
        report.sequences = sequence_values(&self.manifest);
        Ok(true)
    }

    fn load(
        &mut self,
        client: &mut Client,
        options: &Options,
        out: &Output,
        report: &mut Report,
    ) -> Result<(), ToolError> {
        let Options {
            lock_timeout,
            statement_timeout,
            dry_run,
            allow_triggers,
        } = *options;
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL lock_timeout = '{}ms'; SET LOCAL statement_timeout = '{}ms'",
                lock_timeout.as_millis(),
                statement_timeout.as_millis()
            ))
            .map_err(|e| failure("starting the transaction", &e))?;
        let tables = self.check_targets(client)?;
        let triggers = check_triggers(client, &tables, allow_triggers, out, report)?;
        let list: Vec<String> = self
            .manifest
            .tables
            .iter()
            .map(|(t, _, _)| t.sql())
            .collect();
        if !list.is_empty() {
            client
                .batch_execute(&format!(
                    "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
                    list.join(", ")
                ))
                .map_err(|e| lock_failure(client, &e, &tables, lock_timeout))?;
        }
        self.refuse_rows(client)?;
        if dry_run {
            return Ok(());
        }
        out.progress(&format!(
            "restoring {} table(s) from {}",
            self.manifest.tables.len(),
            self.shown
        ));
        // Foreign keys proven in bulk after the load rather than row by row during it,
        // where the session may (a superuser's) and no trigger of the tables is to run.
        let bulk = !triggers
            && keys::can_defer_to_bulk(client)
                .map_err(|e| failure("reading the session's role", &e))?;
        let setup = if bulk {
            "SET LOCAL session_replication_role = replica"
        } else if self.manifest.deferred {
            "SET CONSTRAINTS ALL DEFERRED"
        } else {
            ""
        };
        if !setup.is_empty() {
            client
                .batch_execute(setup)
                .map_err(|e| failure("preparing the load", &e))?;
        }
        self.load_rows(client)?;
        if bulk {
            self.prove_keys(client, &tables)?;
        }
        client
            .batch_execute("COMMIT")
            .map_err(|e| failure("COMMIT", &e))?;
        Ok(())
    }

    /// After a load that fired no foreign-key trigger: every foreign key of the loaded
    /// tables proven at once, or the restore fails (rolled back).
    fn prove_keys(&self, client: &mut Client, tables: &[u32]) -> Result<(), ToolError> {
        client
            .batch_execute("SET LOCAL session_replication_role = origin")
            .map_err(|e| failure("ending the load", &e))?;
        let broken = keys::violated(client, tables)
            .map_err(|e| failure("checking the foreign keys of the loaded rows", &e))?;
        if broken.is_empty() {
            return Ok(());
        }
        Err(ToolError::failed(format!(
            "rows of the archive {} have no referenced row for foreign key {} (a referenced row was deleted since the archive was written?): put the referenced rows back first; the transaction was rolled back, nothing was restored",
            self.shown,
            broken.join(", ")
        ))
        .with("constraints", &broken))
    }

    /// Every table and sequence of the archive must exist as what it was (exit 4 when
    /// one is gone). Returns the tables' OIDs.
    fn check_targets(&self, client: &mut Client) -> Result<Vec<u32>, ToolError> {
        let tables: Vec<QualifiedName> = self
            .manifest
            .tables
            .iter()
            .map(|(t, _, _)| t.clone())
            .collect();
        let seqs: Vec<QualifiedName> = self
            .manifest
            .sequences
            .iter()
            .map(|s| s.sequence.clone())
            .collect();
        let names: Vec<QualifiedName> = tables.iter().chain(&seqs).cloned().collect();
        let found = catalog::resolve(client, &names)
            .map_err(|e| failure("looking up the archive's tables", &e))?;
        let mut missing = Vec::new();
        let mut wrong = Vec::new();
        let mut oids = Vec::new();
        for (i, (name, hit)) in names.iter().zip(&found).enumerate() {
            let want = if i < tables.len() {
                RelKind::Table
            } else {
                RelKind::Sequence
            };
            match hit {
                None => missing.push(name.to_string()),
                Some(f) if f.kind != want => wrong.push(format!("{name} is {}", f.kind.describe())),
                Some(f) => oids.push(f.oid),
            }
        }
        if !missing.is_empty() || !wrong.is_empty() {
            let mut problems: Vec<String> = missing
                .iter()
                .map(|m| format!("{m} does not exist"))
                .collect();
            problems.extend(wrong.iter().cloned());
            return Err(ToolError::not_found(format!(
                "the archive {} names {}: restore the schema first (the archive holds rows only); nothing was restored",
                self.shown,
                problems.join("; ")
            ))
            .with("missing", &missing)
            .with("not_tables", &wrong));
        }
        oids.truncate(tables.len());
        Ok(oids)
    }

    /// An archive goes back only into empty tables: rows there now would mix with it.
    fn refuse_rows(&self, client: &mut Client) -> Result<(), ToolError> {
        if self.manifest.tables.is_empty() {
            return Ok(());
        }
        let sql = self
            .manifest
            .tables
            .iter()
            .enumerate()
            .map(|(i, (t, _, _))| {
                format!(
                    "SELECT {i}::pg_catalog.int4 WHERE EXISTS (SELECT FROM ONLY {})",
                    t.sql()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let rows = client
            .query(&sql, &[])
            .map_err(|e| failure("checking that the tables are empty", &e))?;
        let holding: Vec<String> = rows
            .iter()
            .filter_map(|r| usize::try_from(r.get::<_, i32>(0)).ok())
            .filter_map(|i| self.manifest.tables.get(i))
            .map(|(t, _, _)| t.to_string())
            .collect();
        if holding.is_empty() {
            return Ok(());
        }
        // The message names a few; error.tables has every one.
        const SHOWN: usize = 5;
        let mut named: Vec<String> = holding.iter().take(SHOWN).cloned().collect();
        if holding.len() > SHOWN {
            named.push(format!("{} more", holding.len() - SHOWN));
        }
        Err(ToolError::refused(format!(
            "{} hold rows now: an archive is loaded only into empty tables (its rows would mix with these); empty them first (pgtruncate --archive keeps them) and run --undo again; nothing was restored",
            named.join(", ")
        ))
        .with("tables", &holding))
    }

    /// The second pass: each COPY block into its table, each sequence set, the whole file
    /// checked again (it is the same file, read through the same descriptor).
    fn load_rows(&mut self, client: &mut Client) -> Result<(), ToolError> {
        self.file
            .rewind()
            .map_err(|e| ToolError::io(&self.shown, "read", &e))?;
        let mut input = decoded(&self.file, self.compression)
            .map_err(|e| ToolError::io(&self.shown, "read", &e))?;
        let mut parser = Parser::new();
        let shown = self.shown.clone();
        loop {
            let event = parser.next(&mut input).map_err(|e| refusal(&shown, e))?;
            match event {
                None => break,
                Some(Event::Copy(table, columns)) => {
                    let sql = format!(
                        "COPY {}{} FROM STDIN",
                        table.sql(),
                        format::column_list(columns)
                    );
                    let doing = format!("loading {table}");
                    let mut writer = client.copy_in(&sql).map_err(|e| failure(&doing, &e))?;
                    loop {
                        match parser.next(&mut input).map_err(|e| refusal(&shown, e))? {
                            Some(Event::Row(row)) => writer
                                .write_all(row)
                                .map_err(|e| write_failure(&doing, e))?,
                            Some(Event::EndCopy(rows)) => {
                                let loaded = writer.finish().map_err(|e| failure(&doing, &e))?;
                                if loaded != rows {
                                    return Err(ToolError::failed(format!(
                                        "{doing}: the server took {loaded} rows where the archive holds {rows}; nothing was restored"
                                    )));
                                }
                                break;
                            }
                            _ => {
                                return Err(refusal(
                                    &shown,
                                    ParseError::Format(format::FormatError::Cut),
                                ))
                            }
                        }
                    }
                }
                Some(Event::Setval(set)) => {
                    client
                        .query_one(
                            "SELECT pg_catalog.setval($1::pg_catalog.text::pg_catalog.regclass, $2, $3)",
                            &[&set.sequence.sql(), &set.value, &set.is_called],
                        )
                        .map_err(|e| failure(&format!("setting {}", set.sequence), &e))?;
                }
                Some(Event::Row(_)) | Some(Event::EndCopy(_)) => {
                    return Err(refusal(
                        &shown,
                        ParseError::Format(format::FormatError::Cut),
                    ))
                }
            }
        }
        let again = parser.finish().map_err(|e| refusal(&shown, e))?;
        if again != self.manifest {
            return Err(ToolError::busy(format!(
                "--undo {shown} changed while it was being restored: nothing was restored; run again"
            )));
        }
        Ok(())
    }
}

/// How `--undo` runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
    pub dry_run: bool,
    pub allow_triggers: bool,
}

/// A user-defined `ON INSERT` trigger runs its function, with this session's rights, for
/// every row COPY loads: refused (exit 3) unless `--allow-triggers`, as `ON TRUNCATE`
/// triggers are for a truncation. Returns whether there are any (allowed).
fn check_triggers(
    client: &mut Client,
    tables: &[u32],
    allow: bool,
    out: &Output,
    report: &mut Report,
) -> Result<bool, ToolError> {
    // TRIGGER_TYPE_INSERT is bit 2 of tgtype.
    let rows = client
        .query(
            "SELECT pg_catalog.format('table %s has ON INSERT trigger %I running %I.%I(%s)',
                    t.tgrelid::pg_catalog.regclass, t.tgname, n.nspname, p.proname,
                    pg_catalog.oidvectortypes(p.proargtypes))
               FROM pg_catalog.pg_trigger t
               JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid
               JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) p.pronamespace
              WHERE t.tgrelid OPERATOR(pg_catalog.=) ANY ($1)
                AND NOT t.tgisinternal
                AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 4) OPERATOR(pg_catalog.<>) 0
                AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'
              ORDER BY t.tgrelid, t.tgname",
            &[&tables],
        )
        .map_err(|e| failure("reading the tables' triggers", &e))?;
    let found: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if found.is_empty() {
        return Ok(false);
    }
    if allow {
        let w = format!(
            "{} (--allow-triggers: they run with this session's rights for every row loaded)",
            found.join("; ")
        );
        out.warn(&w);
        report.warnings.push(w);
        return Ok(true);
    }
    Err(ToolError::refused(format!(
        "{}: a trigger's function runs with this session's rights for every row loaded; nothing was restored: review the function, then disable the trigger or pass --allow-triggers",
        found.join("; ")
    ))
    .with("triggers", &found))
}

fn table_rows(m: &Manifest) -> Vec<TableRows> {
    m.tables
        .iter()
        .map(|(t, _, rows)| TableRows {
            table: t.to_string(),
            rows: *rows,
        })
        .collect()
}

fn sequence_values(m: &Manifest) -> Vec<SequenceValue> {
    m.sequences
        .iter()
        .map(|s| SequenceValue {
            sequence: s.sequence.to_string(),
            value: s.value,
            is_called: s.is_called,
        })
        .collect()
}

/// A file that is not a whole, unedited archive: refused, nothing run.
fn refusal(shown: &str, e: ParseError) -> ToolError {
    let problem = match e {
        ParseError::Format(f) => f.to_string(),
        // A cut or damaged gzip stream reads as invalid or ending early.
        ParseError::Io(io)
            if matches!(
                io.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::InvalidInput
            ) =>
        {
            format!("it cannot be decompressed ({io}): a cut or damaged file")
        }
        ParseError::Io(io) => {
            return ToolError::io(shown, "read", &io).with("file", shown);
        }
    };
    ToolError::refused(format!(
        "--undo {shown} is not a valid archive: {problem}; nothing was run and nothing was restored"
    ))
    .with("file", shown)
}

fn failure(doing: &str, e: &postgres::Error) -> ToolError {
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => pgconn::error_chain(e),
    };
    let err = match e.code() {
        Some(&SqlState::QUERY_CANCELED) => ToolError::busy(format!(
            "{doing} ran past the statement timeout (or was cancelled): retry with a longer --statement-timeout; the transaction was rolled back, nothing was restored"
        )),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE) => ToolError::permission(format!(
            "{doing}: {detail}: connect as the tables' owner or a superuser; nothing was restored"
        )),
        _ => ToolError::failed(format!(
            "{doing}: {detail}; the transaction was rolled back, nothing was restored"
        )),
    };
    match e.code() {
        Some(c) => err.with("sqlstate", c.code()),
        None => err,
    }
}

/// A COPY row the driver could not send: the server's error comes back inside.
fn write_failure(doing: &str, e: io::Error) -> ToolError {
    match e.into_inner().map(|i| i.downcast::<postgres::Error>()) {
        Some(Ok(pg)) => failure(doing, &pg),
        Some(Err(other)) => ToolError::failed(format!(
            "{doing}: {other}; the transaction was rolled back, nothing was restored"
        )),
        None => ToolError::failed(format!(
            "{doing}: the connection failed; nothing was restored"
        )),
    }
}

fn lock_failure(
    client: &mut Client,
    e: &postgres::Error,
    tables: &[u32],
    lock_timeout: Duration,
) -> ToolError {
    if e.code() != Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return failure("locking the archive's tables", e);
    }
    let _ = client.batch_execute("ROLLBACK");
    let holders = catalog::lock_holders(client, tables).unwrap_or_default();
    ToolError::busy(format!(
        "the archive's tables are locked by {} other session(s) beyond --lock-timeout {}: stop the service or retry with a longer --lock-timeout; nothing was restored",
        holders.len(),
        conventions::duration::format_duration(lock_timeout)
    ))
    .with("blockers", holders)
}
