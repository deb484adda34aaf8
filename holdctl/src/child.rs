//! Running one sibling tool as a child process, exactly as a shell script would: argv
//! only, never a shell; its stderr passed on line by line as it runs (never left to fill a
//! pipe); its stdout parsed as the tool's one JSON envelope and decoded, once, into the
//! tool's report type.

use conventions::{ErrorKind, Output, ToolError};
use reports::holdctl::StepName;
use reports::Envelope;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The environment variable holdctl takes the database URL from, so that it is never in
/// any argv (`--database-url` is moved there before anything else happens). Children
/// never inherit it: pgtruncate's step gets the URL as its own `DATABASE_URL`.
pub const DATABASE_URL_VAR: &str = "HOLDCTL_DATABASE_URL";

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
    /// The step's name in the report.
    pub name: StepName,
    pub tool: Sibling,
    pub args: Vec<String>,
    /// Extra environment (a database URL goes here, never into argv).
    pub env: Vec<(String, String)>,
    /// Changes nothing (a read, or a `--dry-run`): may run at once with others.
    pub read_only: bool,
}

/// A child's report, decoded into its tool's type where it was received.
#[derive(Debug, Clone, PartialEq)]
pub enum ChildReport {
    Envpatch(Box<reports::envpatch::Report>),
    Svcctl(Box<reports::svcctl::Report>),
    Pgtruncate(Box<reports::pgtruncate::Report>),
}

/// A step as it appears in holdctl's report.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub name: StepName,
    /// The exact argv run, program first: copy it into a script to do the step by hand.
    pub argv: Vec<String>,
    /// The child's exit code; null when it could not be started or died by a signal.
    pub exit_code: Option<i32>,
    pub ok: bool,
    pub changed: bool,
    /// Whether the child ran with `--dry-run`.
    pub dry_run: bool,
    /// The child's own JSON report, as it printed it.
    pub report: Value,
    /// The same, decoded; `None` when it printed none (or only the envelope).
    pub child: Option<ChildReport>,
}

/// What running a step gave: its record, and the error that ends the chain if it failed.
pub struct StepResult {
    pub record: StepRecord,
    pub error: Option<ToolError>,
}

/// Runs one step. `common` are the flags every child gets (`--json=short`, maybe `-q`).
pub fn run_step(step: &Invocation, common: &[&str], out: &Output) -> StepResult {
    match start(step, common, out, false) {
        Ok(running) => finish(step, running),
        Err(failed) => *failed,
    }
}

