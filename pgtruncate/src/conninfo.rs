//! libpq's connection-string grammar, read exactly as `PQconninfoParse` of libpq 15 reads
//! it, plus SQLAlchemy's `postgresql+DRIVER://` URLs.
//!
//! Two forms, told apart as libpq tells them: a string starting with `postgresql://` or
//! `postgres://` is a URI, anything else is a `key=value` string. What libpq accepts is
//! accepted and read into the same keyword -> value pairs; what it refuses is refused with
//! its message, word for word. The differential test `tests/conninfo_libpq.rs` holds this
//! against libpq itself.
//!
//! `postgresql+DRIVER://` (and `postgres+DRIVER://`) is not libpq's: it is read with the
//! bare scheme's grammar and errors, except that a query parameter libpq does not know
//! belongs to the driver and is listed in [`Conninfo::ignored`] instead of refused, and
//! asyncpg's `ssl=` is read as `sslmode` (`true` -> `require`, `false` -> `disable`).
//!
//! Where this parser parts from libpq, on purpose:
//! - a value that percent-decodes to bytes that are not UTF-8 is refused
//!   ([`ErrorKind::NotUtf8`]); libpq passes such bytes on, Rust strings cannot hold them;
//! - a NUL character is refused ([`ErrorKind::ContainsNul`]); libpq never sees one (a C
//!   string ends there), and silently dropping the rest could name another database.
//!
//! Pure: no environment, no files, no defaults (those are the caller's).

use conventions::secrets::REDACTED;
use percent_encoding::percent_decode;
use std::fmt;

macro_rules! keywords {
    ($($variant:ident => $name:literal,)*) => {
        /// A connection option libpq 15 knows, in libpq's own order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Keyword {
            $($variant,)*
        }

        impl Keyword {
            /// Every keyword, in libpq's order (its `PQconninfoOptions` list).
            pub const ALL: &'static [Keyword] = &[$(Keyword::$variant,)*];

            /// The keyword as libpq spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Keyword::$variant => $name,)*
                }
            }
        }
    };
}

keywords! {
    Service => "service",
    User => "user",
    Password => "password",
    Passfile => "passfile",
    ChannelBinding => "channel_binding",
    ConnectTimeout => "connect_timeout",
    Dbname => "dbname",
    Host => "host",
    Hostaddr => "hostaddr",
    Port => "port",
    ClientEncoding => "client_encoding",
    Options => "options",
    ApplicationName => "application_name",
    FallbackApplicationName => "fallback_application_name",
    Keepalives => "keepalives",
    KeepalivesIdle => "keepalives_idle",
    KeepalivesInterval => "keepalives_interval",
    KeepalivesCount => "keepalives_count",
    TcpUserTimeout => "tcp_user_timeout",
    Sslmode => "sslmode",
    Sslcompression => "sslcompression",
    Sslcert => "sslcert",
    Sslkey => "sslkey",
    Sslpassword => "sslpassword",
    Sslrootcert => "sslrootcert",
    Sslcrl => "sslcrl",
    Sslcrldir => "sslcrldir",
    Sslsni => "sslsni",
    Requirepeer => "requirepeer",
    SslMinProtocolVersion => "ssl_min_protocol_version",
    SslMaxProtocolVersion => "ssl_max_protocol_version",
    Gssencmode => "gssencmode",
    Krbsrvname => "krbsrvname",
    Gsslib => "gsslib",
    Replication => "replication",
    TargetSessionAttrs => "target_session_attrs",
}

impl Keyword {
    /// The keyword libpq spells `name`, if it knows one.
    pub fn from_name(name: &str) -> Option<Keyword> {
        Self::from_bytes(name.as_bytes())
    }

