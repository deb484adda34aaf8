//! envpatch: set, unset and read keys in an env file, in place, format-preserving, atomic.

use clap::Parser;
use conventions::{CommonArgs, HasCommonArgs, Outcome, Output, ToolError};
use std::path::PathBuf;

/// Edit an env file in place: format-preserving, atomic, readable alike by systemd's
/// EnvironmentFile= and python-dotenv.
#[derive(Debug, Parser)]
#[command(name = "envpatch", version)]
pub struct Cli {
    /// The env file to edit
    pub file: PathBuf,
    /// Assignments to make
    #[arg(value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
    /// Remove every assignment of KEY (repeatable)
    #[arg(short, long, value_name = "KEY")]
    pub unset: Vec<String>,
    /// Read only: report KEY's effective value (repeatable)
    #[arg(long, value_name = "KEY")]
    pub get: Vec<String>,
    /// More assignments: KEY=VALUE lines, or one JSON object of strings ("-" for stdin)
    #[arg(long, value_name = "PATH|-")]
    pub from: Option<String>,
    /// Create FILE (mode 0600, owned by the caller) if it does not exist
    #[arg(long)]
    pub create: bool,
    /// Keep the previous content beside FILE (default suffix .bak)
    #[arg(long, value_name = "SUFFIX", num_args = 0..=1, default_missing_value = ".bak", require_equals = true)]
    pub backup: Option<String>,
    /// Report what would change; change nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

impl HasCommonArgs for Cli {
    fn common_args(&self) -> &CommonArgs {
        &self.common
    }
}

pub fn run(_cli: Cli, _out: &Output) -> Outcome {
    Outcome::failure(ToolError::failed("envpatch: not implemented yet"))
}
