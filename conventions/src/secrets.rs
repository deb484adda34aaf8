//! Secrets never leave the host.
//!
//! Two layers. The first is by rule: a value whose key looks secret is reported as
//! `"<redacted>"` ([`redact_value`]) and URLs lose their password ([`redact_url`]). The
//! second is a safety net: every secret a tool reads is [`remember`]ed, and
//! [`crate::cli::run`] scrubs remembered secrets and URL passwords out of everything it
//! prints, stdout and stderr, error paths included ([`scrub`], [`scrub_json`]). A bug in
//! one report field then still cannot print a password.

use serde_json::Value;
use std::sync::Mutex;

/// What a secret value is replaced with, whole.
pub const REDACTED: &str = "<redacted>";

/// Substrings of a key name that make its value secret (matched case-insensitively).
pub const SECRET_MARKERS: [&str; 8] = [
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
    "DSN",
];

/// Remembered secrets shorter than this are not scrubbed from free text: replacing every
/// `a` in a report would destroy it, and such values are redacted by rule anyway.
const MIN_SCRUB_LEN: usize = 4;

static REMEMBERED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A password or other secret value: remembered for scrubbing when it is made, printed as
/// `<redacted>` by `Debug` and `Display`, so a stray `{:?}` of a struct holding it shows
/// nothing. The value itself only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    /// The secret itself, for the one place that must send it (the connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

/// True when the key's name alone makes its value secret.
pub fn is_secret_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m))
}

/// True when this assignment's value must never be printed: a secret-looking name,
/// `DATABASE_URL` (it normally carries the password), or any `*_URL` holding a password.
pub fn is_secret_assignment(key: &str, value: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    is_secret_key(key)
        || upper == "DATABASE_URL"
        || (upper.ends_with("_URL") && url_password(value).is_some())
}

/// The value as it may be printed: `"<redacted>"` when the assignment is secret.
/// A secret value is also [`remember`]ed, so it is scrubbed from free text too.
pub fn redact_value(key: &str, value: &str) -> String {
    if is_secret_assignment(key, value) {
        remember(value);
        if let Some(pw) = url_password(value) {
            remember(&pw);
        }
        REDACTED.to_string()
    } else {
        value.to_string()
    }
}

/// The password inside a URL (`scheme://user:PASSWORD@host/...`, percent-decoded) or a
/// `password=` parameter of a URL query or a libpq key=value string, if there is one.
pub fn url_password(text: &str) -> Option<String> {
    if let Some((_, userinfo, _)) = split_userinfo(text) {
        if let Some((_, pw)) = userinfo.split_once(':') {
            return Some(percent_decode(pw));
        }
    }
    password_param(text).map(|(_, value_start, end)| unquote(&text[value_start..end]))
}

/// The URL or libpq key=value string without its password: `postgres://u:pw@h/db`
/// becomes `postgres://u@h/db`, `?password=pw&x=1` becomes `?x=1`, `password=pw host=h`
/// becomes `host=h`. Everything else is kept.
pub fn redact_url(text: &str) -> String {
    let mut out = text.to_string();
    if let Some((start, userinfo, _)) = split_userinfo(&out) {
        if let Some((user, _)) = userinfo.split_once(':') {
            let user = user.to_string();
            let end = start + userinfo.len();
            out.replace_range(start..end, &user);
        }
    }
    while let Some((start, _, end)) = password_param(&out) {
        // Take the separator with it: the `&` after (or the `?`/`&` before) a query
        // parameter, the space after a key=value pair.
        let (cut_start, cut_end) = widen_to_separator(&out, start, end);
        out.replace_range(cut_start..cut_end, "");
    }
    out
}

/// Remembers a secret so that [`scrub`] removes it from anything printed.
pub fn remember(secret: &str) {
    if secret.len() < MIN_SCRUB_LEN {
        return;
    }
    let mut list = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|s| s == secret) {
        list.push(secret.to_string());
        // Longest first, so a secret that contains another is replaced whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Free text with every remembered secret replaced by `<redacted>` and every URL's
/// password removed.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    let list = REMEMBERED.lock().unwrap_or_else(|e| e.into_inner());
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    drop(list);
    redact_urls_in_text(&out)
}

