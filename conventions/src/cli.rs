//! The `main` harness every tool uses: parse the arguments with clap, run the tool, print
//! exactly one envelope on stdout, exit with the kind's code.
//!
//! Argument errors still print the envelope (`error.kind = "usage"`, exit 2) with clap's
//! text on stderr, so a script that parses stdout always gets JSON; `--help` and
//! `--version` stay plain text on stdout with exit 0, as people expect.

use crate::envelope::{Envelope, Outcome};
use crate::error::ToolError;
use crate::output::{terminal_safe, view_text, JsonStyle, Output, Rendering};
use clap::error::ErrorKind as ClapErrorKind;
use clap::Parser;
use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once the envelope is being printed: a panic after that prints no second one.
static ENVELOPE_PRINTED: AtomicBool = AtomicBool::new(false);

/// A tool's identity in its envelope.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

/// `Tool` for the calling crate: `conventions::tool!("envpatch")`.
#[macro_export]
macro_rules! tool {
    ($name:expr) => {
        $crate::Tool {
            name: $name,
            version: env!("CARGO_PKG_VERSION"),
        }
    };
}

/// The flags every tool takes. Flatten into the tool's clap parser with
/// `#[command(flatten)] common: CommonArgs`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// Print the JSON report in this layout, on a terminal too (where a short view is the
    /// default) [default off a terminal: short]
    #[arg(long, value_enum, value_name = "STYLE", global = true)]
    pub json: Option<JsonStyle>,
    /// Print only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Gives the harness the common flags of a parsed command line.
pub trait HasCommonArgs {
    fn common_args(&self) -> &CommonArgs;
}

/// Parses the process's arguments and runs the tool. What `main` returns.
pub fn run<C, F>(tool: Tool, body: F) -> ExitCode
where
    C: Parser + HasCommonArgs,
    F: FnOnce(C, &Output) -> Outcome,
{
    run_from(tool, std::env::args_os(), body)
}

/// [`run`] with explicit arguments (the first is the program name).
pub fn run_from<C, F, I, T>(tool: Tool, args: I, body: F) -> ExitCode
where
    C: Parser + HasCommonArgs,
    F: FnOnce(C, &Output) -> Outcome,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    match C::try_parse_from(&args) {
        Ok(cli) => {
            let common = cli.common_args().clone();
            let style = JsonStyle::resolve(common.json);
            install_panic_hook(tool, style);
            let output = Output::new(tool.name, common.quiet);
            let mut outcome = body(cli, &output);
            let error = outcome.error.as_ref().map(|e| e.message.clone());
            let summary = outcome.summary.take();
            let code = match Rendering::resolve(common.json, outcome.view.is_some()) {
                Rendering::View => print_view(outcome),
                Rendering::Json(style) => finish(tool, style, outcome),
            };
            // stderr's last word comes after stdout: the error, else the summary line.
            match (error, summary) {
                (Some(message), _) => output.error(&message),
                (None, Some(line)) => output.progress(&line),
                (None, None) => {}
            }
            code
        }
        Err(err) => match err.kind() {
            ClapErrorKind::DisplayHelp | ClapErrorKind::DisplayVersion => {
                // Plain text for people, exit 0; a closed stdout is not an error.
                let _ = write!(std::io::stdout(), "{}", err.render());
                ExitCode::SUCCESS
            }
            _ => {
                let err = the_real_error::<C>(err, &args);
                let rendered = err.render().to_string();
                let mut stderr = std::io::stderr().lock();
                let _ = write!(
                    stderr,
                    "{}: {}",
                    tool.name,
                    terminal_safe(&crate::secrets::scrub(&rendered), true)
                );
                drop(stderr);
                let outcome = Outcome::failure(ToolError::usage(usage_message(&rendered)));
                // clap's text above says what is wrong; a person at a terminal gets no
                // JSON for it either.
                match Rendering::resolve(json_style_in(&args), true) {
                    Rendering::View => {
                        print_view(outcome.with_view("error (usage, exit 2): see --help".into()))
                    }
                    Rendering::Json(style) => finish(tool, style, outcome),
                }
            }
        },
    }
}

/// Prints the envelope and returns the exit code.
pub fn finish(tool: Tool, style: JsonStyle, outcome: Outcome) -> ExitCode {
    let code = outcome.exit_code();
    if ENVELOPE_PRINTED.swap(true, Ordering::SeqCst) {
        return ExitCode::from(code);
    }
    let value = Envelope::new(tool.name, tool.version, outcome).into_scrubbed_value();
    // Written straight from the value, without a second copy as one string.
    let mut stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let written = match style {
        JsonStyle::Pretty => serde_json::to_writer_pretty(&mut stdout, &value),
        JsonStyle::Short => serde_json::to_writer(&mut stdout, &value),
    };
    // A reader that went away (broken pipe) ends the tool quietly with its normal code.
    let _ = written
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(stdout))
        .and_then(|()| stdout.flush());
    ExitCode::from(code)
}

/// Prints the view for people instead of the envelope; returns the exit code.
fn print_view(mut outcome: Outcome) -> ExitCode {
    let code = outcome.exit_code();
    if ENVELOPE_PRINTED.swap(true, Ordering::SeqCst) {
        return ExitCode::from(code);
    }
    let text = view_text(&outcome.view.take().unwrap_or_default());
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    ExitCode::from(code)
}

