//! The env file as its two readers see it.
//!
//! [`Document`] keeps every physical line's bytes (text and line ending) and groups the
//! lines into [`Entry`]s the way python-dotenv 1.x groups them into bindings
//! (`dotenv/parser.py`): blank lines, comments, assignments (possibly spanning lines
//! inside quotes) and lines it cannot parse. Editing replaces whole entries; every other
//! line is written back byte for byte.
//!
//! [`systemd_assignments`] is a transcription of systemd 252's `parse_env_file_internal`
//! (src/basic/env-file.c) as used by `EnvironmentFile=`, and [`systemd_env`] applies what
//! the service manager does next (drops invalid names, the last assignment wins).
//!
//! Both parsers read the text literally: python-dotenv's `${VAR}` interpolation happens
//! after parsing and is reported by the caller, not performed here.

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
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
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

/// Splits text into physical lines, keeping each line's terminator.
pub fn split_lines(text: &str) -> Vec<Line<'_>> {
    let bytes = text.as_bytes();
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(Line {
                    text: &text[start..i],
                    ending: &text[i..i + 1],
                });
                i += 1;
                start = i;
            }
            b'\r' => {
                let end = if bytes.get(i + 1) == Some(&b'\n') {
                    i + 2
                } else {
                    i + 1
                };
                lines.push(Line {
                    text: &text[start..i],
                    ending: &text[i..end],
                });
                i = end;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < bytes.len() {
        lines.push(Line {
            text: &text[start..],
            ending: "",
        });
    }
    lines
}

/// What python-dotenv makes of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// Whitespace only.
    Blank,
    /// A `#` comment line.
    Comment,
    /// `[export ]KEY[=VALUE]`, possibly over several lines inside quotes.
    Assignment(Assignment),
    /// A line python-dotenv cannot parse (it warns and skips it).
    Unparsable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    /// The value python-dotenv reads (before `${...}` interpolation); `None` for a bare
    /// `KEY` line without `=`.
    pub value: Option<String>,
    /// Set by an `export KEY=...` line (systemd ignores those).
    pub export: bool,
    /// Length of the first line's text up to the end of the key (indentation,
    /// `export `, the key as written): a rewritten assignment keeps it.
    pub head_len: usize,
    /// Length of the first line's leading whitespace, for a comment moved above it.
    pub indent_len: usize,
    /// An inline comment (`# ...` after the value, to the end of the line), which
    /// python-dotenv drops and systemd reads as part of an unquoted value.
    pub comment: Option<String>,
}

/// A run of lines that python-dotenv reads as one binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 0-based index of the first line.
    pub first: usize,
    /// 0-based index of the last line (inclusive).
    pub last: usize,
    pub kind: EntryKind,
}

impl Entry {
    pub fn assignment(&self) -> Option<&Assignment> {
        match &self.kind {
            EntryKind::Assignment(a) => Some(a),
            _ => None,
        }
    }
}

/// A parsed file: its lines, byte for byte, and python-dotenv's entries over them.
#[derive(Debug, Clone)]
pub struct Document<'a> {
    pub lines: Vec<Line<'a>>,
    pub entries: Vec<Entry>,
}

impl<'a> Document<'a> {
    pub fn parse(text: &'a str) -> Document<'a> {
        let lines = split_lines(text);
        let entries = dotenv_entries(&lines);
        Document { lines, entries }
    }

    /// The raw text of an entry's lines, terminators included.
    pub fn entry_text(&self, entry: &Entry) -> String {
        self.lines[entry.first..=entry.last]
            .iter()
            .map(|l| format!("{}{}", l.text, l.ending))
            .collect()
    }

    /// An assignment's first line up to the end of its key (`  export KEY`).
    pub fn head(&self, entry: &Entry, a: &Assignment) -> &'a str {
        let text = self.lines[entry.first].text;
        &text[..a.head_len.min(text.len())]
    }

    /// An assignment's indentation.
    pub fn indent(&self, entry: &Entry, a: &Assignment) -> &'a str {
        let text = self.lines[entry.first].text;
        &text[..a.indent_len.min(text.len())]
    }

    /// The assignments python-dotenv reads, in order.
    pub fn assignments(&self) -> impl DoubleEndedIterator<Item = (&Entry, &Assignment)> {
        self.entries
            .iter()
            .filter_map(|e| e.assignment().map(|a| (e, a)))
    }

    /// What python-dotenv's `dotenv_values` returns, before interpolation: the last
    /// binding of each key wins (a bare `KEY` line counts, with no value).
    pub fn dotenv_values(&self) -> HashMap<String, Option<String>> {
        let mut map = HashMap::new();
        for entry in &self.entries {
            if let Some(a) = entry.assignment() {
                map.insert(a.key.clone(), a.value.clone());
            }
        }
        map
    }
}

