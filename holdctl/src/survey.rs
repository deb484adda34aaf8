//! What every operation reads before it changes anything: the two units, by svcctl (their
//! full names, whether the API exists, its `EnvironmentFile=` lines), then each env file,
//! by envpatch (which of the flags and DATABASE_URL it assigns, as systemd reads it).
//! Names and readings are taken from the children's reports, never recomputed here.

use crate::child::StepRecord;
use crate::steps::{self, EnvLayout, READ_KEYS};
use crate::Chain;
use conventions::ToolError;
use serde_json::Value;
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
pub fn units(svcctl_report: &Value) -> Result<(Unit, Unit), ToolError> {
    let entries: Vec<Unit> = svcctl_report["units"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| Unit {
            name: u["unit"].as_str().unwrap_or_default().to_string(),
            present: u["present"] == true,
            environment_files: state(u)["environment_files"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(PathBuf::from))
                .collect(),
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

fn state(unit: &Value) -> &Value {
    if unit["after"].is_object() {
        &unit["after"]
    } else {
        &unit["before"]
    }
}

/// Reads each env file that exists (an optional `EnvironmentFile=-...` may not) and
/// says where systemd takes each key from. A file that cannot be read fails the chain.
pub fn read_env(chain: &mut Chain, files: Vec<PathBuf>) -> EnvLayout {
    let files: Vec<PathBuf> = files.into_iter().filter(|f| f.exists()).collect();
    let mut found: Vec<(&'static str, Option<usize>)> =
        READ_KEYS.iter().map(|k| (*k, None)).collect();
    for (i, file) in files.iter().enumerate() {
        let Some(record) = chain.run(&steps::read_flags(file), None) else {
            continue;
        };
        for (key, at) in found.iter_mut() {
            if !record.report["values_by_reader"]["systemd"][*key].is_null() {
                *at = Some(i);
            }
        }
    }
    EnvLayout { files, found }
}

/// The flags as the units get them: each key's reading from the file systemd takes it
/// from, for status's `env` field.
pub fn env_status(records: &[StepRecord], layout: &EnvLayout) -> Option<Value> {
    let reads: Vec<&StepRecord> = records
        .iter()
        .filter(|r| r.name == "read_flags" && r.ok)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let mut values = serde_json::Map::new();
    let mut by_reader = serde_json::json!({"systemd": {}, "dotenv": {}});
    for (key, _) in steps::HIBERNATE_FLAGS {
        let file = layout.source_of(key).map(|p| p.display().to_string());
        let record = reads.iter().find(|r| {
            r.report["file"]
                .as_str()
                .is_some_and(|f| Some(f) == file.as_deref())
        });
        let read = |reader: &str| {
            record.map_or(Value::Null, |r| {
                r.report["values_by_reader"][reader][key].clone()
            })
        };
        values.insert(
            key.to_string(),
            record.map_or(Value::Null, |r| r.report["values"][key].clone()),
        );
        by_reader["systemd"][key] = read("systemd");
        by_reader["dotenv"][key] = read("dotenv");
    }
    let hibernating = values["HIBERNATE_MODE"] == "true" && values["INGEST_ENABLED"] == "false";
    Some(serde_json::json!({
        "file": layout.files.last().map(|f| f.display().to_string()),
        "files": layout.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "values": values,
        "values_by_reader": by_reader,
        "hibernating": hibernating,
    }))
}
