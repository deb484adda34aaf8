//! Hold profiles: an application's hold runbook as data. Its units (which one is the
//! API), the flags hibernate writes, its table groups (which are emptied by default,
//! which `--include NAME` adds, which tables are always kept), and its env file.
//!
//! - [`mod@format`]: the TOML format as written, and its JSON Schema;
//! - [`Profile`]: a profile once validated (no table in two groups, no unknown group,
//!   valid unit names), and the [`Selection`] a run makes from it;
//! - [`load`]: by name (`/etc/holdkit/profiles/NAME.toml`, else built in) or by path,
//!   under the host's trust rules; every error names the file and, where it can, the line.
//!
//! `cornice` is built in (profiles/cornice.toml), written in the same format.

mod error;
pub mod format;
mod load;
mod model;
mod validate;

pub use error::Error;
pub use load::{
    built_in_names, built_in_text, list_in, load, load_in, profile_dir, Listed, Spec, DEFAULT_DIR,
    DIR_VAR, MAX_PROFILE_BYTES,
};
pub use model::{Include, Profile, Selection, Source, Tables, Units};
pub use validate::{parse, DEFAULT_SCHEMA};

#[cfg(test)]
mod tests;