/// [`scrub`] applied to every string (and key) inside a JSON value.
pub fn scrub_json(value: &mut Value) {
    match value {
        Value::String(s) => {
            let clean = scrub(s);
            if clean != *s {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(scrub_json),
        Value::Object(map) => {
            let dirty: Vec<String> = map.keys().filter(|k| scrub(k) != **k).cloned().collect();
            for key in dirty {
                if let Some(v) = map.remove(&key) {
                    map.insert(scrub(&key), v);
                }
            }
            map.values_mut().for_each(scrub_json);
        }
        _ => {}
    }
}

/// Finds `scheme://USERINFO@` and returns (start of userinfo, userinfo, end of userinfo).
///
/// libpq ends the user-info at the first `@` before any `/` (a `#`, `?` or `:` in a
/// password is nothing special to it). A raw `@` typed inside a password makes libpq read
/// a shorter password; the span taken here runs to the last `@` before that `/`, which
/// covers libpq's reading and the one meant: more is removed, never less.
fn split_userinfo(text: &str) -> Option<(usize, &str, usize)> {
    let scheme_end = text.find("://")? + 3;
    let rest = &text[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    let userinfo = &rest[..at];
    if userinfo.contains(char::is_whitespace) {
        return None;
    }
    Some((scheme_end, userinfo, scheme_end + at))
}

/// Where a `password=VALUE` parameter of a query or conninfo is: (start of the key,
/// start of the value, end of the value).
fn password_param(text: &str) -> Option<(usize, usize, usize)> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find("password") {
        let start = from + found;
        let before_ok =
            start == 0 || matches!(text.as_bytes()[start - 1], b'?' | b'&' | b' ' | b'\t');
        let after = &text[start + "password".len()..];
        let trimmed = after.trim_start();
        if before_ok && trimmed.starts_with('=') {
            let value_start = text.len() - trimmed.len() + 1;
            let value_text = &text[value_start..];
            let value_text_trimmed = value_text.trim_start_matches([' ', '\t']);
            let value_start = text.len() - value_text_trimmed.len();
            let value_len = if let Some(stripped) = value_text_trimmed.strip_prefix('\'') {
                // libpq quoting: '...' with \' and \\ escapes.
                let mut escaped = false;
                let mut len = None;
                for (i, c) in stripped.char_indices() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '\'') => {
                            len = Some(i + 2);
                            break;
                        }
                        _ => {}
                    }
                }
                len.unwrap_or(value_text_trimmed.len())
            } else {
                value_text_trimmed
                    .find(['&', ' ', '\t'])
                    .unwrap_or(value_text_trimmed.len())
            };
            return Some((start, value_start, value_start + value_len));
        }
        from = start + "password".len();
    }
    None
}

fn widen_to_separator(text: &str, start: usize, end: usize) -> (usize, usize) {
    let bytes = text.as_bytes();
    if end < bytes.len() && matches!(bytes[end], b'&' | b' ' | b'\t') {
        (start, end + 1)
    } else if start > 0
        && (matches!(bytes[start - 1], b'&' | b' ' | b'\t')
            || (bytes[start - 1] == b'?' && end == bytes.len()))
    {
        (start - 1, end)
    } else {
        (start, end)
    }
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace("\\'", "'").replace("\\\\", "\\"),
        None => percent_decode(value),
    }
}

