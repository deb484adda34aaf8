//! The target of a run, as libpq would resolve it: what the connection string leaves
//! out comes from the `PG*` variables and `~/.pgpass` (only for a target the caller named,
//! see [`Credentials`]), then libpq's defaults (Unix socket, port 5432, the OS user).
//! `application_name` is always `pgtruncate`, so DBAs and blocker reports see it.

use crate::connect::ConnParams;
use crate::pgpass::pgpass_lookup;
use crate::untrusted::{self, Refusal};
use conventions::secrets::Secret;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use postgres::config::SslMode;
use postgres::Config;
use std::path::PathBuf;
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

    pub(crate) fn verifies_certificate(self) -> bool {
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
pub(crate) enum Credentials {
    /// A target the caller named (argument, its own environment, an env file only root or
    /// the caller can write): the caller's `PG*` variables, `PGPASSWORD` and pgpass file
    /// fill in what the string leaves out, as libpq does.
    Caller,
    /// A target read from a file another user can write: only what the string itself
    /// carries, and nothing of the caller's identity. No `PG*` variable, no pgpass file;
    /// a string that would read the caller's files, use its tickets or name, or connect
    /// over a Unix socket (unless `allow_socket`, the operator's `--allow-socket`) is
    /// refused: [`crate::untrusted`].
    StringOnly { allow_socket: bool },
}

/// Why a target cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// A value libpq would refuse too (a bad port, sslmode, timeout): a usage error.
    Invalid(String),
    /// A [`Credentials::StringOnly`] target that would use the caller's identity.
    Refused(Refusal),
}

impl From<String> for ResolveError {
    fn from(message: String) -> Self {
        ResolveError::Invalid(message)
    }
}

impl From<&str> for ResolveError {
    fn from(message: &str) -> Self {
        ResolveError::Invalid(message.to_string())
    }
}

/// Where the environment is read from; a seam so tests need not mutate the process's.
pub(crate) trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub(crate) struct ProcessEnv;

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
    pub(crate) fn resolve(
        params: &ConnParams,
        source: ConnSource,
        env: &dyn Env,
        credentials: Credentials,
    ) -> Result<ConnTarget, ResolveError> {
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
        let (hosts, ports) = hosts_and_ports(
            host_text.as_deref(),
            port_text.as_deref(),
            hostaddr.as_deref(),
        )?;
        let user = match pick("user", "PGUSER") {
            Some(u) => u,
            None => os_user().ok_or(
                "no database user given and the OS user is unknown: set user= in the URL or PGUSER",
            )?,
        };
        let dbname = pick("dbname", "PGDATABASE").unwrap_or_else(|| user.clone());
        let sslmode =
            SslModeSetting::parse(pick("sslmode", "PGSSLMODE").as_deref().unwrap_or("prefer"))?;
        let connect_timeout = connect_timeout(pick("connect_timeout", "PGCONNECT_TIMEOUT"))?;
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
        let target = ConnTarget {
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
        };
        if let Credentials::StringOnly { allow_socket } = credentials {
            untrusted::check(params, &target, allow_socket).map_err(ResolveError::Refused)?;
        }
        Ok(target)
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
    pub(crate) fn effective_sslmode(&self) -> SslModeSetting {
        if self.hosts.iter().all(|h| matches!(h, HostSpec::Socket(_))) {
            SslModeSetting::Disable
        } else {
            self.sslmode
        }
    }

    /// `settings` become `-c name=value` startup options: in force from the first
    /// query on, at no extra round trip.
    pub(crate) fn config(&self, settings: &[(&str, String)]) -> Config {
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
}

/// The hosts and a port for each: one port for all, or one per host; an empty host or
/// none at all is the default Unix socket (a `hostaddr` alone is a TCP host).
fn hosts_and_ports(
    host_text: Option<&str>,
    port_text: Option<&str>,
    hostaddr: Option<&str>,
) -> Result<(Vec<HostSpec>, Vec<u16>), String> {
    let host_count = host_text.map_or(1, |h| h.split(',').count());
    let mut ports = Vec::new();
    for p in port_text.unwrap_or("").split(',') {
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
    let hosts: Vec<HostSpec> = match host_text {
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
        None => match hostaddr {
            Some(addr) => vec![HostSpec::Tcp(addr.to_string())],
            None => vec![HostSpec::Socket(default_socket_dir(ports[0]))],
        },
    };
    Ok((hosts, ports))
}

/// libpq's `connect_timeout`: 0 means wait forever, and anything under 2 s is taken as
/// 2 s; pgtruncate never waits forever.
fn connect_timeout(text: Option<String>) -> Result<Duration, String> {
    Ok(match text {
        Some(t) => match t.trim().parse::<u64>() {
            Ok(0) => DEFAULT_CONNECT_TIMEOUT,
            Ok(n) => Duration::from_secs(n.max(2)),
            Err(_) => return Err(format!("invalid connect_timeout {t:?}: give whole seconds")),
        },
        None => DEFAULT_CONNECT_TIMEOUT,
    })
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

pub(crate) fn home_dir() -> Option<PathBuf> {
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
        let p = ConnParams::parse("postgresql://postgres@127.0.0.1:1/x").unwrap();
        let string_only = Credentials::StringOnly {
            allow_socket: false,
        };
        let e = env(&[
            ("PGPASSWORD", "root-env-pw"),
            ("PGPASSFILE", "/root/.pgpass"),
            ("PGDATABASE", "otherdb"),
            ("PGSSLMODE", "disable"),
            ("PGOPTIONS", "-c search_path=evil"),
        ]);
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &e, string_only).unwrap();
        assert_eq!(t.password, None);
        assert_eq!((t.sslcert, t.sslkey), (None, None));
        assert_eq!(t.sslmode, SslModeSetting::Prefer);
        assert_eq!(t.options, None);
        assert_eq!(t.dbname, "x");
        // What the string carries is used.
        let p = ConnParams::parse("postgresql://app:own-pw@h/db").unwrap();
        let t = ConnTarget::resolve(&p, ConnSource::Flag, &e, string_only).unwrap();
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("own-pw"));
        // A string naming the caller's files is refused, not quietly stripped.
        let p = ConnParams::parse("postgresql://app@h/db?passfile=/root/.pgpass").unwrap();
        assert!(matches!(
            ConnTarget::resolve(&p, ConnSource::Flag, &e, string_only),
            Err(ResolveError::Refused(_))
        ));
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
}
