//! Which connection string a run uses, and whose credentials it gets: the one place the
//! precedence and the trust of an env file are decided.

use crate::connect::ConnParams;
use crate::env_source;
use crate::target::{ConnSource, ConnTarget, Credentials, ProcessEnv, ResolveError};
use conventions::ToolError;
use std::path::Path;

/// What the caller was given to find its database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Choice<'a> {
    /// `--database-url`: wins over everything.
    pub database_url: Option<&'a str>,
    /// `--env-file`: its `DATABASE_URL`, the only source when named.
    pub env_file: Option<&'a Path>,
    /// `--allow-socket`: a URL from an env file another user can write may use a Unix
    /// socket.
    pub allow_socket: bool,
}

/// The connection string by precedence: `--database-url`, then the env file's
/// DATABASE_URL, then the DATABASE_URL variable, then `PG*` variables and defaults;
/// resolved as libpq would, within the credentials its source may use. `warn` hears
/// what the operator should know, as soon as it is known.
pub fn resolve(choice: &Choice, warn: &mut dyn FnMut(String)) -> Result<ConnTarget, ToolError> {
    let env_url = std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty());
    // Its password is kept out of every output even when another source wins.
    if let Some(pw) = env_url
        .as_deref()
        .and_then(conventions::secrets::url_password)
    {
        conventions::secrets::remember(&pw);
    }
    // The env file and why it is not trusted, if it is not.
    let mut distrust: Option<(&Path, String)> = None;
    let (text, source, credentials) = if let Some(url) = choice.database_url {
        (Some(url.to_string()), ConnSource::Flag, Credentials::Caller)
    } else if let Some(path) = choice.env_file {
        // An env file named is the only source: never DATABASE_URL or PG* of our own
        // environment, which may name another database.
        let file = env_source::read(path)?;
        let url = env_source::database_url(&file, path)?;
        let euid = nix::unistd::geteuid().as_raw();
        distrust = file.distrust_reason(euid).map(|reason| (path, reason));
        let credentials = match &distrust {
            None => Credentials::Caller,
            Some((_, reason)) => {
                warn(format!(
                    "{} {reason}: its DATABASE_URL is used only with the credentials it carries itself (no PG* variables, PGPASSWORD or pgpass file of pgtruncate's own environment); make it owned by root and writable by no one else to lift this",
                    path.display()
                ));
                Credentials::StringOnly {
                    allow_socket: choice.allow_socket,
                }
            }
        };
        (
            Some(url),
            ConnSource::EnvFile(path.to_path_buf()),
            credentials,
        )
    } else if let Some(url) = env_url {
        (Some(url), ConnSource::EnvVar, Credentials::Caller)
    } else {
        (None, ConnSource::Defaults, Credentials::Caller)
    };
    // Only the password is secret: the rest of the URL names the target, and the report
    // and the messages must show it. Remembered before parsing, so that a string the
    // parser refuses still cannot show its password.
    if let Some(pw) = text.as_deref().and_then(conventions::secrets::url_password) {
        conventions::secrets::remember(&pw);
    }
    let params = match &text {
        Some(t) => {
            ConnParams::parse(t).map_err(|e| ToolError::usage(format!("database URL: {e}")))?
        }
        None => ConnParams::default(),
    };
    let target = match ConnTarget::resolve(&params, source, &ProcessEnv, credentials) {
        Ok(target) => target,
        Err(ResolveError::Invalid(e)) => {
            return Err(ToolError::usage(format!("database connection: {e}")))
        }
        Err(ResolveError::Refused(refusal)) => {
            // Only a target from an untrusted env file is ever refused.
            let (path, reason) = distrust.unwrap_or((Path::new(""), String::new()));
            return Err(ToolError::refused(format!(
                "--env-file {} {reason}, and its DATABASE_URL {refusal}: nothing was connected; {}, make the file owned by root and writable by no one else, or give the URL with --database-url",
                path.display(),
                refusal.remedy()
            ))
            .with("file", path.display().to_string())
            .with("keyword", refusal.keyword()));
        }
    };
    for w in &target.warnings {
        warn(w.clone());
    }
    Ok(target)
}
