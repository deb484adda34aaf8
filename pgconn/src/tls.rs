//! TLS for the `postgres` driver over a plain OpenSSL context.
//!
//! Why not `postgres-openssl`: its `MakeTlsConnector` wraps an `SslConnector`, and
//! `SslConnector::builder` always loads the system's trusted roots
//! (`SSL_CTX_set_default_verify_paths`, the whole CA bundle). That took 43 ms of a 71 ms
//! run on the development VM and 74% of pgtruncate's instructions under callgrind, for
//! sslmodes (prefer, require, verify-ca with a root file) that never look at the system's
//! roots; libpq does not load them either. This module is the same adapter over an
//! `SslContext` the caller configures, so roots are loaded only when `sslrootcert=system`
//! asks for them. Channel binding (`tls-server-end-point`, for SCRAM-SHA-256-PLUS) is
//! computed as postgres-openssl and libpq compute it; every password login over TLS in the
//! tests uses it (the sandbox offers SCRAM-SHA-256-PLUS: a hash with one bit flipped was
//! tried and the login fails with "SCRAM channel binding check failed").

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::ssl::{self, Ssl, SslContext, SslRef};
use openssl::x509::X509VerifyResult;
use postgres::tls::{self, ChannelBinding, MakeTlsConnect, TlsConnect};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio_openssl::SslStream;

/// Whether the server's certificate must carry the host name connected to (verify-full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostCheck {
    Verify,
    Skip,
}

/// Makes one TLS session per connection (the main one, and the one a cancel request opens).
#[derive(Clone)]
pub struct MakeTlsConnector {
    context: SslContext,
    host_check: HostCheck,
}

impl MakeTlsConnector {
    pub fn new(context: SslContext, host_check: HostCheck) -> MakeTlsConnector {
        MakeTlsConnector {
            context,
            host_check,
        }
    }
}

impl<S> MakeTlsConnect<S> for MakeTlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send + Sync + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = TlsConnector;
    type Error = ErrorStack;

    fn make_tls_connect(&mut self, domain: &str) -> Result<TlsConnector, ErrorStack> {
        let mut ssl = Ssl::new(&self.context)?;
        let ip = domain.parse::<std::net::IpAddr>().ok();
        // SNI only for a name: an IP address in SNI is against RFC 6066.
        if ip.is_none() && !domain.is_empty() {
            ssl.set_hostname(domain)?;
        }
        if self.host_check == HostCheck::Verify {
            let param = ssl.param_mut();
            param.set_hostflags(openssl::x509::verify::X509CheckFlags::NO_PARTIAL_WILDCARDS);
            match ip {
                Some(ip) => param.set_ip(ip)?,
                None => param.set_host(domain)?,
            }
        }
        Ok(TlsConnector { ssl })
    }
}

/// One connection's TLS session, ready to handshake.
pub struct TlsConnector {
    ssl: Ssl,
}

impl<S> TlsConnect<S> for TlsConnector
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = Box<dyn Error + Send + Sync>;
    #[allow(clippy::type_complexity)]
    type Future = Pin<Box<dyn Future<Output = Result<TlsStream<S>, Self::Error>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        // Buffered: OpenSSL reads record headers in small pieces.
        let stream = BufReader::with_capacity(8192, stream);
        Box::pin(async move {
            let mut stream = SslStream::new(self.ssl, stream)?;
            match Pin::new(&mut stream).connect().await {
                Ok(()) => Ok(TlsStream(stream)),
                Err(error) => Err(Box::new(HandshakeError {
                    error,
                    verify_result: stream.ssl().verify_result(),
                }) as _),
            }
        })
    }
}

/// A failed handshake, with the certificate check's verdict when that was the cause.
#[derive(Debug)]
struct HandshakeError {
    error: ssl::Error,
    verify_result: X509VerifyResult,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)?;
        if self.verify_result != X509VerifyResult::OK {
            write!(f, ": {}", self.verify_result)?;
        }
        Ok(())
    }
}

impl Error for HandshakeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

pub struct TlsStream<S>(SslStream<BufReader<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        match server_end_point(self.0.ssl()) {
            Some(hash) => ChannelBinding::tls_server_end_point(hash),
            None => ChannelBinding::none(),
        }
    }
}

/// RFC 5929 `tls-server-end-point`: the server certificate's hash with its signature's
/// digest, SHA-256 in place of MD5 and SHA-1.
fn server_end_point(ssl: &SslRef) -> Option<Vec<u8>> {
    let cert = ssl.peer_certificate()?;
    let algorithms = cert
        .signature_algorithm()
        .object()
        .nid()
        .signature_algorithms()?;
    let digest = match algorithms.digest {
        Nid::MD5 | Nid::SHA1 => MessageDigest::sha256(),
        nid => MessageDigest::from_nid(nid)?,
    };
    cert.digest(digest).ok().map(|d| d.to_vec())
}
