//! The env file as its two readers see it.
//!
//! [`Entries`] groups the physical lines into [`Entry`]s the way python-dotenv 1.x
//! groups them into bindings (`dotenv/parser.py`): blank lines, comments, assignments
//! (possibly spanning lines inside quotes) and lines it cannot parse, each with its byte
//! range. Editing replaces whole entries; every other line is written back byte for byte.
//!
//! [`SystemdReader`] is a transcription of systemd 252's `parse_env_file_internal`
//! (src/basic/env-file.c) as used by `EnvironmentFile=`; the service manager then drops
//! invalid names and lets the last assignment win.
//!
//! [`Readings`] is what an edit keeps of one text under both readers: the named keys'
//! assignments, the unparsable lines, and (for the old text) a compact record of every
//! assignment. `Document` is the complete view, for tests only.
//!
//! Both parsers read the text literally: python-dotenv's `${VAR}` interpolation happens
//! after parsing and is reported by the caller, not performed here.
//!
//! Speed: both parsers stream, scan bytes (a character is decoded only where a non-ASCII
//! one can matter, for Python's Unicode whitespace) and borrow keys and values from the
//! text; a value is copied only when the reader changes it (escapes, joined quotes, CRLF
//! inside quotes). The text is valid UTF-8 ([`decode`]), and every byte a reader drops is
//! ASCII, so every slice taken here is on a character boundary.

use std::borrow::Cow;
#[cfg(test)]
use std::collections::HashMap;

/// One physical line: its text without the terminator, and the terminator itself
/// (`"\n"`, `"\r\n"`, a lone `"\r"` — both readers end a line there — or `""` on a last
/// line without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub text: &'a str,
    pub ending: &'a str,
}

/// Why file content cannot be edited safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError {
    /// A NUL byte: systemd stops reading at it, python-dotenv does not.
    Nul { line: usize },
    /// Bytes that are not UTF-8: systemd rejects the file, python-dotenv fails to decode it.
    InvalidUtf8 { line: usize },
}

/// The file's bytes as text, or which line makes that impossible.
pub fn decode(bytes: &[u8]) -> Result<&str, ContentError> {
    // `contains` on bytes is a word-at-a-time search; the position only on failure.
    if bytes.contains(&0) {
        let at = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        return Err(ContentError::Nul {
            line: line_number_at(bytes, at),
        });
    }
    std::str::from_utf8(bytes).map_err(|e| ContentError::InvalidUtf8 {
        line: line_number_at(bytes, e.valid_up_to()),
    })
}

/// The 1-based line number of a byte offset (a lone CR ends a line, as for both readers).
pub fn line_number_at(bytes: &[u8], offset: usize) -> usize {
    let before = &bytes[..offset.min(bytes.len())];
    let mut line = 1;
    for (i, &b) in before.iter().enumerate() {
        if b == b'\n' || (b == b'\r' && before.get(i + 1) != Some(&b'\n')) {
            line += 1;
        }
    }
    // A CR right before the offset followed by LF at the offset is one terminator.
    if before.last() == Some(&b'\r') && bytes.get(offset) == Some(&b'\n') {
        line -= 1;
    }
    line
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether some byte of the word is below `n` (`n` <= 0x80; exact for "some byte",
/// which is all a word test decides).
#[inline(always)]
fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS != 0
}

/// Whether some byte of the word is `b`.
#[inline(always)]
fn has_byte(w: u64, b: u8) -> bool {
    has_less(w ^ (ONES * u64::from(b)), 1)
}

/// The first index at or after `from` whose byte `stop` matches, or the end. Eight
/// bytes at a time: only a word `may_stop` flags is looked at byte by byte.
#[inline(always)]
fn scan(
    bytes: &[u8],
    from: usize,
    may_stop: impl Fn(u64) -> bool,
    stop: impl Fn(u8) -> bool,
) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        if may_stop(u64::from_ne_bytes(w)) {
            for (j, &b) in chunk.iter().enumerate() {
                if stop(b) {
                    return i + j;
                }
            }
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if stop(b) {
            return i;
        }
        i += 1;
    }
    bytes.len()
}

/// The first `\n` or `\r` at or after `from`, or the end.
#[inline]
fn find_line_end(bytes: &[u8], from: usize) -> usize {
    scan(
        bytes,
        from,
        |w| has_less(w, 0x0e),
        |b| b == b'\n' || b == b'\r',
    )
}

/// The first `\n` at or after `from`, or the end.
#[inline]
fn find_lf(bytes: &[u8], from: usize) -> usize {
    scan(bytes, from, |w| has_byte(w, b'\n'), |b| b == b'\n')
}

/// The first `\n` or `#` at or after `from`, or the end.
#[inline]
fn end_of_value(bytes: &[u8], from: usize) -> usize {
    scan(
        bytes,
        from,
        |w| has_byte(w, b'\n') || has_byte(w, b'#'),
        |b| b == b'\n' || b == b'#',
    )
}

/// Splits text into physical lines, keeping each line's terminator.
pub fn split_lines(text: &str) -> Vec<Line<'_>> {
    let bytes = text.as_bytes();
    // Env files have short lines: a guess that is rarely outgrown.
    let mut lines = Vec::with_capacity(bytes.len() / 16 + 4);
    let mut start = 0;
    while start < bytes.len() {
        let i = find_line_end(bytes, start);
        if i == bytes.len() {
            lines.push(Line {
                text: &text[start..],
                ending: "",
            });
            break;
        }
        let end = if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i + 2
        } else {
            i + 1
        };
        lines.push(Line {
            text: &text[start..i],
            ending: &text[i..end],
        });
        start = end;
    }
    lines
}

/// What python-dotenv makes of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind<'a> {
    /// Whitespace only.
    Blank,
    /// A `#` comment line.
    Comment,
    /// `[export ]KEY[=VALUE]`, possibly over several lines inside quotes.
    Assignment(Assignment<'a>),
    /// A line python-dotenv cannot parse (it warns and skips it).
    Unparsable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment<'a> {
    pub key: Cow<'a, str>,
    /// The value python-dotenv reads (before `${...}` interpolation); `None` for a bare
    /// `KEY` line without `=`.
    pub value: Option<Cow<'a, str>>,
    /// Set by an `export KEY=...` line (systemd ignores those).
    pub export: bool,
    /// Length of the first line's text up to the end of the key (indentation,
    /// `export `, the key as written): a rewritten assignment keeps it.
    pub head_len: usize,
    /// Length of the first line's leading whitespace, for a comment moved above it.
    pub indent_len: usize,
    /// An inline comment (`# ...` after the value, to the end of the line), which
    /// python-dotenv drops and systemd reads as part of an unquoted value.
    pub comment: Option<Cow<'a, str>>,
}

/// A run of lines that python-dotenv reads as one binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// 0-based index of the first line.
    pub first: usize,
    /// 0-based index of the last line (inclusive).
    pub last: usize,
    /// Byte offset of the first line in the text.
    pub start: usize,
    /// Byte offset just past the last line's terminator.
    pub end: usize,
    pub kind: EntryKind<'a>,
}