/// A step's child, started and not yet waited for.
pub struct Running {
    argv: Vec<String>,
    child: std::process::Child,
    stderr: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Writes `lock` to a child started with `--go-on-stdin`: it locks and runs its
    /// statement, and waits for `go` to commit. A child that has already ended is not an
    /// error here, its report says why.
    pub fn lock(&mut self) {
        use std::io::Write;
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = stdin.write_all(b"lock\n");
        }
    }

    /// Writes `go` to a child started with `--go-on-stdin` and ends its input; a child
    /// that has already ended (it had nothing to lock) is not an error here, its report
    /// says what it did.
    pub fn go(&mut self) {
        use std::io::Write;
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"go\n");
        }
    }

    /// Ends a child whose result is no longer wanted (a dry run started ahead that the
    /// plan did not need): killed, waited for, its output dropped.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        self.reap();
    }

    /// Ends the input of a child started with `--go-on-stdin` without `go`, so it exits
    /// with nothing locked or touched, and waits for it.
    pub fn cancel(mut self) {
        drop(self.child.stdin.take());
        self.reap();
    }

    /// Waits for the child and its stderr, its report unread.
    fn reap(mut self) {
        let _ = self.child.wait();
        if let Some(thread) = self.stderr.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a step's child; `piped_stdin` gives it an input to be told `go` on
/// ([`Running::go`]). A child that cannot be started is the step's result.
pub fn start(
    step: &Invocation,
    common: &[&str],
    out: &Output,
    piped_stdin: bool,
) -> Result<Running, Box<StepResult>> {
    let mut argv: Vec<String> = Vec::with_capacity(step.args.len() + 3);
    let program = match locate(step.tool) {
        Ok(path) => path,
        Err(error) => {
            return Err(Box::new(StepResult {
                record: record(
                    step,
                    vec![step.tool.name().to_string()],
                    None,
                    Value::Null,
                    None,
                ),
                error: Some(error),
            }))
        }
    };
    argv.push(program.display().to_string());
    argv.extend(common.iter().map(|s| s.to_string()));
    argv.extend(step.args.iter().cloned());

    let mut cmd = Command::new(&program);
    cmd.args(&argv[1..])
        // holdctl's own copy of a database URL is for pgtruncate's step alone.
        .env_remove(DATABASE_URL_VAR)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        .stdin(if piped_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
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
            return Err(Box::new(StepResult {
                record: record(step, argv, None, Value::Null, None),
                error: Some(error),
            }));
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
    Ok(Running {
        argv,
        child,
        stderr,
    })
}

/// Waits for a started step's child and decodes its report (a child waiting for `go`
/// and not told it sees its input end).
pub fn finish(step: &Invocation, running: Running) -> StepResult {
    let Running {
        argv,
        child,
        stderr,
    } = running;
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
                record: record(step, argv, None, Value::Null, None),
                error: Some(error),
            };
        }
    };
    let code = output.status.code();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed = parse_envelope(&stdout, step.tool);
    let (report, envelope) = match parsed {
        Ok(parsed) => parsed,
        Err(why) => {
            let error = ToolError::failed(format!(
                "step {}: {} {why} (exit code {}): run its argv by hand to see what it says",
                step.name,
                step.tool.name(),
                code.map_or("none, killed by a signal".to_string(), |c| c.to_string())
            ));
            return StepResult {
                record: record(step, argv, code, Value::Null, None),
                error: Some(error),
            };
        }
    };
    let error = judge(step, code, &envelope);
    StepResult {
        record: record(step, argv, code, report, Some(envelope)),
        error,
    }
}

fn record(
    step: &Invocation,
    argv: Vec<String>,
    code: Option<i32>,
    report: Value,
    envelope: Option<Envelope<ChildReport>>,
) -> StepRecord {
    let (ok, changed, dry_run, child) = match envelope {
        Some(e) => (e.ok, e.changed, e.dry_run, e.report),
        None => (false, false, false, None),
    };
    StepRecord {
        name: step.name,
        argv,
        exit_code: code,
        ok: code == Some(0) && ok,
        changed,
        dry_run,
        report,
        child,
    }
}

/// The envelope decoded with the report type of the tool that printed it.
fn decode(tool: Sibling, value: &Value) -> Result<Envelope<ChildReport>, serde_json::Error> {
    fn typed<R: DeserializeOwned>(
        value: &Value,
        wrap: fn(Box<R>) -> ChildReport,
    ) -> Result<Envelope<ChildReport>, serde_json::Error> {
        let e: Envelope<R> = serde_json::from_value(value.clone())?;
        Ok(Envelope {
            tool: e.tool,
            version: e.version,
            schema_version: e.schema_version,
            ok: e.ok,
            changed: e.changed,
            dry_run: e.dry_run,
            error: e.error,
            report: e.report.map(|r| wrap(Box::new(r))),
        })
    }
    match tool {
        Sibling::Envpatch => typed(value, ChildReport::Envpatch),
        Sibling::Svcctl => typed(value, ChildReport::Svcctl),
        Sibling::Pgtruncate => typed(value, ChildReport::Pgtruncate),
    }
}

impl StepRecord {
    pub fn envpatch(&self) -> Option<&reports::envpatch::Report> {
        match &self.child {
            Some(ChildReport::Envpatch(r)) => Some(r),
            _ => None,
        }
    }

    pub fn svcctl(&self) -> Option<&reports::svcctl::Report> {
        match &self.child {
            Some(ChildReport::Svcctl(r)) => Some(r),
            _ => None,
        }
    }

    pub fn pgtruncate(&self) -> Option<&reports::pgtruncate::Report> {
        match &self.child {
            Some(ChildReport::Pgtruncate(r)) => Some(r),
            _ => None,
        }
    }

