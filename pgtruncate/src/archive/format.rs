//! The archive format: a plain SQL script as `pg_dump --data-only` writes one, so that
//! `psql -1 -v ON_ERROR_STOP=1` restores it, framed by a header that lists the tables and
//! sequences and a trailer that carries the row counts and a checksum of everything
//! before it.
//!
//! The writer's pieces, and the strict parser `--undo` reads an archive with: every line
//! outside a `COPY` block must be one the writer writes (a comment, a known `SET` line, a
//! `COPY` line into a table the header lists, a `setval` of a listed sequence); anything
//! else is refused. Nothing parsed is ever sent as SQL: `--undo` builds its statements
//! from the names parsed here.

use crate::names::QualifiedName;
use postgres_protocol::escape::escape_identifier;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead};

/// The second line of every archive: what it is.
pub(crate) const TITLE: &str =
    "-- PostgreSQL database dump (data only), written by pgtruncate --archive";

/// The first line of the trailer; the checksum covers every byte before it.
pub(crate) const TRAILER_START: &str = "-- pgtruncate archive trailer";

/// The session settings pg_dump writes at the top of a dump, in its order. `--undo`
/// accepts exactly these lines (and sends its own fixed settings, never these).
pub(crate) const SET_LINES: [&str; 10] = [
    "SET statement_timeout = 0;",
    "SET lock_timeout = 0;",
    "SET idle_in_transaction_session_timeout = 0;",
    "SET client_encoding = 'UTF8';",
    "SET standard_conforming_strings = on;",
    "SELECT pg_catalog.set_config('search_path', '', false);",
    "SET check_function_bodies = false;",
    "SET xmloption = content;",
    "SET client_min_messages = warning;",
    "SET row_security = off;",
];

/// Written after the `SET` lines when the tables' foreign keys form a cycle of deferrable
/// constraints: checked at COMMIT, whatever the load order.
pub(crate) const DEFER_LINE: &str = "SET CONSTRAINTS ALL DEFERRED;";

/// The end of a `COPY` block.
const END_OF_DATA: &[u8] = b"\\.";

/// What the header says about the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub tool: String,
    pub time: String,
    pub database: String,
    pub server_version: String,
    pub tables: Vec<(QualifiedName, u64)>,
    pub sequences: Vec<QualifiedName>,
}

impl Header {
    pub fn text(&self, deferred: bool) -> String {
        let mut s = format!(
            "--\n{TITLE}\n--\n-- tool: {}\n-- time: {}\n-- database: {}\n-- server version: {}\n",
            one_line(&self.tool),
            one_line(&self.time),
            one_line(&self.database),
            one_line(&self.server_version)
        );
        for (t, rows) in &self.tables {
            s.push_str(&format!("-- table: {} rows {rows}\n", t.sql()));
        }
        for q in &self.sequences {
            s.push_str(&format!("-- sequence: {}\n", q.sql()));
        }
        s.push_str("--\n\n");
        for line in SET_LINES {
            s.push_str(line);
            s.push('\n');
        }
        if deferred {
            s.push_str(DEFER_LINE);
            s.push('\n');
        }
        s.push('\n');
        s
    }
}

/// Header values are free text on one comment line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `COPY "schema"."table" ("a", "b") FROM stdin;` and the comment pg_dump puts above it.
pub(crate) fn copy_start(table: &QualifiedName, columns: &[String]) -> String {
    format!(
        "--\n-- Data for Name: {}; Type: TABLE DATA; Schema: {}\n--\n\n{}\n",
        one_line(&table.name),
        one_line(&table.schema),
        copy_line(table, columns)
    )
}

fn copy_line(table: &QualifiedName, columns: &[String]) -> String {
    format!("COPY {}{} FROM stdin;", table.sql(), column_list(columns))
}

/// ` ("a", "b")`, or nothing for a table without columns (as pg_dump writes it).
pub(crate) fn column_list(columns: &[String]) -> String {
    if columns.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = columns.iter().map(|c| escape_identifier(c)).collect();
    format!(" ({})", quoted.join(", "))
}

pub(crate) const COPY_END: &str = "\\.\n\n";

