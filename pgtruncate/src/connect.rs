//! Connecting the way libpq does, which is what operators expect (the `postgres` crate
//! reads neither the `PG*` variables nor `~/.pgpass`, and knows only three sslmodes):
//!
//! - a URL (`postgres://`, `postgresql://`, SQLAlchemy's `postgresql+DRIVER://`) or a
//!   libpq `key=value` string (a bare word is a database name, as in libpq);
//! - what the string leaves out comes from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`,
//!   `PGPASSWORD`, `PGSSLMODE`, ... then from `~/.pgpass` (or `PGPASSFILE`, `passfile=`)
//!   for the password, then libpq's defaults (Unix socket, port 5432, the OS user);
//! - `sslmode` disable / allow / prefer / require / verify-ca / verify-full through
//!   OpenSSL; `application_name` is always `pgtruncate`, so DBAs and blocker reports see it.
//!
//! Every password read is `remember`ed, so no output can carry it.

use crate::tls::{HostCheck, MakeTlsConnector};
use conventions::secrets::{percent_decode, Secret};
use conventions::ToolError;
use openssl::ssl::{
    SslContextBuilder, SslFiletype, SslMethod, SslMode as OpenSslMode, SslOptions, SslVerifyMode,
    SslVersion,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use postgres::config::SslMode;
use postgres::{Client, Config, NoTls};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What connections show in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "pgtruncate";

/// libpq's connect_timeout is infinite by default; pgtruncate never hangs.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// libpq's `sslmode`, all six of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslModeSetting {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslModeSetting {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => SslModeSetting::Disable,
            "allow" => SslModeSetting::Allow,
            "prefer" => SslModeSetting::Prefer,
            "require" => SslModeSetting::Require,
            "verify-ca" => SslModeSetting::VerifyCa,
            "verify-full" => SslModeSetting::VerifyFull,
            other => {
                return Err(format!(
                "invalid sslmode {other:?}: use disable, allow, prefer, require, verify-ca or verify-full"
            ))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslModeSetting::Disable => "disable",
            SslModeSetting::Allow => "allow",
            SslModeSetting::Prefer => "prefer",
            SslModeSetting::Require => "require",
            SslModeSetting::VerifyCa => "verify-ca",
            SslModeSetting::VerifyFull => "verify-full",
        }
    }

    fn verifies_certificate(self) -> bool {
        matches!(self, SslModeSetting::VerifyCa | SslModeSetting::VerifyFull)
    }
}

/// Where the connection string came from (for messages and the docs' precedence rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnSource {
    /// `--database-url`
    Flag,
    /// `DATABASE_URL` in `--env-file`
    EnvFile(PathBuf),
    /// the `DATABASE_URL` environment variable
    EnvVar,
    /// no string at all: `PG*` variables and libpq defaults
    Defaults,
}

/// Parameters given by the connection string, by libpq keyword (the password apart).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnParams {
    pub values: BTreeMap<String, String>,
    /// `password`, from the user-info, a query parameter or a key=value pair.
    pub password: Option<Secret>,
    /// Parameters pgtruncate does not use, said in a warning.
    pub ignored: Vec<String>,
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
    /// Parses a URL, a key=value string, or a bare database name.
    pub fn parse(text: &str) -> Result<ConnParams, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "the database URL is empty: give postgresql://USER@HOST/DB or key=value pairs"
                    .into(),
            );
        }
        let mut params = if let Some(idx) = text.find("://") {
            parse_url(text, idx)?
        } else if text.contains('=') {
            parse_conninfo(text)?
        } else {
            let mut p = ConnParams::default();
            p.values.insert("dbname".into(), text.to_string());
            p
        };
        if let Some(pw) = params.values.remove("password") {
            params.password = Some(Secret::new(pw));
        }
        let unknown: Vec<String> = params
            .values
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            params.values.remove(&key);
            params.ignored.push(key);
        }
        Ok(params)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

