//! The archive file, as root may write it: FILE's directory resolved under the symlink
//! trust rule (hostfs) and refused when a user other than root and the caller could
//! write it; a temp file created there exclusively (`O_EXCL | O_NOFOLLOW`, 0600), written
//! through a compressor or not, fsynced, renamed to FILE without replacing anything, and
//! the directory fsynced. Every step works on the directory's descriptor.
//!
//! The temp file is named `.FILE.PID.pgtruncate-partial`: a run killed while writing
//! leaves one, and the next run in that directory removes it (when its process is gone).
//!
//! The archive is written while the application waits on the tables' locks, so the
//! compressor runs in a thread of its own, fed chunks through a bounded channel: reading
//! the COPY from the server and compressing overlap, and memory stays a few chunks
//! whatever the tables' size.

use super::{ArchiveError, Compression};
use conventions::ToolError;
use flate2::write::GzEncoder;
use hostfs::{FileKind, Location};
use nix::errno::Errno;
use sha2::{Digest, Sha256};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// The end of every temp file's name.
const PARTIAL_SUFFIX: &str = ".pgtruncate-partial";

/// Write buffer between the encoder and the file.
const WRITE_BUFFER: usize = 256 * 1024;

/// The text handed to the compressor thread at a time, and how many such chunks may
/// wait for it: the bound on the memory the archive takes.
const CHUNK: usize = 256 * 1024;
const QUEUED_CHUNKS: usize = 4;

/// zlib-rs's level 2 already comes out no larger than `pg_dump -Fc` (zlib's default
/// level), at a fraction of the CPU higher levels take, and that CPU is lock time; its
/// level 1 (zlib-ng's quick strategy) is much larger. Measured in docs/pgtruncate.md.
const GZIP_LEVEL: u32 = 2;
/// zstd's level 1 is far smaller than any gzip level, at the CPU of gzip's fastest.
const ZSTD_LEVEL: i32 = 1;

/// Where the archive goes, checked: the directory held open, FILE absent.
#[derive(Debug)]
pub(crate) struct Destination {
    loc: Location,
    /// FILE as given, for messages and the report.
    pub shown: String,
    pub compression: Compression,
}

impl Destination {
    /// Resolves FILE: its directory must exist, be reached through trusted links only,
    /// and be writable by no one but root and the caller; FILE itself must not exist
    /// (exit 2: archives are never overwritten).
    pub fn resolve(path: &Path) -> Result<Destination, ToolError> {
        let compression = super::compression_of(path, "--archive")?;
        let shown = path.display().to_string();
        let loc = hostfs::resolve(path).map_err(|e| {
            let e: ToolError = e.into();
            ToolError {
                message: format!("--archive: {}", e.message),
                ..e
            }
        })?;
        // FILE itself a symlink (even one pointing nowhere yet) is an existing FILE: the
        // archive is never written through a link.
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if loc.existing.is_some() || is_link {
            return Err(ToolError::usage(format!(
                "--archive {shown} already exists: archives are never overwritten; give a new file name (or move the old archive away); nothing was truncated"
            ))
            .with("file", &shown));
        }
        let euid = nix::unistd::geteuid().as_raw();
        let dir = &loc.dir.meta;
        if dir.writable_by_others_than(euid) {
            return Err(ToolError::refused(format!(
                "--archive {shown}: its directory {} is owned by {} with mode {:04o}, so another user could replace or read the archive: give a directory only root can write (e.g. 0700, root's); nothing was truncated",
                loc.dir.path.display(),
                hostfs::user_name(dir.uid),
                dir.mode
            ))
            .with("file", &shown));
        }
        Ok(Destination {
            loc,
            shown,
            compression,
        })
    }

    /// Refuses (exit 3) when the filesystem clearly cannot hold the archive: less free
    /// space than `at_least` bytes.
    pub fn check_space(&self, at_least: u64, estimate: u64) -> Result<(), ToolError> {
        let free = self.loc.dir.available_bytes().map_err(|e| {
            ToolError::failed(format!(
                "--archive {}: cannot read the free space of {}: {}",
                self.shown,
                self.loc.dir.path.display(),
                e.desc()
            ))
        })?;
        if free < at_least {
            use conventions::human::human_bytes;
            return Err(ToolError::refused(format!(
                "--archive {}: {} has {} free, and the archive of these tables needs at least {} (estimate {}): free space there or give a path on a larger filesystem; nothing was truncated",
                self.shown,
                self.loc.dir.path.display(),
                human_bytes(free),
                human_bytes(at_least),
                human_bytes(estimate)
            ))
            .with("file", &self.shown)
            .with("free_bytes", free)
            .with("bytes_estimate", estimate));
        }
        Ok(())
    }

