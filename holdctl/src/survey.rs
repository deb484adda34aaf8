//! What every operation reads before it changes anything: the profile's units, by svcctl
//! (their full names, whether the API exists, its `EnvironmentFile=` lines), then each env
//! file, by envpatch (which of the flags and DATABASE_URL it assigns, as systemd reads it).
//! Names and readings are taken from the children's reports, never recomputed here.

use crate::chain::Chain;
use crate::child::StepRecord;
use crate::steps::{self, EnvLayout};
use conventions::ToolError;
use reports::holdctl::{EnvStatus, StepName, UnitBefore};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A unit as svcctl reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The full name (`app.service`), as svcctl resolved it.
    pub name: String,
    pub present: bool,
    pub environment_files: Vec<PathBuf>,
}

/// The API unit and the others, in the order `read_units` named them (`asked` is how
/// many it named).
pub fn units(
    svcctl: &reports::svcctl::Report,
    asked: usize,
) -> Result<(Unit, Vec<Unit>), ToolError> {
    let entries: Vec<Unit> = svcctl
        .units
        .iter()
        .map(|u| Unit {
            name: u.unit.clone(),
            present: u.present,
            environment_files: u
                .after
                .as_ref()
                .or(u.before.as_ref())
                .map(|s| s.environment_files.iter().map(PathBuf::from).collect())
                .unwrap_or_default(),
        })
        .collect();
    match entries.split_first() {
        Some((api, others)) if entries.len() == asked => Ok((api.clone(), others.to_vec())),
        Some(_) if entries.len() < asked => {
            let names: Vec<&str> = entries.iter().map(|u| u.name.as_str()).collect();
            Err(ToolError::usage(format!(
                "the API unit and the other units name one unit twice (svcctl read them as {}): give each unit once (--service, --monitor, or the profile's [units])",
                names.join(", ")
            )))
        }
        _ => Err(ToolError::failed(format!(
            "svcctl's report of the units does not hold the {asked} unit(s) asked for: run `svcctl status` by hand to see why"
        ))),
    }
}

/// Reads `flags` and DATABASE_URL in each env file and says where systemd takes each
/// key from. With `from_unit`, a file that does not exist is left out (an optional
/// `EnvironmentFile=-...` need not); a file the operator named must exist. A file that
/// cannot be read fails the chain.
pub fn read_env(
    chain: &mut Chain,
    files: Vec<PathBuf>,
    from_unit: bool,
    flags: &[String],
) -> EnvLayout {
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !from_unit || f.exists())
        .collect();
    let mut keys: Vec<String> = flags.to_vec();
    keys.push(steps::URL_KEY.to_string());
    let mut found: Vec<(String, Option<usize>)> = keys.iter().map(|k| (k.clone(), None)).collect();
    let mut systemd_values = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let systemd = chain
            .run(&steps::read_flags(file, &keys), None)
            .and_then(StepRecord::envpatch)
            .map(|r| r.values_by_reader.systemd.clone())
            .unwrap_or_default();
        for (key, at) in found.iter_mut() {
            if systemd.get(key.as_str()).is_some_and(Option::is_some) {
                *at = Some(i);
            }
        }
        systemd_values.push(systemd);
    }
    EnvLayout {
        files,
        found,
        systemd_values,
    }
}

/// Each unit of an `svcctl status` report as it is now: what a hold record keeps.
pub fn units_now(svcctl: &reports::svcctl::Report) -> Vec<UnitBefore> {
    svcctl
        .units
        .iter()
        .map(|u| {
            let state = u.after.as_ref().or(u.before.as_ref());
            UnitBefore {
                unit: u.unit.clone(),
                present: u.present,
                enabled: state.and_then(|s| s.enabled.clone()),
                active: state.map(|s| s.active.clone()),
            }
        })
        .collect()
}

/// The flags as the units get them: each key's reading from the file systemd takes it
/// from, for status's `env` field; on hold when each reads as hibernate writes it.
pub fn env_status(
    records: &[StepRecord],
    layout: &EnvLayout,
    flags: &[(String, String)],
) -> Option<EnvStatus> {
    let reads: Vec<&reports::envpatch::Report> = records
        .iter()
        .filter(|r| r.name == StepName::ReadFlags && r.ok)
        .filter_map(StepRecord::envpatch)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let mut values = BTreeMap::new();
    let mut by_reader: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
    for (key, _) in flags {
        let key = key.as_str();
        let file = layout.source_of(key).map(|p| p.display().to_string());
        let read = reads.iter().find(|r| Some(&r.file) == file.as_ref());
        let value = |map: Option<&BTreeMap<String, Option<String>>>| {
            map.and_then(|m| m.get(key).cloned()).flatten()
        };
        values.insert(key.to_string(), value(read.map(|r| &r.values)));
        by_reader.entry("systemd".into()).or_default().insert(
            key.to_string(),
            value(read.map(|r| &r.values_by_reader.systemd)),
        );
        by_reader.entry("dotenv".into()).or_default().insert(
            key.to_string(),
            value(read.map(|r| &r.values_by_reader.dotenv)),
        );
    }
    let hibernating = !flags.is_empty()
        && flags
            .iter()
            .all(|(key, want)| values.get(key).cloned().flatten().as_ref() == Some(want));
    Some(EnvStatus {
        file: layout.files.last().map(|f| f.display().to_string()),
        files: layout
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        values,
        values_by_reader: by_reader,
        hibernating,
    })
}