fn parse_url(text: &str, scheme_end: usize) -> Result<ConnParams, String> {
    let scheme = text[..scheme_end].to_ascii_lowercase();
    let (base, driver) = match scheme.split_once('+') {
        Some((base, driver)) => (base, Some(driver)),
        None => (scheme.as_str(), None),
    };
    if base != "postgres" && base != "postgresql" {
        return Err(format!(
            "unsupported database URL scheme {scheme:?}: use postgresql://, postgres:// or postgresql+DRIVER://"
        ));
    }
    let mut params = ConnParams::default();
    let rest = &text[scheme_end + 3..];
    // As libpq: the user-info ends at the first '@' before any '/', and '#' is nothing
    // special (a password may hold '#', '?' or ':').
    let (userinfo, rest) = match rest.find(['@', '/']) {
        Some(i) if rest.as_bytes()[i] == b'@' => (Some(&rest[..i]), &rest[i + 1..]),
        _ => (None, rest),
    };
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if let Some(p) = password {
            params.password = Some(Secret::new(percent_decode(p)));
        }
        if !user.is_empty() {
            params.values.insert("user".into(), percent_decode(user));
        }
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let (hostlist, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    if !hostlist.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for spec in hostlist.split(',') {
            let (host, port) = split_host_port(spec)?;
            hosts.push(percent_decode(host));
            ports.push(port.unwrap_or("").to_string());
        }
        params.values.insert("host".into(), hosts.join(","));
        if ports.iter().any(|p| !p.is_empty()) {
            params.values.insert("port".into(), ports.join(","));
        }
    }
    if !path.is_empty() {
        params.values.insert("dbname".into(), percent_decode(path));
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(key), percent_decode(value));
        if key == "password" {
            params.password = Some(Secret::new(value));
            continue;
        }
        // asyncpg's `ssl=` is SQLAlchemy URLs' spelling of sslmode.
        let key = match (driver, key.as_str()) {
            (Some(_), "ssl") => "sslmode".to_string(),
            _ => key,
        };
        let value = match (key.as_str(), value.as_str()) {
            ("sslmode", "true") => "require".to_string(),
            ("sslmode", "false") => "disable".to_string(),
            _ => value,
        };
        params.values.insert(key, value);
    }
    Ok(params)
}

fn split_host_port(spec: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = spec.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("unclosed '[' in database URL host {spec:?}"))?;
        return Ok((host, after.strip_prefix(':')));
    }
    Ok(match spec.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (spec, None),
    })
}

/// libpq's `key=value key2='quoted \' value'` syntax.
fn parse_conninfo(text: &str) -> Result<ConnParams, String> {
    let mut params = ConnParams::default();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(params);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!(
                "connection string: missing \"=\" after {key:?}: write key=value pairs separated by spaces"
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(format!(
                    "connection string: the quoted value of {key:?} is not closed"
                ));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        if key == "password" {
            params.password = Some(Secret::new(value));
            continue;
        }
        params.values.insert(key, value);
    }
}

/// A host to connect to: a TCP name or address, or the directory of a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSpec {
    Tcp(String),
    Socket(PathBuf),
}

/// Everything needed to connect, after string, environment, pgpass and defaults.
#[derive(Debug, Clone)]
pub struct ConnTarget {
    pub hosts: Vec<HostSpec>,
    pub hostaddr: Option<String>,
    pub ports: Vec<u16>,
    pub user: String,
    pub dbname: String,
    pub password: Option<Secret>,
    pub sslmode: SslModeSetting,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<String>,
    pub sslkey: Option<String>,
    pub connect_timeout: Duration,
    pub options: Option<String>,
    pub source: ConnSource,
    /// Things the operator should know (ignored parameters, an unsafe pgpass file).
    pub warnings: Vec<String>,
}

/// Whose credentials a target may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// A target the caller named (argument, its own environment, an env file only root or
    /// the caller can write): the caller's `PG*` variables, `PGPASSWORD` and pgpass file
    /// fill in what the string leaves out, as libpq does.
    Caller,
    /// A target read from a file another user can write: only what the string itself
    /// carries. No `PG*` variable, no pgpass file (not even one the string names with
    /// `passfile=`), no client certificate of the caller's (`sslcert=`/`sslkey=`).
    StringOnly,
}

