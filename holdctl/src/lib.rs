//! holdctl: put a Cornice server on hold (hibernate, wake, status, plan) by running
//! envpatch, svcctl and pgtruncate as child processes and chaining their JSON, exactly as
//! the runbook's shell script did. It never links the other tools: every step it takes is
//! an argv in its report that can be copied out and run by hand.

pub mod child;
pub mod lock;
pub mod report;
pub mod steps;
pub mod survey;

use child::{run_step, Invocation, StepRecord};
use clap::{Parser, Subcommand};
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use steps::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Operation {
    /// Flags on, services stopped and disabled, runtime tables emptied
    Hibernate,
    /// Flags off, services enabled and started (cleared data is not restored)
    Wake,
    /// The flags, the units' state and the runtime tables' sizes; read only
    Status,
    /// What hibernate would do (hibernate --dry-run)
    Plan,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Hibernate => "hibernate",
            Operation::Wake => "wake",
            Operation::Status => "status",
            Operation::Plan => "plan",
        }
    }
}

/// Put a Cornice server on hold safely, as the hibernate runbook does, one step per tool.
#[derive(Debug, Parser)]
#[command(name = "holdctl", version)]
pub struct Cli {
    #[command(subcommand)]
    pub operation: Operation,
    /// The env file [default: the API unit's EnvironmentFile=, as systemd reports it]
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<PathBuf>,
    /// The API unit
    #[arg(long, value_name = "UNIT", default_value = "cornice", global = true)]
    pub service: String,
    /// The optional monitor unit (skipped if absent)
    #[arg(
        long,
        value_name = "UNIT",
        default_value = "cornice-monitor",
        global = true
    )]
    pub monitor: String,
    /// The database [default: DATABASE_URL from the env file systemd takes it from; also
    /// read from HOLDCTL_DATABASE_URL]. Moved out of argv at once (holdctl runs itself
    /// again with it in the environment), so `ps` never shows it for long
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Also clear the opportunities catalog
    #[arg(long, global = true)]
    pub include_opportunities: bool,
    /// Empty every application table, users and secrets included
    #[arg(long, global = true)]
    pub include_auth: bool,
    /// After clearing, start the API again (in hibernate mode)
    #[arg(long, global = true)]
    pub keep_api: bool,
    /// Let pgtruncate connect over a Unix socket that the env file's DATABASE_URL names
    /// when another user owns or can write that file (pgtruncate --allow-socket)
    #[arg(long, global = true)]
    pub allow_socket: bool,
    /// Do not ask; required for hibernate when stdin is not a terminal
    #[arg(long, global = true)]
    pub yes: bool,
    /// The one-at-a-time lock file
    #[arg(
        long,
        value_name = "FILE",
        default_value = lock::DEFAULT_LOCK,
        global = true
    )]
    pub lock: PathBuf,
    /// Report what would be done; change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl HasCommonArgs for Cli {
    fn common_args(&self) -> &CommonArgs {
        &self.common
    }
}

/// The environment variable holdctl takes the database URL from, so that it is never in
/// any argv (`--database-url` is moved there before anything else happens).
pub const DATABASE_URL_VAR: &str = "HOLDCTL_DATABASE_URL";