/// One sequence set back to its value before the TRUNCATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeqSet {
    pub sequence: QualifiedName,
    pub value: i64,
    pub is_called: bool,
}

impl SeqSet {
    pub fn line(&self) -> String {
        // standard_conforming_strings is on (a SET line above): only quotes double.
        format!(
            "SELECT pg_catalog.setval('{}', {}, {});",
            self.sequence.sql().replace('\'', "''"),
            self.value,
            self.is_called
        )
    }
}

pub(crate) fn setvals_text(sets: &[SeqSet]) -> String {
    let mut s = String::new();
    for set in sets {
        s.push_str(&format!(
            "--\n-- Name: {}; Type: SEQUENCE SET; Schema: {}\n--\n\n{}\n\n",
            one_line(&set.sequence.name),
            one_line(&set.sequence.schema),
            set.line()
        ));
    }
    s.push_str("--\n-- PostgreSQL database dump complete\n--\n\n");
    s
}

/// The trailer: row counts and the checksum of every byte before it.
pub(crate) fn trailer(rows: &[(QualifiedName, u64)], sha256: &str) -> String {
    let mut s = format!("{TRAILER_START}\n");
    for (t, n) in rows {
        s.push_str(&format!("-- rows: {} {n}\n", t.sql()));
    }
    s.push_str(&format!("-- sha256: {sha256}\n"));
    s
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an archive was refused: the line and what is wrong with it.
#[derive(Debug)]
pub(crate) enum FormatError {
    /// The file does not start as an archive does.
    NotAnArchive,
    /// A line that is not part of the format (or not where it is).
    Line { line: u64, problem: String },
    /// The file ends before its trailer is complete.
    Cut,
    /// The checksum in the trailer is not that of the content.
    Checksum,
    /// Header, blocks and trailer disagree.
    Inconsistent(String),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotAnArchive => write!(
                f,
                "it does not start like an archive written by pgtruncate --archive"
            ),
            FormatError::Line { line, problem } => write!(f, "line {line} {problem}"),
            FormatError::Cut => write!(
                f,
                "it ends before its trailer is complete (a cut or partial file)"
            ),
            FormatError::Checksum => write!(
                f,
                "its content does not match the checksum in its trailer (edited or damaged)"
            ),
            FormatError::Inconsistent(what) => write!(f, "{what}"),
        }
    }
}

/// A parse that stopped: the archive's fault or the file's.
#[derive(Debug)]
pub(crate) enum ParseError {
    Format(FormatError),
    Io(io::Error),
}

impl From<FormatError> for ParseError {
    fn from(e: FormatError) -> Self {
        ParseError::Format(e)
    }
}

/// What the parser hands on, in file order.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A `COPY` block begins: the table and its columns.
    Copy(&'a QualifiedName, &'a [String]),
    /// One row in COPY text format, its newline included.
    Row(&'a [u8]),
    /// The block ended (`\.`), with its row count.
    EndCopy(u64),
    Setval(&'a SeqSet),
}

/// What a line produced, before it is lent out as an [`Event`].
enum Produced {
    Copy,
    Row,
    EndCopy(u64),
    Setval,
}

/// What a whole, valid archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub header: Header,
    /// Tables in file order, with their columns and the rows counted in their blocks.
    pub tables: Vec<(QualifiedName, Vec<String>, u64)>,
    pub sequences: Vec<SeqSet>,
    pub deferred: bool,
    /// The trailer's checksum (verified).
    pub sha256: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Body,
    Data,
    Trailer,
    Done,
}

/// Reads a whole archive and checks it (see [`Parser`]).
pub(crate) fn parse<R: BufRead>(mut input: R) -> Result<Manifest, ParseError> {
    let mut p = Parser::new();
    while p.next(&mut input)?.is_some() {}
    p.finish()
}

