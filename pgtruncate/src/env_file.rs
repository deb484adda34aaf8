//! Reading one key (DATABASE_URL) from the app's env file: the file envpatch edits and
//! systemd's `EnvironmentFile=` / python-dotenv read. `KEY=VALUE` lines, `export `
//! prefixes, `#` comments, single quotes (literal) and double quotes (with `\"`, `\\`,
//! `\n` escapes). No variable expansion: a `${VAR}` in the value is kept as written.

use std::path::Path;

/// Why the key could not be read.
#[derive(Debug)]
pub enum EnvFileError {
    Io(std::io::Error),
    /// A line that assigns the key but whose value cannot be parsed (e.g. an open quote).
    Malformed {
        line: usize,
        problem: String,
    },
}

/// The value of the last assignment of `key` in the file, if any.
pub fn read_key(path: &Path, key: &str) -> Result<Option<String>, EnvFileError> {
    let text = std::fs::read_to_string(path).map_err(EnvFileError::Io)?;
    value_of(&text, key)
}

/// [`read_key`] on text.
pub fn value_of(text: &str, key: &str) -> Result<Option<String>, EnvFileError> {
    let mut found = None;
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let trimmed = line.trim_start();
        let trimmed = trimmed
            .strip_prefix("export ")
            .unwrap_or(trimmed)
            .trim_start();
        let Some((name, rest)) = trimmed.split_once('=') else {
            continue;
        };
        if name.trim_end() != key {
            continue;
        }
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                // A quoted value may run over several lines.
                let mut body = rest[1..].to_string();
                loop {
                    if let Some(value) = close_quote(&body, quote) {
                        break value;
                    }
                    match lines.next() {
                        Some((_, more)) => {
                            body.push('\n');
                            body.push_str(more);
                        }
                        None => {
                            return Err(EnvFileError::Malformed {
                                line: index + 1,
                                problem: format!("the {quote} quote of {key} is never closed"),
                            })
                        }
                    }
                }
            }
            _ => {
                // Unquoted: up to an inline comment (` #`), trailing blanks dropped.
                let end = rest
                    .char_indices()
                    .find(|&(i, c)| c == '#' && i > 0 && rest[..i].ends_with(char::is_whitespace))
                    .map_or(rest.len(), |(i, _)| i);
                rest[..end].trim_end().to_string()
            }
        };
        found = Some(value);
    }
    Ok(found)
}

/// The value inside `quote ... quote` at the start of `body` (the opening quote already
/// removed), or None when the closing quote is not in `body` yet.
fn close_quote(body: &str, quote: char) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote == '"' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other @ ('"' | '\\' | '$' | '`')) => out.push(other),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return None,
            },
            c if c == quote => return Some(out),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(text: &str) -> Option<String> {
        value_of(text, "DATABASE_URL").unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(
            get("DATABASE_URL=postgres://u@h/db\n").as_deref(),
            Some("postgres://u@h/db")
        );
        assert_eq!(
            get("export DATABASE_URL = 'postgres://u:p#w@h/db'  # c").as_deref(),
            Some("postgres://u:p#w@h/db")
        );
        assert_eq!(
            get("DATABASE_URL=\"postgresql+asyncpg://u:a\\\"b@h/db\"").as_deref(),
            Some("postgresql+asyncpg://u:a\"b@h/db")
        );
        assert_eq!(
            get("DATABASE_URL=postgres://h/db # comment").as_deref(),
            Some("postgres://h/db")
        );
        assert_eq!(get("# DATABASE_URL=x\nOTHER=1\n"), None);
        assert_eq!(
            get("DATABASE_URL=a\nDATABASE_URL=b\n").as_deref(),
            Some("b")
        );
        assert_eq!(get("DATABASE_URL_RO=x\n"), None);
    }

    #[test]
    fn open_quote_is_an_error() {
        assert!(matches!(
            value_of("A=1\nDATABASE_URL='x\n", "DATABASE_URL"),
            Err(EnvFileError::Malformed { line: 2, .. })
        ));
    }
}
