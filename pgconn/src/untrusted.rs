//! What a target from a file root does not control may use: only what the file carries,
//! and nothing that borrows root's identity. Root's identity is more than its `PG*`
//! variables and pgpass file (which [`crate::target`] withholds): it is every file root
//! can read (a client key, a password file, a service file), root's Kerberos tickets,
//! root's OS user name, and the uid the kernel shows the server over a Unix socket, where
//! peer (or trust) authentication takes it as proof. A file another user can write could
//! name any of them, so [`check`] refuses such a target before anything is connected.
//!
//! Every libpq keyword is decided in [`keyword_use`] (an exhaustive match, so a keyword
//! added to the parser needs a decision); the table in docs/contract.md says the same.

use crate::connect::ConnParams;
use crate::conninfo::Keyword;
use crate::target::{ConnTarget, HostSpec, SslModeSetting};
use std::fmt;
use std::path::PathBuf;

/// Why a target from an untrusted file is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A keyword that reads a file with root's rights, presents root's credentials, or
    /// steers the server session (see [`keyword_use`]).
    Keyword { keyword: Keyword, why: &'static str },
    /// A Unix socket (named, or libpq's default when no host is given), without
    /// `--allow-socket`.
    Socket { dir: PathBuf },
    /// No user: libpq's default is the OS user, root.
    NoUser,
    /// `verify-ca`/`verify-full` without `sslrootcert=system`: the CA file would be
    /// root's `~/.postgresql/root.crt`.
    RootsCaFile { sslmode: SslModeSetting },
}

impl Refusal {
    /// The keyword the refusal is about, for `error.keyword`.
    pub(crate) fn keyword(&self) -> &'static str {
        match self {
            Refusal::Keyword { keyword, .. } => keyword.as_str(),
            Refusal::Socket { .. } => "host",
            Refusal::NoUser => "user",
            Refusal::RootsCaFile { .. } => "sslmode",
        }
    }

    /// What the caller can do besides trusting the file or passing `--database-url`.
    pub(crate) fn remedy(&self) -> &'static str {
        match self {
            Refusal::Keyword { .. } => "remove it from the URL",
            Refusal::Socket { .. } => {
                "give a TCP host (host=127.0.0.1) in the URL, or pass --allow-socket if root is meant to connect over the socket"
            }
            Refusal::NoUser => "name the user in the URL",
            Refusal::RootsCaFile { .. } => "add sslrootcert=system to the URL",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Keyword { keyword, why } => write!(f, "sets {keyword}=, which {why}"),
            Refusal::Socket { dir } => write!(
                f,
                "connects over the Unix socket in {} (host= names a directory, or no host is given), where the server sees pgtruncate's OS user, root, and peer authentication takes that as proof",
                dir.display()
            ),
            Refusal::NoUser => f.write_str(
                "names no user, so libpq's default would be used: the OS user, root",
            ),
            Refusal::RootsCaFile { sslmode } => write!(
                f,
                "sets sslmode={} without sslrootcert=system, so the server's certificate would be checked against root's own ~/.postgresql/root.crt",
                sslmode.as_str()
            ),
        }
    }
}

/// Whether an untrusted target may set `keyword` to `value` (a non-empty one: libpq
/// reads an empty value as unset); `Err` says why not.
pub(crate) fn keyword_use(keyword: Keyword, value: Option<&str>) -> Result<(), &'static str> {
    use Keyword::*;
    match keyword {
        // What the file names and carries: where, as whom, with its own password, and
        // how the connection behaves. A socket host is decided on the resolved target.
        User | Password | Dbname | Host | Hostaddr | Port | ConnectTimeout | ClientEncoding
        | ApplicationName | FallbackApplicationName | Keepalives | KeepalivesIdle
        | KeepalivesInterval | KeepalivesCount | TcpUserTimeout | Sslmode | Sslcompression
        | Sslsni | SslMinProtocolVersion | SslMaxProtocolVersion | ChannelBinding
        | Replication | TargetSessionAttrs => Ok(()),
        // The system's public trust store borrows nothing of root's.
        Sslrootcert if value == Some("system") => Ok(()),
        // Asking for less is harmless.
        Gssencmode if value == Some("disable") => Ok(()),
        Service => Err("names an entry of a pg_service.conf file read with root's rights"),
        Passfile => Err("makes pgtruncate read a password file with root's rights"),
        Sslcert | Sslkey => {
            Err("makes pgtruncate present a client certificate read with root's rights")
        }
        Sslpassword => Err("unlocks a client key read with root's rights"),
        Sslrootcert => {
            Err("makes pgtruncate read a file with root's rights (only sslrootcert=system is taken)")
        }
        Sslcrl | Sslcrldir => Err("makes pgtruncate read a file with root's rights"),
        Requirepeer => {
            Err("is about a Unix socket, where the server sees root's uid")
        }
        Gssencmode | Krbsrvname | Gsslib => {
            Err("asks for GSSAPI, which authenticates with root's Kerberos tickets")
        }
        // Any `-c name=value` reaches the server's session: session_preload_libraries
        // loads code, search_path shadows pg_catalog, session_replication_role turns off
        // triggers. No short list is safe for every role the file may name, and an app
        // needs none of them for pgtruncate's work.
        Options => Err(
            "passes settings (-c name=value) to the server session, which may be a superuser's (session_preload_libraries alone loads code into the server)",
        ),
    }
}