/// Both readers' view of one text, each parsed once.
#[derive(Debug, Clone)]
pub struct Readings<'a> {
    pub text: &'a str,
    pub doc: Document<'a>,
    pub systemd: Vec<SystemdAssignment>,
}

impl<'a> Readings<'a> {
    pub fn of(text: &'a str) -> Readings<'a> {
        Readings {
            text,
            doc: Document::parse(text),
            systemd: systemd_assignments(text),
        }
    }

    /// python-dotenv's value of a key: `None` when absent, `Some(None)` for a bare `KEY`
    /// line (the last binding wins).
    pub fn dotenv(&self, key: &str) -> Option<Option<&str>> {
        self.doc
            .assignments()
            .rev()
            .find(|(_, a)| a.key == key)
            .map(|(_, a)| a.value.as_deref())
    }

    /// The value a unit gets from `EnvironmentFile=` (the last valid assignment wins).
    pub fn systemd(&self, key: &str) -> Option<&str> {
        self.systemd_valid()
            .rev()
            .find(|a| a.key == key)
            .map(|a| a.value.as_str())
    }

    /// systemd's assignments with valid names, in order (the others are dropped).
    pub fn systemd_valid(&self) -> impl DoubleEndedIterator<Item = &SystemdAssignment> {
        self.systemd
            .iter()
            .filter(|a| systemd_name_is_valid(&a.key))
    }
}

/// Python's `str.isspace` / `re`'s `\s` for str patterns: Unicode White_Space plus the
/// information separators U+001C..U+001F.
pub fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `[^\S\r\n]`: whitespace that does not end a line.
fn py_hspace(c: char) -> bool {
    py_space(c) && c != '\n' && c != '\r'
}

/// Groups lines into python-dotenv's bindings. python-dotenv reads the file in text mode
/// (universal newlines), so it parses the lines joined with `\n`; the offsets map back
/// to the physical lines one to one.
fn dotenv_entries(lines: &[Line<'_>]) -> Vec<Entry> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.text.len() + 1).sum());
    let mut starts = Vec::with_capacity(lines.len());
    for line in lines {
        starts.push(text.len());
        text.push_str(line.text);
        if !line.ending.is_empty() {
            text.push('\n');
        }
    }
    let line_of = |offset: usize| match starts.binary_search(&offset) {
        Ok(i) => i,
        Err(i) => i - 1,
    };

    let mut entries = Vec::new();
    let mut next_line = 0;
    let mut reader = DotenvReader {
        text: &text,
        pos: 0,
    };
    while reader.pos < text.len() {
        let binding = reader.binding();
        if binding.content_start >= text.len() {
            break; // trailing whitespace only
        }
        let first = line_of(binding.content_start);
        let last = line_of(binding.end.max(binding.content_start + 1) - 1);
        for blank in next_line..first {
            entries.push(Entry {
                first: blank,
                last: blank,
                kind: EntryKind::Blank,
            });
        }
        let kind = match binding.parsed {
            None => EntryKind::Unparsable,
            Some(Parsed { key: None, .. }) => EntryKind::Comment,
            Some(Parsed {
                key: Some(key),
                value,
                export,
                key_end,
                comment,
            }) => {
                let line_start = starts[first];
                EntryKind::Assignment(Assignment {
                    key,
                    value,
                    export,
                    head_len: key_end - line_start,
                    indent_len: binding.content_start - line_start,
                    comment,
                })
            }
        };
        entries.push(Entry { first, last, kind });
        next_line = last + 1;
    }
    for blank in next_line..lines.len() {
        entries.push(Entry {
            first: blank,
            last: blank,
            kind: EntryKind::Blank,
        });
    }
    entries
}

struct Binding {
    /// Where the binding's text starts after the leading whitespace python-dotenv skips.
    content_start: usize,
    /// Just past the binding's line terminator (or the end of the text).
    end: usize,
    /// `None` when python-dotenv reports a parse error for it.
    parsed: Option<Parsed>,
}

struct Parsed {
    key: Option<String>,
    value: Option<String>,
    export: bool,
    key_end: usize,
    comment: Option<String>,
}

/// python-dotenv's `Reader` and `parse_binding`, regex by regex.
struct DotenvReader<'t> {
    text: &'t str,
    pos: usize,
}

impl DotenvReader<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Advances over the longest prefix of chars matching `f`; returns the skipped text.
    fn skip_while(&mut self, f: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        let len = self
            .rest()
            .char_indices()
            .find(|&(_, c)| !f(c))
            .map_or(self.rest().len(), |(i, _)| i);
        self.pos += len;
        &self.text[start..self.pos]
    }

