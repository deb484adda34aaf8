//! The connection options libpq 15 knows.

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

    pub(super) fn from_bytes(name: &[u8]) -> Option<Keyword> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().as_bytes() == name)
    }

    /// libpq shows these as password fields (dispchar `*`).
    pub fn is_secret(self) -> bool {
        matches!(self, Keyword::Password | Keyword::Sslpassword)
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Keyword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
