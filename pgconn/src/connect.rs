//! Connecting the way libpq does, which is what operators expect (the `postgres` crate
//! reads neither the `PG*` variables nor `~/.pgpass`, and knows only three sslmodes):
//!
//! - here: the connection string, a URL (`postgres://`, `postgresql://`, SQLAlchemy's
//!   `postgresql+DRIVER://`) or a libpq `key=value` string (a bare word is a database
//!   name, as in libpq), and the connection with its errors in the contract's kinds;
//! - [`crate::target`]: what the string leaves out, from `PG*`, pgpass and defaults;
//! - [`crate::pgpass`]: the password file;
//! - [`crate::tls_config`]: `sslmode` disable / allow / prefer / require / verify-ca /
//!   verify-full through OpenSSL.
//!
//! Every password read is a [`Secret`], remembered so no output can carry it.

use crate::conninfo::{self, Keyword};
use crate::target::ConnTarget;
use crate::tls::MakeTlsConnector;
use conventions::secrets::Secret;
use conventions::ToolError;
use postgres::{Client, Config, NoTls};
use std::collections::BTreeMap;

/// Parameters given by the connection string, by libpq keyword (the password apart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ConnParams {
    pub(crate) values: BTreeMap<String, String>,
    /// `password`, from the user-info, a query parameter or a key=value pair.
    pub(crate) password: Option<Secret>,
    /// Parameters pgtruncate does not use, said in a warning.
    pub(crate) ignored: Vec<String>,
    /// Every libpq keyword the string sets to a non-empty value (libpq reads an empty
    /// one as unset), with its value unless secret: what [`crate::untrusted`] judges.
    pub(crate) given: BTreeMap<Keyword, Option<String>>,
}

/// The keywords pgtruncate acts on; any other libpq keyword is accepted and ignored.
const KNOWN_KEYS: [&str; 15] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "fallback_application_name",
    "options",
];

impl ConnParams {
    /// Parses a URL, a key=value string (both read exactly as libpq's `PQconninfoParse`
    /// reads them: [`crate::conninfo`]) or a bare database name.
    pub(crate) fn parse(text: &str) -> Result<ConnParams, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "the database URL is empty: give postgresql://USER@HOST/DB or key=value pairs"
                    .into(),
            );
        }
        if !conninfo::is_connection_string(text) {
            if let Some((scheme, _)) = text.split_once("://") {
                return Err(format!(
                    "unsupported database URL scheme {:?}: use postgresql://, postgres:// or postgresql+DRIVER://",
                    scheme.escape_debug().to_string()
                ));
            }
            let mut p = ConnParams::default();
            p.values.insert("dbname".into(), text.to_string());
            return Ok(p);
        }
        let info = conninfo::parse(text).map_err(|e| e.redacted().to_string())?;
        let mut params = ConnParams {
            ignored: info.ignored.clone(),
            ..ConnParams::default()
        };
        for (keyword, value) in info.options {
            if !value.is_empty() {
                let shown = (!keyword.is_secret()).then(|| value.clone());
                params.given.insert(keyword, shown);
            }
            match keyword {
                Keyword::Password => params.password = Some(Secret::new(value)),
                Keyword::Service => {
                    return Err(
                        "service= names an entry of pg_service.conf, which pgtruncate does not read (it could name another database): give host, port and dbname instead"
                            .into(),
                    )
                }
                k if KNOWN_KEYS.contains(&k.as_str()) => {
                    params.values.insert(k.as_str().to_string(), value);
                }
                k => params.ignored.push(k.as_str().to_string()),
            }
        }
        Ok(params)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl ConnTarget {
    /// Opens a connection, mapping failures to the contract's kinds: a refused login is
    /// `permission`, a missing database `not_found`, anything else `failed`.
    pub fn connect(&self, settings: &[(&str, String)]) -> Result<Connection, ToolError> {
        let tls = self.tls()?;
        let config = self.config(settings);
        let client = tls.connect(&config).map_err(|e| self.connect_error(&e))?;
        Ok(Connection {
            client,
            tls,
            config,
        })
    }

    fn connect_error(&self, err: &postgres::Error) -> ToolError {
        let url = self.display_url();
        if let Some(db) = err.as_db_error() {
            let code = db.code().code();
            let text = db.message();
            return match code {
                "28P01" | "28000" => ToolError::permission(format!(
                    "cannot connect to {url}: {text}: check the user and password (URL, PGPASSWORD or ~/.pgpass)"
                )),
                "3D000" => ToolError::not_found(format!(
                    "cannot connect to {url}: {text}: check the database name"
                )),
                "53300" | "57P03" => ToolError::busy(format!(
                    "cannot connect to {url}: {text}: retry later"
                )),
                _ => ToolError::failed(format!("cannot connect to {url}: {text}")),
            }
            .with("sqlstate", code);
        }
        let detail = error_chain(err);
        let hint = if detail.contains("certificate verify failed") {
            format!(
                ": the server's certificate could not be verified for sslmode={}: give sslrootcert=FILE with the CA that signed it (verify-full also needs the host name to match the certificate), or use sslmode=require to encrypt without verifying",
                self.sslmode.as_str()
            )
        } else if detail.contains("does not support TLS") {
            ": the server does not accept TLS connections: use sslmode=prefer or disable, or enable ssl on the server".into()
        } else if detail.contains("password missing") {
            ": the server asks for a password and none was given: put it in the URL, PGPASSWORD or ~/.pgpass".into()
        } else {
            ": check that the server runs and accepts connections there".into()
        };
        let kind_err = if detail.contains("password missing") {
            ToolError::permission
        } else {
            ToolError::failed
        };
        kind_err(format!("cannot connect to {url}: {detail}{hint}"))
    }
}