    /// The step as holdctl's report shows it.
    pub fn to_step(&self) -> reports::holdctl::Step {
        reports::holdctl::Step {
            name: self.name,
            argv: self.argv.clone(),
            exit_code: self.exit_code,
            ok: self.ok,
            changed: self.changed,
            report: self.report.clone(),
        }
    }
}

/// stdout must be one JSON object: the envelope of the sibling's own tool, with a report
/// its type reads. Both are kept: the value as printed, for holdctl's report, and the
/// decoded envelope, for holdctl itself.
fn parse_envelope(stdout: &str, tool: Sibling) -> Result<(Value, Envelope<ChildReport>), String> {
    let value: Value = serde_json::from_str(stdout.trim())
        .map_err(|_| "printed no valid JSON envelope".to_string())?;
    if value.get("tool").and_then(Value::as_str) != Some(tool.name()) {
        return Err("printed JSON that is not its envelope".into());
    }
    let envelope = decode(tool, &value).map_err(|e| {
        format!("printed a report this holdctl does not read ({e}); install the holdkit tools together, from one version,")
    })?;
    Ok((value, envelope))
}

/// A failed child's error, carried up with the child's own kind (and so its exit code).
fn judge(
    step: &Invocation,
    code: Option<i32>,
    envelope: &Envelope<ChildReport>,
) -> Option<ToolError> {
    if code == Some(0) && envelope.ok {
        return None;
    }
    let kind = code
        .and_then(ErrorKind::from_exit_code)
        .unwrap_or(ErrorKind::Failed);
    let message = envelope
        .error
        .as_ref()
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
            name: StepName::Truncate,
            tool: Sibling::Pgtruncate,
            args: vec![],
            env: vec![],
            read_only: false,
        }
    }

    fn envelope(tool: &str, ok: bool, error: Value) -> Value {
        json!({"tool": tool, "version": "0.1.0", "schema_version": 1, "ok": ok,
               "changed": false, "dry_run": false, "error": error})
    }

    fn typed(value: &Value) -> Envelope<ChildReport> {
        parse_envelope(&value.to_string(), Sibling::Pgtruncate)
            .unwrap()
            .1
    }

    #[test]
    fn a_child_failure_keeps_its_kind() {
        let report = envelope(
            "pgtruncate",
            false,
            json!({"kind": "busy", "message": "locked"}),
        );
        let err = judge(&step(), Some(5), &typed(&report)).unwrap();
        assert_eq!(err.kind, ErrorKind::Busy);
        assert!(err
            .message
            .contains("step truncate (pgtruncate) failed: locked"));
        let ok = envelope("pgtruncate", true, Value::Null);
        assert!(judge(&step(), Some(0), &typed(&ok)).is_none());
        // A success code with ok:false is still a failure, and a signal death is "failed".
        let not_ok = typed(&envelope("pgtruncate", false, Value::Null));
        assert_eq!(
            judge(&step(), Some(0), &not_ok).unwrap().kind,
            ErrorKind::Failed
        );
        assert_eq!(
            judge(&step(), None, &not_ok).unwrap().kind,
            ErrorKind::Failed
        );
    }

    #[test]
    fn only_the_siblings_own_envelope_is_accepted() {
        let ok = |tool: &str| envelope(tool, true, Value::Null).to_string();
        assert!(parse_envelope(&ok("pgtruncate"), Sibling::Pgtruncate).is_ok());
        assert!(parse_envelope(&ok("svcctl"), Sibling::Pgtruncate).is_err());
        assert!(
            parse_envelope(r#"{"tool":"pgtruncate","ok":true}"#, Sibling::Pgtruncate).is_err(),
            "half an envelope is no envelope"
        );
        assert!(parse_envelope("not json", Sibling::Pgtruncate).is_err());
        assert!(parse_envelope("", Sibling::Pgtruncate).is_err());
        // A field this holdctl does not know (a sibling of another version) is an error,
        // never a silent null.
        let mut renamed = envelope("pgtruncate", true, Value::Null);
        renamed["tables_emptied"] = json!([]);
        assert!(parse_envelope(&renamed.to_string(), Sibling::Pgtruncate).is_err());
    }
}
