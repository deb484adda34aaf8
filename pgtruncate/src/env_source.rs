//! Reading the env file `--env-file` names: the one place pgtruncate opens it. Opened
//! without following a symlink and without blocking (a FIFO or a device is refused, never
//! waited on), checked with `fstat` on the opened descriptor, and read up to a bound.
//! Who owns the file and who may write it decide which credentials its target may use
//! ([`EnvFile::trusted`]).

use conventions::ToolError;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// An env file larger than this is not an env file.
pub const MAX_ENV_FILE_BYTES: u64 = 16 << 20;

/// The bytes of an env file and who controls them, as seen on the descriptor read.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub bytes: Vec<u8>,
    /// The owner's uid.
    pub owner: u32,
    /// The permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

impl EnvFile {
    /// Whether only root (or the caller, `euid`) can have written it: owned by one of them
    /// and writable by neither group nor others.
    pub fn trusted(&self, euid: u32) -> bool {
        (self.owner == 0 || self.owner == euid) && self.mode & 0o022 == 0
    }

    /// Why [`EnvFile::trusted`] is false, for the warning.
    pub fn distrust_reason(&self, euid: u32) -> Option<String> {
        if self.owner != 0 && self.owner != euid {
            Some(format!("is owned by uid {}", self.owner))
        } else if self.mode & 0o022 != 0 {
            Some(format!(
                "is writable by {} (mode {:04o})",
                if self.mode & 0o002 != 0 {
                    "everyone"
                } else {
                    "its group"
                },
                self.mode
            ))
        } else {
            None
        }
    }
}

/// Opens and reads the env file: a regular file, not a symlink, at most
/// [`MAX_ENV_FILE_BYTES`].
pub fn read(path: &Path) -> Result<EnvFile, ToolError> {
    let shown = path.display().to_string();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(code) if code == nix::errno::Errno::ELOOP as i32 => ToolError::usage(format!(
                "--env-file {shown} is a symbolic link, which pgtruncate does not follow: give the path of the file itself"
            ))
            .with("file", &shown),
            _ => ToolError::io(&format!("--env-file {shown}"), "open it", &e).with("file", &shown),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| ToolError::io(&format!("--env-file {shown}"), "stat it", &e))?;
    if !meta.file_type().is_file() {
        return Err(ToolError::usage(format!(
            "--env-file {shown} is not a regular file (a directory, FIFO, socket or device): give the app's env file"
        ))
        .with("file", &shown));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_ENV_FILE_BYTES) as usize);
    file.take(MAX_ENV_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(&format!("--env-file {shown}"), "read it", &e))?;
    if bytes.len() as u64 > MAX_ENV_FILE_BYTES {
        return Err(ToolError::usage(format!(
            "--env-file {shown} is larger than {} MiB, which no env file is: give the app's env file",
            MAX_ENV_FILE_BYTES >> 20
        ))
        .with("file", &shown));
    }
    Ok(EnvFile {
        bytes,
        owner: meta.uid(),
        mode: meta.mode() & 0o7777,
    })
}

fn libc_flags() -> i32 {
    use nix::fcntl::OFlag;
    (OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits()
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
        let link = dir.join("link.env");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = read(&link).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.message.contains("symbolic link"), "{}", err.message);
        assert_eq!(
            read(&real).unwrap().bytes,
            b"DATABASE_URL=postgresql://h/db\n"
        );
        assert_eq!(read(&dir.join("missing.env")).unwrap_err().exit_code(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pgtruncate-envsrc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