    fn temp_name(&self) -> OsString {
        let mut name = OsString::from(".");
        name.push(&self.loc.name);
        name.push(format!(".{}{PARTIAL_SUFFIX}", std::process::id()));
        name
    }

    /// Temp files of runs whose process is gone (killed mid-write), the caller's own and
    /// regular: removed. Best effort: one left behind is harmless.
    pub fn remove_stale_temp_files(&self) {
        let euid = nix::unistd::geteuid().as_raw();
        let Ok(names) = self.loc.dir.entries() else {
            return;
        };
        for name in names {
            let Some(pid) = partial_pid(&name) else {
                continue;
            };
            let alive =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) != Err(Errno::ESRCH);
            if alive {
                continue;
            }
            if let Ok(Some(meta)) = self.loc.dir.stat(&name) {
                if meta.kind == FileKind::Regular && meta.uid == euid {
                    let _ = self.loc.dir.unlink(&name);
                }
            }
        }
    }

    /// The temp file, created exclusively and 0600.
    pub fn create(&self) -> Result<ArchiveFile<'_>, ArchiveError> {
        let tmp = self.temp_name();
        let file = self
            .loc
            .dir
            .create_new(&tmp, 0o600)
            .map_err(|e| ArchiveError::Write {
                path: self.loc.dir.entry_path(&tmp),
                doing: "create the temp file of",
                err: io::Error::from(e),
            })?;
        let tee = Tee {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            hasher: Sha256::new(),
            bytes: 0,
        };
        let body = match self.compression {
            Compression::None => Body::Plain(tee),
            Compression::Gzip => Body::Compressed(Compressor::start(Encoder::Gzip(
                GzEncoder::new(tee, flate2::Compression::new(GZIP_LEVEL)),
            ))),
            Compression::Zstd => {
                let zstd =
                    zstd::Encoder::new(tee, ZSTD_LEVEL).map_err(|e| self.error("write", e))?;
                Body::Compressed(Compressor::start(Encoder::Zstd(zstd)))
            }
        };
        Ok(ArchiveFile {
            dest: self,
            tmp,
            body: Some(body),
            content: Sha256::new(),
        })
    }

    /// Removes FILE again (the TRUNCATE after it failed: the rows are still in place).
    pub fn remove(&self) -> Result<(), Errno> {
        self.loc.dir.unlink(&self.loc.name)?;
        self.loc.dir.fsync()
    }

    fn error(&self, doing: &'static str, err: io::Error) -> ArchiveError {
        ArchiveError::Write {
            path: PathBuf::from(&self.shown),
            doing,
            err,
        }
    }
}

/// `.NAME.PID.pgtruncate-partial` → PID.
fn partial_pid(name: &OsStr) -> Option<i32> {
    let text = std::str::from_utf8(name.as_bytes()).ok()?;
    let stem = text.strip_prefix('.')?.strip_suffix(PARTIAL_SUFFIX)?;
    let (_, pid) = stem.rsplit_once('.')?;
    pid.parse().ok().filter(|p| *p > 0)
}

/// The file's bytes, hashed and counted on their way to the disk.
struct Tee {
    file: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

enum Body {
    Plain(Tee),
    Compressed(Compressor),
}

enum Encoder {
    Gzip(GzEncoder<Tee>),
    Zstd(zstd::Encoder<'static, Tee>),
}

impl Encoder {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Encoder::Gzip(g) => g.write_all(bytes),
            Encoder::Zstd(z) => z.write_all(bytes),
        }
    }

    fn finish(self) -> io::Result<Tee> {
        match self {
            Encoder::Gzip(g) => g.finish(),
            Encoder::Zstd(z) => z.finish(),
        }
    }
}

/// The encoder in its thread, and the chunk being filled for it.
struct Compressor {
    chunk: Vec<u8>,
    /// Dropped to tell the thread the text is complete.
    to_thread: Option<SyncSender<Vec<u8>>>,
    /// Chunks the thread is done with, to fill again.
    recycled: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<Tee>>>,
}

