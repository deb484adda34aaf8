//! python-dotenv 1.x's reader: [`Entries`] groups the physical lines into [`Entry`]s the
//! way python-dotenv groups them into bindings (`dotenv/parser.py`): blank lines,
//! comments, assignments (possibly spanning lines inside quotes) and lines it cannot
//! parse, each with its byte range.
//!
//! The text is read literally: python-dotenv's `${VAR}` interpolation happens after
//! parsing and is the caller's to report, not performed here.

use crate::text::{
    count_lf, find_lf, find_line_end, has_byte, has_less, scan, split_lines, Line, HIGHS,
};
use std::borrow::Cow;
use std::collections::HashMap;

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
/// them. The whole file in memory, entry by entry: for tests and small files; a reader
/// of large files streams [`Entries`] instead.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    pub text: &'a str,
    pub lines: Vec<Line<'a>>,
    pub entries: Vec<Entry<'a>>,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn dotenv(text: &str) -> HashMap<String, Option<String>> {
        Document::parse(text).dotenv_values()
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
}