/// Runs the operation and returns the report.
pub fn run(cli: Cli, out: &Output) -> Outcome {
    if cli.database_url.is_some() {
        // Only returns when the exec failed.
        if let Err(e) = reexec_without_database_url() {
            out.warn(&format!(
                "could not move --database-url out of the command line ({e}): it stays visible in ps while holdctl runs; use {DATABASE_URL_VAR} instead"
            ));
        }
    }
    let database_url = cli
        .database_url
        .clone()
        .or_else(|| std::env::var(DATABASE_URL_VAR).ok())
        .filter(|u| !u.is_empty());
    // Only the password is secret: the rest of the URL names the target, which the
    // children's reports show.
    if let Some(pw) = database_url
        .as_deref()
        .and_then(conventions::secrets::url_password)
    {
        conventions::secrets::remember(&pw);
    }
    let operation = cli.operation;
    let dry_run = cli.dry_run || operation == Operation::Plan;
    let mut chain = Chain::new(out, cli.common.quiet);
    let mut report = report::new(operation.as_str());

    let interactive = std::io::stdin().is_terminal();
    let destructive = operation == Operation::Hibernate && !dry_run;
    if destructive && !cli.yes && !interactive {
        return Outcome::failure(ToolError::refused(
            "hibernate empties database tables and stdin is not a terminal to ask on: \
             run `holdctl plan` to see what it would do, then add --yes",
        ));
    }

    // Only runs that change the host take the lock; status and plans only read.
    let mutating = matches!(operation, Operation::Hibernate | Operation::Wake) && !dry_run;
    let _lock = if mutating {
        match lock::acquire(&cli.lock) {
            Ok(lock) => Some(lock),
            Err(e) => return Outcome::failure(e),
        }
    } else {
        None
    };

    // Every operation reads both units first: status shows them, the API's
    // EnvironmentFile= lines name the env files, and a wrong --service stops here,
    // before anything is touched.
    let units_report = chain
        .run(&steps::units_status(&cli.service, &cli.monitor), None)
        .map(|record| record.decode::<reports::svcctl::Report>());
    let units_report = match units_report {
        Some(Ok(envelope)) => envelope.report,
        Some(Err(e)) => return report::finish(report, chain, Some(e), false, dry_run),
        None => None,
    };
    if operation == Operation::Status {
        report.units = units_report.as_ref().map(report::units);
    } else if let Some(e) = chain.error.take() {
        return report::finish(report, chain, Some(e), false, dry_run);
    }
    let (api, monitor) = match units_report.as_ref().map(survey::units) {
        Some(Ok(units)) => units,
        Some(Err(e)) => return report::finish(report, chain, Some(e), false, dry_run),
        None => {
            let e = ToolError::failed(format!(
                "the units could not be read, so the env files of {} are unknown: see the read_units step",
                cli.service
            ));
            return report::finish(report, chain, Some(e), false, dry_run);
        }
    };
    if !api.present && operation != Operation::Status {
        let e = ToolError::not_found(format!(
            "unit {} does not exist on this host: nothing was changed; name the API unit with --service",
            api.name
        ));
        return report::finish(report, chain, Some(e), false, dry_run);
    }
    let files = match &cli.env_file {
        Some(path) => vec![path.clone()],
        None if api.environment_files.is_empty() => {
            let e = ToolError::usage(format!(
                "unit {} names no EnvironmentFile=: pass the env file with --env-file",
                api.name
            ));
            return report::finish(report, chain, Some(e), false, dry_run);
        }
        None => api.environment_files.clone(),
    };
    let env = survey::read_env(&mut chain, files, cli.env_file.is_none());
    if operation != Operation::Status {
        if let Some(e) = chain.error.take() {
            return report::finish(report, chain, Some(e), false, dry_run);
        }
    }
    if let Some(e) = env_problem(&env, operation, database_url.is_some()) {
        return report::finish(report, chain, Some(e), false, dry_run);
    }
    report.env_file = env
        .source_of("DATABASE_URL")
        .or(env.files.last().map(PathBuf::as_path))
        .map(|p| p.display().to_string());
    let target = Target {
        env,
        service: api.name,
        monitor: monitor.name,
        database_url,
        include_opportunities: cli.include_opportunities,
        include_auth: cli.include_auth,
        keep_api: cli.keep_api,
        allow_socket: cli.allow_socket,
        dry_run,
    };

    match operation {
        Operation::Status => {
            // Read-only steps all run, so one unreachable part does not hide the others.
            for step in steps::status(&target) {
                chain.run(&step, None);
            }
            report.env = survey::env_status(&chain.records, &target.env);
            report::fill_status(&mut report, &chain.records);
            report::finish(report, chain, None, false, false)
        }
        Operation::Hibernate | Operation::Plan => {
            let plan = steps::hibernate(&target);
            if destructive && !cli.yes {
                match confirm(&mut chain, &target, out) {
                    Ok(true) => {}
                    Ok(false) => {
                        return report::finish(
                            report,
                            chain,
                            Some(ToolError::refused(
                                "hibernate was not confirmed: nothing was changed",
                            )),
                            false,
                            false,
                        )
                    }
                    Err(e) => return report::finish(report, chain, Some(e), false, false),
                }
            }
            chain.run_all(&plan);
            report::finish(report, chain, None, true, dry_run)
        }
        Operation::Wake => {
            out.warn("wake restores no data: tables emptied by hibernate stay empty");
            report.note =
                Some("wake restores no data: tables emptied by hibernate stay empty".into());
            chain.run_all(&steps::wake(&target));
            report::finish(report, chain, None, true, dry_run)
        }
    }
}