impl Compressor {
    fn start(mut encoder: Encoder) -> Compressor {
        let (to_thread, chunks) = mpsc::sync_channel::<Vec<u8>>(QUEUED_CHUNKS);
        let (give_back, recycled) = mpsc::sync_channel::<Vec<u8>>(QUEUED_CHUNKS + 1);
        let thread = std::thread::spawn(move || {
            for chunk in chunks {
                encoder.write_all(&chunk)?;
                let _ = give_back.try_send(chunk);
            }
            encoder.finish()
        });
        Compressor {
            chunk: Vec::with_capacity(CHUNK),
            to_thread: Some(to_thread),
            recycled,
            thread: Some(thread),
        }
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = (CHUNK - self.chunk.len()).min(bytes.len());
            self.chunk.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.chunk.len() == CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    fn send(&mut self) -> io::Result<()> {
        let next = match self.recycled.try_recv() {
            Ok(mut c) => {
                c.clear();
                c
            }
            Err(_) => Vec::with_capacity(CHUNK),
        };
        let full = std::mem::replace(&mut self.chunk, next);
        let sent = match &self.to_thread {
            Some(tx) => tx.send(full).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The thread stopped at an error (a full disk): its result says which.
        match self.stop() {
            Err(e) => Err(e),
            Ok(_) => Err(io::Error::other("the compressor stopped early")),
        }
    }

    /// The rest of the text compressed and the stream ended: the file underneath.
    fn finish(mut self) -> io::Result<Tee> {
        if !self.chunk.is_empty() {
            self.send()?;
        }
        self.stop()
    }

    fn stop(&mut self) -> io::Result<Tee> {
        drop(self.to_thread.take());
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the compressor thread panicked"))),
            None => Err(io::Error::other("the compressor stopped early")),
        }
    }
}

impl Drop for Compressor {
    /// Not finished (the copy failed): the thread ends before the temp file is removed.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

/// The archive being written. Dropped before [`ArchiveFile::persist`], it removes its
/// temp file.
pub(crate) struct ArchiveFile<'d> {
    dest: &'d Destination,
    tmp: OsString,
    body: Option<Body>,
    /// The archive's text (before compression), for the trailer's checksum.
    content: Sha256,
}

/// FILE once renamed into place: its size and digest as stored.
#[derive(Debug, Clone)]
pub(crate) struct Persisted {
    pub bytes: u64,
    pub sha256: String,
}

impl ArchiveFile<'_> {
    fn write_body(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.body.as_mut().expect("written after persist") {
            Body::Plain(t) => t.write_all(bytes),
            Body::Compressed(c) => c.write_all(bytes),
        }
    }

    /// Text the trailer's checksum covers.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.content.update(bytes);
        let result = self.write_body(bytes);
        result.map_err(|e| self.dest.error("write", e))
    }

    /// The checksum of everything written so far.
    pub fn content_sha256(&self) -> String {
        super::format::hex(&self.content.clone().finalize())
    }

    /// Writes the trailer, syncs the file, renames it to FILE (never over an existing
    /// one) and syncs the directory: from then on FILE is complete and durable.
    pub fn persist(mut self, trailer: &str) -> Result<Persisted, ArchiveError> {
        let dest = self.dest;
        let body = self.write_body(trailer.as_bytes());
        body.map_err(|e| dest.error("write", e))?;
        let tee = match self.body.take().expect("persisted once") {
            Body::Plain(t) => t,
            Body::Compressed(c) => c.finish().map_err(|e| dest.error("write", e))?,
        };
        let Tee {
            file,
            hasher,
            bytes,
        } = tee;
        let file = file
            .into_inner()
            .map_err(|e| dest.error("write", e.into_error()))?;
        file.sync_all().map_err(|e| dest.error("sync", e))?;
        drop(file);
        match dest.loc.dir.rename_noreplace(&self.tmp, &dest.loc.name) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                return Err(ArchiveError::Exists {
                    path: PathBuf::from(&dest.shown),
                })
            }
            Err(e) => return Err(dest.error("rename into place", io::Error::from(e))),
        }
        // Renamed: nothing is left for Drop to remove.
        self.tmp.clear();
        if let Err(e) = dest.loc.dir.fsync() {
            let _ = dest.remove();
            return Err(dest.error("sync the directory of", io::Error::from(e)));
        }
        Ok(Persisted {
            bytes,
            sha256: super::format::hex(&hasher.finalize()),
        })
    }
}

impl Drop for ArchiveFile<'_> {
    fn drop(&mut self) {
        if !self.tmp.is_empty() {
            let _ = self.dest.loc.dir.unlink(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_give_back_their_pid() {
        assert_eq!(
            partial_pid(OsStr::new(".a.sql.gz.4121.pgtruncate-partial")),
            Some(4121)
        );
        assert_eq!(partial_pid(OsStr::new("a.sql.gz")), None);
        assert_eq!(partial_pid(OsStr::new(".x.0.pgtruncate-partial")), None);
        assert_eq!(partial_pid(OsStr::new(".x.y.pgtruncate-partial")), None);
    }
}
