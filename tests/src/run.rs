//! Running the holdkit binaries the way a script would, and checking the contract every
//! run keeps: exactly one JSON object on stdout, with the envelope's fields.

use serde_json::Value;
use std::ffi::OsStr;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Where the binaries are: `HOLD_BIN_DIR` (set by scripts/test.sh), else the target
/// directory this test executable was built into (`target/<profile>/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOLD_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test exe has a dir");
    let profile = if deps.file_name() == Some(OsStr::new("deps")) {
        deps.parent().expect("deps has a parent")
    } else {
        deps
    };
    profile.to_path_buf()
}

/// The path of one holdkit binary; panics with a useful message when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace) or set HOLD_BIN_DIR",
        path.display()
    );
    path
}

/// A directory holding a copy of holdctl and its three siblings, to watch or change what
/// holdctl's children do: a tool for which `script` gives a shell script gets that script
/// (the real binary is [`bin`]`(tool)`), the others are links to the real binaries.
pub fn holdctl_with_wrappers(
    prefix: &str,
    script: impl Fn(&str) -> Option<String>,
) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let tools = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::copy(bin("holdctl"), tools.path().join("holdctl")).unwrap();
    for tool in ["envpatch", "svcctl", "pgtruncate"] {
        let path = tools.path().join(tool);
        match script(tool) {
            Some(text) => {
                std::fs::write(&path, text).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            None => std::os::unix::fs::symlink(bin(tool), &path).unwrap(),
        }
    }
    tools
}

/// One finished run of a tool.
#[derive(Debug, Clone)]
pub struct ToolRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The one JSON object printed on stdout.
    pub json: Value,
}

impl ToolRun {
    /// Everything the run printed, for "this secret appears nowhere" checks.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn error_kind(&self) -> Option<&str> {
        self.json["error"]["kind"].as_str()
    }

    /// Panics with the whole run when the exit code is not the expected one.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "expected exit {code}, got {}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Runs `cmd` (already holding program and arguments), feeding `stdin`, and checks the
/// envelope contract. `tool` is the envelope's expected `tool` field.
#[track_caller]
pub fn run_command(tool: &str, cmd: &mut Command, stdin: Option<&str>) -> ToolRun {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin piped");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for tool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().unwrap_or(-1);
    let json = parse_one_object(&stdout)
        .unwrap_or_else(|e| panic!("{tool}: {e}\nstdout: {stdout}\nstderr: {stderr}"));
    check_envelope(tool, &json, code);
    ToolRun {
        code,
        stdout,
        stderr,
        json,
    }
}

/// Runs a holdkit binary with arguments and environment additions.
#[track_caller]
pub fn run_tool<I, S>(tool: &str, args: I, env: &[(&str, &str)], stdin: Option<&str>) -> ToolRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin(tool));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(tool, &mut cmd, stdin)
}

/// stdout must be exactly one JSON object (and nothing else but whitespace).
pub fn parse_one_object(stdout: &str) -> Result<Value, String> {
    let mut stream = serde_json::Deserializer::from_str(stdout).into_iter::<Value>();
    let first = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("stdout is not JSON: {e}")),
        None => return Err("stdout is empty: expected one JSON object".into()),
    };
    if stream.next().is_some() {
        return Err("stdout holds more than one JSON document".into());
    }
    if !first.is_object() {
        return Err("stdout's JSON is not an object".into());
    }
    Ok(first)
}

/// A tool's report schema, compiled once: the committed (published) one,
/// schemas/TOOL.schema.json, or the strict variant generated from the same types.
fn validator(tool: &str, strict: bool) -> &'static jsonschema::Validator {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Cache = Mutex<HashMap<(String, bool), &'static jsonschema::Validator>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap();
    if let Some(v) = cache.get(&(tool.to_string(), strict)) {
        return v;
    }
    let path = crate::repo_root()
        .join("schemas")
        .join(format!("{tool}.schema.json"));
    let schema: Value = if strict {
        let which = reports::schema::Tool::from_name(tool)
            .unwrap_or_else(|| panic!("no report type for {tool}"));
        reports::schema::strict_for_tool(which)
    } else {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("schema is JSON")
    };
    let compiled = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{tool}'s schema (strict: {strict}) does not compile: {e}"));
    let leaked: &'static jsonschema::Validator = Box::leak(Box::new(compiled));
    cache.insert((tool.to_string(), strict), leaked);
    leaked
}

/// The report validated against its tool's committed JSON Schema (what consumers get),
/// then against the strict variant (no field the types do not describe), then decoded
/// into the tool's report type, which refuses unknown fields (as ripgrep's tests decode
/// its JSON).
#[track_caller]
pub fn check_report(tool: &str, json: &Value) {
    for (strict, name) in [
        (false, format!("schemas/{tool}.schema.json")),
        (true, "its strict schema".to_string()),
    ] {
        let errors: Vec<String> = validator(tool, strict)
            .iter_errors(json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{tool}'s report does not match {name}: {errors:?}\n{json}"
        );
    }
    let text = json.to_string();
    let decoded = match tool {
        "envpatch" => reports::envelope::decode::<reports::envpatch::Report>(&text).map(|_| ()),
        "svcctl" => reports::envelope::decode::<reports::svcctl::Report>(&text).map(|_| ()),
        "pgtruncate" => reports::envelope::decode::<reports::pgtruncate::Report>(&text).map(|_| ()),
        "holdctl" => reports::envelope::decode::<reports::holdctl::Report>(&text).map(|_| ()),
        other => panic!("no report type for {other}"),
    };
    if let Err(e) = decoded {
        panic!("{tool}'s report does not decode into its type: {e}\n{json}");
    }
}

/// The envelope fields every report has, consistent with the exit code; the whole report
/// checked against its schema and type.
#[track_caller]
pub fn check_envelope(tool: &str, json: &Value, code: i32) {
    check_report(tool, json);
    assert_eq!(json["tool"], tool, "envelope tool: {json}");
    assert!(json["version"].is_string(), "envelope version: {json}");
    assert_eq!(json["schema_version"], 1, "envelope schema_version: {json}");
    assert!(json["changed"].is_boolean(), "envelope changed: {json}");
    assert!(json["dry_run"].is_boolean(), "envelope dry_run: {json}");
    let ok = json["ok"].as_bool().expect("envelope ok is a bool");
    assert_eq!(
        ok,
        code == 0,
        "ok must be true exactly when exit is 0: {json}"
    );
    if ok {
        assert!(json["error"].is_null(), "ok run with an error: {json}");
    } else {
        let kind = json["error"]["kind"].as_str().expect("error.kind");
        let expected = match code {
            1 => "failed",
            2 => "usage",
            3 => "refused",
            4 => "not_found",
            5 => "busy",
            6 => "permission",
            other => panic!("exit code {other} is not in the contract: {json}"),
        };
        assert_eq!(kind, expected, "error.kind for exit {code}: {json}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error.message: {json}"
        );
    }
}