    fn from_bytes(name: &[u8]) -> Option<Keyword> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().as_bytes() == name)
    }

    /// libpq shows these as password fields (dispchar `*`).
    pub fn is_secret(self) -> bool {
        matches!(self, Keyword::Password | Keyword::Sslpassword)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed connection string.
#[derive(Clone, PartialEq, Eq)]
pub struct Conninfo {
    /// Each keyword the string sets, once, with its last value, in libpq's keyword order
    /// ([`Keyword::ALL`]). An empty value is kept: libpq keeps it too (`host=` is set).
    pub options: Vec<(Keyword, String)>,
    /// The `DRIVER` of a `postgresql+DRIVER://` URL.
    pub driver: Option<String>,
    /// Query parameters of a `postgresql+DRIVER://` URL that libpq does not know (the
    /// driver's), by name, in input order; their values are not kept.
    pub ignored: Vec<String>,
}

impl Conninfo {
    /// The value the string gives `keyword`, if any.
    pub fn get(&self, keyword: Keyword) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| *k == keyword)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Conninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let options: Vec<(&str, &str)> = self
            .options
            .iter()
            .map(|(k, v)| (k.as_str(), if k.is_secret() { REDACTED } else { v }))
            .collect();
        f.debug_struct("Conninfo")
            .field("options", &options)
            .field("driver", &self.driver)
            .field("ignored", &self.ignored)
            .finish()
    }
}

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
fn error(kind: ErrorKind, template: &str, quoted: &[u8], shown_redacted: &[u8]) -> ConninfoError {
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

/// Parses a connection string as libpq's `PQconninfoParse` does (see the module docs).
pub fn parse(text: &str) -> Result<Conninfo, ConninfoError> {
    if text.contains('\0') {
        return Err(error(
            ErrorKind::ContainsNul,
            "connection string contains a NUL character: remove it",
            b"",
            b"",
        ));
    }
    let mut values = Values::default();
    let mut ignored = Vec::new();
    let driver = if let Some(prefix_len) = uri_prefix_length(text) {
        UriParser::new(text, prefix_len, None).parse(&mut values, &mut ignored)?;
        None
    } else if let Some((prefix_len, driver)) = driver_prefix(text) {
        UriParser::new(text, prefix_len, Some(driver)).parse(&mut values, &mut ignored)?;
        Some(driver.to_string())
    } else {
        parse_keyword_value(text.as_bytes(), &mut values)?;
        None
    };
    Ok(Conninfo {
        options: values.into_options()?,
        driver,
        ignored,
    })
}

/// libpq's two URI designators, compared case-sensitively as libpq does.
fn uri_prefix_length(text: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .iter()
        .find(|prefix| text.starts_with(*prefix))
        .map(|prefix| prefix.len())
}

/// `postgresql+DRIVER://` or `postgres+DRIVER://`, DRIVER being a word as SQLAlchemy's
/// URL pattern has it: the prefix length and the driver.
fn driver_prefix(text: &str) -> Option<(usize, &str)> {
    let rest = text
        .strip_prefix("postgresql+")
        .or_else(|| text.strip_prefix("postgres+"))?;
    let (driver, _) = rest.split_once("://")?;
    let is_word = !driver.is_empty()
        && driver
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    is_word.then(|| (text.len() - rest.len() + driver.len() + 3, driver))
}

/// The values set so far, one slot per keyword, as libpq's working options array.
#[derive(Default)]
struct Values {
    slots: Vec<Option<Vec<u8>>>,
}

impl Values {
    fn set(&mut self, keyword: Keyword, value: Vec<u8>) {
        if self.slots.is_empty() {
            self.slots = vec![None; Keyword::ALL.len()];
        }
        self.slots[keyword.index()] = Some(value);
    }

    /// libpq's `conninfo_storeval` keyword step: `requiressl` is read as `sslmode`
    /// (`1...` -> require, anything else -> prefer); `None` for an unknown keyword.
    fn resolve(name: &[u8], value: Vec<u8>) -> Option<(Keyword, Vec<u8>)> {
        if name == b"requiressl" {
            let mode = if value.first() == Some(&b'1') {
                "require"
            } else {
                "prefer"
            };
            return Some((Keyword::Sslmode, mode.as_bytes().to_vec()));
        }
        Keyword::from_bytes(name).map(|k| (k, value))
    }

    fn into_options(self) -> Result<Vec<(Keyword, String)>, ConninfoError> {
        let mut options = Vec::new();
        for (keyword, slot) in Keyword::ALL.iter().zip(self.slots) {
            let Some(bytes) = slot else { continue };
            let value = String::from_utf8(bytes).map_err(|_| {
                error(
                    ErrorKind::NotUtf8,
                    "the value of \"{}\" is not valid UTF-8 once percent-decoded: encode the text as UTF-8",
                    keyword.as_str().as_bytes(),
                    keyword.as_str().as_bytes(),
                )
            })?;
            options.push((*keyword, value));
        }
        Ok(options)
    }
}

/// `isspace` in the C locale, which libpq's `key=value` reader uses.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// libpq's `conninfo_parse`: `key = value` pairs separated by white space, a value
/// either bare (ending at white space) or in single quotes; a backslash takes the next
/// character literally in both.
fn parse_keyword_value(s: &[u8], values: &mut Values) -> Result<(), ConninfoError> {
    // After a password, a stray word may be the password's second half: keep it out of
    // redacted messages.
    let mut secret_seen = false;
    let name_shown = |name: &[u8], secret_seen: bool| -> Vec<u8> {
        if secret_seen {
            REDACTED.as_bytes().to_vec()
        } else {
            name.to_vec()
        }
    };
    let mut i = 0;
    while i < s.len() {
        if is_c_space(s[i]) {
            i += 1;
            continue;
        }
        let name_start = i;
        while i < s.len() && s[i] != b'=' && !is_c_space(s[i]) {
            i += 1;
        }
        let name = &s[name_start..i];
        while i < s.len() && is_c_space(s[i]) {
            i += 1;
        }
        if i == s.len() || s[i] != b'=' {
            return Err(error(
                ErrorKind::MissingEquals,
                "missing \"=\" after \"{}\" in connection info string",
                name,
                &name_shown(name, secret_seen),
            ));
        }
        i += 1;
        while i < s.len() && is_c_space(s[i]) {
            i += 1;
        }
        let mut value = Vec::new();
        if i < s.len() && s[i] == b'\'' {
            i += 1;
            loop {
                let Some(&c) = s.get(i) else {
                    return Err(error(
                        ErrorKind::UnterminatedQuote,
                        "unterminated quoted string in connection info string",
                        b"",
                        b"",
                    ));
                };
                i += 1;
                match c {
                    b'\\' => {
                        if let Some(&next) = s.get(i) {
                            value.push(next);
                            i += 1;
                        }
                    }
                    b'\'' => break,
                    _ => value.push(c),
                }
            }
        } else {
            while let Some(&c) = s.get(i) {
                i += 1;
                if is_c_space(c) {
                    break;
                }
                if c == b'\\' {
                    if let Some(&next) = s.get(i) {
                        value.push(next);
                        i += 1;
                    }
                } else {
                    value.push(c);
                }
            }
        }
        let Some((keyword, value)) = Values::resolve(name, value) else {
            return Err(error(
                ErrorKind::InvalidOption,
                "invalid connection option \"{}\"",
                name,
                &name_shown(name, secret_seen),
            ));
        };
        secret_seen |= keyword.is_secret();
        values.set(keyword, value);
    }
    Ok(())
}

/// libpq's `conninfo_uri_parse_options`, on byte offsets into the whole input (so error
/// positions count from its first byte, scheme included, as libpq's do).
struct UriParser<'a> {
    text: &'a str,
    s: &'a [u8],
    start: usize,
    driver: Option<&'a str>,
    /// Where the user-info password is, for the redacted form of the URI.
    password: Option<std::ops::Range<usize>>,
}

