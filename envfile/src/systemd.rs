//! systemd 252's `EnvironmentFile=` reader: [`SystemdReader`] is a transcription of
//! `parse_env_file_internal` (src/basic/env-file.c); the service manager then drops
//! invalid names and lets the last assignment win ([`systemd_env`]).

use crate::text::{has_byte, has_less, scan};
use std::borrow::Cow;
use std::collections::HashMap;

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
/// winning assignment. The whole environment: a reader of a few keys keeps only those
/// ([`crate::values`]).
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

    fn systemd(text: &str) -> HashMap<String, String> {
        systemd_env(text)
            .into_iter()
            .map(|(k, (v, _))| (k, v))
            .collect()
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
