//! envpatch: set, unset and read keys in an env file, in place, format-preserving, atomic.
//!
//! - [`parse`]: the file as lines and entries, and both readers' rules (systemd 252's
//!   `EnvironmentFile=`, python-dotenv 1.x);
//! - [`encode`]: the one value encoding both read alike, and the values refused;
//! - [`edit`]: the planned new content, and its proof under both readers;
//! - [`write`](mod@write): symlink resolution, the directory lock, the atomic durable replace;
//! - [`report`]: the report fields; `view`: the same for a person at a terminal.

pub mod edit;
pub mod encode;
pub mod parse;
pub mod report;
mod view;
pub mod write;

use clap::Parser;
use conventions::secrets;
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use edit::{Edit, Mismatch, Op};
use parse::{ContentError, EntryKind, Readings};
use report::{Change, Report, ValuesByReader, Warning};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use write::WriteError;

/// Edit an env file in place: format-preserving, atomic, readable alike by systemd's
/// EnvironmentFile= and python-dotenv.
#[derive(Debug, Parser)]
#[command(name = "envpatch", version)]
pub struct Cli {
    /// The env file to edit (a symlink is edited at its target and stays a symlink)
    pub file: PathBuf,
    /// Assignments to make; VALUE is taken literally (no quotes or escapes to undo)
    #[arg(value_name = "KEY=VALUE")]
    pub assignments: Vec<OsString>,
    /// Remove every assignment of KEY (repeatable)
    #[arg(short, long, value_name = "KEY")]
    pub unset: Vec<OsString>,
    /// Read only: report KEY's effective value (repeatable)
    #[arg(long, value_name = "KEY")]
    pub get: Vec<OsString>,
    /// More assignments: KEY=VALUE lines, or one JSON object of strings ("-" for stdin)
    #[arg(long, value_name = "PATH|-")]
    pub from: Option<OsString>,
    /// Create FILE (mode 0600, owned by the caller) if it does not exist
    #[arg(long)]
    pub create: bool,
    /// Keep the previous content beside FILE (default suffix .bak)
    #[arg(long, value_name = "SUFFIX", num_args = 0..=1, default_missing_value = ".bak", require_equals = true)]
    pub backup: Option<String>,
    /// Report what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for another envpatch run editing a file in the same directory
    /// before giving up with exit 5 (e.g. 500ms, 10s)
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = conventions::parse_duration)]
    pub lock_timeout: std::time::Duration,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl HasCommonArgs for Cli {
    fn common_args(&self) -> &CommonArgs {
        &self.common
    }
}

pub fn run(cli: Cli, out: &Output) -> Outcome {
    let dry_run = cli.dry_run;
    let file = cli.file.display().to_string();
    match execute(cli) {
        Ok((report, changed)) => {
            for w in &report.warnings {
                out.warn(&match w.line {
                    Some(line) => format!("line {line}: {}", w.message),
                    None => w.message.clone(),
                });
            }
            let line = summary(&report, changed, dry_run);
            Outcome::success(&report, changed, dry_run)
                .with_view(view::render(&file, Some(&report), None, dry_run))
                .with_summary(Some(line))
        }
        Err(Failure::Plain(err)) => {
            let view = view::render(&file, None, Some(&err), dry_run);
            Outcome::failure(err).with_view(view)
        }
        Err(Failure::WithReport(err, report, changed)) => {
            let view = view::render(&file, Some(&report), Some(&err), dry_run);
            Outcome::failure_with(err, &report, changed, dry_run).with_view(view)
        }
    }
}

/// The one line a person reads: `set HIBERNATE_MODE and INGEST_ENABLED in FILE`.
fn summary(report: &Report, changed: bool, dry_run: bool) -> String {
    use conventions::human::list;
    let keys = |actions: &[report::Action]| -> Vec<String> {
        report
            .changes
            .iter()
            .filter(|c| actions.contains(&c.action))
            .map(|c| c.key.clone())
            .collect()
    };
    let set = keys(&[report::Action::Updated, report::Action::Added]);
    let unset = keys(&[report::Action::Removed]);
    let mut done = Vec::new();
    if !set.is_empty() {
        done.push(format!("set {}", list(&set)));
    }
    if !unset.is_empty() {
        done.push(format!("unset {}", list(&unset)));
    }
    let file = &report.target;
    if report.changes.is_empty() {
        let read: Vec<String> = report
            .values
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(not set)")))
            .collect();
        return format!("read {} from {file}", list(&read));
    }
    match (changed, dry_run) {
        (false, _) => format!("{file} already as asked: nothing changed"),
        (true, true) => format!("would {} in {file}", done.join(" and ")),
        (true, false) if report.created => format!("created {file}: {}", done.join(" and ")),
        (true, false) => format!("{} in {file}", done.join(" and ")),
    }
}