/// What stops an operation before anything is touched: no env file to write the flags
/// to, or (for hibernate) no database to empty.
fn env_problem(env: &steps::EnvLayout, operation: Operation, url_given: bool) -> Option<ToolError> {
    if env.files.is_empty() {
        return Some(ToolError::not_found(
            "none of the API unit's env files exists: nothing was changed; create it, or pass --env-file",
        ));
    }
    let needs_database = matches!(operation, Operation::Hibernate | Operation::Plan);
    if needs_database && !url_given && env.source_of("DATABASE_URL").is_none() {
        let list: Vec<String> = env.files.iter().map(|f| f.display().to_string()).collect();
        return Some(ToolError::not_found(format!(
            "no DATABASE_URL in {} (as systemd reads them), so the database to empty is unknown: nothing was changed; add it there, or give the database with {DATABASE_URL_VAR}",
            list.join(", ")
        ))
        .with("env_files", list));
    }
    None
}

/// Runs holdctl again with `--database-url` moved from argv (visible to every user in
/// `ps`) into the environment. Returns only on failure.
fn reexec_without_database_url() -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_default();
    let mut kept = Vec::new();
    let mut url = None;
    while let Some(arg) = args.next() {
        let text = arg.to_string_lossy();
        if text == "--database-url" {
            url = args.next();
        } else if let Some(value) = text.strip_prefix("--database-url=") {
            url = Some(value.into());
        } else {
            kept.push(arg);
        }
    }
    let Some(url) = url else {
        return Ok(());
    };
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(program)
        .args(kept)
        .env(DATABASE_URL_VAR, url)
        .exec();
    Err(err)
}

/// On a terminal: show what hibernate would do (a dry run of every step) and ask.
fn confirm(chain: &mut Chain, target: &Target, out: &Output) -> Result<bool, ToolError> {
    let mut dry = target.clone();
    dry.dry_run = true;
    let mut planner = Chain::new(out, true);
    planner.run_all(&steps::hibernate(&dry));
    if let Some(e) = planner.error.take() {
        chain.records.extend(planner.records);
        return Err(e);
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "holdctl: hibernate will:");
    for record in &planner.records {
        let _ = writeln!(err, "  {}", report::describe(record));
    }
    let _ = write!(err, "holdctl: proceed? [y/N] ");
    let _ = err.flush();
    drop(err);
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| ToolError::failed(format!("reading the answer from the terminal: {e}")))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The steps run so far, and the error that stopped them.
pub struct Chain<'a> {
    pub out: &'a Output,
    child_flags: Vec<&'static str>,
    pub records: Vec<StepRecord>,
    pub not_run: Vec<&'static str>,
    pub error: Option<ToolError>,
    interrupted: Arc<AtomicBool>,
}

impl<'a> Chain<'a> {
    fn new(out: &'a Output, quiet: bool) -> Self {
        let interrupted = Arc::new(AtomicBool::new(false));
        // A handler (not SIG_IGN, which children would inherit): Ctrl-C reaches the child
        // through the terminal's process group; holdctl then reports and stops the chain.
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
        }
        let mut child_flags = vec!["--json=short"];
        if quiet {
            child_flags.push("-q");
        }
        Chain {
            out,
            child_flags,
            records: Vec::new(),
            not_run: Vec::new(),
            error: None,
            interrupted,
        }
    }

    /// Runs the steps in order, stopping at the first that fails.
    fn run_all(&mut self, steps: &[Invocation]) {
        let total = steps.len();
        for (i, step) in steps.iter().enumerate() {
            if self.error.is_some() {
                self.not_run.push(step.name);
                continue;
            }
            self.run(step, Some((i + 1, total)));
        }
    }

    /// Runs one step; returns its record when it succeeded.
    fn run(&mut self, step: &Invocation, position: Option<(usize, usize)>) -> Option<&StepRecord> {
        let label = match position {
            Some((i, n)) => format!("[{i}/{n}] {}", step.name),
            None => step.name.to_string(),
        };
        self.out.progress(&format!(
            "{label}: {} {}",
            step.tool.name(),
            step.args.join(" ")
        ));
        let result = run_step(step, &self.child_flags, self.out);
        let verdict = match (&result.error, result.record.changed) {
            (Some(_), _) => format!(
                "failed (exit {})",
                result
                    .record
                    .exit_code
                    .map_or("-".into(), |c| c.to_string())
            ),
            (None, true) if result.record.dry_run() => "would change".to_string(),
            (None, true) => "changed".to_string(),
            (None, false) => "no change".to_string(),
        };
        self.out.progress(&format!("{label}: {verdict}"));
        self.records.push(result.record);
        if let Some(e) = result.error {
            if self.error.is_none() {
                self.error = Some(e);
            }
            return None;
        }
        if self.interrupted.load(Ordering::SeqCst) && self.error.is_none() {
            self.error = Some(ToolError::failed(format!(
                "interrupted after step {}: the remaining steps were not run; run the same command again to finish",
                step.name
            )));
            return None;
        }
        self.records.last()
    }
}
