//! The text both readers start from: the file's bytes decoded, its physical lines, and
//! the word-at-a-time byte scanning the readers use to skip runs of ordinary bytes.

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
pub(crate) const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether some byte of the word is below `n` (`n` <= 0x80; exact for "some byte",
/// which is all a word test decides).
#[inline(always)]
pub(crate) fn has_less(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS != 0
}

/// Whether some byte of the word is `b`.
#[inline(always)]
pub(crate) fn has_byte(w: u64, b: u8) -> bool {
    has_less(w ^ (ONES * u64::from(b)), 1)
}

/// The first index at or after `from` whose byte `stop` matches, or the end. Eight
/// bytes at a time: only a word `may_stop` flags is looked at byte by byte.
#[inline(always)]
pub(crate) fn scan(
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
pub(crate) fn find_line_end(bytes: &[u8], from: usize) -> usize {
    scan(
        bytes,
        from,
        |w| has_less(w, 0x0e),
        |b| b == b'\n' || b == b'\r',
    )
}

/// The first `\n` at or after `from`, or the end.
#[inline]
pub(crate) fn find_lf(bytes: &[u8], from: usize) -> usize {
    scan(bytes, from, |w| has_byte(w, b'\n'), |b| b == b'\n')
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

/// The number of `\n` in `bytes`.
#[inline]
pub(crate) fn count_lf(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
