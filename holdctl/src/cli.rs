//! holdctl's command line.

use crate::{hold, lock};
use clap::{Parser, Subcommand};
use conventions::{CommonArgs, HasCommonArgs};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Operation {
    /// Check every step first, keep a hold record, then: flags on, services stopped and
    /// disabled, runtime tables emptied
    Hibernate,
    /// Undo the hold exactly, as its record says: flags, enablement and activity back
    /// (cleared data is not restored)
    Wake,
    /// The flags, the units' state, the runtime tables' sizes and the hold record; read
    /// only
    Status,
    /// What hibernate would do (hibernate --dry-run); `plan --profile FILE` tries a
    /// profile
    Plan,
    /// The hold profiles a name can choose: built in, and in the profile directory
    /// (/etc/holdkit/profiles, or HOLDKIT_PROFILE_DIR), each checked as a run would
    Profiles,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Hibernate => "hibernate",
            Operation::Wake => "wake",
            Operation::Status => "status",
            Operation::Plan => "plan",
            Operation::Profiles => "profiles",
        }
    }
}

/// Put a server on hold safely, as its hold profile says, one step per tool.
#[derive(Debug, Parser)]
#[command(name = "holdctl", version)]
pub struct Cli {
    #[command(subcommand)]
    pub operation: Operation,
    /// The env file [default: the API unit's EnvironmentFile=, as systemd reports it]
    #[arg(long, value_name = "FILE", global = true)]
    pub env_file: Option<PathBuf>,
    /// The hold profile: a NAME (/etc/holdkit/profiles/NAME.toml, else built in) or a
    /// FILE (a path with a '/' or ending in .toml). It names the units, the flags, the
    /// table groups and the env file; a file root must not trust is refused
    #[arg(
        long,
        value_name = "NAME|FILE",
        default_value = DEFAULT_PROFILE,
        global = true
    )]
    pub profile: String,
    /// The API unit, instead of the profile's
    #[arg(long, value_name = "UNIT", global = true)]
    pub service: Option<String>,
    /// The one other unit, instead of the profile's others (skipped if absent; one given
    /// here that does not exist is a warning)
    #[arg(long, value_name = "UNIT", global = true)]
    pub monitor: Option<String>,
    /// The database [default: DATABASE_URL from the env file systemd takes it from; also
    /// read from HOLDCTL_DATABASE_URL]. Moved out of argv at once (holdctl runs itself
    /// again with it in the environment), so `ps` never shows it for long
    #[arg(long, value_name = "URL", global = true)]
    pub database_url: Option<String>,
    /// Add the profile's include NAME, or else its group NAME alone (repeatable)
    #[arg(long, value_name = "NAME", global = true)]
    pub include: Vec<String>,
    /// The spelling of --include opportunities
    #[arg(long, global = true)]
    pub include_opportunities: bool,
    /// The spelling of --include auth
    #[arg(long, global = true)]
    pub include_auth: bool,
    /// After clearing, start the API again (in hibernate mode)
    #[arg(long, global = true)]
    pub keep_api: bool,
    /// Let pgtruncate connect over a Unix socket that the env file's DATABASE_URL names
    /// when another user owns or can write that file (pgtruncate --allow-socket)
    #[arg(long, global = true)]
    pub allow_socket: bool,
    /// hibernate: archive the emptied rows first (pgtruncate --archive), into
    /// DIR/HOST-DATE-DB.sql.gz [default DIR: STATE_DIR/archives, created 0700]; the hold
    /// record keeps its path, digest and row counts
    #[arg(
        long,
        value_name = "DIR",
        num_args = 0..=1,
        require_equals = true,
        global = true
    )]
    pub archive: Option<Option<PathBuf>>,
    /// wake: put the hold's archive back (pgtruncate --undo) before any unit starts;
    /// refused when the hold record names no archive
    #[arg(long, global = true)]
    pub restore: bool,
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
    /// Where the hold record (hold.json) and its history (holds/) live; created 0700,
    /// refused if anyone but the caller can write it
    #[arg(
        long,
        value_name = "DIR",
        default_value = hold::DEFAULT_STATE_DIR,
        global = true
    )]
    pub state_dir: PathBuf,
    /// Report what would be done; change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The profile when `--profile` is not given: the built-in one.
pub const DEFAULT_PROFILE: &str = "cornice";

/// The runbook's include flags, each the spelling of one `--include NAME`.
pub const INCLUDE_SPELLINGS: [(&str, &str); 2] = [
    ("--include-opportunities", "opportunities"),
    ("--include-auth", "auth"),
];

impl Cli {
    /// Every include chosen: `--include` as given, then the runbook spellings', each once.
    pub fn includes(&self) -> Vec<String> {
        let mut all = self.include.clone();
        for ((_, name), on) in INCLUDE_SPELLINGS
            .iter()
            .zip([self.include_opportunities, self.include_auth])
        {
            if on && !all.iter().any(|i| i == name) {
                all.push(name.to_string());
            }
        }
        all
    }
}

impl HasCommonArgs for Cli {
    fn common_args(&self) -> &CommonArgs {
        &self.common
    }
}
