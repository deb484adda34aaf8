//! systemd's manager over D-Bus: unit state from `Properties.GetAll`, jobs from
//! `StartUnit`/`StopUnit`/`RestartUnit` and their `JobRemoved`, unit files from the
//! `*UnitFiles` methods and `Reload`; and what the manager's error names mean.

pub use super::errors::{bus_failure, method_error};
use super::{Bus, BusError, SocketError, CALL_BOUND, PROPERTIES};
use crate::report::{DbusCall, Job, JobResult, Transport, UnitFileChange, UnitState};
use crate::systemctl::{Manager, Systemctl};
use crate::unit_name::UnitName;
use crate::verbs::Step as _;
use crate::verbs::{Action, Driver, StepDone, StepFailed};
use conventions::ToolError;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use zvariant::{OwnedObjectPath, Signature, Type, Value};

/// The properties svcctl reads from a unit or a job.
const WANTED: [&str; 15] = [
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "Result",
    "UnitFileState",
    "MainPID",
    "EnvironmentFiles",
    "Type",
    "RemainAfterExit",
    "Job",
    "InvocationID",
    "JobType",
    "State",
    "Unit",
];

/// The wanted properties of a GetAll reply (`a{sv}`); the other values, a few hundred for a
/// service, are skipped without being built.
pub struct Properties<'a>(HashMap<&'a str, Value<'a>>);

impl<'de> Deserialize<'de> for Properties<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Wanted;
        impl<'de> Visitor<'de> for Wanted {
            type Value = Properties<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a dictionary of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut wanted = HashMap::new();
                while let Some(key) = map.next_key::<&str>()? {
                    if WANTED.contains(&key) {
                        wanted.insert(key, map.next_value::<Value>()?);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Properties(wanted))
            }
        }
        deserializer.deserialize_map(Wanted)
    }
}

impl Type for Properties<'_> {
    const SIGNATURE: &'static Signature = <HashMap<&str, Value> as Type>::SIGNATURE;
}

/// The manager reached over D-Bus. `log` only builds and records the systemctl argv an
/// operator would type for the same effect; it never runs anything.
pub struct DbusDriver {
    bus: Bus,
    log: Systemctl,
    changes: Vec<UnitFileChange>,
}