/// Where the environment is read from; a seam so tests need not mutate the process's.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// No environment at all: what a target of [`Credentials::StringOnly`] sees.
struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

impl ConnTarget {
    /// Fills in what `params` leaves out, the way libpq does (within `credentials`).
    pub fn resolve(
        params: &ConnParams,
        source: ConnSource,
        env: &dyn Env,
        credentials: Credentials,
    ) -> Result<ConnTarget, String> {
        let caller = credentials == Credentials::Caller;
        let env: &dyn Env = if caller { env } else { &NoEnv };
        let mut warnings = Vec::new();
        if !params.ignored.is_empty() {
            warnings.push(format!(
                "connection parameters not used by pgtruncate were ignored: {}",
                params.ignored.join(", ")
            ));
        }
        let pick = |key: &str, var: &str| -> Option<String> {
            params.get(key).map(str::to_string).or_else(|| env.var(var))
        };
        let hostaddr = pick("hostaddr", "PGHOSTADDR");
        let port_text = pick("port", "PGPORT");
        let host_text = pick("host", "PGHOST");
        let host_count = host_text.as_deref().map_or(1, |h| h.split(',').count());
        let mut ports = Vec::new();
        for p in port_text.as_deref().unwrap_or("").split(',') {
            let p = p.trim();
            ports.push(if p.is_empty() {
                5432
            } else {
                p.parse::<u16>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("invalid port {p:?}: use a number from 1 to 65535"))?
            });
        }
        if ports.len() == 1 && host_count > 1 {
            ports = vec![ports[0]; host_count];
        }
        if ports.len() != host_count {
            return Err(format!(
                "{} hosts but {} ports: give one port, or one per host",
                host_count,
                ports.len()
            ));
        }
        let hosts: Vec<HostSpec> = match &host_text {
            Some(h) => h
                .split(',')
                .map(|h| {
                    let h = h.trim();
                    if h.starts_with('/') {
                        HostSpec::Socket(PathBuf::from(h))
                    } else if h.is_empty() {
                        HostSpec::Socket(default_socket_dir(ports[0]))
                    } else {
                        HostSpec::Tcp(h.to_string())
                    }
                })
                .collect(),
            None if hostaddr.is_some() => vec![HostSpec::Tcp(hostaddr.clone().unwrap_or_default())],
            None => vec![HostSpec::Socket(default_socket_dir(ports[0]))],
        };
        let user = match pick("user", "PGUSER") {
            Some(u) => u,
            None => os_user().ok_or(
                "no database user given and the OS user is unknown: set user= in the URL or PGUSER",
            )?,
        };
        let dbname = pick("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
        let sslmode =
            SslModeSetting::parse(pick("sslmode", "PGSSLMODE").as_deref().unwrap_or("prefer"))?;
        let connect_timeout = match pick("connect_timeout", "PGCONNECT_TIMEOUT") {
            Some(t) => match t.trim().parse::<u64>() {
                // libpq: 0 means wait forever, and anything under 2 s is taken as 2 s.
                Ok(0) => DEFAULT_CONNECT_TIMEOUT,
                Ok(n) => Duration::from_secs(n.max(2)),
                Err(_) => return Err(format!("invalid connect_timeout {t:?}: give whole seconds")),
            },
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        let mut password = params
            .password
            .clone()
            .or_else(|| env.var("PGPASSWORD").map(Secret::new));
        if password.is_none() && caller {
            let file = pick("passfile", "PGPASSFILE")
                .map(PathBuf::from)
                .or_else(|| home_dir().map(|h| h.join(".pgpass")));
            if let Some(file) = file {
                let host_for_match = match &hosts[0] {
                    HostSpec::Tcp(h) => h.clone(),
                    HostSpec::Socket(_) => "localhost".to_string(),
                };
                match pgpass_lookup(&file, &host_for_match, ports[0], &dbname, &user) {
                    Ok(found) => password = found,
                    Err(warning) => warnings.push(warning),
                }
            }
        }
        let client_file = |key: &str, var: &str| if caller { pick(key, var) } else { None };
        Ok(ConnTarget {
            hosts,
            hostaddr,
            ports,
            user,
            dbname,
            password,
            sslmode,
            sslrootcert: pick("sslrootcert", "PGSSLROOTCERT"),
            sslcert: client_file("sslcert", "PGSSLCERT"),
            sslkey: client_file("sslkey", "PGSSLKEY"),
            connect_timeout,
            options: pick("options", "PGOPTIONS"),
            source,
            warnings,
        })
    }

    /// The connection as a URL without its password: the report's `database` field.
    pub fn display_url(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .zip(&self.ports)
            .map(|(h, p)| match h {
                HostSpec::Tcp(name) if name.contains(':') => format!("[{name}]:{p}"),
                HostSpec::Tcp(name) => format!("{}:{p}", url_encode(name)),
                HostSpec::Socket(dir) => format!("{}:{p}", url_encode(&dir.to_string_lossy())),
            })
            .collect();
        format!(
            "postgresql://{}@{}/{}?sslmode={}",
            url_encode(&self.user),
            hosts.join(","),
            url_encode(&self.dbname),
            self.effective_sslmode().as_str()
        )
    }

    /// libpq never uses TLS over a Unix socket, whatever sslmode says.
    fn effective_sslmode(&self) -> SslModeSetting {
        if self.hosts.iter().all(|h| matches!(h, HostSpec::Socket(_))) {
            SslModeSetting::Disable
        } else {
            self.sslmode
        }
    }

    /// `settings` become `-c name=value` startup options: in force from the first
    /// query on, at no extra round trip.
    fn config(&self, settings: &[(&str, String)]) -> Config {
        let mut cfg = Config::new();
        for (host, port) in self.hosts.iter().zip(&self.ports) {
            match host {
                HostSpec::Tcp(name) => cfg.host(name),
                HostSpec::Socket(dir) => cfg.host_path(dir),
            };
            cfg.port(*port);
        }
        if let Some(addr) = self.hostaddr.as_deref().and_then(|a| a.parse().ok()) {
            cfg.hostaddr(addr);
        }
        cfg.user(&self.user)
            .dbname(&self.dbname)
            .application_name(APPLICATION_NAME)
            .connect_timeout(self.connect_timeout)
            .ssl_mode(match self.effective_sslmode() {
                SslModeSetting::Disable => SslMode::Disable,
                // "allow" tries plaintext first; "prefer" is the nearest the driver has.
                SslModeSetting::Allow | SslModeSetting::Prefer => SslMode::Prefer,
                _ => SslMode::Require,
            });
        if let Some(pw) = &self.password {
            cfg.password(pw.expose());
        }
        let mut options: Vec<String> = self.options.iter().cloned().collect();
        options.extend(settings.iter().map(|(k, v)| format!("-c {k}={v}")));
        if !options.is_empty() {
            cfg.options(&options.join(" "));
        }
        cfg
    }

    fn tls(&self) -> Result<Tls, ToolError> {
        let mode = self.effective_sslmode();
        if mode == SslModeSetting::Disable {
            return Ok(Tls::Plain);
        }
        let tls_err = |e: openssl::error::ErrorStack| {
            ToolError::failed(format!(
                "cannot set up TLS for sslmode={}: {e}",
                mode.as_str()
            ))
        };
        // A bare context, not `SslConnector::builder`: that one loads the system's CA
        // bundle for every sslmode (see tls.rs). Options and ciphers are the ones it sets;
        // TLS 1.2 at least is libpq's default (ssl_min_protocol_version).
        let mut builder = SslContextBuilder::new(SslMethod::tls_client()).map_err(tls_err)?;
        builder.set_options(
            SslOptions::ALL
                | SslOptions::NO_COMPRESSION
                | SslOptions::NO_SSLV2
                | SslOptions::NO_SSLV3,
        );
        builder.set_mode(OpenSslMode::AUTO_RETRY | OpenSslMode::RELEASE_BUFFERS);
        builder
            .set_min_proto_version(Some(SslVersion::TLS1_2))
            .map_err(tls_err)?;
        builder
            .set_cipher_list(
                "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK",
            )
            .map_err(tls_err)?;
        if mode.verifies_certificate() {
            match self.sslrootcert.as_deref() {
                Some("system") => builder.set_default_verify_paths().map_err(tls_err)?,
                given => {
                    let path = match given {
                        Some(p) => PathBuf::from(p),
                        None => home_dir()
                            .map(|h| h.join(".postgresql/root.crt"))
                            .unwrap_or_else(|| PathBuf::from(".postgresql/root.crt")),
                    };
                    if !path.is_file() {
                        return Err(ToolError::not_found(format!(
                            "sslmode={} needs the certificate of the CA that signed the server's certificate, and the root certificate file {} does not exist: set sslrootcert=FILE (or sslrootcert=system for the system's trusted roots), or use sslmode=require to encrypt without verifying",
                            mode.as_str(),
                            path.display()
                        )));
                    }
                    builder.set_ca_file(&path).map_err(|e| {
                        ToolError::failed(format!(
                            "cannot read root certificate {}: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            builder.set_verify(SslVerifyMode::PEER);
        } else {
            // prefer/require: encrypted, the server's certificate not checked (libpq's meaning).
            builder.set_verify(SslVerifyMode::NONE);
        }
        if let Some(cert) = &self.sslcert {
            builder
                .set_certificate_chain_file(cert)
                .map_err(|e| ToolError::failed(format!("cannot read sslcert {cert}: {e}")))?;
            let key = self.sslkey.clone().unwrap_or_else(|| cert.clone());
            builder
                .set_private_key_file(&key, SslFiletype::PEM)
                .map_err(|e| ToolError::failed(format!("cannot read sslkey {key}: {e}")))?;
        }
        // verify-ca checks the chain but not the name; prefer/require check nothing.
        let host_check = match mode {
            SslModeSetting::VerifyFull => HostCheck::Verify,
            _ => HostCheck::Skip,
        };
        let connector = MakeTlsConnector::new(builder.build(), host_check);
        Ok(Tls::OpenSsl(connector))
    }

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

/// libpq's compiled-in socket directory differs between builds: Debian's is
/// /var/run/postgresql, upstream's /tmp. Use whichever holds the port's socket.
fn default_socket_dir(port: u16) -> PathBuf {
    let candidates = ["/var/run/postgresql", "/tmp"];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join(format!(".s.PGSQL.{port}")).exists())
        .unwrap_or_else(|| PathBuf::from(candidates[0]))
}

fn os_user() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .or_else(|| std::env::var("USER").ok())
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|u| u.dir)
        })
}

/// The password for this connection from a pgpass file (`host:port:db:user:password`,
/// `*` matches anything, `\:` and `\\` escape). A missing file is no password;
/// a file others can read is ignored with a warning, as libpq does.
pub fn pgpass_lookup(
    file: &Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Result<Option<Secret>, String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return Ok(None);
    };
    if !meta.is_file() {
        return Ok(None);
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "password file {} has group or world access and was ignored: chmod 600 it",
            file.display()
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("password file {} could not be read: {e}", file.display()))?;
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], dbname)
            && matches(&fields[3], user)
        {
            // The fifth field runs to the end of the line, colons included.
            return Ok(Some(Secret::new(fields[4].clone())));
        }
    }
    Ok(None)
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// What a URL component holds as is: RFC 3986's unreserved characters.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes what a URL component cannot hold as is.
fn url_encode(text: &str) -> String {
    utf8_percent_encode(text, URL_COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, String>);
    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }
    fn env(pairs: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

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

    #[test]
    fn environment_fills_the_gaps_and_the_string_wins() {
        let p = ConnParams::parse("postgresql://alice@h1/appdb").unwrap();
        let e = env(&[
            ("PGHOST", "ignored"),
            ("PGPORT", "6000"),
            ("PGUSER", "bob"),
            ("PGPASSWORD", "from-env-pw"),
            ("PGSSLMODE", "require"),
        ]);
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &e, Credentials::Caller).unwrap();
        assert_eq!(t.hosts, vec![HostSpec::Tcp("h1".into())]);
        assert_eq!(t.ports, vec![6000]);
        assert_eq!(t.user, "alice");
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("from-env-pw"));
        assert_eq!(t.sslmode, SslModeSetting::Require);
        assert_eq!(
            t.display_url(),
            "postgresql://alice@h1:6000/appdb?sslmode=require"
        );
        assert!(!t.display_url().contains("from-env-pw"));
    }

    #[test]
    fn a_string_only_target_gets_nothing_from_the_environment() {
        let p = ConnParams::parse(
            "postgresql://postgres@127.0.0.1:1/x?passfile=/root/.pgpass&sslcert=/root/c.crt&sslkey=/root/c.key",
        )
        .unwrap();
        let e = env(&[
            ("PGPASSWORD", "root-env-pw"),
            ("PGPASSFILE", "/root/.pgpass"),
            ("PGDATABASE", "otherdb"),
            ("PGSSLMODE", "disable"),
            ("PGOPTIONS", "-c search_path=evil"),
        ]);
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &e, Credentials::StringOnly).unwrap();
        assert_eq!(t.password, None);
        assert_eq!((t.sslcert, t.sslkey), (None, None));
        assert_eq!(t.sslmode, SslModeSetting::Prefer);
        assert_eq!(t.options, None);
        assert_eq!(t.dbname, "x");
        // What the string carries is used.
        let p = ConnParams::parse("postgresql://app:own-pw@h/db").unwrap();
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &e, Credentials::StringOnly).unwrap();
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("own-pw"));
    }

    #[test]
    fn display_url_keeps_user_host_port_and_database() {
        let p = ConnParams::parse("postgresql://cornice@db:5432/cornice").unwrap();
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &env(&[]), Credentials::Caller).unwrap();
        assert_eq!(
            t.display_url(),
            "postgresql://cornice@db:5432/cornice?sslmode=prefer"
        );
        let p = ConnParams::parse("postgresql://a%20b@h/d%2Fb").unwrap();
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &env(&[]), Credentials::Caller).unwrap();
        assert_eq!(
            t.display_url(),
            "postgresql://a%20b@h:5432/d%2Fb?sslmode=prefer"
        );
    }

    #[test]
    fn defaults_are_a_unix_socket() {
        let t = ConnTarget::resolve(
            &ConnParams::default(),
            ConnSource::Defaults,
            &env(&[("PGUSER", "carol"), ("PGPASSFILE", "/nonexistent/pgpass")]),
            Credentials::Caller,
        )
        .unwrap();
        assert!(matches!(t.hosts[0], HostSpec::Socket(_)));
        assert_eq!(t.ports, vec![5432]);
        assert_eq!(t.dbname, "carol");
        assert_eq!(t.effective_sslmode(), SslModeSetting::Disable);
        assert!(ConnTarget::resolve(
            &ConnParams::default(),
            ConnSource::Defaults,
            &env(&[("PGSSLMODE", "maybe")]),
            Credentials::Caller,
        )
        .is_err());
        assert!(ConnTarget::resolve(
            &ConnParams::default(),
            ConnSource::Defaults,
            &env(&[("PGPORT", "x")]),
            Credentials::Caller,
        )
        .is_err());
    }

    #[test]
    fn pgpass_matching() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("pgtruncate-pgpass-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:5432:*:*:nope\nlocalhost:5432:app:u:pa\\:ss:word\n*:*:*:*:fallback-pw\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            pgpass_lookup(&file, "localhost", 5432, "app", "u")
                .unwrap()
                .as_ref()
                .map(Secret::expose),
            Some("pa:ss:word")
        );
        assert_eq!(
            pgpass_lookup(&file, "db", 1, "x", "y")
                .unwrap()
                .as_ref()
                .map(Secret::expose),
            Some("fallback-pw")
        );
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(pgpass_lookup(&file, "localhost", 5432, "app", "u").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