/// A pull parser: [`Parser::next`] hands out the archive's table blocks, rows and
/// sequences in file order, and [`Parser::finish`] checks the whole: a line outside the
/// format, a table or sequence the header does not list, counts that disagree, a bad
/// checksum or a cut file is an error. An error can come after events were handed out:
/// callers act only inside a transaction they roll back, after a first full pass.
pub(crate) struct Parser {
    state: State,
    line_no: u64,
    buf: Vec<u8>,
    hasher: Sha256,
    header: Header,
    tables: Vec<(QualifiedName, Vec<String>, u64)>,
    sequences: Vec<SeqSet>,
    deferred: bool,
    rows: u64,
    content_sha256: Option<String>,
    trailer_rows: Vec<(QualifiedName, u64)>,
    trailer_sha256: Option<String>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            state: State::Header,
            line_no: 0,
            buf: Vec::new(),
            hasher: Sha256::new(),
            header: Header {
                tool: String::new(),
                time: String::new(),
                database: String::new(),
                server_version: String::new(),
                tables: Vec::new(),
                sequences: Vec::new(),
            },
            tables: Vec::new(),
            sequences: Vec::new(),
            deferred: false,
            rows: 0,
            content_sha256: None,
            trailer_rows: Vec::new(),
            trailer_sha256: None,
        }
    }

    /// The next event, or `None` at the end of the file.
    pub fn next<R: BufRead>(&mut self, input: &mut R) -> Result<Option<Event<'_>>, ParseError> {
        let produced = loop {
            self.buf.clear();
            let n = input
                .read_until(b'\n', &mut self.buf)
                .map_err(ParseError::Io)?;
            if n == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            if self.buf.last() != Some(&b'\n') {
                return Err(FormatError::Cut.into());
            }
            if let Some(p) = self.line()? {
                break p;
            }
        };
        Ok(Some(match produced {
            Produced::Row => Event::Row(&self.buf),
            Produced::EndCopy(n) => Event::EndCopy(n),
            Produced::Copy => {
                let (t, c, _) = self.tables.last().expect("a COPY line was just read");
                Event::Copy(t, c)
            }
            Produced::Setval => {
                Event::Setval(self.sequences.last().expect("a setval was just read"))
            }
        }))
    }

    fn bad<T>(&self, problem: impl Into<String>) -> Result<T, FormatError> {
        Err(bad_at(self.line_no, problem))
    }

    fn line(&mut self) -> Result<Option<Produced>, FormatError> {
        let raw = std::mem::take(&mut self.buf);
        let result = self.classify(&raw);
        self.buf = raw;
        result
    }

    fn classify(&mut self, raw: &[u8]) -> Result<Option<Produced>, FormatError> {
        if self.state == State::Data {
            self.hasher.update(raw);
            if &raw[..raw.len() - 1] == END_OF_DATA {
                self.state = State::Body;
                if let Some(t) = self.tables.last_mut() {
                    t.2 = self.rows;
                }
                return Ok(Some(Produced::EndCopy(self.rows)));
            }
            self.rows += 1;
            return Ok(Some(Produced::Row));
        }
        let Ok(text) = std::str::from_utf8(&raw[..raw.len() - 1]) else {
            return self.bad("is not valid UTF-8");
        };
        match self.state {
            State::Header => {
                self.hasher.update(raw);
                self.header_line(text)?;
                Ok(None)
            }
            State::Body if text == TRAILER_START => {
                let digest = std::mem::replace(&mut self.hasher, Sha256::new()).finalize();
                self.content_sha256 = Some(hex(&digest));
                self.state = State::Trailer;
                Ok(None)
            }
            State::Body => {
                self.hasher.update(raw);
                self.body_line(text)
            }
            State::Trailer => {
                self.trailer_line(text)?;
                Ok(None)
            }
            State::Done => self.bad("follows the trailer"),
            State::Data => unreachable!("handled above"),
        }
    }

    fn header_line(&mut self, text: &str) -> Result<(), FormatError> {
        if self.line_no == 1 && text != "--" || self.line_no == 2 && text != TITLE {
            return Err(FormatError::NotAnArchive);
        }
        if text.is_empty() {
            // The blank line after the header's comment block ends it.
            self.state = State::Body;
            return Ok(());
        }
        let Some(comment) = text.strip_prefix("--") else {
            return self.bad("is not a comment, inside the archive's header");
        };
        let line = self.line_no;
        let header = &mut self.header;
        let comment = comment.strip_prefix(' ').unwrap_or(comment);
        if let Some(rest) = comment.strip_prefix("table: ") {
            let (name, rest) =
                take_qualified(rest).ok_or_else(|| bad_at(line, "names no table"))?;
            let rows = rest
                .strip_prefix(" rows ")
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| bad_at(line, "has no row count"))?;
            if header.tables.iter().any(|(t, _)| *t == name) {
                return Err(bad_at(line, format!("lists table {name} twice")));
            }
            header.tables.push((name, rows));
        } else if let Some(rest) = comment.strip_prefix("sequence: ") {
            let name = whole_qualified(rest).ok_or_else(|| bad_at(line, "names no sequence"))?;
            if header.sequences.contains(&name) {
                return Err(bad_at(line, format!("lists sequence {name} twice")));
            }
            header.sequences.push(name);
        } else if let Some(v) = comment.strip_prefix("tool: ") {
            header.tool = v.to_string();
        } else if let Some(v) = comment.strip_prefix("time: ") {
            header.time = v.to_string();
        } else if let Some(v) = comment.strip_prefix("database: ") {
            header.database = v.to_string();
        } else if let Some(v) = comment.strip_prefix("server version: ") {
            header.server_version = v.to_string();
        }
        Ok(())
    }

    fn body_line(&mut self, text: &str) -> Result<Option<Produced>, FormatError> {
        if text.is_empty() || text.starts_with("--") || SET_LINES.contains(&text) {
            return Ok(None);
        }
        if text == DEFER_LINE {
            if !self.tables.is_empty() {
                return self.bad("defers constraints after a COPY block");
            }
            self.deferred = true;
            return Ok(None);
        }
        if let Some((table, columns)) = parse_copy_line(text) {
            if !self.header.tables.iter().any(|(t, _)| *t == table) {
                return self.bad(format!(
                    "copies into {table}, which the header does not list"
                ));
            }
            if self.tables.iter().any(|(t, _, _)| *t == table) {
                return self.bad(format!("copies into {table} a second time"));
            }
            self.tables.push((table, columns, 0));
            self.rows = 0;
            self.state = State::Data;
            return Ok(Some(Produced::Copy));
        }
        if let Some(set) = parse_setval_line(text) {
            if !self.header.sequences.contains(&set.sequence) {
                return self.bad(format!(
                    "sets sequence {}, which the header does not list",
                    set.sequence
                ));
            }
            if self.sequences.iter().any(|s| s.sequence == set.sequence) {
                return self.bad(format!("sets sequence {} a second time", set.sequence));
            }
            self.sequences.push(set);
            return Ok(Some(Produced::Setval));
        }
        self.bad("is not a statement of the archive format (only comments, pg_dump's SET lines, COPY blocks into the tables the header lists and setval of the sequences it lists are)")
    }

    fn trailer_line(&mut self, text: &str) -> Result<(), FormatError> {
        if let Some(rest) = text.strip_prefix("-- rows: ") {
            let (name, rest) =
                take_qualified(rest).ok_or_else(|| bad_at(self.line_no, "names no table"))?;
            let n = rest
                .strip_prefix(' ')
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| bad_at(self.line_no, "has no row count"))?;
            self.trailer_rows.push((name, n));
            return Ok(());
        }
        if let Some(sum) = text.strip_prefix("-- sha256: ") {
            if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return self.bad("is not a SHA-256 checksum");
            }
            self.trailer_sha256 = Some(sum.to_ascii_lowercase());
            self.state = State::Done;
            return Ok(());
        }
        self.bad("is not part of the trailer")
    }

    /// Checks the whole archive once every line was read.
    pub fn finish(self) -> Result<Manifest, ParseError> {
        match self.state {
            State::Done => {}
            State::Header if self.line_no < 2 => return Err(FormatError::NotAnArchive.into()),
            _ => return Err(FormatError::Cut.into()),
        }
        let sha256 = self.trailer_sha256.ok_or(FormatError::Cut)?;
        if self.content_sha256.as_deref() != Some(sha256.as_str()) {
            return Err(FormatError::Checksum.into());
        }
        let inconsistent = |what: String| ParseError::Format(FormatError::Inconsistent(what));
        let counted: BTreeMap<&QualifiedName, u64> =
            self.tables.iter().map(|(t, _, n)| (t, *n)).collect();
        let trailer: BTreeMap<&QualifiedName, u64> =
            self.trailer_rows.iter().map(|(t, n)| (t, *n)).collect();
        for (t, rows) in &self.header.tables {
            match counted.get(t) {
                None => {
                    return Err(inconsistent(format!(
                        "the header lists {t}, whose COPY block is missing"
                    )))
                }
                Some(n) if n != rows => {
                    return Err(inconsistent(format!(
                        "{t} has {n} rows, the header says {rows}"
                    )))
                }
                Some(_) => {}
            }
            if trailer.get(t) != Some(rows) {
                return Err(inconsistent(format!(
                    "the trailer's row count of {t} is not the header's"
                )));
            }
        }
        if trailer.len() != self.header.tables.len() || self.trailer_rows.len() != trailer.len() {
            return Err(inconsistent(
                "the trailer lists other tables than the header".into(),
            ));
        }
        if self.sequences.len() != self.header.sequences.len() {
            return Err(inconsistent(
                "the header lists a sequence that no setval sets".into(),
            ));
        }
        Ok(Manifest {
            header: self.header,
            tables: self.tables,
            sequences: self.sequences,
            deferred: self.deferred,
            sha256,
        })
    }
}