    fn binding(&mut self) -> Binding {
        // _multiline_whitespace
        self.skip_while(py_space);
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
            self.skip_while(|c| c != '\n');
            if self.peek() == Some('\n') {
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
        // _export: (?:export[^\S\r\n]+)?
        let mut export = false;
        if let Some(after) = self.rest().strip_prefix("export") {
            if after.chars().next().is_some_and(py_hspace) {
                self.pos += "export".len();
                self.skip_while(py_hspace);
                export = true;
            }
        }
        // parse_key
        let key = match self.peek() {
            Some('#') => None,
            Some('\'') => {
                // _single_quoted_key: '([^']+)'
                let inner = &self.rest()[1..];
                let close = inner.find('\'')?;
                if close == 0 {
                    return None;
                }
                let key = inner[..close].to_string();
                self.pos += close + 2;
                Some(key)
            }
            _ => {
                // _unquoted_key: ([^=\#\s]+)
                let key = self.skip_while(|c| c != '=' && c != '#' && !py_space(c));
                if key.is_empty() {
                    return None;
                }
                Some(key.to_string())
            }
        };
        let key_end = self.pos;
        // _whitespace
        self.skip_while(py_hspace);
        let mut comment = None;
        let value = if self.peek() == Some('=') {
            // _equal_sign
            self.pos += 1;
            self.skip_while(py_hspace);
            Some(self.value(&mut comment)?)
        } else {
            None
        };
        // _comment: (?:[^\S\r\n]*#[^\r\n]*)?
        let save = self.pos;
        self.skip_while(py_hspace);
        if self.peek() == Some('#') {
            let text = self.skip_while(|c| c != '\n');
            comment = Some(text.to_string());
        } else {
            self.pos = save;
        }
        // _end_of_line: [^\S\r\n]*(?:\r\n|\n|\r|$)
        self.skip_while(py_hspace);
        match self.peek() {
            None => {}
            Some('\n') => self.pos += 1,
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
    fn value(&mut self, comment: &mut Option<String>) -> Option<String> {
        match self.peek() {
            Some(q @ ('\'' | '"')) => {
                let inner_start = self.pos + 1;
                let close = quoted_close(&self.text[inner_start..], q)?;
                let raw = &self.text[inner_start..inner_start + close];
                self.pos = inner_start + close + 1;
                Some(decode_escapes(raw, q))
            }
            None | Some('\n') => Some(String::new()),
            Some(_) => {
                // _unquoted_value, then re.sub(r"\s+#.*", "", part).rstrip()
                let part = self.skip_while(|c| c != '\n');
                let mut cut = part.len();
                let mut prev_space_start = None;
                for (i, c) in part.char_indices() {
                    if py_space(c) {
                        prev_space_start.get_or_insert(i);
                    } else if c == '#' && prev_space_start.is_some() {
                        cut = prev_space_start.unwrap_or(i);
                        *comment = Some(part[i..].to_string());
                        break;
                    } else {
                        prev_space_start = None;
                    }
                }
                Some(part[..cut].trim_end_matches(py_space).to_string())
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
pub struct SystemdAssignment {
    pub key: String,
    pub value: String,
    /// 1-based line where the key starts.
    pub line: usize,
}

/// systemd 252's `parse_env_file_internal`, state for state (NEWLINE is `\n\r`,
/// WHITESPACE ` \t\n\r`, COMMENTS `#;`, SHELL_NEED_ESCAPE `"\`$` plus backtick).
pub fn systemd_assignments(text: &str) -> Vec<SystemdAssignment> {
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
    let newline = |c: u8| c == b'\n' || c == b'\r';
    let whitespace = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let mut out = Vec::new();
    let mut state = State::PreKey;
    let mut line = 1usize;
    let mut key_line = 1usize;
    let mut key: Vec<u8> = Vec::new();
    let mut value: Vec<u8> = Vec::new();
    let mut last_key_ws: Option<usize> = None;
    let mut last_value_ws: Option<usize> = None;

    let push = |out: &mut Vec<SystemdAssignment>,
                key: &mut Vec<u8>,
                value: &mut Vec<u8>,
                last_key_ws: Option<usize>,
                chomp: Option<usize>,
                key_line: usize| {
        if let Some(at) = chomp {
            value.truncate(at);
        }
        if let Some(at) = last_key_ws {
            key.truncate(at);
        }
        out.push(SystemdAssignment {
            key: String::from_utf8_lossy(key).into_owned(),
            value: String::from_utf8_lossy(value).into_owned(),
            line: key_line,
        });
        key.clear();
        value.clear();
    };

    let bytes = text.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match state {
            State::PreKey => {
                if c == b'#' || c == b';' {
                    state = State::Comment;
                } else if !whitespace(c) {
                    state = State::Key;
                    last_key_ws = None;
                    key_line = line;
                    key.push(c);
                }
            }
            State::Key => {
                if newline(c) {
                    state = State::PreKey;
                    key.clear();
                } else if c == b'=' {
                    state = State::PreValue;
                    last_value_ws = None;
                } else {
                    if !whitespace(c) {
                        last_key_ws = None;
                    } else if last_key_ws.is_none() {
                        last_key_ws = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if newline(c) {
                    state = State::PreKey;
                    push(&mut out, &mut key, &mut value, last_key_ws, None, key_line);
                } else if c == b'\'' {
                    state = State::SingleQuoteValue;
                } else if c == b'"' {
                    state = State::DoubleQuoteValue;
                } else if c == b'\\' {
                    state = State::ValueEscape;
                } else if !whitespace(c) {
                    state = State::Value;
                    value.push(c);
                }
            }
            State::Value => {
                if newline(c) {
                    state = State::PreKey;
                    push(
                        &mut out,
                        &mut key,
                        &mut value,
                        last_key_ws,
                        last_value_ws,
                        key_line,
                    );
                } else if c == b'\\' {
                    state = State::ValueEscape;
                    last_value_ws = None;
                } else {
                    if !whitespace(c) {
                        last_value_ws = None;
                    } else if last_value_ws.is_none() {
                        last_value_ws = Some(value.len());
                    }
                    value.push(c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                if !newline(c) {
                    value.push(c);
                }
            }
            State::SingleQuoteValue => {
                if c == b'\'' {
                    state = State::PreValue;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteValue => {
                if c == b'"' {
                    state = State::PreValue;
                } else if c == b'\\' {
                    state = State::DoubleQuoteValueEscape;
                } else {
                    value.push(c);
                }
            }
            State::DoubleQuoteValueEscape => {
                state = State::DoubleQuoteValue;
                if matches!(c, b'"' | b'\\' | b'`' | b'$') {
                    value.push(c);
                } else if c != b'\n' {
                    value.push(b'\\');
                    value.push(c);
                }
            }
            State::Comment => {
                if c == b'\\' {
                    state = State::CommentEscape;
                } else if newline(c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => state = State::Comment,
        }
        // Physical lines, for messages only: LF, CRLF or a lone CR ends one.
        if c == b'\n' || (c == b'\r' && bytes.get(i + 1) != Some(&b'\n')) {
            line += 1;
        }
    }
    match state {
        State::PreValue
        | State::ValueEscape
        | State::SingleQuoteValue
        | State::DoubleQuoteValue
        | State::DoubleQuoteValueEscape => {
            push(&mut out, &mut key, &mut value, last_key_ws, None, key_line)
        }
        State::Value => push(
            &mut out,
            &mut key,
            &mut value,
            last_key_ws,
            last_value_ws,
            key_line,
        ),
        _ => {}
    }
    out
}

/// systemd 252's `env_name_is_valid`: letters, digits and `_`, not starting with a digit.
pub fn systemd_name_is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The environment a unit with `EnvironmentFile=` this text gets from it: assignments
/// with invalid names dropped, the last of each name winning. With the line of the
/// winning assignment.
pub fn systemd_env(text: &str) -> HashMap<String, (String, usize)> {
    let mut env = HashMap::new();
    for a in systemd_assignments(text) {
        if systemd_name_is_valid(&a.key) {
            env.insert(a.key, (a.value, a.line));
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
        assert_eq!(doc.head(&doc.entries[2], k), "  export K");
        assert_eq!(doc.indent(&doc.entries[2], k), "  ");
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
