//! What the manager's D-Bus error names and a broken connection mean: the exit-code kind,
//! and a message that names the thing, the problem and what to do.

use super::{BusError, SocketError};
use crate::report::Transport;
use conventions::{ErrorKind, ToolError};

/// The exit-code kind of a D-Bus error name.
pub fn error_kind(name: &str) -> ErrorKind {
    match name {
        "org.freedesktop.systemd1.NoSuchUnit"
        | "org.freedesktop.systemd1.NoSuchJob"
        | "org.freedesktop.DBus.Error.FileNotFound"
        | "org.freedesktop.DBus.Error.UnknownObject" => ErrorKind::NotFound,
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.systemd1.InteractiveAuthorizationRequired"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => ErrorKind::Permission,
        "org.freedesktop.systemd1.UnitMasked"
        | "org.freedesktop.systemd1.JobTypeNotApplicable"
        | "org.freedesktop.systemd1.OnlyByDependency"
        | "org.freedesktop.systemd1.UnitGenerated"
        | "org.freedesktop.systemd1.UnitLinked"
        | "org.freedesktop.systemd1.UnitBad"
        | "org.freedesktop.DBus.Error.FileExists" => ErrorKind::Refused,
        "org.freedesktop.systemd1.TransactionIsDestructive"
        | "org.freedesktop.systemd1.ShuttingDown" => ErrorKind::Busy,
        // LoadFailed, TransactionJobsConflicting, TransactionOrderIsCyclic, ... and any
        // name not known here.
        _ => ErrorKind::Failed,
    }
}

/// The error for a D-Bus error reply while `doing` something; the bus error name is kept.
pub fn method_error(doing: &str, name: &str, message: &str) -> ToolError {
    let kind = error_kind(name);
    let advice = match kind {
        ErrorKind::Permission => {
            "Access denied by the service manager; run svcctl as root or grant the right through polkit"
        }
        ErrorKind::NotFound => "check the unit name, or pass --if-present",
        ErrorKind::Refused => "the manager will not do this for the unit as it is; see its state",
        ErrorKind::Busy => "the manager is busy (shutting down or another job conflicts); try again later",
        _ => "see `journalctl -u UNIT` and the unit file",
    };
    ToolError::new(kind, format!("{doing}: {name}: {message}; {advice}"))
        .with("bus_error", name)
        .with("bus_message", message)
}

/// The error for a connection that broke or went silent.
pub fn bus_failure(transport: Transport, e: &BusError) -> ToolError {
    let over = match transport {
        Transport::Private => "the manager's private socket",
        Transport::SystemBus => "the system bus",
        Transport::User => "the user manager's socket",
        Transport::Systemctl => "systemctl",
    };
    match e {
        BusError::Method { name, message } => method_error("talking to the service manager", name, message),
        BusError::Socket(SocketError::TimedOut) => ToolError::failed(format!(
            "the service manager did not answer over {over} in time; it may be overloaded or hung (check `systemctl is-system-running`); svcctl gave up rather than wait"
        )),
        e => ToolError::failed(format!(
            "the connection to the service manager over {over} failed: {e}; nothing more was done (check `systemctl is-system-running`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_map_to_the_exit_code_table() {
        assert_eq!(
            error_kind("org.freedesktop.systemd1.NoSuchUnit").exit_code(),
            4
        );
        assert_eq!(
            error_kind("org.freedesktop.DBus.Error.AccessDenied").exit_code(),
            6
        );
        assert_eq!(
            error_kind("org.freedesktop.systemd1.InteractiveAuthorizationRequired").exit_code(),
            6
        );
        assert_eq!(
            error_kind("org.freedesktop.systemd1.UnitMasked").exit_code(),
            3
        );
        assert_eq!(
            error_kind("org.freedesktop.systemd1.LoadFailed").exit_code(),
            1
        );
        let e = method_error(
            "stopping a.service",
            "org.freedesktop.DBus.Error.AccessDenied",
            "Access denied",
        );
        assert!(e.message.contains("Access denied"));
        assert_eq!(e.exit_code(), 6);
    }
}