/// A unit's object path, as systemd derives it from the name (sd-bus's label escaping:
/// every byte but `[A-Za-z0-9]`, and a leading digit, becomes `_` and two hex digits).
pub fn unit_path(unit: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    for (i, b) in unit.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (b.is_ascii_digit() && i > 0) {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

impl DbusDriver {
    pub fn new(bus: Bus) -> DbusDriver {
        let manager = match bus.transport {
            Transport::User => Manager::User,
            _ => Manager::System,
        };
        DbusDriver {
            bus,
            log: Systemctl::new(manager),
            changes: Vec::new(),
        }
    }

    /// The calls a step makes, with the arguments as the report shows them.
    fn calls_for(
        action: Action,
        units: &[&UnitName],
    ) -> Vec<(String, &'static str, Vec<serde_json::Value>)> {
        let names: Vec<serde_json::Value> = units.iter().map(|u| u.as_str().into()).collect();
        let manager = super::SYSTEMD_PATH.to_string();
        match action {
            Action::Start | Action::Stop | Action::Restart => units
                .iter()
                .map(|u| {
                    (
                        manager.clone(),
                        job_method(action),
                        vec![u.as_str().into(), "replace".into()],
                    )
                })
                .collect(),
            Action::Enable | Action::Mask => vec![
                (
                    manager.clone(),
                    file_method(action),
                    vec![names.into(), false.into(), false.into()],
                ),
                (manager, "Reload", vec![]),
            ],
            Action::Disable | Action::Unmask => vec![
                (
                    manager.clone(),
                    file_method(action),
                    vec![names.into(), false.into()],
                ),
                (manager, "Reload", vec![]),
            ],
        }
    }

    /// Queues one job per unit and waits for all their JobRemoved signals.
    fn run_jobs(
        &mut self,
        action: Action,
        units: &[UnitName],
        which: &[usize],
        timeout: Duration,
    ) -> Result<StepDone, StepFailed> {
        let call = self.bus.manager_call(job_method(action));
        let bodies: Vec<(&str, &str)> = which
            .iter()
            .map(|&i| (units[i].as_str(), "replace"))
            .collect();
        let batch: Vec<_> = bodies
            .iter()
            .map(|b| (&call, b, vec![b.0.into(), "replace".into()]))
            .collect();
        let serials = self.bus.send_many(&batch).map_err(|e| self.broken(e))?;
        let reply_deadline = Instant::now() + CALL_BOUND;
        let mut jobs: Vec<(usize, String)> = Vec::new();
        let mut refused: Option<ToolError> = None;
        for (&i, serial) in which.iter().zip(serials) {
            match self.bus.reply(serial, reply_deadline) {
                Ok(reply) => {
                    let path: OwnedObjectPath = reply
                        .body()
                        .map_err(|e| self.broken(BusError::Protocol(e)))?;
                    jobs.push((i, path.as_str().to_string()));
                }
                Err(BusError::Method { name, message }) => {
                    let doing = format!("{} {}", action.doing(), units[i]);
                    refused.get_or_insert(
                        method_error(&doing, &name, &message).with("units", [units[i].as_str()]),
                    );
                }
                Err(e) => return Err(self.broken(e)),
            }
        }
        let deadline = Instant::now() + timeout;
        let paths: Vec<&str> = jobs.iter().map(|(_, p)| p.as_str()).collect();
        let waited = self.bus.wait_jobs(&paths, deadline);
        if let Some(e) = refused {
            return Err(StepFailed::Error(e));
        }
        match waited {
            Ok(()) => {}
            Err(BusError::Socket(SocketError::TimedOut)) => {
                return Err(self.timed_out(units, &jobs))
            }
            Err(e) => return Err(self.broken(e)),
        }
        let job_results = jobs
            .iter()
            .map(|(i, path)| (*i, JobResult::parse(&self.bus.jobs_removed[path].result)))
            .collect();
        let ours: Vec<&str> = jobs.iter().map(|(_, p)| p.as_str()).collect();
        let mut other_failures: Vec<(String, JobResult)> = self
            .bus
            .jobs_removed
            .iter()
            .filter(|(path, _)| !ours.contains(&path.as_str()))
            .map(|(_, job)| (job.unit.clone(), JobResult::parse(&job.result)))
            .filter(|(_, result)| !result.succeeded())
            .collect();
        other_failures.sort_by(|a, b| a.0.cmp(&b.0));
        self.bus.jobs_removed.clear();
        Ok(StepDone {
            after: None,
            job_results,
            other_failures,
        })
    }

    /// The state and the still-queued jobs once `--timeout` has passed.
    fn timed_out(&mut self, units: &[UnitName], jobs: &[(usize, String)]) -> StepFailed {
        let pending: Vec<&(usize, String)> = jobs
            .iter()
            .filter(|(_, path)| !self.bus.jobs_removed.contains_key(path))
            .collect();
        let names: Vec<&UnitName> = pending.iter().map(|(i, _)| &units[*i]).collect();
        let argv = self.log.argv(&["list-jobs"], &names);
        self.log.record(&argv);
        let call = super::wire::Call {
            destination: Some(super::SYSTEMD),
            path: "",
            interface: PROPERTIES,
            member: "GetAll",
        };
        let calls: Vec<super::wire::Call> = pending
            .iter()
            .map(|(_, path)| super::wire::Call { path, ..call })
            .collect();
        let body = ("org.freedesktop.systemd1.Job",);
        let batch: Vec<_> = calls
            .iter()
            .map(|c| (c, &body, vec![body.0.into()]))
            .collect();
        let mut found: Vec<(usize, Option<Job>)> = Vec::new();
        let serials = self.bus.send_many(&batch).unwrap_or_default();
        let deadline = Instant::now() + CALL_BOUND;
        for (k, (i, path)) in pending.iter().enumerate() {
            let job = serials
                .get(k)
                .and_then(|&s| self.bus.reply(s, deadline).ok())
                .and_then(|reply| {
                    reply
                        .body::<Properties>()
                        .ok()
                        .map(|p| job_from(&p, path, &units[*i]))
                });
            let job = job.or_else(|| {
                Some(Job {
                    id: job_id(path),
                    unit: units[*i].to_string(),
                    job_type: "unknown".into(),
                    state: "unknown".into(),
                    path: Some(path.clone()),
                })
            });
            found.push((*i, job));
        }
        match self.read_states(units) {
            Ok(after) => StepFailed::TimedOut {
                after,
                pending: found,
            },
            Err(e) => StepFailed::Error(e),
        }
    }

    /// A unit-file method for all units, then Reload, as systemctl does.
    fn run_unit_files(
        &mut self,
        action: Action,
        units: &[UnitName],
        which: &[usize],
    ) -> Result<StepDone, StepFailed> {
        let names: Vec<&str> = which.iter().map(|&i| units[i].as_str()).collect();
        let logged: Vec<serde_json::Value> = names.iter().map(|&n| n.into()).collect();
        let call = self.bus.manager_call(file_method(action));
        let deadline = Instant::now() + CALL_BOUND;
        let result = match action {
            Action::Enable | Action::Mask => {
                let args = vec![logged.clone().into(), false.into(), false.into()];
                self.bus
                    .send(&call, &(names.as_slice(), false, false), args)
            }
            _ => {
                let args = vec![logged.clone().into(), false.into()];
                self.bus.send(&call, &(names.as_slice(), false), args)
            }
        }
        .and_then(|serial| self.bus.reply(serial, deadline));
        let doing = format!("{} {}", action.doing(), names.join(", "));
        let reply = match result {
            Ok(reply) => reply,
            Err(BusError::Method { name, message }) => {
                return Err(StepFailed::Error(
                    method_error(&doing, &name, &message).with("units", &names),
                ))
            }
            Err(e) => return Err(self.broken(e)),
        };
        let changes: Vec<(String, String, String)> = if action == Action::Enable {
            reply
                .body::<(bool, Vec<(String, String, String)>)>()
                .map(|(_, c)| c)
        } else {
            reply.body::<Vec<(String, String, String)>>()
        }
        .map_err(|e| self.broken(BusError::Protocol(e)))?;
        self.changes
            .extend(
                changes
                    .into_iter()
                    .map(|(change_type, path, source)| UnitFileChange {
                        change_type,
                        path,
                        source,
                    }),
            );
        let reload = self.bus.manager_call("Reload");
        let serial = self
            .bus
            .send(&reload, &(), vec![])
            .map_err(|e| self.broken(e))?;
        match self.bus.reply(serial, Instant::now() + CALL_BOUND) {
            Ok(_) => Ok(StepDone {
                after: None,
                job_results: vec![],
                other_failures: vec![],
            }),
            Err(BusError::Method { name, message }) => Err(StepFailed::Error(method_error(
                &format!("reloading the manager after {doing}"),
                &name,
                &message,
            ))),
            Err(e) => Err(self.broken(e)),
        }
    }

    fn broken(&self, e: BusError) -> StepFailed {
        StepFailed::Error(bus_failure(self.bus.transport, &e))
    }
}

impl Driver for DbusDriver {
    fn transport(&self) -> Transport {
        self.bus.transport
    }

    /// One `GetAll` of every interface per unit, all written at once.
    fn read_states(&mut self, units: &[UnitName]) -> Result<Vec<UnitState>, ToolError> {
        let argv = self.log.show_argv(units);
        self.log.record(&argv);
        let paths: Vec<String> = units.iter().map(|u| unit_path(u.as_str())).collect();
        let calls: Vec<super::wire::Call> = paths
            .iter()
            .map(|path| super::wire::Call {
                destination: Some(super::SYSTEMD),
                path,
                interface: PROPERTIES,
                member: "GetAll",
            })
            .collect();
        let body = ("",);
        let batch: Vec<_> = calls.iter().map(|c| (c, &body, vec!["".into()])).collect();
        let transport = self.bus.transport;
        let serials = self
            .bus
            .send_many(&batch)
            .map_err(|e| bus_failure(transport, &e))?;
        let deadline = Instant::now() + CALL_BOUND;
        let mut states = Vec::new();
        for (unit, serial) in units.iter().zip(serials) {
            let reply = self.bus.reply(serial, deadline).map_err(|e| match e {
                BusError::Method { name, message } => {
                    method_error(&format!("reading the state of {unit}"), &name, &message)
                }
                e => bus_failure(transport, &e),
            })?;
            let properties: Properties = reply
                .body()
                .map_err(|e| bus_failure(transport, &BusError::Protocol(e)))?;
            states.push(state_from(&properties));
        }
        Ok(states)
    }

    fn run_step(
        &mut self,
        action: Action,
        units: &[UnitName],
        which: &[usize],
        timeout: Duration,
    ) -> Result<StepDone, StepFailed> {
        let names: Vec<&UnitName> = which.iter().map(|&i| &units[i]).collect();
        let argv = self.step_argv(action, &names);
        self.log.record(&argv);
        if action.queues_job() {
            self.run_jobs(action, units, which, timeout)
        } else {
            self.run_unit_files(action, units, which)
        }
    }

    fn step_argv(&self, action: Action, units: &[&UnitName]) -> Vec<String> {
        self.log.argv(action.blocking_args(), units)
    }

    fn step_calls(&self, action: Action, units: &[&UnitName]) -> Vec<DbusCall> {
        DbusDriver::calls_for(action, units)
            .into_iter()
            .map(|(path, member, args)| DbusCall {
                path,
                interface: super::MANAGER.into(),
                member: member.into(),
                args,
            })
            .collect()
    }

    fn commands(&self) -> Vec<Vec<String>> {
        self.log.command_log().to_vec()
    }

    fn dbus_calls(&self) -> Vec<DbusCall> {
        self.bus.calls.clone()
    }

    fn changes(&self) -> Vec<UnitFileChange> {
        self.changes.clone()
    }
}

fn job_method(action: Action) -> &'static str {
    match action {
        Action::Start => "StartUnit",
        Action::Stop => "StopUnit",
        _ => "RestartUnit",
    }
}

fn file_method(action: Action) -> &'static str {
    match action {
        Action::Enable => "EnableUnitFiles",
        Action::Disable => "DisableUnitFiles",
        Action::Mask => "MaskUnitFiles",
        _ => "UnmaskUnitFiles",
    }
}

