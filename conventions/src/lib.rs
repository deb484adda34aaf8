//! What every holdkit tool shares, and nothing else:
//!
//! - [`envelope`]: the one JSON document each run prints on stdout;
//! - [`error`]: the error kinds and their exit codes, one enum, one mapping;
//! - [`output`]: JSON style, `-q`, stderr messages prefixed with the tool name;
//! - [`duration`]: `500ms`, `5s`, `2m` style durations; [`human`]: sizes and lists for
//!   the summary line;
//! - [`secrets`]: which values are secret and how they are kept out of every output;
//! - [`cli`]: the `main` harness that ties them together for a clap parser;
//! - [`unit_name`]: systemd's unit-name rule, for svcctl and for the hold profiles that
//!   name units.
//!
//! Library code here never prints or exits except in [`cli::run`], which is what each
//! tool's thin `main.rs` calls.

pub mod cli;
pub mod duration;
pub mod envelope;
pub mod error;
pub mod human;
pub mod output;
pub mod secrets;
pub mod unit_name;

pub use cli::{run, CommonArgs, HasCommonArgs, Tool};
pub use duration::parse_duration;
pub use envelope::{Envelope, Outcome};
pub use error::{ErrorKind, ToolError};
pub use output::{JsonStyle, Output};