fn bad_at(line: u64, problem: impl Into<String>) -> FormatError {
    FormatError::Line {
        line,
        problem: problem.into(),
    }
}

/// A quoted identifier at the start of `s`: the name and the rest.
fn take_ident(s: &str) -> Option<(String, &str)> {
    let mut rest = s.strip_prefix('"')?;
    let mut name = String::new();
    loop {
        let end = rest.find('"')?;
        name.push_str(&rest[..end]);
        rest = &rest[end + 1..];
        match rest.strip_prefix('"') {
            Some(after) => {
                name.push('"');
                rest = after;
            }
            None => break,
        }
    }
    (!name.is_empty()).then_some((name, rest))
}

/// `"schema"."name"` at the start of `s`.
fn take_qualified(s: &str) -> Option<(QualifiedName, &str)> {
    let (schema, rest) = take_ident(s)?;
    let (name, rest) = take_ident(rest.strip_prefix('.')?)?;
    Some((QualifiedName::new(schema, name), rest))
}

fn whole_qualified(s: &str) -> Option<QualifiedName> {
    match take_qualified(s)? {
        (name, "") => Some(name),
        _ => None,
    }
}

/// `COPY "s"."t" ("a", "b") FROM stdin;` exactly as [`copy_start`] writes it.
fn parse_copy_line(text: &str) -> Option<(QualifiedName, Vec<String>)> {
    let rest = text.strip_prefix("COPY ")?;
    let (table, mut rest) = take_qualified(rest)?;
    let mut columns = Vec::new();
    if let Some(list) = rest.strip_prefix(" (") {
        rest = list;
        loop {
            let (col, after) = take_ident(rest)?;
            columns.push(col);
            if let Some(after) = after.strip_prefix(", ") {
                rest = after;
            } else {
                rest = after.strip_prefix(')')?;
                break;
            }
        }
    }
    (rest == " FROM stdin;").then_some((table, columns))
}

/// `SELECT pg_catalog.setval('"s"."q"', 42, true);` exactly as [`SeqSet::line`] writes it.
fn parse_setval_line(text: &str) -> Option<SeqSet> {
    let rest = text.strip_prefix("SELECT pg_catalog.setval('")?;
    let end = find_literal_end(rest)?;
    let sequence = whole_qualified(&rest[..end].replace("''", "'"))?;
    let rest = rest[end..].strip_prefix("', ")?;
    let (value, rest) = rest.split_once(", ")?;
    let value: i64 = value.parse().ok()?;
    let is_called = match rest {
        "true);" => true,
        "false);" => false,
        _ => return None,
    };
    Some(SeqSet {
        sequence,
        value,
        is_called,
    })
}

/// Where the string literal starting at `s` (after its opening quote) ends: the first `'`
/// not doubled.
fn find_literal_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests;