enum Failure {
    Plain(ToolError),
    /// A failure after something was done (the file replaced but not durable).
    WithReport(ToolError, Box<Report>, bool),
}

impl From<ToolError> for Failure {
    fn from(err: ToolError) -> Self {
        Failure::Plain(err)
    }
}

/// Where an assignment came from, for messages that must say which argument or line.
#[derive(Debug, Clone)]
enum Source {
    Argument(usize),
    FromLine { from: String, line: usize },
    FromJson { from: String },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Argument(n) => write!(f, "assignment argument {n}"),
            Source::FromLine { from, line } => write!(f, "--from {from} line {line}"),
            Source::FromJson { from } => write!(f, "--from {from}"),
        }
    }
}

/// The command line, checked: nothing here touches the file.
struct Request {
    ops: Vec<Op>,
    gets: Vec<String>,
}

impl Request {
    /// Every key the command names: the only ones whose assignments are kept when the
    /// file is read.
    fn keys(&self) -> impl Iterator<Item = &str> {
        self.ops
            .iter()
            .map(Op::key)
            .chain(self.gets.iter().map(String::as_str))
    }
}

fn execute(cli: Cli) -> Result<(Report, bool), Failure> {
    let request = collect(&cli)?;
    if let Some(suffix) = &cli.backup {
        if suffix.is_empty() || suffix.contains('/') || suffix.contains('\0') {
            return Err(ToolError::usage(format!(
                "--backup={suffix:?}: the suffix must be non-empty and hold no '/', e.g. --backup=.bak"
            ))
            .into());
        }
    }
    let given = cli.file.display().to_string();
    let target = write::resolve(&cli.file)?;
    let shown = target.path.display().to_string();
    let mut report = Report {
        file: given.clone(),
        target: shown.clone(),
        created: false,
        backup: None,
        changes: Vec::new(),
        values: Default::default(),
        values_by_reader: ValuesByReader::default(),
        warnings: Vec::new(),
    };
    let not_found = |hint: &str| {
        let what = if target.via_symlink {
            format!("{given} is a symlink to {shown}, which does not exist")
        } else {
            format!("{given} does not exist")
        };
        ToolError::not_found(format!("{what}{hint}")).with("file", &given)
    };

    if request.ops.is_empty() {
        // Read only: a rename-based writer never exposes a half-written file, no lock needed.
        let existing = write::read(&target)?.ok_or_else(|| not_found(""))?;
        let text = decode(&existing.bytes, &shown)?;
        let readings = Readings::of(text, request.keys());
        let secret = secret_keys(&request, &readings);
        report.warnings = unparsable_warnings(&readings);
        fill_values(&mut report, &readings, &request.gets, &secret);
        return Ok((report, false));
    }

    // A dry run takes no lock and leaves no trace: it only reads.
    let owner = target.existing.map(|m| m.uid);
    let _lock = if cli.dry_run {
        None
    } else {
        Some(write::lock(&target, cli.lock_timeout, owner)?)
    };
    let mut warnings = Vec::new();
    if !cli.dry_run {
        let removed = write::remove_stale_temps(&target, owner);
        if removed > 0 {
            warnings.push(Warning::file(format!(
                "removed {removed} temporary file(s) that interrupted envpatch runs had left beside {shown}"
            )));
        }
    }
    let existing = write::read(&target)?;
    if existing.is_none() && !cli.create {
        return Err(not_found("; pass --create to create it (mode 0600)").into());
    }
    if let Some(e) = &existing {
        // A dry run reports what the real run would hit, these refusals included.
        write::check_writable(&target)?;
        write::check_hard_links(&target, e)?;
    }
    let old_text = match &existing {
        Some(e) => decode(&e.bytes, &shown)?,
        None => "",
    };
    let old = Readings::recording(old_text, request.keys());
    let secret = secret_keys(&request, &old);
    let edit = edit::plan(&old, &request.ops);
    let (new, verdict) = edit::verify(&old, &edit.text, &request.ops);
    match verdict {
        Ok(w) => warnings.extend(w),
        Err(m) => return Err(mismatch_error(&m, &shown, &secret).into()),
    }
    warnings.extend(unparsable_warnings(&new));
    if let Some(e) = &existing {
        if e.meta.nlink > 1 && edit.alters_file() {
            warnings.push(Warning::file(format!(
                "{shown} has {} hard links: the write replaces it with a new file, the other links keep the old content",
                e.meta.nlink
            )));
        }
    }
    report.warnings = warnings;
    report.changes = redact_changes(&edit, &secret);
    report.created = existing.is_none();
    fill_values(&mut report, &new, &request.gets, &secret);
    let changed = edit.alters_file() || report.created;
    let backup_name = match (&cli.backup, &existing) {
        (Some(suffix), Some(_)) if changed => {
            let mut name = target.name.clone();
            name.push(suffix);
            Some(name)
        }
        _ => None,
    };
    report.backup = backup_name
        .as_ref()
        .map(|n| target.dir.entry_path(n).display().to_string());
    if !changed || cli.dry_run {
        return Ok((report, changed));
    }

    if let (Some(name), Some(e)) = (&backup_name, &existing) {
        if let Err(err) = write::replace(&target, name, &e.bytes, e.ownership, Some(&e.file)) {
            let (WriteError::NotWritten(mut err) | WriteError::NotDurable(mut err)) = err;
            err.message = format!(
                "{}; the backup failed, so {shown} was not edited",
                err.message
            );
            return Err(err.into());
        }
    }
    let ownership = existing
        .as_ref()
        .map_or_else(write::Ownership::caller_private, |e| e.ownership);
    let attrs = existing.as_ref().map(|e| &e.file);
    match write::replace(
        &target,
        &target.name,
        edit.text.as_bytes(),
        ownership,
        attrs,
    ) {
        Ok(()) => Ok((report, true)),
        Err(WriteError::NotWritten(err)) => Err(Failure::Plain(err)),
        Err(WriteError::NotDurable(err)) => Err(Failure::WithReport(err, Box::new(report), true)),
    }
}

