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

mod error;
mod keyword;
mod uri;

pub use error::{ConninfoError, ErrorKind};
pub use keyword::Keyword;

use conventions::secrets::REDACTED;
use error::error;
use std::fmt;
use uri::UriParser;

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

    /// Keyword name -> value, in libpq's keyword order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.options.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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

/// Whether libpq would read `text` as a connection string rather than a database name
/// (its `recognized_connection_string`: a URI, or anything with an `=`); a
/// `postgresql+DRIVER://` URL is one too.
pub fn is_connection_string(text: &str) -> bool {
    uri_prefix_length(text).is_some() || driver_prefix(text).is_some() || text.contains('=')
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
        let value = read_value(s, &mut i)?;
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

/// A `key=value` string's value from `s[*i..]`, leaving `*i` past it: quoted (up to the
/// closing `'`, which need not be followed by white space) or bare (up to white space).
fn read_value(s: &[u8], i: &mut usize) -> Result<Vec<u8>, ConninfoError> {
    let quoted = s.get(*i) == Some(&b'\'');
    if quoted {
        *i += 1;
    }
    let mut value = Vec::new();
    loop {
        let Some(&c) = s.get(*i) else {
            if quoted {
                return Err(error(
                    ErrorKind::UnterminatedQuote,
                    "unterminated quoted string in connection info string",
                    b"",
                    b"",
                ));
            }
            return Ok(value);
        };
        *i += 1;
        match c {
            b'\\' => {
                // A backslash at the very end takes nothing.
                if let Some(&next) = s.get(*i) {
                    value.push(next);
                    *i += 1;
                }
            }
            b'\'' if quoted => return Ok(value),
            _ if !quoted && is_c_space(c) => return Ok(value),
            _ => value.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Conninfo {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn refused(text: &str) -> ConninfoError {
        match parse(text) {
            Ok(info) => panic!("{text:?} was accepted: {info:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_hash_in_the_password_is_part_of_it() {
        let info = read("postgresql://app:Xk9#tail@host/db");
        assert_eq!(info.get(Keyword::User), Some("app"));
        assert_eq!(info.get(Keyword::Password), Some("Xk9#tail"));
        assert_eq!(info.get(Keyword::Host), Some("host"));
        assert_eq!(info.get(Keyword::Dbname), Some("db"));
        assert_eq!(info.get(Keyword::Port), None);
    }

    #[test]
    fn question_mark_colon_and_encoded_at_in_the_password() {
        let info = read("postgresql://app:a?b:c%40d@host:6432/db?sslmode=require");
        assert_eq!(info.get(Keyword::Password), Some("a?b:c@d"));
        assert_eq!(info.get(Keyword::Host), Some("host"));
        assert_eq!(info.get(Keyword::Port), Some("6432"));
        assert_eq!(info.get(Keyword::Sslmode), Some("require"));
    }

    #[test]
    fn the_first_at_ends_the_user_info_as_in_libpq() {
        // A raw '@' in a password cuts it there; the rest is the host.
        let info = read("postgresql://app:p@ss@host/db");
        assert_eq!(info.get(Keyword::Password), Some("p"));
        assert_eq!(info.get(Keyword::Host), Some("ss@host"));
        // A '/' before any '@' ends the authority: no user-info at all.
        let info = read("postgresql://host/db@x");
        assert_eq!(info.get(Keyword::User), None);
        assert_eq!(info.get(Keyword::Dbname), Some("db@x"));
    }

    #[test]
    fn options_come_in_libpq_order_with_the_last_value() {
        let info = read("dbname=a port=1 host=h dbname=b");
        let names: Vec<&str> = info.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["dbname", "host", "port"]);
        assert_eq!(info.get(Keyword::Dbname), Some("b"));
        assert_eq!(info.driver, None);
    }

    #[test]
    fn quotes_escapes_and_empty_values() {
        let info = read(r"host='' password='it\'s' options=a\ b user=");
        assert_eq!(info.get(Keyword::Host), Some(""));
        assert_eq!(info.get(Keyword::Password), Some("it's"));
        assert_eq!(info.get(Keyword::Options), Some("a b"));
        assert_eq!(info.get(Keyword::User), Some(""));
        let e = refused("password='open");
        assert_eq!(e.kind(), ErrorKind::UnterminatedQuote);
    }

    #[test]
    fn multiple_hosts_keep_libpq_s_comma_joined_ports() {
        let info = read("postgresql://a:1,[::1],b/db");
        assert_eq!(info.get(Keyword::Host), Some("a,::1,b"));
        assert_eq!(info.get(Keyword::Port), Some("1,,"));
        // No host has a port, and yet libpq sets port to the commas.
        assert_eq!(read("postgresql://a,b").get(Keyword::Port), Some(","));
    }

    #[test]
    fn libpq_s_messages_word_for_word() {
        let cases = [
            ("postgres://[::1]z", "unexpected character \"z\" at position 17 in URI (expected \":\" or \"/\"): \"postgres://[::1]z\""),
            ("postgres://[]", "IPv6 host address may not be empty in URI: \"postgres://[]\""),
            ("postgresql://host?zzz", "missing key/value separator \"=\" in URI query parameter: \"zzz\""),
            ("postgresql://host?key=key=value", "extra key/value separator \"=\" in URI query parameter: \"key\""),
            ("postgres://host?dbname=%XXfoo", "invalid percent-encoded token: \"%XXfoo\""),
            ("postgresql://a%00b", "forbidden value %00 in percent-encoded value: \"a%00b\""),
            ("postgresql://%zz", "invalid percent-encoded token: \"%zz\""),
            ("postgresql://host?bogus=1", "invalid URI query parameter: \"bogus\""),
            ("host=a bogus=1", "invalid connection option \"bogus\""),
            ("host", "missing \"=\" after \"host\" in connection info string"),
        ];
        for (text, message) in cases {
            assert_eq!(refused(text).to_string(), message, "{text}");
        }
    }

    #[test]
    fn the_redacted_message_keeps_secrets_out() {
        let e = refused("postgres://app:s3cret@[::1]z/db?password=other");
        assert!(
            e.to_string().contains("s3cret"),
            "libpq's message quotes it all"
        );
        let shown = e.redacted();
        assert!(
            !shown.contains("s3cret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://app:<redacted>@[::1]z/db?<redacted>"),
            "{shown}"
        );
        assert!(!format!("{e:?}").contains("s3cret"));

        let e = refused("postgresql://app:bad%zzpw@host/db");
        assert_eq!(e.kind(), ErrorKind::InvalidPercentToken);
        assert!(!e.redacted().contains("bad"), "{}", e.redacted());
        let e = refused("postgresql://host?password=bad%zzpw");
        assert!(!e.redacted().contains("bad"), "{}", e.redacted());

        // The second half of a password cut at a space is not shown as a name either.
        let e = refused("password=first half");
        assert_eq!(
            e.to_string(),
            "missing \"=\" after \"half\" in connection info string"
        );
        assert!(!e.redacted().contains("half"), "{}", e.redacted());
        // A host is not a secret: the message says which.
        assert_eq!(
            refused("postgresql://h%zz/db").redacted(),
            "invalid percent-encoded token: \"h%zz\""
        );
    }

    #[test]
    fn debug_hides_passwords() {
        let info = read("postgresql://app:s3cret@host/db?sslpassword=k3y");
        let shown = format!("{info:?}");
        assert!(
            !shown.contains("s3cret") && !shown.contains("k3y"),
            "{shown}"
        );
        assert!(shown.contains("host"), "{shown}");
    }

    #[test]
    fn a_driver_url_reads_as_the_bare_scheme_and_sets_driver_parameters_aside() {
        let info = read("postgresql+asyncpg://app:Xk9#tail@db:5432/cornice?ssl=require&prepared_statement_cache_size=0");
        assert_eq!(info.driver.as_deref(), Some("asyncpg"));
        assert_eq!(info.get(Keyword::Password), Some("Xk9#tail"));
        assert_eq!(info.get(Keyword::Sslmode), Some("require"));
        assert_eq!(info.ignored, ["prepared_statement_cache_size"]);
        assert_eq!(
            read("postgresql+asyncpg://db?ssl=false").get(Keyword::Sslmode),
            Some("disable")
        );
        assert_eq!(
            read("postgresql+psycopg://db?ssl=true").get(Keyword::Sslmode),
            Some("require")
        );
        // The grammar's errors stay, positions counted in the string as given.
        assert_eq!(
            refused("postgresql+asyncpg://[::1]z").to_string(),
            "unexpected character \"z\" at position 27 in URI (expected \":\" or \"/\"): \"postgresql+asyncpg://[::1]z\""
        );
        assert_eq!(
            refused("postgresql+asyncpg://h?x").kind(),
            ErrorKind::QueryMissingEquals
        );
        // Not a driver name: libpq's key=value reading, and its error.
        assert_eq!(refused("postgresql+://h").kind(), ErrorKind::MissingEquals);
        // Without a driver, unknown parameters and asyncpg's ssl=require are libpq's errors.
        assert_eq!(
            refused("postgresql://db?ssl=require").kind(),
            ErrorKind::InvalidQueryParameter
        );
    }

    #[test]
    fn our_two_refusals_of_what_libpq_accepts() {
        let e = refused("postgresql://host/%ff");
        assert_eq!(e.kind(), ErrorKind::NotUtf8);
        assert!(e.to_string().contains("\"dbname\""), "{e}");
        assert_eq!(refused("host=a\0dbname=b").kind(), ErrorKind::ContainsNul);
        assert_eq!(
            read("dbname=caf%C3%A9").get(Keyword::Dbname),
            Some("caf%C3%A9")
        );
        assert_eq!(
            read("postgresql:///caf%C3%A9").get(Keyword::Dbname),
            Some("caf\u{e9}")
        );
    }

    #[test]
    fn what_counts_as_a_connection_string() {
        for text in [
            "postgresql://h",
            "postgres://",
            "postgresql+asyncpg://h",
            "host=h",
            "a=b",
        ] {
            assert!(is_connection_string(text), "{text}");
        }
        for text in ["cornice", "mysql://h", ""] {
            assert!(!is_connection_string(text), "{text}");
        }
    }

    #[test]
    fn keywords_round_trip_in_libpq_order() {
        assert_eq!(Keyword::ALL.first(), Some(&Keyword::Service));
        assert_eq!(Keyword::ALL.last(), Some(&Keyword::TargetSessionAttrs));
        for (i, keyword) in Keyword::ALL.iter().enumerate() {
            assert_eq!(keyword.index(), i);
            assert_eq!(Keyword::from_name(keyword.as_str()), Some(*keyword));
        }
        assert_eq!(Keyword::from_name("requiressl"), None);
        assert!(Keyword::Sslpassword.is_secret() && !Keyword::Host.is_secret());
    }
}
