//! Running one sibling tool as a child process, exactly as a shell script would: argv
//! only, never a shell; its stderr passed on line by line as it runs (never left to fill a
//! pipe); its stdout parsed as the tool's one JSON envelope.

use conventions::{ErrorKind, Output, ToolError};
use reports::Envelope;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The tools holdctl runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sibling {
    Envpatch,
    Svcctl,
    Pgtruncate,
}

impl Sibling {
    pub fn name(self) -> &'static str {
        match self {
            Sibling::Envpatch => "envpatch",
            Sibling::Svcctl => "svcctl",
            Sibling::Pgtruncate => "pgtruncate",
        }
    }
}

/// Finds a sibling binary: beside holdctl's own executable (an install or a build dir
/// keeps them together), else on PATH.
pub fn locate(sibling: Sibling) -> Result<PathBuf, ToolError> {
    let name = sibling.name();
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(name)));
    if let Some(path) = beside.filter(|p| is_executable(p)) {
        return Ok(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            ToolError::failed(format!(
                "{name} was found neither beside holdctl nor on PATH: install the holdkit tools together"
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One step to run: which tool, with which arguments and extra environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The step's name in the report (`set_flags`, `stop_api`, ...).
    pub name: &'static str,
    pub tool: Sibling,
    pub args: Vec<String>,
    /// Extra environment (a database URL goes here, never into argv).
    pub env: Vec<(String, String)>,
}

/// A step as it appears in holdctl's report.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub name: &'static str,
    /// The exact argv run, program first: copy it into a script to do the step by hand.
    pub argv: Vec<String>,
    /// The child's exit code; null when it could not be started or died by a signal.
    pub exit_code: Option<i32>,
    pub ok: bool,
    pub changed: bool,
    /// The child's own JSON report, as it printed it.
    pub report: Value,
}

/// What running a step gave: its record, and the error that ends the chain if it failed.
pub struct StepResult {
    pub record: StepRecord,
    pub error: Option<ToolError>,
}

/// Runs one step. `common` are the flags every child gets (`--json=short`, maybe `-q`).
pub fn run_step(step: &Invocation, common: &[&str], out: &Output) -> StepResult {
    let mut argv: Vec<String> = Vec::with_capacity(step.args.len() + 3);
    let program = match locate(step.tool) {
        Ok(path) => path,
        Err(error) => {
            return StepResult {
                record: record(step, vec![step.tool.name().to_string()], None, Value::Null),
                error: Some(error),
            }
        }
    };
    argv.push(program.display().to_string());
    argv.extend(common.iter().map(|s| s.to_string()));
    argv.extend(step.args.iter().cloned());

    let mut cmd = Command::new(&program);
    cmd.args(&argv[1..])
        // holdctl's own copy of a database URL is for pgtruncate's step alone.
        .env_remove(crate::DATABASE_URL_VAR)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let error = ToolError::failed(format!(
                "step {}: cannot start {}: {e}",
                step.name,
                program.display()
            ));
            return StepResult {
                record: record(step, argv, None, Value::Null),
                error: Some(error),
            };
        }
    };
    // Drain stderr on its own thread while stdout is read, so neither pipe can fill up
    // and stall the child.
    let stderr = child.stderr.take().map(|pipe| {
        let out = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                out.pass_through(&line);
            }
        })
    });
    let output = child.wait_with_output();
    if let Some(thread) = stderr {
        let _ = thread.join();
    }
    let output = match output {
        Ok(output) => output,
        Err(e) => {
            let error = ToolError::failed(format!(
                "step {}: waiting for {}: {e}",
                step.name,
                step.tool.name()
            ));
            return StepResult {
                record: record(step, argv, None, Value::Null),
                error: Some(error),
            };
        }
    };
    let code = output.status.code();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = match parse_envelope(&stdout, step.tool) {
        Ok(report) => report,
        Err(why) => {
            let error = ToolError::failed(format!(
                "step {}: {} {why} (exit code {}): run its argv by hand to see what it says",
                step.name,
                step.tool.name(),
                code.map_or("none, killed by a signal".to_string(), |c| c.to_string())
            ));
            return StepResult {
                record: record(step, argv, code, Value::Null),
                error: Some(error),
            };
        }
    };
    let error = judge(step, code, &report);
    StepResult {
        record: record(step, argv, code, report),
        error,
    }
}

fn record(step: &Invocation, argv: Vec<String>, code: Option<i32>, report: Value) -> StepRecord {
    let envelope = envelope_of(&report);
    StepRecord {
        name: step.name,
        argv,
        exit_code: code,
        ok: code == Some(0) && envelope.as_ref().is_some_and(|e| e.ok),
        changed: envelope.as_ref().is_some_and(|e| e.changed),
        report,
    }
}

