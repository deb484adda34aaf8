//! svcctl's own D-Bus client: just enough to talk to systemd's manager the way systemctl
//! does. [`wire`] is the message format (zvariant), [`auth`] the socket and the login,
//! this module the connection (serials, replies, the JobRemoved signals that arrive in
//! between), [`manager`] systemd's methods, [`errors`] what its error names mean.

pub mod auth;
pub mod errors;
pub mod manager;
pub mod wire;

use crate::report::{DbusCall, Transport};
use auth::Socket;
pub use auth::SocketError;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use wire::{Call, Message};
use zvariant::DynamicType;

pub const SYSTEMD: &str = "org.freedesktop.systemd1";
pub const SYSTEMD_PATH: &str = "/org/freedesktop/systemd1";
pub const MANAGER: &str = "org.freedesktop.systemd1.Manager";
pub const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// The system manager's private socket, root only.
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus.
pub const SYSTEM_BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// Bound on connecting and logging in: a manager that cannot accept a connection in this
/// time is not going to run a job for us.
pub const CONNECT_BOUND: Duration = Duration::from_secs(5);
/// Bound on one method call's reply, as sd-bus's default method timeout.
pub const CALL_BOUND: Duration = Duration::from_secs(25);

/// Why a call did not give a reply.
#[derive(Debug)]
pub enum BusError {
    /// The manager answered with a D-Bus error.
    Method { name: String, message: String },
    /// The connection failed or the deadline passed.
    Socket(SocketError),
    /// A reply that does not decode or does not fit.
    Protocol(String),
    /// The socket is held by someone other than the manager it should be.
    Impostor(String),
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BusError::Method { name, message } => write!(f, "{name}: {message}"),
            BusError::Socket(e) => write!(f, "{e}"),
            BusError::Protocol(why) | BusError::Impostor(why) => write!(f, "{why}"),
        }
    }
}

impl From<SocketError> for BusError {
    fn from(e: SocketError) -> Self {
        BusError::Socket(e)
    }
}

/// A JobRemoved signal: the job's id, its object path, its unit and its result.
#[derive(Debug, Clone)]
pub struct JobRemoved {
    pub id: u32,
    pub unit: String,
    pub result: String,
}

/// A logged-in connection to a service manager.
pub struct Bus {
    socket: Socket,
    pub transport: Transport,
    /// Whether the peer is a bus daemon (destination and sender names matter) or the
    /// manager itself (peer-to-peer: no names at all).
    via_bus_daemon: bool,
    /// Through a bus daemon: the unique name that owns systemd's name, the only sender
    /// whose JobRemoved counts (anyone may send us a unicast signal).
    manager_name: Option<String>,
    next_serial: u32,
    inbox: Vec<u8>,
    /// Replies read while waiting for other ones, by reply serial.
    replies: HashMap<u32, Message>,
    /// JobRemoved signals seen so far, by job path.
    pub jobs_removed: HashMap<String, JobRemoved>,
    /// Every call made, in order, for the report.
    pub calls: Vec<DbusCall>,
}

/// Where a manager listens and who must be at the other end.
pub struct Endpoint {
    pub transport: Transport,
    pub path: PathBuf,
    /// The uid the peer must have (the manager's), or None for a bus daemon.
    pub peer_uid: Option<u32>,
}

impl Bus {
    /// Connects and logs in by `deadline`; on the system bus also says Hello, asks for
    /// JobRemoved signals and subscribes (the first message goes after the login answer).
    pub fn connect(endpoint: &Endpoint, deadline: Instant) -> Result<Bus, BusError> {
        let mut socket = Socket::connect(&endpoint.path, deadline)?;
        let peer = socket.peer_uid()?;
        if let Some(expected) = endpoint.peer_uid {
            if peer != expected {
                return Err(BusError::Impostor(format!(
                    "{} is held by uid {peer}, not by the service manager (uid {expected}); refusing to talk to it",
                    endpoint.path.display()
                )));
            }
        }
        let uid = nix::unistd::geteuid().as_raw();
        let inbox = socket.login(uid, deadline)?;
        let via_bus_daemon = endpoint.transport == Transport::SystemBus;
        let mut bus = Bus {
            socket,
            transport: endpoint.transport,
            via_bus_daemon,
            manager_name: None,
            next_serial: 1,
            inbox,
            replies: HashMap::new(),
            jobs_removed: HashMap::new(),
            calls: Vec::new(),
        };
        if via_bus_daemon {
            let daemon = |member| Call {
                destination: Some("org.freedesktop.DBus"),
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
                member,
            };
            let rule = format!(
                "type='signal',sender='{SYSTEMD}',path='{SYSTEMD_PATH}',interface='{MANAGER}',member='JobRemoved'"
            );
            let hello = bus.send(&daemon("Hello"), &(), vec![])?;
            let add_match = bus.send(
                &daemon("AddMatch"),
                &(rule.as_str(),),
                vec![rule.clone().into()],
            )?;
            let owner = bus.send(&daemon("GetNameOwner"), &(SYSTEMD,), vec![SYSTEMD.into()])?;
            let subscribe = bus.send(&bus.manager_call("Subscribe"), &(), vec![])?;
            bus.reply(hello, deadline)?;
            bus.reply(add_match, deadline)?;
            let name: String = bus
                .reply(owner, deadline)?
                .body()
                .map_err(BusError::Protocol)?;
            bus.manager_name = Some(name);
            bus.reply(subscribe, deadline)?;
        }
        Ok(bus)
    }

