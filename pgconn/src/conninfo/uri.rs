//! libpq's URI reader: `postgresql://[user[:password]@][host][:port][,...][/dbname][?k=v&...]`.

use super::error::{error, query_error};
use super::{ConninfoError, ErrorKind, Keyword, Values};
use conventions::secrets::REDACTED;
use percent_encoding::percent_decode;

/// libpq's `conninfo_uri_parse_options`, on byte offsets into the whole input (so error
/// positions count from its first byte, scheme included, as libpq's do).
pub(super) struct UriParser<'a> {
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
    pub(super) fn new(text: &'a str, start: usize, driver: Option<&'a str>) -> Self {
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

    pub(super) fn parse(
        mut self,
        values: &mut Values,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConninfoError> {
        let p = self.parse_user_info(values)?;
        let (mut p, mut terminator) = self.parse_hosts(p, values)?;
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

    /// `user[:password]@`, if there is one: where the hosts start.
    fn parse_user_info(&mut self, values: &mut Values) -> Result<usize, ConninfoError> {
        let p = self.start;
        // User-info ends at the first '@' before any '/': '?' and '#' are plain here.
        let at = self.scan_until(p, b"@/");
        if self.at(at) != b'@' {
            return Ok(p);
        }
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
        Ok(at + 1)
    }

    /// `host[:port][,host[:port]...]` from `p`: where it ends and the byte there (0 at the
    /// end of the string).
    fn parse_hosts(&self, mut p: usize, values: &mut Values) -> Result<(usize, u8), ConninfoError> {
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
        Ok((p, terminator))
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