impl<'a> Entry<'a> {
    pub fn assignment(&self) -> Option<&Assignment<'a>> {
        match &self.kind {
            EntryKind::Assignment(a) => Some(a),
            _ => None,
        }
    }

    /// The raw text of the entry's lines, terminators included.
    pub fn source<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..self.end]
    }

    /// The entry's first line, without its terminator.
    pub fn first_line<'t>(&self, text: &'t str) -> &'t str {
        &text[self.start..find_line_end(text.as_bytes(), self.start).min(self.end)]
    }

    /// An assignment's first line up to the end of its key (`  export KEY`).
    pub fn head<'t>(&self, text: &'t str) -> &'t str {
        let line = self.first_line(text);
        let len = self.assignment().map_or(0, |a| a.head_len);
        &line[..len.min(line.len())]
    }

    /// An assignment's indentation.
    pub fn indent<'t>(&self, text: &'t str) -> &'t str {
        let line = self.first_line(text);
        let len = self.assignment().map_or(0, |a| a.indent_len);
        &line[..len.min(line.len())]
    }
}

/// A parsed file: its text, its lines, byte for byte, and python-dotenv's entries over
/// them. The whole file in memory, entry by entry: the edit itself streams [`Entries`]
/// and keeps [`Readings`] instead; this complete view is for tests.
#[cfg(test)]
#[derive(Debug, Clone)]
pub struct Document<'a> {
    pub text: &'a str,
    pub lines: Vec<Line<'a>>,
    pub entries: Vec<Entry<'a>>,
}

#[cfg(test)]
impl<'a> Document<'a> {
    pub fn parse(text: &'a str) -> Document<'a> {
        Document {
            text,
            lines: split_lines(text),
            entries: Entries::new(text).collect(),
        }
    }

    /// The assignments python-dotenv reads, in order.
    pub fn assignments(&self) -> impl DoubleEndedIterator<Item = (&Entry<'a>, &Assignment<'a>)> {
        self.entries
            .iter()
            .filter_map(|e| e.assignment().map(|a| (e, a)))
    }

    /// What python-dotenv's `dotenv_values` returns, before interpolation: the last
    /// binding of each key wins (a bare `KEY` line counts, with no value).
    pub fn dotenv_values(&self) -> HashMap<String, Option<String>> {
        let mut map = HashMap::new();
        for (_, a) in self.assignments() {
            map.insert(a.key.to_string(), a.value.as_deref().map(str::to_string));
        }
        map
    }
}

/// The keys a command names, for checking every assignment of a file against: sorted,
/// with a mask of their lengths so that most keys are turned away without comparing
/// bytes, and no hashing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<String>,
    lengths: u64,
}

impl KeySet {
    pub fn new<'k>(keys: impl IntoIterator<Item = &'k str>) -> KeySet {
        let mut keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
        keys.sort_unstable();
        keys.dedup();
        let lengths = keys.iter().fold(0, |m, k| m | KeySet::length_bit(k));
        KeySet { keys, lengths }
    }

    #[inline]
    fn length_bit(key: &str) -> u64 {
        1 << key.len().min(63)
    }

    /// The key's index among the keys (sorted order).
    #[inline]
    pub fn find(&self, key: &str) -> Option<usize> {
        if self.lengths & KeySet::length_bit(key) == 0 {
            return None;
        }
        self.keys.binary_search_by(|k| k.as_str().cmp(key)).ok()
    }

    #[inline]
    pub fn contains(&self, key: &str) -> bool {
        self.find(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(String::as_str)
    }
}

/// What an edit needs from one text, under both readers, for a set of keys: nothing
/// here grows with the file but the assignments of those keys and the lines
/// python-dotenv cannot parse. Queries are for keys of the set only.
#[derive(Debug, Clone)]
pub struct Readings<'a> {
    pub text: &'a str,
    pub keys: KeySet,
    /// python-dotenv's entries for the keys' assignments and the unparsable lines, in
    /// order.
    pub entries: Vec<Entry<'a>>,
    /// systemd's assignments of the keys (valid names or not), in order.
    pub systemd: Vec<SystemdAssignment<'a>>,
    /// The number of physical lines.
    pub lines: usize,
    /// Every assignment each reader reads, when asked for ([`Readings::recording`]).
    pub sequences: Option<Sequences>,
}

/// Every assignment of a text as each reader reads it, in order (systemd's: valid names
/// only), 16 bytes each: spans of the text, or of a side buffer for what a reader
/// rewrote (escapes, CRLF inside quotes). What the new text is checked against, without
/// reading the old one again.
#[derive(Debug, Clone, Default)]
pub struct Sequences {
    owned: String,
    dotenv: Vec<Packed>,
    systemd: Vec<Packed>,
}

/// A key and a value, each `(start, len)`; a start with [`IN_OWNED`] set is in the side
/// buffer, a value of length [`ABSENT`] is python-dotenv's `None` (a bare `KEY`).
#[derive(Debug, Clone, Copy)]
struct Packed {
    key: (u32, u32),
    value: (u32, u32),
}

const IN_OWNED: u32 = 1 << 31;
const ABSENT: u32 = u32::MAX;
/// Texts up to this size are recorded (spans fit in 31 bits, the side buffer too).
const RECORD_LIMIT: usize = 1 << 30;

impl Sequences {
    fn span(&mut self, text: &str, s: &str) -> (u32, u32) {
        let at = (s.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        if at <= text.len() && s.len() <= text.len() - at {
            (at as u32, s.len() as u32)
        } else {
            let at = self.owned.len();
            self.owned.push_str(s);
            (at as u32 | IN_OWNED, s.len() as u32)
        }
    }

    fn get<'s>(&'s self, text: &'s str, (at, len): (u32, u32)) -> &'s str {
        let (source, at) = if at & IN_OWNED != 0 {
            (self.owned.as_str(), (at & !IN_OWNED) as usize)
        } else {
            (text, at as usize)
        };
        &source[at..at + len as usize]
    }

    fn push_dotenv(&mut self, text: &str, a: &Assignment<'_>) {
        let key = self.span(text, &a.key);
        let value = match &a.value {
            Some(v) => self.span(text, v),
            None => (0, ABSENT),
        };
        self.dotenv.push(Packed { key, value });
    }

    fn push_systemd(&mut self, text: &str, a: &SystemdAssignment<'_>) {
        let key = self.span(text, a.key);
        let value = self.span(text, &a.value);
        self.systemd.push(Packed { key, value });
    }

    /// python-dotenv's assignments of `text` (the text recorded) whose keys are not in
    /// `skip`.
    pub fn dotenv_others<'s>(
        &'s self,
        text: &'s str,
        skip: &'s KeySet,
    ) -> impl Iterator<Item = (&'s str, Option<&'s str>)> + 's {
        self.dotenv.iter().filter_map(move |p| {
            let key = self.get(text, p.key);
            if skip.contains(key) {
                return None;
            }
            let value = (p.value.1 != ABSENT).then(|| self.get(text, p.value));
            Some((key, value))
        })
    }

    /// systemd's assignments (valid names) of `text` whose keys are not in `skip`.
    pub fn systemd_others<'s>(
        &'s self,
        text: &'s str,
        skip: &'s KeySet,
    ) -> impl Iterator<Item = (&'s str, &'s str)> + 's {
        self.systemd.iter().filter_map(move |p| {
            let key = self.get(text, p.key);
            (!skip.contains(key)).then(|| (key, self.get(text, p.value)))
        })
    }
}