const HOST_END: &[u8] = b":/?,";
const PORT_END: &[u8] = b"/?,";

impl<'a> UriParser<'a> {
    fn new(text: &'a str, start: usize, driver: Option<&'a str>) -> Self {
        UriParser {
            text,
            s: text.as_bytes(),
            start,
            driver,
            password: None,
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn scan_until(&self, mut i: usize, stop: &[u8]) -> usize {
        while i < self.s.len() && !stop.contains(&self.s[i]) {
            i += 1;
        }
        i
    }

    fn parse(
        mut self,
        values: &mut Values,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConninfoError> {
        let mut p = self.start;
        // User-info ends at the first '@' before any '/': '?' and '#' are plain here.
        let at = self.scan_until(p, b"@/");
        if self.at(at) == b'@' {
            let user_end = self.scan_until(p, b":@");
            if user_end > p {
                values.set(Keyword::User, self.decode(p..user_end, false)?);
            }
            if user_end < at {
                self.password = Some(user_end + 1..at);
                if user_end + 1 < at {
                    values.set(Keyword::Password, self.decode(user_end + 1..at, true)?);
                }
            }
            p = at + 1;
        }

        let (mut hosts, mut ports) = (Vec::new(), Vec::new());
        let mut terminator;
        loop {
            let host = if self.at(p) == b'[' {
                let host_start = p + 1;
                let close = self.scan_until(host_start, b"]");
                if close == self.s.len() {
                    return Err(self.uri_error(
                        ErrorKind::UnterminatedIpv6,
                        "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"{}\"",
                    ));
                }
                if close == host_start {
                    return Err(self.uri_error(
                        ErrorKind::EmptyIpv6,
                        "IPv6 host address may not be empty in URI: \"{}\"",
                    ));
                }
                p = close + 1;
                let next = self.at(p);
                if next != 0 && !HOST_END.contains(&next) {
                    // libpq prints the one byte, which alone is text only if ASCII.
                    let shown = if next.is_ascii() {
                        char::from(next)
                    } else {
                        '\u{FFFD}'
                    };
                    let template = format!(
                        "unexpected character \"{shown}\" at position {} in URI (expected \":\" or \"/\"): \"{{}}\"",
                        p + 1
                    );
                    return Err(self.uri_error(ErrorKind::UnexpectedCharacter, &template));
                }
                host_start..close
            } else {
                let host_start = p;
                p = self.scan_until(p, HOST_END);
                host_start..p
            };
            hosts.extend_from_slice(&self.s[host]);
            terminator = self.at(p);
            if terminator == b':' {
                let port_start = p + 1;
                p = self.scan_until(port_start, PORT_END);
                terminator = self.at(p);
                ports.extend_from_slice(&self.s[port_start..p]);
            }
            if terminator != b',' {
                break;
            }
            p += 1;
            // libpq joins ports with commas too, even when no host has one.
            hosts.push(b',');
            ports.push(b',');
        }
        if !hosts.is_empty() {
            values.set(Keyword::Host, self.decode_bytes(&hosts, false)?);
        }
        if !ports.is_empty() {
            values.set(Keyword::Port, self.decode_bytes(&ports, false)?);
        }

        if terminator == b'/' {
            let dbname_start = p + 1;
            p = self.scan_until(dbname_start, b"?");
            terminator = self.at(p);
            if p > dbname_start {
                values.set(Keyword::Dbname, self.decode(dbname_start..p, false)?);
            }
        }
        if terminator == b'?' {
            self.parse_query(p + 1, values, ignored)?;
        }
        Ok(())
    }

    /// libpq's `conninfo_uri_parse_params`: `key=value` pairs separated by `&`.
    fn parse_query(
        &self,
        mut p: usize,
        values: &mut Values,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConninfoError> {
        // After a password, a stray name may be the password's second half (an unencoded
        // '&'): keep names out of redacted messages from there on.
        let mut secret_seen = false;
        while p < self.s.len() {
            let key_start = p;
            let mut equals = None;
            let end = loop {
                match self.at(p) {
                    b'=' => {
                        if let Some(first) = equals {
                            return Err(query_error(
                                ErrorKind::QueryExtraEquals,
                                "extra key/value separator \"=\" in URI query parameter: \"{}\"",
                                &self.s[key_start..first],
                                secret_seen,
                            ));
                        }
                        equals = Some(p);
                        p += 1;
                    }
                    0 | b'&' => break p,
                    _ => p += 1,
                }
            };
            if p < self.s.len() {
                p += 1;
            }
            let Some(equals) = equals else {
                return Err(query_error(
                    ErrorKind::QueryMissingEquals,
                    "missing key/value separator \"=\" in URI query parameter: \"{}\"",
                    &self.s[key_start..end],
                    secret_seen,
                ));
            };
            let key = self.decode(key_start..equals, false)?;
            let value = self.decode(equals + 1..end, true)?;
            let (key, value) = match (self.driver, key.as_slice(), value.as_slice()) {
                // JDBC's spelling, which libpq reads too.
                (_, b"ssl", b"true") => (b"sslmode".to_vec(), b"require".to_vec()),
                // asyncpg's spelling of sslmode.
                (Some(_), b"ssl", b"false") => (b"sslmode".to_vec(), b"disable".to_vec()),
                (Some(_), b"ssl", _) => (b"sslmode".to_vec(), value),
                _ => (key, value),
            };
            match Values::resolve(&key, value) {
                Some((keyword, value)) => {
                    secret_seen |= keyword.is_secret();
                    values.set(keyword, value);
                }
                None if self.driver.is_some() => {
                    ignored.push(String::from_utf8_lossy(&key).into_owned());
                }
                None => {
                    return Err(query_error(
                        ErrorKind::InvalidQueryParameter,
                        "invalid URI query parameter: \"{}\"",
                        &key,
                        secret_seen,
                    ))
                }
            }
        }
        Ok(())
    }

    fn decode(
        &self,
        range: std::ops::Range<usize>,
        secret: bool,
    ) -> Result<Vec<u8>, ConninfoError> {
        self.decode_bytes(&self.s[range], secret)
    }

    /// libpq's `conninfo_uri_decode`: every `%` must start two hexadecimal digits, and
    /// `%00` is refused; the percent-encoding crate then decodes what is left.
    fn decode_bytes(&self, raw: &[u8], secret: bool) -> Result<Vec<u8>, ConninfoError> {
        let shown: &[u8] = if secret { REDACTED.as_bytes() } else { raw };
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'%' {
                let digits = raw.get(i + 1..i + 3).unwrap_or(&[]);
                if digits.len() < 2 || !digits.iter().all(u8::is_ascii_hexdigit) {
                    return Err(error(
                        ErrorKind::InvalidPercentToken,
                        "invalid percent-encoded token: \"{}\"",
                        raw,
                        shown,
                    ));
                }
                if digits == b"00" {
                    return Err(error(
                        ErrorKind::ForbiddenPercentNul,
                        "forbidden value %00 in percent-encoded value: \"{}\"",
                        raw,
                        shown,
                    ));
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        Ok(percent_decode(raw).collect())
    }

    /// An error quoting the whole URI; its redacted form hides the user-info password
    /// and the query.
    fn uri_error(&self, kind: ErrorKind, template: &str) -> ConninfoError {
        let mut redacted = self.s.to_vec();
        let query = self.scan_until(self.password.as_ref().map_or(self.start, |r| r.end), b"?");
        if query + 1 < redacted.len() {
            redacted.truncate(query + 1);
            redacted.extend_from_slice(REDACTED.as_bytes());
        }
        if let Some(range) = self.password.clone().filter(|r| !r.is_empty()) {
            redacted.splice(range, REDACTED.bytes());
        }
        error(kind, template, self.text.as_bytes(), &redacted)
    }
}

/// An error quoting a query parameter's name.
fn query_error(kind: ErrorKind, template: &str, name: &[u8], secret_seen: bool) -> ConninfoError {
    let shown = if secret_seen {
        REDACTED.as_bytes()
    } else {
        name
    };
    error(kind, template, name, shown)
}
