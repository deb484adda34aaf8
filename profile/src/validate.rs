//! From a profile's text to a [`Profile`]: parsed in the format of format.rs, then every
//! rule checked, each failure naming the line of the name at fault.

use crate::error::Error;
use crate::format::{IncludeFile, ProfileFile};
use crate::model::{Include, Profile, Source, Tables, Units};
use conventions::unit_name::UnitName;
use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;

/// The schema of a profile that does not name one.
pub const DEFAULT_SCHEMA: &str = "public";

/// Parses and validates `text`; `file` names it in errors (a path, or `built-in NAME`).
pub fn parse(text: &str, file: &str, name: &str, source: Source) -> Result<Profile, Error> {
    let raw: ProfileFile = toml::from_str(text).map_err(|e| Error::Syntax {
        file: file.to_string(),
        line: e.span().map(|s| line_of(text, s.start)),
        message: e.message().trim().to_string(),
    })?;
    let check = Checker { text, file };
    let units = check.units(&raw)?;
    let flags = check.flags(&raw.flags)?;
    let wake_flags = check.wake_flags(&raw.wake_flags, &flags)?;
    let env_file = match &raw.env_file {
        Some(p) if !p.get_ref().starts_with('/') => {
            return Err(check.at(
                p.span(),
                format!(
                    "env_file \"{}\" is not an absolute path",
                    p.get_ref().escape_debug()
                ),
            ))
        }
        Some(p) => Some(PathBuf::from(p.get_ref())),
        None => None,
    };
    let tables = check.tables(&raw)?;
    let includes = check.includes(&raw.include, &tables)?;
    Ok(Profile {
        name: name.to_string(),
        source,
        sha256: sha256_hex(text.as_bytes()),
        description: raw.description,
        env_file,
        units,
        flags,
        wake_flags,
        tables,
        includes,
    })
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Group and include names are command-line words.
fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An environment variable name, as an env file and a shell both read it.
fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Checker<'a> {
    text: &'a str,
    file: &'a str,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>, problem: String) -> Error {
        Error::Invalid {
            file: self.file.to_string(),
            line: Some(line_of(self.text, span.start)),
            problem,
        }
    }

    fn unit(&self, name: &Spanned<String>) -> Result<UnitName, Error> {
        UnitName::parse(name.get_ref()).map_err(|e| self.at(name.span(), e))
    }

    fn units(&self, raw: &ProfileFile) -> Result<Units, Error> {
        let api = self.unit(&raw.units.api)?;
        let mut others: Vec<UnitName> = Vec::new();
        for o in &raw.units.others {
            let unit = self.unit(o)?;
            if unit == api || others.contains(&unit) {
                return Err(self.at(o.span(), format!("unit {unit} is listed twice")));
            }
            others.push(unit);
        }
        Ok(Units { api, others })
    }

    fn flags(
        &self,
        raw: &IndexMap<Spanned<String>, String>,
    ) -> Result<IndexMap<String, String>, Error> {
        let mut flags = IndexMap::new();
        for (name, value) in raw {
            if !is_env_name(name.get_ref()) {
                return Err(self.at(
                    name.span(),
                    format!(
                        "flag \"{}\" is not an environment variable name (letters, digits and '_', not starting with a digit)",
                        name.get_ref().escape_debug()
                    ),
                ));
            }
            flags.insert(name.get_ref().clone(), value.clone());
        }
        Ok(flags)
    }

    /// Each a flag of the profile: wake writes back only what hibernate wrote.
    fn wake_flags(
        &self,
        raw: &IndexMap<Spanned<String>, String>,
        flags: &IndexMap<String, String>,
    ) -> Result<IndexMap<String, String>, Error> {
        let mut wake = IndexMap::new();
        for (name, value) in raw {
            if !flags.contains_key(name.get_ref()) {
                return Err(self.at(
                    name.span(),
                    format!(
                        "wake_flags names \"{}\", which is not in [flags] (wake writes back only what hibernate wrote)",
                        name.get_ref().escape_debug()
                    ),
                ));
            }
            wake.insert(name.get_ref().clone(), value.clone());
        }
        Ok(wake)
    }

    fn tables(&self, raw: &ProfileFile) -> Result<Tables, Error> {
        let t = &raw.tables;
        let schema = match &t.schema {
            Some(s) if s.get_ref().is_empty() => {
                return Err(self.at(s.span(), "tables.schema is empty".into()))
            }
            Some(s) => s.get_ref().clone(),
            None => DEFAULT_SCHEMA.to_string(),
        };
        let mut keep: Vec<String> = Vec::new();
        for k in &t.keep {
            self.table_name(k)?;
            keep.push(k.get_ref().clone());
        }
        let mut owner: HashMap<&str, &str> = HashMap::new();
        let mut groups = IndexMap::new();
        for (group, tables) in &t.groups {
            let g = group.get_ref().as_str();
            if !is_word(g) {
                return Err(self.at(
                    group.span(),
                    format!(
                        "group \"{}\" is not a plain name (letters, digits, '-' and '_')",
                        g.escape_debug()
                    ),
                ));
            }
            for table in tables {
                let name = table.get_ref().as_str();
                self.table_name(table)?;
                if let Some(first) = owner.insert(name, g) {
                    let problem = if first == g {
                        format!("table {name} is listed twice in group {g}")
                    } else {
                        format!("table {name} is in two groups, {first} and {g}: a table belongs to one group at most")
                    };
                    return Err(self.at(table.span(), problem));
                }
                if keep.iter().any(|k| k == name) {
                    return Err(self.at(
                        table.span(),
                        format!("table {name} is in group {g} and in tables.keep: a kept table is in no group"),
                    ));
                }
            }
            groups.insert(
                g.to_string(),
                tables.iter().map(|t| t.get_ref().clone()).collect(),
            );
        }
        let mut default = Vec::new();
        for d in &t.default {
            self.known_group(d, &groups, "tables.default")?;
            default.push(d.get_ref().clone());
        }
        Ok(Tables {
            schema,
            default,
            keep,
            groups,
        })
    }

    fn table_name(&self, table: &Spanned<String>) -> Result<(), Error> {
        if table.get_ref().is_empty() {
            return Err(self.at(table.span(), "a table name is empty".into()));
        }
        Ok(())
    }

    fn known_group(
        &self,
        name: &Spanned<String>,
        groups: &IndexMap<String, Vec<String>>,
        whose: &str,
    ) -> Result<(), Error> {
        if groups.contains_key(name.get_ref()) {
            return Ok(());
        }
        let known: Vec<&str> = groups.keys().map(String::as_str).collect();
        Err(self.at(
            name.span(),
            format!(
                "{whose} names group \"{}\", which tables.groups does not define (it defines: {})",
                name.get_ref().escape_debug(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ))
    }

    fn includes(
        &self,
        raw: &IndexMap<Spanned<String>, IncludeFile>,
        tables: &Tables,
    ) -> Result<IndexMap<String, Include>, Error> {
        let mut includes = IndexMap::new();
        for (name, inc) in raw {
            let n = name.get_ref();
            if !is_word(n) {
                return Err(self.at(
                    name.span(),
                    format!(
                        "include \"{}\" is not a plain name (letters, digits, '-' and '_')",
                        n.escape_debug()
                    ),
                ));
            }
            let whose = format!("include.{n}");
            for g in &inc.groups {
                self.known_group(g, &tables.groups, &whose)?;
            }
            includes.insert(
                n.clone(),
                Include {
                    groups: inc.groups.iter().map(|g| g.get_ref().clone()).collect(),
                    unclassified: inc.unclassified,
                },
            );
        }
        Ok(includes)
    }
}
