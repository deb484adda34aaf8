//! The TLS side of a connection for libpq's six sslmodes, set up on a bare OpenSSL
//! context for the driver adapter in [`crate::tls`].

use crate::connect::Tls;
use crate::target::{home_dir, ConnTarget, SslModeSetting};
use crate::tls::{HostCheck, MakeTlsConnector};
use conventions::ToolError;
use openssl::ssl::{
    SslContextBuilder, SslFiletype, SslMethod, SslMode as OpenSslMode, SslOptions, SslVerifyMode,
    SslVersion,
};
use std::path::PathBuf;

impl ConnTarget {
    pub(crate) fn tls(&self) -> Result<Tls, ToolError> {
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
        // As SslConnector sets them: the async adapter may retry a write that OpenSSL
        // could not finish from another buffer (a large COPY FROM STDIN does), which
        // OpenSSL otherwise refuses with "bad write retry".
        builder.set_mode(
            OpenSslMode::AUTO_RETRY
                | OpenSslMode::RELEASE_BUFFERS
                | OpenSslMode::ACCEPT_MOVING_WRITE_BUFFER
                | OpenSslMode::ENABLE_PARTIAL_WRITE,
        );
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
}
