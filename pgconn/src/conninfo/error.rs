//! A refused connection string: libpq's message, and a form safe to show.

use conventions::secrets::REDACTED;
use std::fmt;

/// What was wrong with a connection string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `key=value` string: a name not followed by `=`.
    MissingEquals,
    /// `key=value` string: a `'` never closed.
    UnterminatedQuote,
    /// `key=value` string: a keyword libpq does not know.
    InvalidOption,
    /// URI: `[` without `]`.
    UnterminatedIpv6,
    /// URI: `[]`.
    EmptyIpv6,
    /// URI: something other than `:`, `/`, `?` or `,` after `]`.
    UnexpectedCharacter,
    /// URI: `%` not followed by two hexadecimal digits.
    InvalidPercentToken,
    /// URI: `%00`.
    ForbiddenPercentNul,
    /// URI query: a parameter without `=`.
    QueryMissingEquals,
    /// URI query: a parameter with a second `=`.
    QueryExtraEquals,
    /// URI query: a parameter libpq does not know.
    InvalidQueryParameter,
    /// Not libpq's: a value that decodes to bytes that are not UTF-8.
    NotUtf8,
    /// Not libpq's: a NUL character in the string.
    ContainsNul,
}

/// A refused connection string. `Display` is libpq's message, word for word, and may
/// quote the whole string, password included: show [`ConninfoError::redacted`] instead.
#[derive(Clone, PartialEq, Eq)]
pub struct ConninfoError {
    kind: ErrorKind,
    message: String,
    redacted: String,
}

impl ConninfoError {
    /// What was wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message with the password, query values and anything that may be a piece of
    /// a password replaced by `<redacted>`; hosts, ports, users and database names stay.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Display for ConninfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for ConninfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConninfoError")
            .field("kind", &self.kind)
            .field("message", &self.redacted)
            .finish()
    }
}

impl std::error::Error for ConninfoError {}

/// Builds an error from a message template in which the last `{}` stands for one quoted
/// piece of input, shown as is in the message and as `shown_redacted` in the redacted one.
pub(super) fn error(
    kind: ErrorKind,
    template: &str,
    quoted: &[u8],
    shown_redacted: &[u8],
) -> ConninfoError {
    let (before, after) = template.rsplit_once("{}").unwrap_or((template, ""));
    let render = |piece: &[u8]| {
        let mut bytes = before.as_bytes().to_vec();
        bytes.extend_from_slice(piece);
        bytes.extend_from_slice(after.as_bytes());
        // libpq prints bytes; a byte cut out of a multi-byte character shows as U+FFFD.
        String::from_utf8_lossy(&bytes).into_owned()
    };
    ConninfoError {
        kind,
        message: render(quoted),
        redacted: render(shown_redacted),
    }
}

/// An error quoting a query parameter's name.
pub(super) fn query_error(
    kind: ErrorKind,
    template: &str,
    name: &[u8],
    secret_seen: bool,
) -> ConninfoError {
    let shown = if secret_seen {
        REDACTED.as_bytes()
    } else {
        name
    };
    error(kind, template, name, shown)
}