/// The envelope's own fields, whatever the tool's report beside them.
type AnyEnvelope = Envelope<serde_json::Map<String, Value>>;

fn envelope_of(report: &Value) -> Option<AnyEnvelope> {
    serde_json::from_value(report.clone()).ok()
}

impl StepRecord {
    /// The child's report decoded as its tool's type: a field this holdctl does not know
    /// (a sibling of another version) is an error, never a silent null.
    pub fn decode<R: DeserializeOwned>(&self) -> Result<Envelope<R>, ToolError> {
        serde_json::from_value(self.report.clone()).map_err(|e| {
            ToolError::failed(format!(
                "step {}: the report of {} does not read as this holdctl expects ({e}): install the holdkit tools together, from one version",
                self.name,
                self.argv.first().map_or("the tool", String::as_str)
            ))
        })
    }

    /// Whether the child ran with `--dry-run`.
    pub fn dry_run(&self) -> bool {
        envelope_of(&self.report).is_some_and(|e| e.dry_run)
    }
}

/// stdout must be one JSON object: the envelope of the sibling's own tool.
fn parse_envelope(stdout: &str, tool: Sibling) -> Result<Value, String> {
    let value: Value = serde_json::from_str(stdout.trim())
        .map_err(|_| "printed no valid JSON envelope".to_string())?;
    match envelope_of(&value) {
        Some(e) if e.tool == tool.name() => Ok(value),
        _ => Err("printed JSON that is not its envelope".into()),
    }
}

/// A failed child's error, carried up with the child's own kind (and so its exit code).
fn judge(step: &Invocation, code: Option<i32>, report: &Value) -> Option<ToolError> {
    let envelope = envelope_of(report);
    if code == Some(0) && envelope.as_ref().is_some_and(|e| e.ok) {
        return None;
    }
    let kind = code
        .and_then(ErrorKind::from_exit_code)
        .unwrap_or(ErrorKind::Failed);
    let message = envelope
        .as_ref()
        .and_then(|e| e.error.as_ref())
        .map_or("it reported no error message", |e| e.message.as_str());
    Some(
        ToolError::new(
            kind,
            format!(
                "step {} ({}) failed: {message}",
                step.name,
                step.tool.name()
            ),
        )
        .with("step", step.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn step() -> Invocation {
        Invocation {
            name: "truncate",
            tool: Sibling::Pgtruncate,
            args: vec![],
            env: vec![],
        }
    }

    fn envelope(tool: &str, ok: bool, error: Value) -> Value {
        json!({"tool": tool, "version": "0.1.0", "schema_version": 1, "ok": ok,
               "changed": false, "dry_run": false, "error": error})
    }

    #[test]
    fn a_child_failure_keeps_its_kind() {
        let report = envelope(
            "pgtruncate",
            false,
            json!({"kind": "busy", "message": "locked"}),
        );
        let err = judge(&step(), Some(5), &report).unwrap();
        assert_eq!(err.kind, ErrorKind::Busy);
        assert!(err
            .message
            .contains("step truncate (pgtruncate) failed: locked"));
        let ok = envelope("pgtruncate", true, Value::Null);
        assert!(judge(&step(), Some(0), &ok).is_none());
        // A success code with ok:false is still a failure, and a signal death is "failed".
        let not_ok = envelope("pgtruncate", false, Value::Null);
        assert_eq!(
            judge(&step(), Some(0), &not_ok).unwrap().kind,
            ErrorKind::Failed
        );
        assert_eq!(
            judge(&step(), None, &not_ok).unwrap().kind,
            ErrorKind::Failed
        );
        assert_eq!(
            judge(&step(), Some(0), &json!({"ok": true})).unwrap().kind,
            ErrorKind::Failed,
            "half an envelope is no success"
        );
    }

    #[test]
    fn only_the_siblings_own_envelope_is_accepted() {
        let ok = |tool: &str| envelope(tool, true, Value::Null).to_string();
        assert!(parse_envelope(&ok("pgtruncate"), Sibling::Pgtruncate).is_ok());
        assert!(parse_envelope(&ok("svcctl"), Sibling::Pgtruncate).is_err());
        assert!(parse_envelope(r#"{"tool":"pgtruncate","ok":true}"#, Sibling::Pgtruncate).is_err());
        assert!(parse_envelope("not json", Sibling::Pgtruncate).is_err());
        assert!(parse_envelope("", Sibling::Pgtruncate).is_err());
    }
}