/// Checks every argument and reads `--from`; the first problem is a usage error naming
/// the argument or line.
fn collect(cli: &Cli) -> Result<Request, ToolError> {
    let mut sets: Vec<(String, String, Source)> = Vec::new();
    for (i, arg) in cli.assignments.iter().enumerate() {
        let source = Source::Argument(i + 1);
        let text = arg.to_str().ok_or_else(|| {
            ToolError::usage(format!(
                "{source} is not valid UTF-8; keys and values must be UTF-8 text"
            ))
        })?;
        let (key, value) = text.split_once('=').ok_or_else(|| {
            ToolError::usage(format!(
                "{source} has no '=': write KEY=VALUE (use --unset KEY to remove a key, --get KEY to read one)"
            ))
        })?;
        sets.push((key.to_string(), value.to_string(), source));
    }
    if let Some(from) = &cli.from {
        sets.extend(read_from(from)?);
    }

    let mut ops: Vec<Op> = Vec::new();
    let mut set_by: HashMap<String, (String, Source)> = HashMap::new();
    for (key, value, source) in sets {
        check_key(&key, &source.to_string())?;
        if secrets::is_secret_assignment(&key, &value) {
            remember_secret(&value);
        }
        encode::check(&value).map_err(|refusal| {
            ToolError::usage(format!(
                "{source}: the value of {key} {refusal}; nothing was changed"
            ))
            .with("key", &key)
        })?;
        if let Some((earlier, earlier_source)) = set_by.get(&key) {
            if *earlier != value {
                return Err(ToolError::usage(format!(
                    "{key} is given twice with different values ({earlier_source} and {source}); give it once"
                ))
                .with("key", &key));
            }
            continue;
        }
        set_by.insert(key.clone(), (value.clone(), source));
        ops.push(Op::Set { key, value });
    }
    let mut unset_seen = HashSet::new();
    for raw in &cli.unset {
        let key = key_argument(raw, "--unset")?;
        if let Some((_, source)) = set_by.get(&key) {
            return Err(ToolError::usage(format!(
                "{key} is both set ({source}) and unset (--unset); choose one"
            ))
            .with("key", &key));
        }
        if unset_seen.insert(key.clone()) {
            ops.push(Op::Unset { key });
        }
    }
    let mut gets = Vec::new();
    for raw in &cli.get {
        let key = key_argument(raw, "--get")?;
        if !gets.contains(&key) {
            gets.push(key);
        }
    }
    if ops.is_empty() && gets.is_empty() {
        return Err(ToolError::usage(
            "nothing to do: give KEY=VALUE assignments, --unset KEY, --get KEY or --from PATH",
        ));
    }
    Ok(Request { ops, gets })
}

