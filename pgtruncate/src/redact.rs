//! Another session's query text, with its string literals replaced: a blocker's last
//! query may hold a password (`ALTER ROLE ... PASSWORD '...'`, an INSERT of a token), and
//! the report of a lock wait must not carry it.
//!
//! A small SQL lexer: plain `'...'` (doubled quotes inside), escape `E'...'`
//! (backslash escapes), dollar-quoted `$tag$...$tag$`; quoted identifiers and comments
//! are stepped over so a quote inside them starts nothing. A literal that never ends (the
//! text was cut short) is redacted to the end. A plain literal holding a backslash reads
//! differently under `standard_conforming_strings = off`, so from such a literal on
//! everything is redacted: over-redacting is the safe side.

/// What stands in for a literal's contents.
pub const REDACTED: &str = "'<redacted>'";

/// `query` with every string literal replaced by [`REDACTED`].
pub fn redact_literals(query: &str) -> String {
    let chars: Vec<char> = query.chars().collect();
    let mut out = String::with_capacity(query.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\'' => match plain_literal_end(&chars, i) {
                Some(end) => {
                    out.push_str(REDACTED);
                    i = end;
                }
                None => {
                    out.push_str(REDACTED);
                    return out;
                }
            },
            '"' => {
                let end = quoted_identifier_end(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
            }
            '-' if chars.get(i + 1) == Some(&'-') => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == '\n' || c == '\r')
                    .map_or(chars.len(), |p| i + p);
                out.extend(&chars[i..end]);
                i = end;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let end = block_comment_end(&chars, i);
                out.extend(&chars[i..end]);
                i = end;
            }
            '$' => match dollar_tag(&chars, i) {
                Some(tag_len) => {
                    let tag = &chars[i..i + tag_len];
                    let body = i + tag_len;
                    match find(&chars, body, tag) {
                        Some(close) => {
                            out.push_str(REDACTED);
                            i = close + tag_len;
                        }
                        None => {
                            out.push_str(REDACTED);
                            return out;
                        }
                    }
                }
                None => {
                    // A positional parameter ($1) or a lone dollar.
                    out.push(c);
                    i += 1;
                }
            },
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                let word = &chars[start..i];
                out.extend(word);
                if matches!(word, ['e'] | ['E']) && chars.get(i) == Some(&'\'') {
                    match escape_literal_end(&chars, i) {
                        Some(end) => {
                            out.push_str(REDACTED);
                            i = end;
                        }
                        None => {
                            out.push_str(REDACTED);
                            return out;
                        }
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Past the closing quote of the plain literal opening at `start`; `None` when it does not
/// end, or when it holds a backslash (whose meaning depends on a server setting).
fn plain_literal_end(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => return None,
            '\'' if chars.get(i + 1) == Some(&'\'') => i += 2,
            '\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Past the closing quote of the escape literal whose quote is at `quote`.
fn escape_literal_end(chars: &[char], quote: usize) -> Option<usize> {
    let mut i = quote + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '\'' if chars.get(i + 1) == Some(&'\'') => i += 2,
            '\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn quoted_identifier_end(chars: &[char], start: usize) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '"' if chars.get(i + 1) == Some(&'"') => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Block comments nest in PostgreSQL.
fn block_comment_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i + 1 < chars.len() {
        match (chars[i], chars[i + 1]) {
            ('/', '*') => {
                depth += 1;
                i += 2;
            }
            ('*', '/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    chars.len()
}

/// The length of the dollar-quote tag (`$$` or `$name$`) opening at `start`, if one does.
fn dollar_tag(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'$') {
        return Some(2);
    }
    if !chars.get(i).copied().is_some_and(is_ident_start) {
        return None;
    }
    while i < chars.len() && (is_ident_start(chars[i]) || chars[i].is_ascii_digit()) {
        i += 1;
    }
    (chars.get(i) == Some(&'$')).then_some(i + 1 - start)
}

fn find(chars: &[char], from: usize, needle: &[char]) -> Option<usize> {
    (from..=chars.len().saturating_sub(needle.len())).find(|&i| chars[i..].starts_with(needle))
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || !c.is_ascii()
}

/// Identifiers may hold digits and dollars after their first character (`a$b` is one).
fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == '$'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(q: &str) -> String {
        redact_literals(q)
    }

    #[test]
    fn plain_and_doubled_quotes() {
        assert_eq!(
            r("ALTER ROLE app PASSWORD 'hunter2'"),
            "ALTER ROLE app PASSWORD '<redacted>'"
        );
        assert_eq!(r("SELECT 'it''s secret', 2"), "SELECT '<redacted>', 2");
        assert_eq!(r("SELECT ''"), "SELECT '<redacted>'");
        assert_eq!(
            r("INSERT INTO t VALUES ('a', 'b')"),
            "INSERT INTO t VALUES ('<redacted>', '<redacted>')"
        );
    }

    #[test]
    fn escape_strings() {
        assert_eq!(r(r"SELECT E'pa\'ss\\', 1"), "SELECT E'<redacted>', 1");
        assert_eq!(r(r"SELECT e'x''y' AS k"), "SELECT e'<redacted>' AS k");
        // A word that merely ends in e is no escape prefix.
        assert_eq!(r("SELECT name'x'"), "SELECT name'<redacted>'");
    }

    #[test]
    fn dollar_quotes_and_parameters() {
        assert_eq!(
            r("DO $$ BEGIN PERFORM 'x'; END $$; SELECT $1"),
            "DO '<redacted>'; SELECT $1"
        );
        assert_eq!(r("SELECT $pw$sec'ret$pw$, $2"), "SELECT '<redacted>', $2");
        // $a$ inside the body with another tag does not end it.
        assert_eq!(r("SELECT $b$ $a$ tok $b$ x"), "SELECT '<redacted>' x");
        // Dollars inside identifiers are not quotes.
        assert_eq!(r("SELECT a$b$c FROM t"), "SELECT a$b$c FROM t");
    }

    #[test]
    fn a_literal_cut_short_is_redacted_to_the_end() {
        assert_eq!(
            r("UPDATE u SET pw = 'abc"),
            "UPDATE u SET pw = '<redacted>'"
        );
        assert_eq!(
            r("UPDATE u SET pw = E'ab\\"),
            "UPDATE u SET pw = E'<redacted>'"
        );
        assert_eq!(r("SELECT $q$abc"), "SELECT '<redacted>'");
        assert_eq!(r("SELECT 'it''"), "SELECT '<redacted>'");
    }

    #[test]
    fn a_backslash_in_a_plain_literal_redacts_the_rest() {
        // Under standard_conforming_strings=off this is one literal up to the last quote.
        assert_eq!(r(r"SELECT 'C:\', 'secret' FROM t"), "SELECT '<redacted>'");
    }

    #[test]
    fn quotes_inside_identifiers_and_comments_start_nothing() {
        assert_eq!(
            r(r#"SELECT "it's" FROM t WHERE x = 'pw'"#),
            r#"SELECT "it's" FROM t WHERE x = '<redacted>'"#
        );
        assert_eq!(
            r("SELECT 1 -- don't\n, 'pw'"),
            "SELECT 1 -- don't\n, '<redacted>'"
        );
        assert_eq!(
            r("SELECT /* a /* don't */ ' */ 'pw'"),
            "SELECT /* a /* don't */ ' */ '<redacted>'"
        );
    }

    #[test]
    fn text_without_literals_is_unchanged() {
        let q = "SELECT count(*) FROM requests WHERE id = $1 AND n > 3.5e2";
        assert_eq!(r(q), q);
        assert_eq!(r("überprüfung 'x'"), "überprüfung '<redacted>'");
    }
}
