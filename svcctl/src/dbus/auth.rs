//! The socket: a connect that cannot block past its deadline, the peer's uid, reads and
//! writes with deadlines, and the SASL login in one write, as sd-bus does it.
//!
//! Why one write: systemd reads a client's SASL lines and whatever follows them in one
//! `recvmsg`; bytes that follow `BEGIN` in that read are not looked at until the socket is
//! readable again, so a client that sends `BEGIN` and then its first message can wait for
//! ever. `AUTH EXTERNAL`, `NEGOTIATE_UNIX_FD` and `BEGIN` go out together and the first
//! message only after the server has answered them.

use nix::errno::Errno;
use nix::sys::socket::{
    connect, getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, UnixAddr,
};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a socket operation did not complete.
#[derive(Debug)]
pub enum SocketError {
    /// Nothing listens there (no such socket, connection refused): no manager answers.
    Absent(io::Error),
    /// The deadline passed.
    TimedOut,
    /// Anything else: the peer closed, a read failed, the login was refused.
    Broken(String),
}

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketError::Absent(e) => write!(f, "{e}"),
            SocketError::TimedOut => write!(f, "no answer before the deadline"),
            SocketError::Broken(why) => write!(f, "{why}"),
        }
    }
}

/// A connected stream socket whose every read and write has a deadline.
pub struct Socket {
    stream: UnixStream,
}

impl Socket {
    /// Connects to the socket at `path` by `deadline`. A full listen backlog makes a
    /// blocking connect wait for ever, so the connect is non-blocking and retried.
    pub fn connect(path: &Path, deadline: Instant) -> Result<Socket, SocketError> {
        let addr = UnixAddr::new(path).map_err(|e| SocketError::Absent(e.into()))?;
        let fd = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| SocketError::Broken(format!("cannot create a socket: {e}")))?;
        let mut pause = Duration::from_micros(200);
        loop {
            match connect(fd.as_raw_fd(), &addr) {
                Ok(()) => break,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) | Err(Errno::EINPROGRESS) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(SocketError::TimedOut);
                    }
                    std::thread::sleep(pause.min(deadline - now));
                    pause = (pause * 2).min(Duration::from_millis(20));
                    // EINPROGRESS is not reported by AF_UNIX, but be safe: retrying a
                    // connect in progress yields EISCONN, which means it is done.
                }
                Err(Errno::EISCONN) => break,
                Err(e @ (Errno::ENOENT | Errno::ECONNREFUSED | Errno::ENOTDIR)) => {
                    return Err(SocketError::Absent(e.into()))
                }
                Err(e) => return Err(SocketError::Broken(format!("connect: {e}"))),
            }
        }
        let stream = UnixStream::from(fd);
        stream
            .set_nonblocking(false)
            .map_err(|e| SocketError::Broken(format!("socket mode: {e}")))?;
        Ok(Socket { stream })
    }

    /// The uid of the process at the other end, as the kernel recorded it at connect time.
    pub fn peer_uid(&self) -> Result<u32, SocketError> {
        getsockopt(&self.stream, sockopt::PeerCredentials)
            .map(|c| c.uid())
            .map_err(|e| SocketError::Broken(format!("SO_PEERCRED: {e}")))
    }

    /// Writes all of `bytes` by `deadline`.
    pub fn write_all(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), SocketError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let left = remaining(deadline)?;
            self.stream
                .set_write_timeout(Some(left))
                .map_err(|e| SocketError::Broken(format!("socket timeout: {e}")))?;
            match self.stream.write(rest) {
                Ok(0) => return Err(SocketError::Broken("the peer closed the connection".into())),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(SocketError::TimedOut),
                Err(e) => return Err(SocketError::Broken(format!("write: {e}"))),
            }
        }
        Ok(())
    }

    /// Reads what is there (at least one byte) into `buf`, by `deadline`.
    pub fn read_some(&mut self, buf: &mut Vec<u8>, deadline: Instant) -> Result<(), SocketError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = remaining(deadline)?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| SocketError::Broken(format!("socket timeout: {e}")))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(SocketError::Broken("the peer closed the connection".into())),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => return Err(SocketError::TimedOut),
                Err(e) => return Err(SocketError::Broken(format!("read: {e}"))),
            }
        }
    }

    /// SASL EXTERNAL as `uid`, negotiating fd passing and beginning, all in one write; then
    /// waits for both answers. Returns any bytes read past them (none, from a sane server).
    pub fn login(&mut self, uid: u32, deadline: Instant) -> Result<Vec<u8>, SocketError> {
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hello = format!("\0AUTH EXTERNAL {hex}\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
        self.write_all(hello.as_bytes(), deadline)?;
        let mut buf = Vec::new();
        let mut lines: Vec<String> = Vec::new();
        while lines.len() < 2 {
            match buf.windows(2).position(|w| w == b"\r\n") {
                Some(end) => {
                    let line = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 2);
                    if lines.is_empty() && !line.starts_with("OK ") {
                        return Err(SocketError::Broken(format!(
                            "the bus refused the login: {}",
                            line.escape_debug()
                        )));
                    }
                    lines.push(line);
                }
                None if buf.len() > 4096 => {
                    return Err(SocketError::Broken(
                        "the bus sent an endless login line".into(),
                    ))
                }
                None => self.read_some(&mut buf, deadline)?,
            }
        }
        // AGREE_UNIX_FD or an ERROR for it: either way BEGIN was taken; no fds are used.
        Ok(buf)
    }
}

fn remaining(deadline: Instant) -> Result<Duration, SocketError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(SocketError::TimedOut)
    } else {
        Ok(left)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn the_login_is_one_write_and_a_silent_server_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bus");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut got = vec![0u8; 256];
            let n = peer.read(&mut got).unwrap();
            got.truncate(n);
            // Say nothing: the client must give up on its own.
            std::thread::sleep(Duration::from_millis(300));
            got
        });
        let mut socket = Socket::connect(&path, Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(socket.peer_uid().unwrap(), nix::unistd::geteuid().as_raw());
        let start = Instant::now();
        let result = socket.login(0, Instant::now() + Duration::from_millis(100));
        assert!(matches!(result, Err(SocketError::TimedOut)));
        assert!(start.elapsed() < Duration::from_secs(2));
        let got = server.join().unwrap();
        assert_eq!(got, b"\0AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
    }

    #[test]
    fn no_socket_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        let result = Socket::connect(&dir.path().join("none"), Instant::now());
        assert!(matches!(result, Err(SocketError::Absent(_))));
    }
}
