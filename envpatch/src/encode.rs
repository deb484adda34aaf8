//! The one encoding systemd's `EnvironmentFile=` and python-dotenv read alike, and the
//! values no encoding carries to both.

use std::borrow::Cow;
use std::fmt;

/// Why a value cannot be written so that both readers read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A control character (newline, CR, NUL, tab, ...) at this 1-based character position.
    Control { ch: char, position: usize },
    /// `${` at this 1-based character position: python-dotenv expands it, even in quotes.
    Interpolation { position: usize },
    /// A trailing backslash: in double quotes it escapes the closing quote for
    /// python-dotenv's regex, which then swallows the following lines.
    TrailingBackslash,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Control { ch, position } => write!(
                f,
                "contains {} at character {position}, which systemd and python-dotenv cannot both read from an env file",
                control_name(*ch)
            ),
            Refusal::Interpolation { position } => write!(
                f,
                "contains \"${{\" at character {position}, which python-dotenv expands as a variable (even inside quotes) and systemd does not"
            ),
            Refusal::TrailingBackslash => write!(
                f,
                "ends with a backslash, which python-dotenv and systemd read differently"
            ),
        }
    }
}

fn control_name(ch: char) -> String {
    match ch {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\0' => "a NUL byte".into(),
        '\t' => "a tab".into(),
        other => format!("the control character U+{:04X}", other as u32),
    }
}

/// A key both readers accept and that a shell could export: `[A-Za-z_][A-Za-z0-9_]*`
/// (systemd 252 drops any other name from the environment).
pub fn is_valid_key(key: &str) -> bool {
    crate::parse::systemd_name_is_valid(key)
}

/// Characters that need no quoting for either reader.
fn is_bare_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c)
}

/// Checks that both readers can carry the value.
pub fn check(value: &str) -> Result<(), Refusal> {
    for (position, ch) in value.chars().enumerate() {
        if ch.is_control() {
            return Err(Refusal::Control {
                ch,
                position: position + 1,
            });
        }
    }
    if let Some(at) = value.find("${") {
        return Err(Refusal::Interpolation {
            position: value[..at].chars().count() + 1,
        });
    }
    if value.ends_with('\\') {
        return Err(Refusal::TrailingBackslash);
    }
    Ok(())
}

/// The value as written after `KEY=`: bare when every character is in
/// `[A-Za-z0-9_@%+=:,./-]`, else double-quoted with only `\` and `"` escaped.
pub fn encode(value: &str) -> Result<Cow<'_, str>, Refusal> {
    check(value)?;
    if value.chars().all(is_bare_char) {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{systemd_env, Document};

    #[test]
    fn bare_and_quoted() {
        assert_eq!(encode("true").unwrap(), "true");
        assert_eq!(encode("").unwrap(), "");
        assert_eq!(
            encode("postgres://u@h:5432/db").unwrap(),
            "postgres://u@h:5432/db"
        );
        assert_eq!(encode("a b").unwrap(), "\"a b\"");
        assert_eq!(encode("say \"hi\"").unwrap(), "\"say \\\"hi\\\"\"");
        assert_eq!(encode("C:\\new").unwrap(), "\"C:\\\\new\"");
        assert_eq!(encode("it's").unwrap(), "\"it's\"");
        assert_eq!(encode("$HOME").unwrap(), "\"$HOME\"");
    }

    #[test]
    fn refusals_say_where() {
        assert_eq!(
            check("ab\ncd"),
            Err(Refusal::Control {
                ch: '\n',
                position: 3
            })
        );
        assert_eq!(check("é${X}"), Err(Refusal::Interpolation { position: 2 }));
        assert_eq!(check("a\\"), Err(Refusal::TrailingBackslash));
        for bad in ["\r", "\0", "\t", "\u{1b}[0m", "\u{7f}", "\u{85}"] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check("$X {y} $").is_ok());
        assert!(Refusal::Control {
            ch: '\u{1b}',
            position: 1
        }
        .to_string()
        .contains("U+001B"));
    }

    /// Every encoded value reads back exactly under both parsers of this crate (the
    /// integration tests check the real readers too).
    #[test]
    fn encoded_values_read_back_under_both_rules() {
        let values = [
            "",
            "plain",
            " lead",
            "trail ",
            "a # not a comment",
            "#hash",
            "x\"y",
            "\\\\server\\share\\x",
            "\\\"",
            "'single'",
            "`tick` $x $ {}",
            "ünïcødé ✓",
            "a=b=c",
            "semi;colon",
            "\u{2028}sep",
            "\\n stays",
        ];
        for v in values {
            let line = format!("K={}\n", encode(v).unwrap());
            let d = Document::parse(&line).dotenv_values();
            assert_eq!(d["K"].as_deref(), Some(v), "dotenv reading {line:?}");
            assert_eq!(systemd_env(&line)["K"].0, v, "systemd reading {line:?}");
        }
    }
}
