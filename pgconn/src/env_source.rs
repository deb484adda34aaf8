//! Reading the env file `--env-file` names: the one place pgtruncate opens it, under the
//! host's trust rules (hostfs: a symlink followed only when root or its target's owner
//! made it, a FIFO or a device refused and never opened, a bounded read).
//! Who owns the file and who may write it decide which credentials its target may use
//! ([`EnvFile::trusted`]); [`database_url`] is its `DATABASE_URL` as the app reads it.

use conventions::ToolError;
use std::path::Path;

/// An env file larger than this is not an env file.
pub(crate) const MAX_ENV_FILE_BYTES: u64 = 16 << 20;

/// The bytes of an env file and who controls them, as seen on the descriptor read.
#[derive(Debug, Clone)]
pub(crate) struct EnvFile {
    pub(crate) bytes: Vec<u8>,
    /// The owner's uid.
    pub(crate) owner: u32,
    /// The permission bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
}

impl EnvFile {
    /// Whether only root (or the caller, `euid`) can have written it: owned by one of them
    /// and writable by neither group nor others.
    pub(crate) fn trusted(&self, euid: u32) -> bool {
        !hostfs::writable_by_others_than(self.owner, self.mode, euid)
    }

    /// Why [`EnvFile::trusted`] is false, for the warning.
    pub(crate) fn distrust_reason(&self, euid: u32) -> Option<String> {
        if self.trusted(euid) {
            None
        } else if self.owner != 0 && self.owner != euid {
            Some(format!("is owned by uid {}", self.owner))
        } else {
            Some(format!(
                "is writable by {} (mode {:04o})",
                if self.mode & 0o002 != 0 {
                    "everyone"
                } else {
                    "its group"
                },
                self.mode
            ))
        }
    }
}

/// Opens and reads the env file under the host's trust rules (hostfs): a symlink only
/// when root or its target's owner made it, a regular file only (never opened
/// otherwise), no hard link another user could have planted, at most
/// [`MAX_ENV_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> Result<EnvFile, ToolError> {
    let shown = path.display().to_string();
    let with_flag = |e: ToolError| ToolError {
        message: format!("--env-file: {}", e.message),
        ..e
    };
    let loc = hostfs::resolve(path).map_err(|e| with_flag(e.into()))?;
    let Some((_, meta, bytes)) = loc
        .read(MAX_ENV_FILE_BYTES)
        .map_err(|e| with_flag(e.into()))?
    else {
        return Err(ToolError::not_found(format!(
            "--env-file {shown} does not exist: give the app's env file"
        ))
        .with("file", &shown));
    };
    if hostfs::hard_link_may_be_planted(&loc.dir.meta, &meta) {
        return Err(ToolError::refused(format!(
            "--env-file {shown} has {} hard links and its directory {} can be written by users other than root and the file's owner, so the link may have been planted to point pgtruncate at another file's database: nothing was done; give the file's own path",
            meta.nlink,
            loc.dir.path.display()
        ))
        .with("file", &shown));
    }
    Ok(EnvFile {
        bytes,
        owner: meta.uid,
        mode: meta.mode,
    })
}

/// `DATABASE_URL` of an env file, as the app reads it (python-dotenv); exit 4 without
/// one, exit 2 for what the app would read differently from us (`${...}` expanded from
/// its own environment) or not at all.
pub(crate) fn database_url(file: &EnvFile, path: &Path) -> Result<String, ToolError> {
    let shown = path.display();
    let text = envfile::decode(&file.bytes).map_err(|e| {
        let (line, what) = match e {
            envfile::ContentError::Nul { line } => (line, "contains a NUL byte"),
            envfile::ContentError::InvalidUtf8 { line } => (line, "is not valid UTF-8"),
        };
        ToolError::usage(format!(
            "--env-file {shown} line {line} {what}, so the app cannot read it: fix the env file"
        ))
    })?;
    match envfile::dotenv_value(text, "DATABASE_URL") {
        Some((Some(url), line)) if !url.is_empty() => {
            if let Some(pw) = conventions::secrets::url_password(&url) {
                conventions::secrets::remember(&pw);
            }
            if has_interpolation(&url) {
                return Err(ToolError::usage(format!(
                    "--env-file {shown} line {line}: DATABASE_URL holds ${{...}}, which the app expands from its own environment: write the URL out in full"
                )));
            }
            Ok(url.into_owned())
        }
        found => {
            let how = match found {
                Some((_, line)) => format!("sets DATABASE_URL empty on line {line}"),
                None => "has no DATABASE_URL (as the app's python-dotenv reads it)".into(),
            };
            Err(ToolError::not_found(format!(
                "--env-file {shown} {how}: add DATABASE_URL=postgresql://USER@HOST/DB to it or pass --database-url; an env file named is never replaced by DATABASE_URL or PG* variables of pgtruncate's own environment"
            ))
            .with("file", shown.to_string()))
        }
    }
}