/// Refuses a target from an untrusted file that would use anything of root's (see the
/// module docs); `allow_socket` is the operator's `--allow-socket`.
pub(crate) fn check(
    params: &ConnParams,
    target: &ConnTarget,
    allow_socket: bool,
) -> Result<(), Refusal> {
    for (&keyword, value) in &params.given {
        keyword_use(keyword, value.as_deref()).map_err(|why| Refusal::Keyword { keyword, why })?;
    }
    if params.get("user").is_none() {
        return Err(Refusal::NoUser);
    }
    if !allow_socket {
        if let Some(HostSpec::Socket(dir)) = target
            .hosts
            .iter()
            .find(|h| matches!(h, HostSpec::Socket(_)))
        {
            return Err(Refusal::Socket { dir: dir.clone() });
        }
    }
    let sslmode = target.effective_sslmode();
    if sslmode.verifies_certificate() && target.sslrootcert.as_deref() != Some("system") {
        return Err(Refusal::RootsCaFile { sslmode });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::{ConnSource, Credentials, Env};

    struct NoVars;
    impl Env for NoVars {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn verdict(url: &str, allow_socket: bool) -> Result<(), Refusal> {
        let params = ConnParams::parse(url).unwrap();
        let target =
            ConnTarget::resolve(&params, ConnSource::Defaults, &NoVars, Credentials::Caller)
                .unwrap();
        check(&params, &target, allow_socket)
    }

    fn refused_keyword(url: &str) -> &'static str {
        match verdict(url, false) {
            Err(r) => r.keyword(),
            Ok(()) => panic!("{url} was allowed"),
        }
    }

    #[test]
    fn what_the_file_carries_is_used() {
        for url in [
            "postgresql://app:pw@db.example/app?sslmode=require&connect_timeout=5",
            "postgresql://app@10.0.0.1:6432/app?application_name=x&keepalives=1&target_session_attrs=any",
            "host=db user=app dbname=app sslmode=verify-full sslrootcert=system gssencmode=disable",
            "postgresql://app@db/app?passfile=&options=",
            "hostaddr=127.0.0.1 user=app",
        ] {
            assert_eq!(verdict(url, false), Ok(()), "{url}");
        }
    }

    #[test]
    fn root_s_files_tickets_and_session_settings_are_refused() {
        for (url, keyword) in [
            ("postgresql://app@db/app?passfile=/root/.pgpass", "passfile"),
            ("postgresql://app@db/app?sslcert=/root/c.crt", "sslcert"),
            ("postgresql://app@db/app?sslkey=/root/c.key", "sslkey"),
            ("postgresql://app@db/app?sslpassword=x", "sslpassword"),
            (
                "postgresql://app@db/app?sslrootcert=/etc/shadow",
                "sslrootcert",
            ),
            ("postgresql://app@db/app?sslcrl=/root/crl", "sslcrl"),
            ("postgresql://app@db/app?sslcrldir=/root", "sslcrldir"),
            (
                "postgresql://app@db/app?requirepeer=postgres",
                "requirepeer",
            ),
            ("postgresql://app@db/app?gssencmode=prefer", "gssencmode"),
            ("postgresql://app@db/app?krbsrvname=postgres", "krbsrvname"),
            ("postgresql://app@db/app?gsslib=gssapi", "gsslib"),
            (
                "postgresql://app@db/app?options=-c%20session_preload_libraries%3D/tmp/x",
                "options",
            ),
            (
                "host=db user=app options='-c application_name=pwned'",
                "options",
            ),
            ("postgresql://db/app", "user"),
            ("postgresql://app@db/app?sslmode=verify-ca", "sslmode"),
            ("postgresql://app@db/app?sslmode=verify-full", "sslmode"),
        ] {
            assert_eq!(refused_keyword(url), keyword, "{url}");
        }
    }

    #[test]
    fn a_socket_needs_allow_socket() {
        for url in [
            "postgresql://root@/victim?host=/run/postgresql",
            "postgresql://app@%2Ftmp/app",
            "host=/tmp user=app",
            // No host at all, and an empty one: libpq's default socket.
            "postgresql://app@/app",
            "user=app host=",
            "postgresql://app@db,%2Ftmp/app",
        ] {
            assert_eq!(refused_keyword(url), "host", "{url}");
            assert_eq!(verdict(url, true), Ok(()), "{url}");
        }
        // Over a socket no TLS, so no root.crt: verify-full is not refused there.
        assert_eq!(
            verdict("postgresql://app@%2Ftmp/app?sslmode=verify-full", true),
            Ok(())
        );
    }

    #[test]
    fn every_keyword_has_a_decision() {
        // The match is exhaustive; this lists what an untrusted file may set at all.
        let allowed: Vec<&str> = Keyword::ALL
            .iter()
            .filter(|k| keyword_use(**k, Some("x")).is_ok())
            .map(|k| k.as_str())
            .collect();
        assert!(!allowed.contains(&"options") && !allowed.contains(&"passfile"));
        assert!(allowed.contains(&"password") && allowed.contains(&"host"));
    }
}
