//! holdctl's own report: the steps with their children's reports, what was not run, and
//! for status the flags, units and tables read out of those reports.

use crate::child::StepRecord;
use crate::Chain;
use conventions::{Outcome, ToolError};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub command: &'static str,
    /// The env file DATABASE_URL is read from (the last env file when none has it).
    pub env_file: Option<String>,
    pub steps: Vec<StepRecord>,
    pub not_run: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// status: the flags as the units get them (each from the env file systemd takes it
    /// from), as the app (python-dotenv) and systemd read them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<Value>,
    /// status: each unit's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub units: Option<Value>,
    /// status: the runtime tables hibernate would empty, with their sizes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_bytes: Option<u64>,
}

impl Report {
    pub fn new(command: &'static str) -> Report {
        Report {
            command,
            ..Report::default()
        }
    }

    /// The outcome: `changed` is any step's (never for status), the error the first failure.
    pub fn finish(
        mut self,
        chain: Chain,
        error: Option<ToolError>,
        steps_change: bool,
        dry_run: bool,
    ) -> Outcome {
        let changed = steps_change && chain.records.iter().any(|r| r.changed);
        self.steps = chain.records;
        self.not_run = chain.not_run;
        match error.or(chain.error) {
            Some(e) => Outcome::failure_with(e, &self, changed, dry_run),
            None => Outcome::success(&self, changed, dry_run),
        }
    }

    /// Reads the runtime tables' sizes out of the `read_tables` step's report.
    pub fn fill_status(&mut self, records: &[StepRecord]) {
        let Some(record) = records.iter().find(|r| r.ok && r.name == "read_tables") else {
            return;
        };
        let tables: Vec<Value> = record.report["truncated"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                json!({
                    "table": t["table"],
                    "bytes": t["bytes_before"],
                    "rows_estimate": t["rows_estimate"],
                })
            })
            .collect();
        self.runtime_bytes = Some(tables.iter().filter_map(|t| t["bytes"].as_u64()).sum());
        self.tables = Some(Value::Array(tables));
    }
}

/// The units of an `svcctl status` report, reduced to what status shows.
pub fn units(svcctl_report: &Value) -> Option<Value> {
    let units = svcctl_report["units"].as_array()?;
    Some(Value::Array(
        units
            .iter()
            .map(|u| {
                let state = unit_state(u);
                json!({
                    "unit": u["unit"],
                    "present": u["present"],
                    "active": state["active"],
                    "sub": state["sub"],
                    "enabled": state["enabled"],
                    "main_pid": state["main_pid"],
                })
            })
            .collect(),
    ))
}

fn unit_state(unit: &Value) -> &Value {
    if unit["after"].is_object() {
        &unit["after"]
    } else {
        &unit["before"]
    }
}

/// One line for the confirmation prompt: what a dry-run step would do.
pub fn describe(record: &StepRecord) -> String {
    let r = &record.report;
    let what = match record.name {
        "truncate" => {
            let tables = r["truncated"].as_array().map_or(0, Vec::len);
            let bytes: u64 = r["truncated"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["bytes_before"].as_u64())
                .sum();
            format!("empty {tables} tables holding {}", human_bytes(bytes))
        }
        _ if record.changed => "change".to_string(),
        _ => "nothing to do".to_string(),
    };
    format!("{:<16} {what}   ({})", record.name, record.argv.join(" "))
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(150 * 1024 * 1024), "150.0 MiB");
    }
}