/// Percent-decoding of a URL component (`%40` → `@`); invalid escapes are kept as is,
/// bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn redact_urls_in_text(text: &str) -> String {
    if !text.contains("://") && !text.to_ascii_lowercase().contains("password") {
        return text.to_string();
    }
    // Redact token by token, so a URL inside a sentence loses only its password.
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.contains("://") || token.to_ascii_lowercase().contains("password=") {
            out.push_str(&redact_url(token));
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for c in text.chars() {
        // Not at `,` or `(`/`)`: a password may hold them, and a URL in parentheses
        // loses only its user-info all the same.
        if c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>') {
            flush(&mut token, &mut out);
            out.push(c);
        } else {
            token.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_names() {
        for key in [
            "DB_PASSWORD",
            "PGPASSWD",
            "JWT_SECRET",
            "API_TOKEN",
            "FERNET_KEY",
            "aws_credentials",
            "PRIVATE_PEM",
            "SENTRY_DSN",
            "secret",
        ] {
            assert!(is_secret_key(key), "{key} should look secret");
        }
        for key in ["HIBERNATE_MODE", "INGEST_ENABLED", "PORT", "LOG_LEVEL"] {
            assert!(!is_secret_key(key), "{key} should not look secret");
        }
    }

    #[test]
    fn urls_with_passwords_are_secret_assignments() {
        assert!(is_secret_assignment("DATABASE_URL", "postgresql://u@h/db"));
        assert!(is_secret_assignment(
            "REDIS_URL",
            "redis://:hunter22@h:6379/0"
        ));
        assert!(!is_secret_assignment("REDIS_URL", "redis://h:6379/0"));
        assert!(!is_secret_assignment("PUBLIC_URL", "https://example.org/"));
        assert_eq!(redact_value("HIBERNATE_MODE", "true"), "true");
        assert_eq!(redact_value("API_TOKEN", "abc"), REDACTED);
    }

    #[test]
    fn url_passwords_are_found_and_removed() {
        let url = "postgresql+asyncpg://cornice:s3cr%40t@db.local:5432/cornice?sslmode=require";
        assert_eq!(url_password(url).as_deref(), Some("s3cr@t"));
        assert_eq!(
            redact_url(url),
            "postgresql+asyncpg://cornice@db.local:5432/cornice?sslmode=require"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(url_password("postgres://u@h/db"), None);
        // A raw '@' inside the password: the last '@' ends the userinfo.
        assert_eq!(redact_url("postgres://u:p@ss@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=pw&sslmode=disable"),
            "postgres://h/db?user=u&sslmode=disable"
        );
        assert_eq!(redact_url("postgres://h/db?password=pw"), "postgres://h/db");
    }

    #[test]
    fn passwords_with_url_delimiters_are_found_and_removed() {
        // libpq ends the user-info at the first '@' before any '/': '#', '?' and ':'
        // belong to the password.
        for (url, pw, redacted) in [
            (
                "postgresql://app:Xk9#tail@host/db",
                "Xk9#tail",
                "postgresql://app@host/db",
            ),
            (
                "postgresql://app:Xk9?tail@host:5/db",
                "Xk9?tail",
                "postgresql://app@host:5/db",
            ),
            (
                "postgres://app:a:b:c@h/db?x=1",
                "a:b:c",
                "postgres://app@h/db?x=1",
            ),
            ("postgres://app:p#w@h", "p#w", "postgres://app@h"),
            (
                "postgresql+asyncpg://app:%23x%40@h/db",
                "#x@",
                "postgresql+asyncpg://app@h/db",
            ),
        ] {
            assert_eq!(url_password(url).as_deref(), Some(pw), "{url}");
            assert_eq!(redact_url(url), redacted, "{url}");
            let msg = format!("cannot connect to {url}: invalid port");
            assert!(!scrub(&msg).contains(pw), "{msg}");
        }
        // An '@' after the first '/' is not user-info (libpq reads none): nothing hidden.
        let url = "postgresql://h:5432/db?options=a@b";
        assert_eq!(url_password(url), None);
        assert_eq!(redact_url(url), url);
        // No user-info at all, or a bare scheme: kept whole.
        assert_eq!(redact_url("postgresql://"), "postgresql://");
        assert_eq!(
            redact_url("postgresql://cornice@db:5432/cornice"),
            "postgresql://cornice@db:5432/cornice"
        );
        // A password in a query parameter may hold '#'.
        assert_eq!(
            redact_url("postgres://h/db?password=ab#cd&sslmode=require"),
            "postgres://h/db?sslmode=require"
        );
        // Inside a parenthesis or before a comma, in free text.
        assert!(!scrub("failed (postgres://u:pa,ss(w)@h/db), retry").contains("pa,ss"));
    }

    #[test]
    fn a_secret_prints_as_redacted_and_is_remembered() {
        let s = Secret::new("secret-type-pw-71");
        assert_eq!(format!("{s:?} {s}"), "<redacted> <redacted>");
        assert_eq!(s.expose(), "secret-type-pw-71");
        assert_eq!(scrub("x secret-type-pw-71 y"), "x <redacted> y");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            password: Option<Secret>,
        }
        let h = Holder { password: Some(s) };
        assert!(!format!("{h:?}").contains("secret-type-pw-71"));
    }

    #[test]
    fn conninfo_passwords_are_removed() {
        assert_eq!(
            redact_url("host=/tmp dbname=x password=pw user=u"),
            "host=/tmp dbname=x user=u"
        );
        assert_eq!(
            redact_url("host=h password = 'a b\\'c' port=5"),
            "host=h port=5"
        );
        assert_eq!(
            url_password("host=h password='a b\\'c'").as_deref(),
            Some("a b'c")
        );
        assert_eq!(redact_url("host=h password=pw"), "host=h");
    }

    #[test]
    fn scrub_removes_remembered_secrets_everywhere() {
        remember("correct-horse-battery");
        let msg = "connect failed for correct-horse-battery at postgres://u:other-pass@h/db";
        let clean = scrub(msg);
        assert!(!clean.contains("correct-horse-battery"));
        assert!(!clean.contains("other-pass"));
        assert!(clean.contains("postgres://u@h/db"));
        let mut v =
            serde_json::json!({"a": ["x correct-horse-battery y"], "correct-horse-battery": 1});
        scrub_json(&mut v);
        assert!(!v.to_string().contains("correct-horse-battery"));
    }

    #[test]
    fn short_secrets_are_not_scrubbed_from_free_text() {
        remember("ab");
        assert_eq!(scrub("tab stab"), "tab stab");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%40b%2Fc"), "a@b/c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
