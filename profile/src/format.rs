//! The profile file as written: the TOML format, with the position of every name that
//! validation may have to point at. The JSON Schema (schemas/profile.schema.json) is
//! generated from these types; [`crate::Profile`] is what they validate into.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// A hold profile: an application's hold runbook as data (its units, the flags hibernate
/// writes, its table groups, its env file). Unknown keys are refused.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "holdkit hold profile")]
pub struct ProfileFile {
    /// One line saying what the application is.
    #[serde(default)]
    pub description: Option<String>,
    /// The env file hibernate writes the flags to and DATABASE_URL is read from
    /// (absolute path). Default: the API unit's `EnvironmentFile=` lines.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub env_file: Option<Spanned<String>>,
    pub units: UnitsFile,
    /// Written to the env file by hibernate (`NAME = "value"`); wake restores the values
    /// the record kept.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub flags: IndexMap<Spanned<String>, String>,
    /// Written by wake when there is no hold record to restore from (a host put on hold
    /// by hand): each a key of `flags`. Default: each flag unset.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, String>")]
    pub wake_flags: IndexMap<Spanned<String>, String>,
    #[serde(default)]
    pub tables: TablesFile,
    /// `--include NAME`: what each name adds to the default groups.
    #[serde(default)]
    #[schemars(with = "IndexMap<String, IncludeFile>")]
    pub include: IndexMap<Spanned<String>, IncludeFile>,
}

/// The application's systemd units.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnitsFile {
    /// The API unit (required); a bare name means `NAME.service`.
    #[schemars(with = "String")]
    pub api: Spanned<String>,
    /// Stopped and disabled with the API; each may be absent from a host.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub others: Vec<Spanned<String>>,
}

/// The application's tables, in groups.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TablesFile {
    /// The schema the tables live in. Default: `public`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub schema: Option<Spanned<String>>,
    /// The groups emptied when no `--include` is given.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub default: Vec<Spanned<String>>,
    /// Tables never emptied through the profile (e.g. the migration bookkeeping), in no
    /// group.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub keep: Vec<Spanned<String>>,
    /// Group name to its tables (unqualified names, matched exactly). A table is in one
    /// group at most; a table of the schema in no group is "unclassified".
    #[serde(default)]
    #[schemars(with = "IndexMap<String, Vec<String>>")]
    pub groups: IndexMap<Spanned<String>, Vec<Spanned<String>>>,
}

/// What one `--include NAME` adds.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludeFile {
    /// Groups added to the default ones.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub groups: Vec<Spanned<String>>,
    /// Also every table of the schema in no group (never a `keep` table).
    #[serde(default)]
    pub unclassified: bool,
}

/// The JSON Schema of the profile format, as committed in schemas/profile.schema.json.
pub fn schema_text() -> String {
    let schema = schemars::schema_for!(ProfileFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}