/// The TLS side of a connection, kept so that the blocker watcher and the cancel request
/// connect exactly as the main connection did.
#[derive(Clone)]
pub enum Tls {
    Plain,
    OpenSsl(MakeTlsConnector),
}

impl Tls {
    pub fn connect(&self, config: &Config) -> Result<Client, postgres::Error> {
        match self {
            Tls::Plain => config.connect(NoTls),
            Tls::OpenSsl(c) => config.connect(c.clone()),
        }
    }

    /// Asks the server to cancel whatever the token's session runs now.
    pub fn cancel(&self, token: &postgres::CancelToken) -> Result<(), postgres::Error> {
        match self {
            Tls::Plain => token.cancel_query(NoTls),
            Tls::OpenSsl(c) => token.cancel_query(c.clone()),
        }
    }
}

/// An open session and how to open another one like it.
pub struct Connection {
    pub client: Client,
    pub tls: Tls,
    pub config: Config,
}

impl Connection {
    /// A second session to the same server as the same role.
    pub fn reopen(&self) -> Result<Client, postgres::Error> {
        self.tls.connect(&self.config)
    }
}

/// The error and its causes in one line ("error connecting to server: Connection refused").
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_urls_are_normalised() {
        let p = ConnParams::parse(
            "postgresql+asyncpg://cornice:s3cr%40t@db.local:6543/cornice?ssl=require&prepared_statement_cache_size=0",
        )
        .unwrap();
        assert_eq!(p.values["user"], "cornice");
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("s3cr@t"));
        assert_eq!(p.values["host"], "db.local");
        assert_eq!(p.values["port"], "6543");
        assert_eq!(p.values["dbname"], "cornice");
        assert_eq!(p.values["sslmode"], "require");
        assert_eq!(p.ignored, vec!["prepared_statement_cache_size"]);
        assert!(ConnParams::parse("mysql://u@h/db").is_err());
        // libpq's own refusals come through, word for word but for the secrets.
        let err = ConnParams::parse("postgresql://u:hunter22@host?zzz").unwrap_err();
        assert!(err.contains("missing key/value separator"), "{err}");
        assert!(!err.contains("hunter22"), "{err}");
        // pg_service.conf could name another database: refused, not ignored.
        assert!(ConnParams::parse("service=prod dbname=x")
            .unwrap_err()
            .contains("pg_service.conf"));
    }

    #[test]
    fn url_hosts_sockets_and_ipv6() {
        let p = ConnParams::parse("postgresql://%2Fvar%2Frun%2Fpostgresql/app").unwrap();
        assert_eq!(p.values["host"], "/var/run/postgresql");
        let p = ConnParams::parse("postgres://u@[::1]:5433,h2/db").unwrap();
        assert_eq!(p.values["host"], "::1,h2");
        assert_eq!(p.values["port"], "5433,");
        let p = ConnParams::parse("postgresql:///db?host=/tmp&user=x").unwrap();
        assert_eq!(p.values["host"], "/tmp");
        assert_eq!(p.values["user"], "x");
        // As libpq: the user-info ends at the first '@' before any '/', and '#', '?'
        // and ':' belong to the password.
        let p =
            ConnParams::parse("postgresql://app:Xk9#t?a:il@host:5433/db?sslmode=disable").unwrap();
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("Xk9#t?a:il"));
        assert_eq!(p.values["host"], "host");
        assert_eq!(p.values["port"], "5433");
        assert_eq!(p.values["dbname"], "db");
        assert_eq!(p.values["sslmode"], "disable");
        let p = ConnParams::parse("postgres://u:p@ss@h/db").unwrap();
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("p"));
        assert_eq!(p.values["host"], "ss@h");
        // An '@' after the first '/' is no user-info.
        let p = ConnParams::parse("postgresql://h/db?options=a@b").unwrap();
        assert_eq!(p.values["host"], "h");
        assert_eq!(p.password, None);
    }

    #[test]
    fn conninfo_strings() {
        let p = ConnParams::parse("host=/tmp dbname = 'my db' password='a\\'b c' port=5").unwrap();
        assert_eq!(p.values["dbname"], "my db");
        assert_eq!(p.password.as_ref().map(Secret::expose), Some("a'b c"));
        assert!(!format!("{p:?}").contains("a'b c"));
        assert_eq!(p.values["port"], "5");
        assert!(ConnParams::parse("host=/tmp dbname").is_err());
        assert_eq!(
            ConnParams::parse("justadb").unwrap().values["dbname"],
            "justadb"
        );
    }
}