impl<'a> Readings<'a> {
    /// Reads the text under both readers (one pass each).
    pub fn of<'k>(text: &'a str, keys: impl IntoIterator<Item = &'k str>) -> Readings<'a> {
        Readings::read(text, KeySet::new(keys), false)
    }

    /// [`Readings::of`], also recording every assignment ([`Sequences`]) for
    /// [`crate::edit::verify`] to check the new text against.
    pub fn recording<'k>(text: &'a str, keys: impl IntoIterator<Item = &'k str>) -> Readings<'a> {
        Readings::read(text, KeySet::new(keys), text.len() < RECORD_LIMIT)
    }

    fn read(text: &'a str, keys: KeySet, record: bool) -> Readings<'a> {
        let mut sequences = record.then(Sequences::default);
        let mut entries = Vec::new();
        let mut stream = Entries::new(text);
        for entry in &mut stream {
            if let (Some(seq), EntryKind::Assignment(a)) = (&mut sequences, &entry.kind) {
                seq.push_dotenv(text, a);
            }
            if keeps(&keys, &entry) {
                entries.push(entry);
            }
        }
        let lines = stream.lines();
        let mut systemd = Vec::new();
        for a in SystemdReader::new(text) {
            if let Some(seq) = &mut sequences {
                if a.valid {
                    seq.push_systemd(text, &a);
                }
            }
            if keys.contains(a.key) {
                systemd.push(a);
            }
        }
        Readings {
            text,
            keys,
            entries,
            systemd,
            lines,
            sequences,
        }
    }

    /// The assignments of the keys python-dotenv reads, in order.
    pub fn assignments(&self) -> impl DoubleEndedIterator<Item = (&Entry<'a>, &Assignment<'a>)> {
        self.entries
            .iter()
            .filter_map(|e| e.assignment().map(|a| (e, a)))
    }

    /// python-dotenv's value of a key: `None` when absent, `Some(None)` for a bare `KEY`
    /// line (the last binding wins).
    pub fn dotenv(&self, key: &str) -> Option<Option<&str>> {
        debug_assert!(self.keys.contains(key), "{key} was not read");
        self.assignments()
            .rev()
            .find(|(_, a)| a.key == key)
            .map(|(_, a)| a.value.as_deref())
    }

    /// The value a unit gets from `EnvironmentFile=` (the last valid assignment wins).
    pub fn systemd(&self, key: &str) -> Option<&str> {
        debug_assert!(self.keys.contains(key), "{key} was not read");
        self.systemd
            .iter()
            .rev()
            .find(|a| a.valid && a.key == key)
            .map(|a| a.value.as_ref())
    }

    /// The ending for a new line: that of the last line that has one (CRLF in a CRLF
    /// file), else LF.
    pub fn newline(&self) -> &'a str {
        let bytes = self.text.as_bytes();
        match bytes.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(i) if bytes[i] == b'\n' && i > 0 && bytes[i - 1] == b'\r' => &self.text[i - 1..=i],
            Some(i) => &self.text[i..=i],
            None => "\n",
        }
    }
}

/// Whether [`Readings`] keeps an entry: an assignment of one of the keys, or a line
/// python-dotenv cannot parse.
#[inline]
pub fn keeps(keys: &KeySet, entry: &Entry<'_>) -> bool {
    match &entry.kind {
        EntryKind::Assignment(a) => keys.contains(&a.key),
        EntryKind::Unparsable => true,
        _ => false,
    }
}

/// Python's `str.isspace` / `re`'s `\s` for str patterns: Unicode White_Space plus the
/// information separators U+001C..U+001F.
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// [`py_space`] for an ASCII byte: `\t`..`\r`, U+001C..U+001F and space.
#[inline]
fn ascii_py_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x1f | b' ')
}

/// [`space_len_at`] for a character that is not ASCII.
#[cold]
fn wide_space_len_at(text: &str, at: usize) -> usize {
    match text[at..].chars().next() {
        Some(c) if py_space(c) => c.len_utf8(),
        _ => 0,
    }
}

/// The byte length of the character at `at` when it is [`py_space`] (0 when it is not,
/// or at the end). With `hspace`, `\n` and `\r` do not count (`[^\S\r\n]`).
#[inline]
fn space_len_at(text: &str, at: usize, hspace: bool) -> usize {
    match text.as_bytes().get(at) {
        None => 0,
        Some(&b) if b < 0x80 => {
            usize::from(ascii_py_space(b) && !(hspace && (b == b'\n' || b == b'\r')))
        }
        Some(_) => wide_space_len_at(text, at),
    }
}

/// The byte length of the UTF-8 character whose first byte is `b`.
#[inline]
fn char_len(b: u8) -> usize {
    match b {
        0..=0x7f => 1,
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        _ => 2,
    }
}

/// Where the run of (h)space characters from `at` ends.
#[inline]
fn skip_spaces(text: &str, mut at: usize, hspace: bool) -> usize {
    loop {
        let n = space_len_at(text, at, hspace);
        if n == 0 {
            return at;
        }
        at += n;
    }
}

/// The number of `\n` in `bytes`.
#[inline]
fn count_lf(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// python-dotenv's bindings, one [`Entry`] at a time (blank lines each an entry), in a
/// single pass that keeps nothing per line.
///
/// python-dotenv reads the file in text mode (universal newlines), so it parses the lines
/// joined with `\n`; the offsets map back to the physical lines one to one. Without a
/// CR in the file that joined text is the text itself, and every key and value is
/// borrowed from it; with one, a joined copy and a table of line starts are made.
pub struct Entries<'a> {
    text: &'a str,
    joined: Cow<'a, str>,
    /// With a CR in the text: each line's start in the text, then the text's length.
    starts: Option<Vec<usize>>,
    /// Where the next binding is read from (a line start of the joined text, or its end).
    pos: usize,
    /// The index of the line at `pos`.
    line: usize,
    /// Blank lines still to yield: the next one's index and joined offset, and the index
    /// of the line after the last.
    blank: (usize, usize, usize),
    /// The binding that follows those blank lines.
    pending: Option<Entry<'a>>,
    /// The number of lines, once the text is read.
    total: Option<usize>,
}