fn key_argument(raw: &OsString, flag: &str) -> Result<String, ToolError> {
    let key = raw.to_str().ok_or_else(|| {
        ToolError::usage(format!(
            "{flag}: the key is not valid UTF-8; key names are letters, digits and _"
        ))
    })?;
    check_key(key, flag)?;
    Ok(key.to_string())
}

fn check_key(key: &str, source: &str) -> Result<(), ToolError> {
    if encode::is_valid_key(key) {
        return Ok(());
    }
    Err(ToolError::usage(format!(
        "{source}: {key:?} is not a valid key name: use letters, digits and _, not starting with a digit (systemd ignores other names)"
    ))
    .with("key", key))
}

/// `--from PATH|-`: one JSON object of strings, or KEY=VALUE lines (blank lines and
/// `#` comments skipped; VALUE taken literally, as on the command line).
fn read_from(from: &OsString) -> Result<Vec<(String, String, Source)>, ToolError> {
    let shown = from.to_string_lossy().into_owned();
    // A pipe is fine here (`--from <(jq ...)`), an endless source is not: reads are bounded.
    let limit = hostfs::MAX_TEXT_FILE;
    let mut bytes = Vec::new();
    let read = if from == "-" {
        std::io::stdin().take(limit + 1).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(from).and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| {
        ToolError::usage(format!(
            "--from {shown}: cannot read it ({e}); give a readable file or - for stdin"
        ))
    })?;
    if bytes.len() as u64 > limit {
        return Err(ToolError::usage(format!(
            "--from {shown} holds more than {} MiB: give a file of assignments",
            limit / (1024 * 1024)
        )));
    }
    let text = parse::decode(&bytes).map_err(|e| {
        let (line, what) = match e {
            ContentError::Nul { line } => (line, "contains a NUL byte"),
            ContentError::InvalidUtf8 { line } => (line, "is not valid UTF-8"),
        };
        ToolError::usage(format!("--from {shown} line {line} {what}"))
    })?;
    if text.trim_start().starts_with('{') {
        let object: serde_json::Map<String, Value> = serde_json::from_str(text).map_err(|e| {
            ToolError::usage(format!(
                "--from {shown} is not a JSON object of strings: {e}"
            ))
        })?;
        return object
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(s) => Ok((key, s, Source::FromJson { from: shown.clone() })),
                _ => Err(ToolError::usage(format!(
                    "--from {shown}: the value of {key:?} is not a string; quote it (\"{key}\": \"...\")"
                ))
                .with("key", &key)),
            })
            .collect();
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let source = Source::FromLine {
            from: shown.clone(),
            line: i + 1,
        };
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| ToolError::usage(format!("{source} has no '=': write KEY=VALUE")))?;
        out.push((key.to_string(), value.to_string(), source));
    }
    Ok(out)
}

fn decode<'a>(bytes: &'a [u8], shown: &str) -> Result<&'a str, ToolError> {
    parse::decode(bytes).map_err(|e| {
        let (line, what) = match e {
            ContentError::Nul { line } => (
                line,
                "contains a NUL byte (systemd stops reading there, python-dotenv does not)",
            ),
            ContentError::InvalidUtf8 { line } => (
                line,
                "is not valid UTF-8 (systemd rejects such a file, python-dotenv cannot decode it)",
            ),
        };
        ToolError::usage(format!(
            "{shown} line {line} {what}; fix the line by hand, envpatch changed nothing"
        ))
        .with("file", shown)
        .with("line", line)
    })
}

fn remember_secret(value: &str) {
    secrets::remember(value);
    if let Some(pw) = secrets::url_password(value) {
        secrets::remember(&pw);
    }
}

/// Keys whose values are never shown: secret-looking names, DATABASE_URL, and any key
/// one of whose values (new, or old under either reader) is a URL with a password. Every
/// such value is remembered, so the harness scrubs it from all output as a safety net.
/// (Values of keys the command does not name never enter any output.)
fn secret_keys(request: &Request, old: &Readings<'_>) -> HashSet<String> {
    let named = request
        .ops
        .iter()
        .map(Op::key)
        .chain(request.gets.iter().map(String::as_str));
    let mut secret = HashSet::new();
    for key in named {
        let mut values: Vec<&str> = request
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Set { key: k, value } if k == key => Some(value.as_str()),
                _ => None,
            })
            .collect();
        values.extend(
            old.assignments()
                .filter(|(_, a)| a.key == key)
                .filter_map(|(_, a)| a.value.as_deref()),
        );
        values.extend(
            old.systemd
                .iter()
                .filter(|a| a.key == key)
                .map(|a| a.value.as_ref()),
        );
        if secrets::is_secret_assignment(key, "")
            || values.iter().any(|v| secrets::is_secret_assignment(key, v))
        {
            values.iter().for_each(|v| remember_secret(v));
            secret.insert(key.to_string());
        }
    }
    secret
}

