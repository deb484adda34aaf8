//! What every operation reads before it changes anything: the two units, by svcctl (their
//! full names, whether the API exists, its `EnvironmentFile=` lines), then each env file,
//! by envpatch (which of the flags and DATABASE_URL it assigns, as systemd reads it).
//! Names and readings are taken from the children's reports, never recomputed here.

use crate::chain::Chain;
use crate::child::StepRecord;
use crate::steps::{self, EnvLayout, READ_KEYS};
use conventions::ToolError;
use reports::holdctl::{EnvStatus, StepName, UnitBefore};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A unit as svcctl reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    /// The full name (`cornice.service`), as svcctl resolved it.
    pub name: String,
    pub present: bool,
    pub environment_files: Vec<PathBuf>,
}

/// The API unit and the monitor unit, in the order `read_units` named them.
pub fn units(svcctl: &reports::svcctl::Report) -> Result<(Unit, Unit), ToolError> {
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
    match entries.as_slice() {
        [api, monitor] => Ok((api.clone(), monitor.clone())),
        [one] => Err(ToolError::usage(format!(
            "--service and --monitor name the same unit, {}: give the monitor's own name (the default is cornice-monitor)",
            one.name
        ))),
        _ => Err(ToolError::failed(
            "svcctl's report of the units holds neither one nor two units: run `svcctl status` by hand to see why",
        )),
    }
}

/// Reads each env file and says where systemd takes each key from. With `from_unit`, a
/// file that does not exist is left out (an optional `EnvironmentFile=-...` need not);
/// a file the operator named must exist. A file that cannot be read fails the chain.
pub fn read_env(chain: &mut Chain, files: Vec<PathBuf>, from_unit: bool) -> EnvLayout {
    let files: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| !from_unit || f.exists())
        .collect();
    let mut found: Vec<(&'static str, Option<usize>)> =
        READ_KEYS.iter().map(|k| (*k, None)).collect();
    let mut systemd_values = Vec::with_capacity(files.len());
    for (i, file) in files.iter().enumerate() {
        let systemd = chain
            .run(&steps::read_flags(file), None)
            .and_then(StepRecord::envpatch)
            .map(|r| r.values_by_reader.systemd.clone())
            .unwrap_or_default();
        for (key, at) in found.iter_mut() {
            if systemd.get(*key).is_some_and(Option::is_some) {
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
/// from, for status's `env` field.
pub fn env_status(records: &[StepRecord], layout: &EnvLayout) -> Option<EnvStatus> {
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
    for (key, _) in steps::HIBERNATE_FLAGS {
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
    let is = |key: &str, want: &str| values.get(key).cloned().flatten().as_deref() == Some(want);
    let hibernating = is("HIBERNATE_MODE", "true") && is("INGEST_ENABLED", "false");
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