impl<'a> Entries<'a> {
    pub fn new(text: &'a str) -> Entries<'a> {
        let bytes = text.as_bytes();
        let (joined, starts) = if bytes.contains(&b'\r') {
            let lines = split_lines(text);
            let mut joined = String::with_capacity(text.len());
            let mut starts = Vec::with_capacity(lines.len() + 1);
            for line in &lines {
                starts.push(line.text.as_ptr() as usize - text.as_ptr() as usize);
                joined.push_str(line.text);
                if !line.ending.is_empty() {
                    joined.push('\n');
                }
            }
            starts.push(text.len());
            (Cow::Owned(joined), Some(starts))
        } else {
            (Cow::Borrowed(text), None)
        };
        Entries {
            text,
            joined,
            starts,
            pos: 0,
            line: 0,
            blank: (0, 0, 0),
            pending: None,
            total: None,
        }
    }

    /// The number of physical lines (the whole text is read for it).
    pub fn lines(&mut self) -> usize {
        while self.total.is_none() {
            if self.next().is_none() && self.total.is_none() {
                self.total = Some(self.line);
            }
        }
        self.total.unwrap_or(0)
    }

    /// Byte offsets in the text of lines `first` to `last` (joined offsets
    /// `joined_start..joined_end`).
    fn span(
        &self,
        first: usize,
        last: usize,
        joined_start: usize,
        joined_end: usize,
    ) -> (usize, usize) {
        match &self.starts {
            None => (joined_start, joined_end),
            Some(starts) => (starts[first], starts[last + 1]),
        }
    }

    /// A span of the joined text as text of the file: borrowed, except across a line end
    /// in a file with CRs (python-dotenv reads CRLF and a lone CR as `\n`).
    fn source(&self, start: usize, end: usize, first: usize, first_start: usize) -> Cow<'a, str> {
        let Some(starts) = &self.starts else {
            return match self.joined {
                Cow::Borrowed(t) => Cow::Borrowed(&t[start..end]),
                Cow::Owned(ref t) => Cow::Owned(t[start..end].to_string()),
            };
        };
        let joined = self.joined.as_bytes();
        if joined[start..end].contains(&b'\n') {
            return Cow::Owned(self.joined[start..end].to_string());
        }
        let before = &joined[first_start..start];
        let line = first + count_lf(before);
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(first_start, |i| first_start + i + 1);
        let at = starts[line] + (start - line_start);
        Cow::Borrowed(&self.text[at..at + (end - start)])
    }

    /// The two lines most env files are made of, `KEY=value` and `# comment`, read
    /// without the regex-by-regex machinery (in a file without CRs). The conditions keep
    /// to lines every step of [`DotenvReader`] reads the same way: the key and the value
    /// ASCII without whitespace, `#` or quotes, the value ending at the end of the line.
    /// Anything else goes the long way.
    #[inline]
    fn simple_line(&mut self, before: usize) -> bool {
        let Cow::Borrowed(text) = self.joined else {
            return false;
        };
        let bytes = text.as_bytes();
        let line_end = |end: usize| (end + 1).min(bytes.len());
        let first = bytes[before];
        let kind = if first == b'#' {
            let end = find_lf(bytes, before);
            (EntryKind::Comment, line_end(end))
        } else {
            if first <= b' ' || first >= 0x80 || matches!(first, b'\'' | b'=') {
                return false;
            }
            let eq = scan(
                bytes,
                before,
                |w| has_less(w, 0x21) || has_byte(w, b'=') || has_byte(w, b'#') || w & HIGHS != 0,
                |b| b <= b' ' || b == b'=' || b == b'#' || b >= 0x80,
            );
            if bytes.get(eq) != Some(&b'=') {
                return false;
            }
            match bytes.get(eq + 1) {
                Some(&b) if b > b' ' && b < 0x80 && !matches!(b, b'\'' | b'"' | b'#') => {}
                _ => return false,
            }
            let end = scan(
                bytes,
                eq + 1,
                |w| has_less(w, 0x21) || has_byte(w, b'#') || w & HIGHS != 0,
                |b| b <= b' ' || b == b'#' || b >= 0x80,
            );
            if end < bytes.len() && bytes[end] != b'\n' {
                return false;
            }
            let assignment = Assignment {
                key: Cow::Borrowed(&text[before..eq]),
                value: Some(Cow::Borrowed(&text[eq + 1..end])),
                export: false,
                head_len: eq - before,
                indent_len: 0,
                comment: None,
            };
            (EntryKind::Assignment(assignment), line_end(end))
        };
        let (kind, end) = kind;
        self.blank = (self.line, before, self.line);
        self.pending = Some(Entry {
            first: self.line,
            last: self.line,
            start: before,
            end,
            kind,
        });
        self.line += 1;
        self.pos = end;
        true
    }

    /// Reads the next binding, queueing the blank lines before it.
    fn read(&mut self) {
        let len = self.joined.len();
        let before = self.pos;
        if before >= len {
            self.total = Some(self.line);
            return;
        }
        if self.simple_line(before) {
            return;
        }
        let mut reader = DotenvReader {
            text: &self.joined,
            pos: before,
        };
        let binding = reader.binding();
        let joined = self.joined.as_bytes();
        if binding.content_start >= len {
            // Trailing whitespace only: blank lines to the end.
            let total = self.line
                + count_lf(&joined[before..])
                + usize::from(joined.last() != Some(&b'\n'));
            self.blank = (self.line, before, total);
            self.pos = len;
            self.line = total;
            self.total = Some(total);
            return;
        }
        let gap = &joined[before..binding.content_start];
        let first = self.line + count_lf(gap);
        let first_start = gap
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(before, |i| before + i + 1);
        let last_offset = binding.end.max(binding.content_start + 1) - 1;
        let last = first + count_lf(&joined[binding.content_start..last_offset]);
        self.blank = (self.line, before, first);
        self.pos = binding.end;
        self.line = last + 1;
        let kind = match binding.parsed {
            None => EntryKind::Unparsable,
            Some(Parsed { key: None, .. }) => EntryKind::Comment,
            Some(Parsed {
                key: Some((key_start, key_stop)),
                value,
                export,
                key_end,
                comment,
            }) => {
                let value = value.map(|v| match v {
                    RawValue::Empty => Cow::Borrowed(""),
                    RawValue::Plain(s, e) => self.source(s, e, first, first_start),
                    RawValue::Quoted(s, e, q) => {
                        if joined[s..e].contains(&b'\\') {
                            Cow::Owned(decode_escapes(&self.joined[s..e], q))
                        } else {
                            self.source(s, e, first, first_start)
                        }
                    }
                });
                EntryKind::Assignment(Assignment {
                    key: self.source(key_start, key_stop, first, first_start),
                    value,
                    export,
                    head_len: key_end - first_start,
                    indent_len: binding.content_start - first_start,
                    comment: comment.map(|(s, e)| self.source(s, e, first, first_start)),
                })
            }
        };
        let (start, end) = self.span(first, last, first_start, binding.end);
        self.pending = Some(Entry {
            first,
            last,
            start,
            end,
            kind,
        });
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;

    fn next(&mut self) -> Option<Entry<'a>> {
        loop {
            let (index, at, stop) = self.blank;
            if index < stop {
                let joined = self.joined.as_bytes();
                let end = (find_lf(joined, at) + 1).min(joined.len());
                let (start, end_in_text) = self.span(index, index, at, end);
                self.blank = (index + 1, end, stop);
                return Some(Entry {
                    first: index,
                    last: index,
                    start,
                    end: end_in_text,
                    kind: EntryKind::Blank,
                });
            }
            if let Some(entry) = self.pending.take() {
                return Some(entry);
            }
            if self.total.is_some() {
                return None;
            }
            self.read();
        }
    }
}