fn shown_value(key: &str, value: Option<String>, secret: &HashSet<String>) -> Option<String> {
    value.map(|v| {
        if secret.contains(key) || secrets::is_secret_assignment(key, &v) {
            remember_secret(&v);
            secrets::REDACTED.to_string()
        } else {
            v
        }
    })
}

fn redact_changes(edit: &Edit, secret: &HashSet<String>) -> Vec<Change> {
    edit.changes
        .iter()
        .map(|c| Change {
            old: shown_value(&c.key, c.old.clone(), secret),
            new: shown_value(&c.key, c.new.clone(), secret),
            ..c.clone()
        })
        .collect()
}

fn mismatch_error(m: &Mismatch, shown: &str, secret: &HashSet<String>) -> ToolError {
    let describe = |v: &Option<String>| match shown_value(&m.key, v.clone(), secret) {
        Some(v) => format!("{v:?}"),
        None => "nothing (no such variable)".to_string(),
    };
    let message = if m.named {
        format!(
            "refusing to write {shown}: after the edit {} would read {} as {} instead of {}; \
             a line above it probably leaves a quote open or ends in a backslash: fix that line by hand; nothing was changed",
            m.reader.name(),
            m.key,
            describe(&m.got),
            describe(&m.wanted)
        )
    } else {
        format!(
            "refusing to write {shown}: the edit would change how {} reads the untouched key {} \
             (a line next to the edit continues into it); fix the file by hand; nothing was changed",
            m.reader.name(),
            m.key
        )
    };
    ToolError::failed(message)
        .with("file", shown)
        .with("key", &m.key)
}

/// Lines python-dotenv cannot parse: kept verbatim, reported.
fn unparsable_warnings(readings: &Readings<'_>) -> Vec<Warning> {
    readings
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Unparsable)
        .map(|e| {
            let span = if e.last > e.first {
                format!(" (through line {})", e.last + 1)
            } else {
                String::new()
            };
            Warning::at(
                e.first + 1,
                format!(
                    "python-dotenv cannot parse this line{span}; it was kept as it is and the app ignores it"
                ),
            )
        })
        .collect()
}

/// `values` and `values_by_reader` for `--get`, with a warning where the readers disagree.
fn fill_values(
    report: &mut Report,
    readings: &Readings<'_>,
    gets: &[String],
    secret: &HashSet<String>,
) {
    for key in gets {
        let d = readings.dotenv(key).flatten().map(str::to_string);
        let s = readings.systemd(key).map(str::to_string);
        let shown_d = shown_value(key, d.clone(), secret);
        report.values.insert(key.clone(), shown_d.clone());
        report.values_by_reader.dotenv.insert(key.clone(), shown_d);
        report
            .values_by_reader
            .systemd
            .insert(key.clone(), shown_value(key, s.clone(), secret));
        if d != s {
            report
                .warnings
                .push(disagreement(readings, key, &d, &s, secret));
        }
        if d.as_deref().is_some_and(|v| v.contains("${")) {
            report.warnings.push(Warning::file(format!(
                "python-dotenv expands ${{...}} in {key}'s value when the app loads it; values shows it unexpanded"
            )));
        }
    }
}

fn disagreement(
    readings: &Readings<'_>,
    key: &str,
    dotenv: &Option<String>,
    systemd: &Option<String>,
    secret: &HashSet<String>,
) -> Warning {
    let describe = |v: &Option<String>| match shown_value(key, v.clone(), secret) {
        Some(v) => format!("{v:?}"),
        None => "nothing".to_string(),
    };
    let last = readings
        .entries
        .iter()
        .rev()
        .find(|e| e.assignment().is_some_and(|a| a.key == key));
    let reason = match last.and_then(|e| e.assignment()) {
        Some(a) if a.export => {
            " (its line is an `export` line, which systemd ignores): remove `export ` from the line to make them agree"
        }
        Some(a) if a.comment.is_some() => {
            " (its line has an inline comment, which systemd reads as part of the value): set it with envpatch to make them agree"
        }
        _ => ": set it with envpatch to make them agree",
    };
    let message = format!(
        "the readers disagree on {key}: the app (python-dotenv) reads {}, systemd (EnvironmentFile=) reads {}{reason}",
        describe(dotenv),
        describe(systemd)
    );
    match last {
        Some(e) => Warning::at(e.first + 1, message),
        None => Warning::file(message),
    }
}
