//! holdctl: put a server on hold (hibernate, wake, status, plan) as its hold profile
//! says, by running envpatch, svcctl and pgtruncate as child processes and chaining
//! their JSON, exactly as the runbook's shell script did. It never links the other tools: every step it takes is
//! an argv in its report that can be copied out and run by hand.
//!
//! One pass: survey → plan → run → record → report (`flow`, then `report::finish`).

mod archive;
mod chain;
mod child;
mod cli;
mod flow;
mod hold;
mod lock;
mod profiles;
mod prompt;
mod report;
mod steps;
mod survey;
mod view;

pub use child::DATABASE_URL_VAR;
pub use cli::{Cli, Operation};
use conventions::{Outcome, Output};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

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
    let interrupted = Arc::new(AtomicBool::new(false));
    // A handler (not SIG_IGN, which children would inherit): Ctrl-C reaches the child
    // through the terminal's process group; holdctl then reports and stops the chain.
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(signal, Arc::clone(&interrupted));
    }
    let dry_run = cli.dry_run || cli.operation == Operation::Plan;
    // On a terminal the view says what each child did: their own summary lines would
    // only fill the screen.
    let view = conventions::output::Rendering::resolve(cli.common.json, true)
        == conventions::output::Rendering::View;
    let chain = chain::Chain::new(
        out.clone(),
        cli.common.quiet || view,
        view,
        Arc::clone(&interrupted),
    );
    let mut draft = report::Draft::new(cli.operation, dry_run, chain);
    let result = flow::operate(&cli, &mut draft, database_url, &interrupted);
    report::finish(draft, result)
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