struct Binding {
    /// Where the binding's text starts after the leading whitespace python-dotenv skips.
    content_start: usize,
    /// Just past the binding's line terminator (or the end of the text).
    end: usize,
    /// `None` when python-dotenv reports a parse error for it.
    parsed: Option<Parsed>,
}

/// A binding as spans of the (joined) text.
struct Parsed {
    /// The key's span (without quotes); `None` for a comment.
    key: Option<(usize, usize)>,
    value: Option<RawValue>,
    export: bool,
    key_end: usize,
    /// The inline comment's span (from `#` to the end of the line).
    comment: Option<(usize, usize)>,
}

enum RawValue {
    Empty,
    /// An unquoted value, inline comment and trailing whitespace removed.
    Plain(usize, usize),
    /// The text between the quotes, escapes still to decode.
    Quoted(usize, usize, char),
}

/// python-dotenv's `Reader` and `parse_binding`, regex by regex.
struct DotenvReader<'t> {
    text: &'t str,
    pos: usize,
}

impl DotenvReader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_hspace(&mut self) {
        self.pos = skip_spaces(self.text, self.pos, true);
    }

    /// `[^\n]*`: to the next `\n` (or the end).
    fn skip_to_lf(&mut self) {
        self.pos = find_lf(self.text.as_bytes(), self.pos);
    }

    fn binding(&mut self) -> Binding {
        // _multiline_whitespace
        self.pos = skip_spaces(self.text, self.pos, false);
        let content_start = self.pos;
        if self.pos >= self.text.len() {
            return Binding {
                content_start,
                end: self.pos,
                parsed: None,
            };
        }
        let parsed = self.try_binding();
        if parsed.is_none() {
            // _rest_of_line, from wherever the failing regex stood.
            self.skip_to_lf();
            if self.peek() == Some(b'\n') {
                self.pos += 1;
            }
        }
        Binding {
            content_start,
            end: self.pos,
            parsed,
        }
    }

    fn try_binding(&mut self) -> Option<Parsed> {
        let bytes = self.text.as_bytes();
        // _export: (?:export[^\S\r\n]+)?
        let mut export = false;
        if bytes[self.pos..].starts_with(b"export")
            && space_len_at(self.text, self.pos + "export".len(), true) > 0
        {
            self.pos += "export".len();
            self.skip_hspace();
            export = true;
        }
        // parse_key
        let key = match self.peek() {
            Some(b'#') => None,
            Some(b'\'') => {
                // _single_quoted_key: '([^']+)'
                let inner = self.pos + 1;
                let close = bytes[inner..].iter().position(|&b| b == b'\'')?;
                if close == 0 {
                    return None;
                }
                self.pos = inner + close + 1;
                Some((inner, inner + close))
            }
            _ => {
                // _unquoted_key: ([^=\#\s]+)
                let start = self.pos;
                let mut at = start;
                loop {
                    // ASCII key bytes in bulk; stop at `=`, `#`, ASCII space, non-ASCII.
                    at = scan(
                        bytes,
                        at,
                        |w| {
                            has_less(w, 0x21)
                                || has_byte(w, b'=')
                                || has_byte(w, b'#')
                                || w & HIGHS != 0
                        },
                        |b| b <= b' ' || b == b'=' || b == b'#' || b >= 0x80,
                    );
                    match bytes.get(at) {
                        Some(&b) if b >= 0x80 && space_len_at(self.text, at, false) == 0 => {
                            at += char_len(b);
                        }
                        Some(&b) if b < b' ' && !ascii_py_space(b) => at += 1,
                        _ => break,
                    }
                }
                if at == start {
                    return None;
                }
                self.pos = at;
                Some((start, at))
            }
        };
        let key_end = self.pos;
        // _whitespace
        self.skip_hspace();
        let mut comment = None;
        let value = if self.peek() == Some(b'=') {
            // _equal_sign
            self.pos += 1;
            self.skip_hspace();
            Some(self.value(&mut comment)?)
        } else {
            None
        };
        // _comment: (?:[^\S\r\n]*#[^\r\n]*)?
        let save = self.pos;
        self.skip_hspace();
        if self.peek() == Some(b'#') {
            let start = self.pos;
            self.skip_to_lf();
            comment = Some((start, self.pos));
        } else {
            self.pos = save;
        }
        // _end_of_line: [^\S\r\n]*(?:\r\n|\n|\r|$)
        self.skip_hspace();
        match self.peek() {
            None => {}
            Some(b'\n') => self.pos += 1,
            Some(_) => return None,
        }
        Some(Parsed {
            key,
            value,
            export,
            key_end,
            comment,
        })
    }

    /// parse_value. An unquoted value's inline comment goes to `comment`.
    fn value(&mut self, comment: &mut Option<(usize, usize)>) -> Option<RawValue> {
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => {
                let inner_start = self.pos + 1;
                let close = quoted_close(&self.text[inner_start..], char::from(q))?;
                self.pos = inner_start + close + 1;
                Some(RawValue::Quoted(
                    inner_start,
                    inner_start + close,
                    char::from(q),
                ))
            }
            None | Some(b'\n') => Some(RawValue::Empty),
            Some(_) => {
                // _unquoted_value, then re.sub(r"\s+#.*", "", part).rstrip()
                // The first `#` right after whitespace starts the comment (`\s+#.*`),
                // and the whitespace run before it goes too.
                let start = self.pos;
                let bytes = self.text.as_bytes();
                let mut cut = end_of_value(bytes, start);
                let mut end = cut;
                while bytes.get(cut) == Some(&b'#') {
                    let before = &self.text[start..cut];
                    if before.chars().next_back().is_some_and(py_space) {
                        end = find_lf(bytes, cut);
                        *comment = Some((cut, end));
                        cut = start + before.trim_end_matches(py_space).len();
                        break;
                    }
                    cut = end_of_value(bytes, cut + 1);
                    end = cut;
                }
                self.pos = end;
                // .rstrip(): trailing Python whitespace, which may be non-ASCII.
                let trimmed = match bytes[start..cut].last() {
                    Some(&b) if b < 0x80 && !ascii_py_space(b) => cut - start,
                    _ => self.text[start..cut].trim_end_matches(py_space).len(),
                };
                Some(RawValue::Plain(start, start + trimmed))
            }
        }
    }
}

/// Where `'((?:\\'|[^'])*)'` (or the `"` form) closes, as an offset into the text after
/// the opening quote, with Python's backtracking: the greedy scan stops at the first
/// unescaped quote; if it runs off the end, the regex backtracks to the last `\q` and
/// closes on its quote.
fn quoted_close(inner: &str, q: char) -> Option<usize> {
    let bytes = inner.as_bytes();
    let q = q as u8;
    let mut i = 0;
    let mut last_escaped_quote = None;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&q) {
            last_escaped_quote = Some(i + 1);
            i += 2;
        } else if bytes[i] == q {
            return Some(i);
        } else {
            i += 1;
        }
    }
    last_escaped_quote
}

