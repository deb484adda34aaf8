//! A profile once validated, and what a run selects from it.

use crate::error::Error;
use conventions::unit_name::UnitName;
use indexmap::IndexMap;
use std::fmt;
use std::path::PathBuf;

/// Where a profile was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the tools.
    BuiltIn,
    /// A file: in the profile directory (by name) or given by path.
    File(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in"),
            Source::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// A validated hold profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The name asked for, or the file's stem for a path.
    pub name: String,
    pub source: Source,
    /// SHA-256 of the profile's bytes, hex: which text a run followed.
    pub sha256: String,
    pub description: Option<String>,
    pub env_file: Option<PathBuf>,
    pub units: Units,
    /// In the file's order.
    pub flags: IndexMap<String, String>,
    /// What wake writes without a hold record, by flag; a flag not here is unset.
    pub wake_flags: IndexMap<String, String>,
    pub tables: Tables,
    /// `--include NAME`, in the file's order.
    pub includes: IndexMap<String, Include>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Units {
    pub api: UnitName,
    pub others: Vec<UnitName>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub schema: String,
    /// Group names, each defined in `groups`.
    pub default: Vec<String>,
    /// Never emptied through the profile; in no group.
    pub keep: Vec<String>,
    /// Group name to its (unqualified) tables, in the file's order; no table in two.
    pub groups: IndexMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// Group names, each defined in `tables.groups`.
    pub groups: Vec<String>,
    pub unclassified: bool,
}

/// What a run empties through the profile: the default groups and those its includes
/// add, and whether the tables in no group go too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// In the profile's group order, each once.
    pub groups: Vec<String>,
    pub unclassified: bool,
}

impl Profile {
    /// Where the profile came from, for messages: `profile ledger (/etc/...)`.
    pub fn describe(&self) -> String {
        format!("profile {} ({})", self.name, self.source)
    }

    /// The group a table is in, if any.
    pub fn group_of(&self, table: &str) -> Option<&str> {
        self.tables
            .groups
            .iter()
            .find(|(_, tables)| tables.iter().any(|t| t == table))
            .map(|(g, _)| g.as_str())
    }

    /// Whether the profile keeps the table whatever is included.
    pub fn keeps(&self, table: &str) -> bool {
        self.tables.keep.iter().any(|t| t == table)
    }

    /// The include names the profile defines.
    pub fn include_names(&self) -> Vec<String> {
        self.includes.keys().cloned().collect()
    }

    /// The default groups plus what each of `includes` adds: an include of the profile,
    /// else one group of that name alone (what `--include GROUP` always meant); a name
    /// that is neither is an error naming what the profile defines.
    pub fn select<S: AsRef<str>>(&self, includes: &[S]) -> Result<Selection, Error> {
        let mut wanted: Vec<&str> = self.tables.default.iter().map(String::as_str).collect();
        let mut unclassified = false;
        for name in includes {
            let name = name.as_ref();
            if let Some(inc) = self.includes.get(name) {
                wanted.extend(inc.groups.iter().map(String::as_str));
                unclassified |= inc.unclassified;
            } else if let Some((group, _)) = self.tables.groups.get_key_value(name) {
                wanted.push(group);
            } else {
                return Err(Error::UnknownInclude {
                    profile: self.name.clone(),
                    include: name.to_string(),
                    known: self.include_names(),
                    groups: self.tables.groups.keys().cloned().collect(),
                });
            }
        }
        let groups = self
            .tables
            .groups
            .keys()
            .filter(|g| wanted.contains(&g.as_str()))
            .cloned()
            .collect();
        Ok(Selection {
            groups,
            unclassified,
        })
    }
}