/// python-dotenv's `${NAME}` / `${NAME:-default}`, which it expands when it loads the file.
fn has_interpolation(value: &str) -> bool {
    value.split("${").skip(1).any(|after| after.contains('}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(owner: u32, mode: u32) -> EnvFile {
        EnvFile {
            bytes: Vec::new(),
            owner,
            mode,
        }
    }

    #[test]
    fn trust_needs_root_or_the_caller_and_no_other_writer() {
        assert!(file(0, 0o600).trusted(0));
        assert!(file(0, 0o644).trusted(0));
        assert!(file(1000, 0o600).trusted(1000));
        assert!(!file(65534, 0o600).trusted(0));
        assert!(!file(0, 0o620).trusted(0));
        assert!(!file(0, 0o602).trusted(0));
        assert!(file(65534, 0o600)
            .distrust_reason(0)
            .unwrap()
            .contains("65534"));
        assert!(file(0, 0o666)
            .distrust_reason(0)
            .unwrap()
            .contains("everyone"));
        assert_eq!(file(0, 0o640).distrust_reason(0), None);
    }

    #[test]
    fn a_fifo_a_directory_and_a_symlink_are_refused_without_blocking() {
        let dir = tempfile_dir();
        let fifo = dir.join("fifo.env");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(read(&fifo).unwrap_err().exit_code(), 2);
        assert_eq!(read(&dir).unwrap_err().exit_code(), 2);
        let real = dir.join("real.env");
        std::fs::write(&real, "DATABASE_URL=postgresql://h/db\n").unwrap();
        // The caller's own link is followed (another user's is not: tests/trust_files.rs).
        let link = dir.join("link.env");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            read(&link).unwrap().bytes,
            b"DATABASE_URL=postgresql://h/db\n"
        );
        assert_eq!(
            read(&real).unwrap().bytes,
            b"DATABASE_URL=postgresql://h/db\n"
        );
        assert_eq!(read(&dir.join("missing.env")).unwrap_err().exit_code(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn database_url_is_read_as_the_app_reads_it_or_refused() {
        let url = |text: &str| {
            let file = EnvFile {
                bytes: text.as_bytes().to_vec(),
                owner: 0,
                mode: 0o600,
            };
            database_url(&file, Path::new("/etc/app.env"))
        };
        assert_eq!(
            url("export\tDATABASE_URL='postgresql://u@h/it\\'s' # c\n").unwrap(),
            "postgresql://u@h/it's"
        );
        assert_eq!(url("DATABASE_URL=a\nDATABASE_URL=b\n").unwrap(), "b");
        for text in [
            "FLAG=1\n",
            "DATABASE_URL=\n",
            "DATABASE_URL\n",
            "# DATABASE_URL=x\n",
        ] {
            let err = url(text).unwrap_err();
            assert_eq!(err.exit_code(), 4, "{text:?}");
            assert!(err.message.contains("/etc/app.env"), "{}", err.message);
        }
        assert_eq!(
            url("DATABASE_URL=postgresql://${HOST}/db\n")
                .unwrap_err()
                .exit_code(),
            2
        );
        assert_eq!(
            url("DATABASE_URL=postgresql://h/$x{y\n").unwrap(),
            "postgresql://h/$x{y"
        );
        assert_eq!(url("DATABASE_URL=x\0\n").unwrap_err().exit_code(), 2);
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pgtruncate-envsrc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