/// python-dotenv's `decode_escapes`: in double quotes `\\[\\'"abfnrtv]`, in single
/// quotes `\\[\\']`, each decoded as Python's unicode-escape does; other backslashes stay.
fn decode_escapes(raw: &str, q: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match (q, chars.peek()) {
            (_, Some('\\')) => Some('\\'),
            (_, Some('\'')) => Some('\''),
            ('"', Some('"')) => Some('"'),
            ('"', Some('a')) => Some('\u{7}'),
            ('"', Some('b')) => Some('\u{8}'),
            ('"', Some('f')) => Some('\u{c}'),
            ('"', Some('n')) => Some('\n'),
            ('"', Some('r')) => Some('\r'),
            ('"', Some('t')) => Some('\t'),
            ('"', Some('v')) => Some('\u{b}'),
            _ => None,
        };
        match decoded {
            Some(d) => {
                chars.next();
                out.push(d);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// One assignment as systemd's env-file parser pushes it, before name validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdAssignment<'a> {
    /// The key as systemd reads it (always a slice of the text: systemd keeps every byte
    /// of a key but its trailing whitespace).
    pub key: &'a str,
    pub value: Cow<'a, str>,
    /// 1-based line where the key starts.
    pub line: usize,
    /// Whether the key is a name systemd accepts ([`systemd_name_is_valid`]).
    pub valid: bool,
}

/// A value systemd is building: a span of the text while the bytes it takes are
/// consecutive (the usual case), a copy once they are not.
enum ValueBuf {
    Span(usize, usize),
    Owned(Vec<u8>),
}

impl ValueBuf {
    #[inline]
    fn len(&self) -> usize {
        match self {
            ValueBuf::Span(s, e) => e - s,
            ValueBuf::Owned(v) => v.len(),
        }
    }

    /// Appends `bytes[from..to]`.
    #[inline]
    fn extend(&mut self, bytes: &[u8], from: usize, to: usize) {
        match self {
            ValueBuf::Span(s, e) if *s == *e => {
                *s = from;
                *e = to;
            }
            ValueBuf::Span(_, e) if *e == from => *e = to,
            ValueBuf::Span(s, e) => {
                let mut v = Vec::with_capacity(*e - *s + (to - from) + 16);
                v.extend_from_slice(&bytes[*s..*e]);
                v.extend_from_slice(&bytes[from..to]);
                *self = ValueBuf::Owned(v);
            }
            ValueBuf::Owned(v) => v.extend_from_slice(&bytes[from..to]),
        }
    }

    #[inline]
    fn truncate(&mut self, len: usize) {
        match self {
            ValueBuf::Span(s, e) => *e = (*s + len).min(*e),
            ValueBuf::Owned(v) => v.truncate(len),
        }
    }

    /// The value, leaving the buffer empty.
    #[inline(always)]
    fn take<'a>(&mut self, text: &'a str) -> Cow<'a, str> {
        match std::mem::replace(self, ValueBuf::Span(0, 0)) {
            ValueBuf::Span(s, e) => text.get(s..e).map_or_else(
                || Cow::Owned(String::from_utf8_lossy(&text.as_bytes()[s..e]).into_owned()),
                Cow::Borrowed,
            ),
            ValueBuf::Owned(v) => Cow::Owned(
                String::from_utf8(v)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }
}

/// systemd 252's `parse_env_file_internal`, state for state (NEWLINE is `\n\r`,
/// WHITESPACE ` \t\n\r`, COMMENTS `#;`, SHELL_NEED_ESCAPE `"\`$` plus backtick), one
/// assignment at a time.
///
/// The states that take runs of ordinary bytes (key, value, quoted value, comment) take
/// them in one step; a run never holds a line terminator, so lines are still counted byte
/// by byte at the terminators.
pub struct SystemdReader<'a> {
    text: &'a str,
    i: usize,
    state: State,
    line: usize,
    key_line: usize,
    /// The key is every byte from key_start up to the `=` (key_end); systemd drops its
    /// trailing whitespace (from last_key_ws on).
    key_start: usize,
    key_end: usize,
    last_key_ws: Option<usize>,
    value: ValueBuf,
    last_value_ws: Option<usize>,
    done: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    SingleQuoteValue,
    DoubleQuoteValue,
    DoubleQuoteValueEscape,
    Comment,
    CommentEscape,
}

impl<'a> SystemdReader<'a> {
    pub fn new(text: &'a str) -> SystemdReader<'a> {
        SystemdReader {
            text,
            i: 0,
            state: State::PreKey,
            line: 1,
            key_line: 1,
            key_start: 0,
            key_end: 0,
            last_key_ws: None,
            value: ValueBuf::Span(0, 0),
            last_value_ws: None,
            done: false,
        }
    }
}

/// The assignment systemd pushes (its value chomped at `chomp`).
#[inline(always)]
fn push<'a>(
    out: &mut Option<SystemdAssignment<'a>>,
    text: &'a str,
    value: &mut ValueBuf,
    key: (usize, usize),
    line: usize,
    chomp: Option<usize>,
) {
    if let Some(at) = chomp {
        value.truncate(at);
    }
    let key = text.get(key.0..key.1).unwrap_or("");
    *out = Some(SystemdAssignment {
        key,
        value: value.take(text),
        line,
        valid: systemd_name_is_valid(key),
    });
}

impl<'a> Iterator for SystemdReader<'a> {
    type Item = SystemdAssignment<'a>;

    fn next(&mut self) -> Option<SystemdAssignment<'a>> {
        #[inline]
        fn newline(c: u8) -> bool {
            c == b'\n' || c == b'\r'
        }
        #[inline]
        fn whitespace(c: u8) -> bool {
            matches!(c, b' ' | b'\t' | b'\n' | b'\r')
        }
        if self.done {
            return None;
        }
        let text = self.text;
        let bytes = text.as_bytes();
        let SystemdReader {
            i,
            state,
            line,
            key_line,
            key_start,
            key_end,
            last_key_ws,
            value,
            last_value_ws,
            ..
        } = self;
        let mut out = None;
        while *i < bytes.len() {
            let c = bytes[*i];
            match *state {
                State::PreKey if !whitespace(c) && c != b'#' && c != b';' => {
                    // `KEY=value` to the end of the line, no whitespace, quote or
                    // backslash: what the states below make of it, in one step.
                    // (The first byte is the key's, even a `=`.)
                    let eq = scan(
                        bytes,
                        *i + 1,
                        |w| has_less(w, 0x21) || has_byte(w, b'='),
                        |b| whitespace(b) || b == b'=',
                    );
                    let plain = |b: u8| !whitespace(b) && !matches!(b, b'\'' | b'"' | b'\\');
                    if bytes.get(eq) == Some(&b'=') && bytes.get(eq + 1).is_some_and(|&b| plain(b))
                    {
                        let end = scan(
                            bytes,
                            eq + 1,
                            |w| has_less(w, 0x21) || has_byte(w, b'\\'),
                            |b| whitespace(b) || b == b'\\',
                        );
                        if bytes.get(end).is_none_or(|&b| newline(b)) {
                            *value = ValueBuf::Span(eq + 1, end);
                            push(&mut out, text, value, (*i, eq), *line, None);
                            *i = end;
                            if let Some(&c) = bytes.get(end) {
                                if c == b'\n' || bytes.get(end + 1) != Some(&b'\n') {
                                    *line += 1;
                                }
                                *i += 1;
                            }
                            return out;
                        }
                    }
                    *state = State::Key;
                    *last_key_ws = None;
                    *key_line = *line;
                    *key_start = *i;
                }
                State::PreKey => {
                    if c == b'#' || c == b';' {
                        *state = State::Comment;
                    } else if !whitespace(c) {
                        *state = State::Key;
                        *last_key_ws = None;
                        *key_line = *line;
                        *key_start = *i;
                    }
                }
                State::Key => {
                    if newline(c) {
                        *state = State::PreKey;
                    } else if c == b'=' {
                        *state = State::PreValue;
                        *last_value_ws = None;
                        *key_end = *i;
                    } else if !whitespace(c) {
                        *last_key_ws = None;
                        *i = scan(
                            bytes,
                            *i,
                            |w| has_less(w, 0x21) || has_byte(w, b'='),
                            |b| whitespace(b) || b == b'=',
                        );
                        continue;
                    } else {
                        if last_key_ws.is_none() {
                            *last_key_ws = Some(*i);
                        }
                    }
                }
                State::PreValue => {
                    if newline(c) {
                        *state = State::PreKey;
                        push(
                            &mut out,
                            text,
                            value,
                            (*key_start, last_key_ws.unwrap_or(*key_end)),
                            *key_line,
                            None,
                        );
                    } else if c == b'\'' {
                        *state = State::SingleQuoteValue;
                    } else if c == b'"' {
                        *state = State::DoubleQuoteValue;
                    } else if c == b'\\' {
                        *state = State::ValueEscape;
                    } else if !whitespace(c) {
                        *state = State::Value;
                        value.extend(bytes, *i, *i + 1);
                    }
                }
                State::Value => {
                    if newline(c) {
                        *state = State::PreKey;
                        push(
                            &mut out,
                            text,
                            value,
                            (*key_start, last_key_ws.unwrap_or(*key_end)),
                            *key_line,
                            *last_value_ws,
                        );
                    } else if c == b'\\' {
                        *state = State::ValueEscape;
                        *last_value_ws = None;
                    } else if !whitespace(c) {
                        *last_value_ws = None;
                        let end = scan(
                            bytes,
                            *i,
                            |w| has_less(w, 0x21) || has_byte(w, b'\\'),
                            |b| whitespace(b) || b == b'\\',
                        );
                        value.extend(bytes, *i, end);
                        *i = end;
                        continue;
                    } else {
                        if last_value_ws.is_none() {
                            *last_value_ws = Some(value.len());
                        }
                        value.extend(bytes, *i, *i + 1);
                    }
                }
                State::ValueEscape => {
                    *state = State::Value;
                    if !newline(c) {
                        value.extend(bytes, *i, *i + 1);
                    }
                }
                State::SingleQuoteValue => {
                    if c == b'\'' {
                        *state = State::PreValue;
                    } else if newline(c) {
                        value.extend(bytes, *i, *i + 1);
                    } else {
                        let end = scan(
                            bytes,
                            *i,
                            |w| has_less(w, 0x0e) || has_byte(w, b'\''),
                            |b| b == b'\'' || newline(b),
                        );
                        value.extend(bytes, *i, end);
                        *i = end;
                        continue;
                    }
                }
                State::DoubleQuoteValue => {
                    if c == b'"' {
                        *state = State::PreValue;
                    } else if c == b'\\' {
                        *state = State::DoubleQuoteValueEscape;
                    } else if newline(c) {
                        value.extend(bytes, *i, *i + 1);
                    } else {
                        let end = scan(
                            bytes,
                            *i,
                            |w| has_less(w, 0x0e) || has_byte(w, b'"') || has_byte(w, b'\\'),
                            |b| b == b'"' || b == b'\\' || newline(b),
                        );
                        value.extend(bytes, *i, end);
                        *i = end;
                        continue;
                    }
                }
                State::DoubleQuoteValueEscape => {
                    *state = State::DoubleQuoteValue;
                    if matches!(c, b'"' | b'\\' | b'`' | b'$') {
                        value.extend(bytes, *i, *i + 1);
                    } else if c != b'\n' {
                        // The backslash (the byte before) and the character, both kept.
                        value.extend(bytes, *i - 1, *i + 1);
                    }
                }
                State::Comment => {
                    if c == b'\\' {
                        *state = State::CommentEscape;
                    } else if newline(c) {
                        *state = State::PreKey;
                    } else {
                        *i = scan(
                            bytes,
                            *i,
                            |w| has_less(w, 0x0e) || has_byte(w, b'\\'),
                            |b| b == b'\\' || newline(b),
                        );
                        continue;
                    }
                }
                State::CommentEscape => *state = State::Comment,
            }
            // Physical lines, for messages only: LF, CRLF or a lone CR ends one.
            if c == b'\n' || (c == b'\r' && bytes.get(*i + 1) != Some(&b'\n')) {
                *line += 1;
            }
            *i += 1;
            if out.is_some() {
                return out;
            }
        }
        self.done = true;
        match *state {
            State::PreValue
            | State::ValueEscape
            | State::SingleQuoteValue
            | State::DoubleQuoteValue
            | State::DoubleQuoteValueEscape => push(
                &mut out,
                text,
                value,
                (*key_start, last_key_ws.unwrap_or(*key_end)),
                *key_line,
                None,
            ),
            State::Value => push(
                &mut out,
                text,
                value,
                (*key_start, last_key_ws.unwrap_or(*key_end)),
                *key_line,
                *last_value_ws,
            ),
            _ => {}
        }
        out
    }
}