/// `/org/freedesktop/systemd1/job/42` → 42.
fn job_id(path: &str) -> u32 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn job_from(properties: &Properties, path: &str, unit: &UnitName) -> Job {
    let properties = &properties.0;
    Job {
        id: match properties.get("Id") {
            Some(Value::U32(id)) => *id,
            _ => job_id(path),
        },
        unit: unit.to_string(),
        job_type: text(properties, "JobType").unwrap_or_else(|| "unknown".into()),
        state: text(properties, "State").unwrap_or_else(|| "unknown".into()),
        path: Some(path.to_string()),
    }
}

fn text(properties: &HashMap<&str, Value>, key: &str) -> Option<String> {
    match properties.get(key) {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// A unit's state from the properties of all its interfaces.
pub fn state_from(properties: &Properties) -> UnitState {
    let properties = &properties.0;
    let environment_files = match properties.get("EnvironmentFiles") {
        Some(Value::Array(files)) => files
            .inner()
            .iter()
            .filter_map(|entry| match entry {
                Value::Structure(s) => match s.fields().first() {
                    Some(Value::Str(path)) => Some(path.as_str().to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => vec![],
    };
    let job = match properties.get("Job") {
        Some(Value::Structure(s)) => match s.fields().first() {
            Some(Value::U32(id)) if *id != 0 => Some(*id),
            _ => None,
        },
        _ => None,
    };
    let invocation_id = match properties.get("InvocationID") {
        Some(Value::Array(bytes)) if !bytes.is_empty() => Some(
            bytes
                .inner()
                .iter()
                .map(|b| match b {
                    Value::U8(b) => format!("{b:02x}"),
                    _ => String::new(),
                })
                .collect(),
        ),
        _ => None,
    };
    UnitState {
        load: text(properties, "LoadState").unwrap_or_else(|| "unknown".into()),
        active: text(properties, "ActiveState").unwrap_or_else(|| "unknown".into()),
        sub: text(properties, "SubState").unwrap_or_else(|| "unknown".into()),
        result: text(properties, "Result"),
        enabled: text(properties, "UnitFileState"),
        main_pid: match properties.get("MainPID") {
            Some(Value::U32(pid)) => *pid,
            _ => 0,
        },
        environment_files,
        service_type: text(properties, "Type"),
        remain_after_exit: matches!(properties.get("RemainAfterExit"), Some(Value::Bool(true))),
        job,
        invocation_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_paths_escape_as_sd_bus_does() {
        assert_eq!(
            unit_path("cornice.service"),
            "/org/freedesktop/systemd1/unit/cornice_2eservice"
        );
        assert_eq!(
            unit_path("worker@one.service"),
            "/org/freedesktop/systemd1/unit/worker_40one_2eservice"
        );
        assert_eq!(
            unit_path("1a-b.service"),
            "/org/freedesktop/systemd1/unit/_31a_2db_2eservice"
        );
    }

    #[test]
    fn a_get_all_reply_reads_into_the_state_and_skips_the_rest() {
        use std::collections::HashMap;
        use zvariant::ObjectPath;
        let job_path = ObjectPath::try_from("/org/freedesktop/systemd1/job/7").unwrap();
        let mut props: HashMap<&str, Value> = HashMap::new();
        props.insert("LoadState", "loaded".into());
        props.insert("ActiveState", "deactivating".into());
        props.insert("SubState", "stop-sigterm".into());
        props.insert("Result", "success".into());
        props.insert("UnitFileState", "enabled".into());
        props.insert("MainPID", 412u32.into());
        props.insert("Type", "simple".into());
        props.insert("RemainAfterExit", false.into());
        props.insert(
            "EnvironmentFiles",
            Value::from(vec![("/etc/cornice/env", true), ("/srv/x.env", false)]),
        );
        props.insert("Job", Value::from((7u32, job_path)));
        props.insert("InvocationID", Value::from(vec![0xabu8, 0x01]));
        // Not read: skipped whatever its type.
        props.insert(
            "ExecStart",
            Value::from(vec![("/bin/sleep", vec!["sleep", "300"], false)]),
        );
        let call = super::super::wire::Call {
            destination: None,
            path: "/x",
            interface: "i.x",
            member: "m",
        };
        let bytes = super::super::wire::encode_call(&call, 1, &(props,)).unwrap();
        let message = super::super::wire::Message::decode(bytes).unwrap();
        let properties: Properties = message.body().unwrap();
        assert!(!properties.0.contains_key("ExecStart"));
        let state = state_from(&properties);
        assert_eq!(state.active, "deactivating");
        assert_eq!(state.main_pid, 412);
        assert_eq!(state.environment_files, ["/etc/cornice/env", "/srv/x.env"]);
        assert_eq!(state.job, Some(7));
        assert_eq!(state.invocation_id.as_deref(), Some("ab01"));
        assert_eq!(state.enabled.as_deref(), Some("enabled"));
        assert!(!state.remain_after_exit);
    }

    #[test]
    fn job_ids_come_from_the_path() {
        assert_eq!(job_id("/org/freedesktop/systemd1/job/42"), 42);
        assert_eq!(job_id("/x"), 0);
    }
}