    /// A call to the manager object.
    pub fn manager_call(&self, member: &'static str) -> Call<'static> {
        Call {
            destination: Some(SYSTEMD),
            path: SYSTEMD_PATH,
            interface: MANAGER,
            member,
        }
    }

    /// Queues one call (written at once) and logs it; returns its serial.
    pub fn send<B>(
        &mut self,
        call: &Call,
        body: &B,
        logged_args: Vec<serde_json::Value>,
    ) -> Result<u32, BusError>
    where
        B: Serialize + DynamicType,
    {
        self.send_many(&[(call, body, logged_args)])
            .map(|serials| serials[0])
    }

    /// Writes several calls in one write, so the manager sees them together; returns their
    /// serials in order.
    pub fn send_many<B>(
        &mut self,
        calls: &[(&Call, &B, Vec<serde_json::Value>)],
    ) -> Result<Vec<u32>, BusError>
    where
        B: Serialize + DynamicType,
    {
        let mut bytes = Vec::new();
        let mut serials = Vec::new();
        for (call, body, args) in calls {
            let serial = self.next_serial;
            self.next_serial += 1;
            let destination = if self.via_bus_daemon {
                call.destination
            } else {
                None
            };
            let call = Call {
                destination,
                path: call.path,
                interface: call.interface,
                member: call.member,
            };
            bytes.extend(wire::encode_call(&call, serial, *body).map_err(BusError::Protocol)?);
            serials.push(serial);
            self.calls.push(DbusCall {
                path: call.path.to_string(),
                interface: call.interface.to_string(),
                member: call.member.to_string(),
                args: args.clone(),
            });
        }
        let deadline = Instant::now() + CALL_BOUND;
        self.socket.write_all(&bytes, deadline)?;
        Ok(serials)
    }

    /// Waits for the reply to `serial` by `deadline`, keeping other replies and JobRemoved
    /// signals that arrive first. A D-Bus error reply is [`BusError::Method`].
    pub fn reply(&mut self, serial: u32, deadline: Instant) -> Result<Message, BusError> {
        loop {
            if let Some(message) = self.replies.remove(&serial) {
                if message.kind == wire::ERROR {
                    return Err(BusError::Method {
                        name: message.error_name.clone().unwrap_or_default(),
                        message: message.error_text(),
                    });
                }
                return Ok(message);
            }
            self.read_message(deadline)?;
        }
    }

    /// Reads until the JobRemoved signal of every path in `jobs` has been seen, or the
    /// deadline passes (then the error is a timeout and the signals seen are kept).
    pub fn wait_jobs(&mut self, jobs: &[&str], deadline: Instant) -> Result<(), BusError> {
        while !jobs.iter().all(|j| self.jobs_removed.contains_key(*j)) {
            self.read_message(deadline)?;
        }
        Ok(())
    }

    /// Reads one message and files it: a reply by its serial, a JobRemoved by its job.
    fn read_message(&mut self, deadline: Instant) -> Result<(), BusError> {
        let len = loop {
            if let Some(len) = wire::message_len(&self.inbox).map_err(BusError::Protocol)? {
                if self.inbox.len() >= len {
                    break len;
                }
            }
            self.socket.read_some(&mut self.inbox, deadline)?;
        };
        let rest = self.inbox.split_off(len);
        let bytes = std::mem::replace(&mut self.inbox, rest);
        let message = Message::decode(bytes).map_err(BusError::Protocol)?;
        match message.kind {
            wire::METHOD_RETURN | wire::ERROR => {
                if let Some(serial) = message.reply_serial {
                    self.replies.insert(serial, message);
                }
            }
            wire::SIGNAL if self.is_job_removed(&message) => {
                let (id, path, unit, result): (u32, zvariant::OwnedObjectPath, String, String) =
                    message.body().map_err(BusError::Protocol)?;
                self.jobs_removed
                    .insert(path.as_str().to_string(), JobRemoved { id, unit, result });
            }
            _ => {}
        }
        Ok(())
    }

    /// A JobRemoved from the manager itself: peer-to-peer every message is the manager's;
    /// through a bus daemon the sender must be systemd's well-known or unique name (only
    /// root may own it, by the bus policy), which the daemon stamps and nobody can forge.
    fn is_job_removed(&self, message: &Message) -> bool {
        message.interface.as_deref() == Some(MANAGER)
            && message.member.as_deref() == Some("JobRemoved")
            && message.path.as_deref() == Some(SYSTEMD_PATH)
            && (!self.via_bus_daemon
                || (message.sender.is_some() && message.sender == self.manager_name))
    }
}

/// Where each transport's manager listens, for this caller.
pub fn endpoints(user: bool) -> Vec<Endpoint> {
    let uid = nix::unistd::geteuid().as_raw();
    if user {
        return match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) if Path::new(&dir).is_absolute() => vec![Endpoint {
                transport: Transport::User,
                path: Path::new(&dir).join("systemd/private"),
                peer_uid: Some(uid),
            }],
            _ => vec![],
        };
    }
    let bus = Endpoint {
        transport: Transport::SystemBus,
        path: PathBuf::from(SYSTEM_BUS_SOCKET),
        peer_uid: None,
    };
    if uid == 0 {
        vec![
            Endpoint {
                transport: Transport::Private,
                path: PathBuf::from(PRIVATE_SOCKET),
                peer_uid: Some(0),
            },
            bus,
        ]
    } else {
        vec![bus]
    }
}