/// Every assignment systemd's parser pushes, in order ([`SystemdReader`]).
pub fn systemd_assignments(text: &str) -> Vec<SystemdAssignment<'_>> {
    SystemdReader::new(text).collect()
}

/// systemd 252's `env_name_is_valid`: letters, digits and `_`, not starting with a digit.
#[inline]
pub fn systemd_name_is_valid(name: &str) -> bool {
    /// 1: may start a name, 2: may continue one.
    const NAME: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut b = 0;
        while b < 256 {
            let c = b as u8;
            if c.is_ascii_alphabetic() || c == b'_' {
                t[b] = 3;
            } else if c.is_ascii_digit() {
                t[b] = 2;
            }
            b += 1;
        }
        t
    };
    match name.as_bytes() {
        [first, rest @ ..] => {
            NAME[usize::from(*first)] & 1 != 0
                && rest.iter().all(|&b| NAME[usize::from(b)] & 2 != 0)
        }
        [] => false,
    }
}

/// The environment a unit with `EnvironmentFile=` this text gets from it: assignments
/// with invalid names dropped, the last of each name winning. With the line of the
/// winning assignment. For tests: the edit reads only the keys it names.
#[cfg(test)]
pub fn systemd_env(text: &str) -> HashMap<String, (String, usize)> {
    let mut env = HashMap::new();
    for a in systemd_assignments(text) {
        if a.valid {
            env.insert(a.key.to_string(), (a.value.into_owned(), a.line));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dotenv(text: &str) -> HashMap<String, Option<String>> {
        Document::parse(text).dotenv_values()
    }

    fn systemd(text: &str) -> HashMap<String, String> {
        systemd_env(text)
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
    }

    #[test]
    fn lines_keep_their_endings() {
        let lines = split_lines("a\r\nb\nc\rd");
        let pairs: Vec<_> = lines.iter().map(|l| (l.text, l.ending)).collect();
        assert_eq!(
            pairs,
            vec![("a", "\r\n"), ("b", "\n"), ("c", "\r"), ("d", "")]
        );
        assert!(split_lines("").is_empty());
    }

    #[test]
    fn content_errors_name_the_line() {
        assert_eq!(decode(b"A=1\nB=\0\n"), Err(ContentError::Nul { line: 2 }));
        assert_eq!(
            decode(b"A=1\r\nB=2\r\nC=\xff\n"),
            Err(ContentError::InvalidUtf8 { line: 3 })
        );
        assert_eq!(decode(b"A=1\n"), Ok("A=1\n"));
    }

    /// The differences the issue lists, as the real readers resolve them.
    #[test]
    fn the_readers_disagree_where_the_issue_says() {
        let text = "A=foo # note\nexport B=1\nC='it\\'s'\nD=\"C:\\new\"\n# c \\\nE=swallowed\nF=\"a\" # c\n";
        let d = dotenv(text);
        let s = systemd(text);
        assert_eq!(d["A"].as_deref(), Some("foo"));
        assert_eq!(s["A"], "foo # note");
        assert_eq!(d["B"].as_deref(), Some("1"));
        assert!(!s.contains_key("B"));
        assert_eq!(d["C"].as_deref(), Some("it's"));
        assert_eq!(s["C"], "it\\s'");
        assert_eq!(d["D"].as_deref(), Some("C:\new"));
        assert_eq!(s["D"], "C:\\new");
        assert_eq!(d["E"].as_deref(), Some("swallowed"));
        assert!(!s.contains_key("E"));
        assert_eq!(d["F"].as_deref(), Some("a"));
        assert_eq!(s["F"], "a# c");
    }

    #[test]
    fn entries_cover_every_line_once() {
        let text = "\n# top\n  export K=v # c\nM=\"multi\nline\"\nbad line here\nN\n\n";
        let doc = Document::parse(text);
        let mut covered = vec![0; doc.lines.len()];
        for e in &doc.entries {
            for n in &mut covered[e.first..=e.last] {
                *n += 1;
            }
        }
        assert!(covered.iter().all(|&n| n == 1), "{:?}", doc.entries);
        let kinds: Vec<_> = doc
            .entries
            .iter()
            .map(|e| match &e.kind {
                EntryKind::Blank => "blank".to_string(),
                EntryKind::Comment => "comment".to_string(),
                EntryKind::Unparsable => "bad".to_string(),
                EntryKind::Assignment(a) => format!("{}@{}-{}", a.key, e.first, e.last),
            })
            .collect();
        assert_eq!(
            kinds,
            vec!["blank", "comment", "K@2-2", "M@3-4", "bad", "N@6-6", "blank"]
        );
        let k = doc.entries[2].assignment().unwrap();
        assert!(k.export);
        assert_eq!(doc.entries[2].head(doc.text), "  export K");
        assert_eq!(doc.entries[2].indent(doc.text), "  ");
        assert_eq!(k.comment.as_deref(), Some("# c"));
        assert_eq!(k.value.as_deref(), Some("v"));
        let m = doc.entries[3].assignment().unwrap();
        assert_eq!(m.value.as_deref(), Some("multi\nline"));
        assert_eq!(doc.dotenv_values()["N"], None);
    }

    #[test]
    fn dotenv_quoting_rules() {
        let d = dotenv(
            "A=\"x\\\"y\"\nB='a\\\\b'\nC=\"\\t\"\nD=  spaced  \nE=a#b\nF=a #b\nG=\nH=\"\"\nI='x' # c\n",
        );
        assert_eq!(d["A"].as_deref(), Some("x\"y"));
        assert_eq!(d["B"].as_deref(), Some("a\\b"));
        assert_eq!(d["C"].as_deref(), Some("\t"));
        assert_eq!(d["D"].as_deref(), Some("spaced"));
        assert_eq!(d["E"].as_deref(), Some("a#b"));
        assert_eq!(d["F"].as_deref(), Some("a"));
        assert_eq!(d["G"].as_deref(), Some(""));
        assert_eq!(d["H"].as_deref(), Some(""));
        assert_eq!(d["I"].as_deref(), Some("x"));
    }

    #[test]
    fn dotenv_backtracks_to_an_escaped_quote_at_end_of_text() {
        // The greedy scan runs off the end; the regex closes on the last \" instead,
        // and the text after it makes the binding an error.
        let doc = Document::parse("A=\"x\\\"y\n");
        assert_eq!(doc.entries[0].kind, EntryKind::Unparsable);
        // A trailing backslash in double quotes escapes the closing quote: the value runs
        // on to the next quote, on the next line, and the rest of that line is an error
        // (what python-dotenv 1.2 does with this text).
        let text = "A=\"x\\\\\"\nB=\"y\"\nC=1\n";
        let doc = Document::parse(text);
        assert_eq!(doc.entries[0].kind, EntryKind::Unparsable);
        assert_eq!((doc.entries[0].first, doc.entries[0].last), (0, 1));
        assert_eq!(doc.dotenv_values().len(), 1);
        // With no quote after it, the regex backtracks and closes on the escaped quote.
        let d = dotenv("A=\"x\\\\\"\nB=y\n");
        assert_eq!(d["A"].as_deref(), Some("x\\"));
        assert_eq!(d["B"].as_deref(), Some("y"));
    }

    #[test]
    fn systemd_rules() {
        let s = systemd(
            "A = 1 \nB=\"x\\$y\\`z\\n\"\nC=a\\\nb\n;semi\nexport D=1\n1E=2\nF=\nG='q' 'r'\n",
        );
        assert_eq!(s["A"], "1");
        assert_eq!(s["B"], "x$y`z\\n");
        assert_eq!(s["C"], "ab");
        assert!(!s.contains_key("D"));
        assert!(!s.contains_key("1E"));
        assert_eq!(s["F"], "");
        assert_eq!(s["G"], "qr");
        let crlf = systemd("A=1\r\nB=\"2\"\r\n");
        assert_eq!(crlf["A"], "1");
        assert_eq!(crlf["B"], "2");
    }
}