/// No input may end a tool without its envelope: a panic (a bug) prints a failure
/// envelope, scrubbed of secrets like every other, and exits 1, from whichever thread.
fn install_panic_hook(tool: Tool, style: JsonStyle) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!(
            "internal error: {what}{place}; this is a bug in {}: it stopped there, so what it had already done stays done; run it again to see the state, and report the bug",
            tool.name
        );
        let clean = terminal_safe(&crate::secrets::scrub(&message), false);
        let _ = writeln!(std::io::stderr().lock(), "{}: error: {clean}", tool.name);
        finish(tool, style, Outcome::failure(ToolError::failed(message)));
        std::process::exit(1);
    }));
}

/// A bare command that needs an argument or subcommand makes clap show the help as an
/// error. The envelope needs what is missing, named: the same command line parsed with
/// that behaviour off gives clap's own error for it.
fn the_real_error<C: Parser>(err: clap::Error, args: &[OsString]) -> clap::Error {
    if err.kind() != ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return err;
    }
    fn plain(cmd: clap::Command) -> clap::Command {
        cmd.arg_required_else_help(false).mut_subcommands(plain)
    }
    match plain(C::command()).try_get_matches_from(args) {
        Err(real) if real.kind() != ClapErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => real,
        _ => err,
    }
}

/// clap's error as one line that says what to do: its `error:` sentence with the lines
/// that complete it (the missing arguments, the possible values, a tip), without the
/// `Usage:` block and the pointer to `--help`, which the line ends with instead.
fn usage_message(rendered: &str) -> String {
    let mut message = String::new();
    let mut in_usage = false;
    for line in rendered.lines() {
        let line = line.trim();
        if line.is_empty() {
            in_usage = false;
            continue;
        }
        if line.starts_with("Usage:") {
            in_usage = true;
        }
        if in_usage || line.starts_with("For more information") {
            continue;
        }
        if message.is_empty() {
            message.push_str(line.strip_prefix("error: ").unwrap_or(line));
        } else if let Some(list) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            message.push_str(&format!(" ({list})"));
        } else if message.ends_with(':') {
            message.push(' ');
            message.push_str(line);
        } else if message.ends_with("...") || message.ends_with('>') {
            // One more of the listed arguments.
            message.push_str(", ");
            message.push_str(line);
        } else {
            message.push_str("; ");
            message.push_str(line);
        }
    }
    if message.is_empty() {
        message.push_str("invalid arguments");
    }
    message.push_str("; see --help");
    message
}

/// The `--json` style asked for on a command line that clap could not parse, so that even
/// a usage error comes out in the layout the caller wanted.
fn json_style_in(args: &[OsString]) -> Option<JsonStyle> {
    let mut found = None;
    let mut iter = args.iter().skip(1).map(|a| a.to_string_lossy());
    while let Some(arg) = iter.next() {
        if arg == "--" {
            break;
        }
        let value = if let Some(v) = arg.strip_prefix("--json=") {
            Some(v.to_string())
        } else if arg == "--json" {
            iter.next().map(|v| v.to_string())
        } else {
            None
        };
        match value.as_deref() {
            Some("pretty") => found = Some(JsonStyle::Pretty),
            Some("short") => found = Some(JsonStyle::Short),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parser with the shapes that make clap's messages differ: a required subcommand,
    /// required positionals, a value enum, a typed flag.
    #[derive(Debug, Parser)]
    #[command(name = "t")]
    struct Tiny {
        #[command(subcommand)]
        op: Op,
    }

    #[derive(Debug, clap::Subcommand)]
    enum Op {
        Stop {
            #[arg(value_enum)]
            mode: Mode,
            #[arg(required = true)]
            unit: Vec<String>,
            #[arg(long)]
            timeout: Option<u32>,
        },
    }

    #[derive(Debug, Clone, clap::ValueEnum)]
    enum Mode {
        Now,
        Later,
    }

    fn message_for(args: &[&str]) -> String {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let err = Tiny::try_parse_from(&args).expect_err("a usage error");
        usage_message(&the_real_error::<Tiny>(err, &args).render().to_string())
    }

    #[test]
    fn usage_messages_keep_what_clap_says_on_one_line() {
        let cases = [
            (
                vec!["t", "stop", "now"],
                "the following required arguments were not provided: <UNIT>...; see --help",
            ),
            (
                vec!["t", "stop"],
                "the following required arguments were not provided: <MODE>, <UNIT>...; see --help",
            ),
            (
                vec!["t"],
                "'t' requires a subcommand but one was not provided (subcommands: stop, help); see --help",
            ),
            (
                vec!["t", "stop", "soon", "x"],
                "invalid value 'soon' for '<MODE>' (possible values: now, later); see --help",
            ),
            (
                vec!["t", "stop", "now", "x", "--timeout", "ten"],
                "invalid value 'ten' for '--timeout <TIMEOUT>': invalid digit found in string; see --help",
            ),
            (
                vec!["t", "stop", "now", "x", "--timeout", "-3"],
                "unexpected argument '-3' found; tip: to pass '-3' as a value, use '-- -3'; see --help",
            ),
            (
                vec!["t", "--nope"],
                "unexpected argument '--nope' found; see --help",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(message_for(&args), want, "{args:?}");
        }
    }

    #[test]
    fn json_style_prescan() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            json_style_in(&args(&["t", "--json=short", "--bad"])),
            Some(JsonStyle::Short)
        );
        assert_eq!(
            json_style_in(&args(&["t", "--json", "pretty"])),
            Some(JsonStyle::Pretty)
        );
        assert_eq!(json_style_in(&args(&["t", "--", "--json=short"])), None);
        assert_eq!(json_style_in(&args(&["t", "--json=xml"])), None);
    }
}
