//! holdctl's report, built in one place: the steps with their children's reports, what
//! was not run, the preflight, the hold record, and for status the flags, units and
//! tables read out of those reports; its summary line and its view for people.

use crate::chain::Chain;
use crate::child::StepRecord;
use crate::cli::Operation;
use crate::view;
use conventions::human::human_bytes;
use conventions::{Outcome, ToolError};
use reports::holdctl::{
    EnvStatus, HoldRecord, ListedProfile, ProfileInfo, StepName, TableStatus, UnitStatus,
};

pub use reports::holdctl::Report;

/// What a run gathered on its way, until [`finish`] makes the report of it.
pub struct Draft {
    pub operation: Operation,
    pub dry_run: bool,
    pub chain: Chain,
    /// hibernate's dry runs of its steps, before anything changed.
    pub preflight: Vec<StepRecord>,
    pub warnings: Vec<String>,
    pub env_file: Option<String>,
    pub env: Option<EnvStatus>,
    pub units: Option<Vec<UnitStatus>>,
    pub hold: Option<HoldRecord>,
    pub hold_file: Option<String>,
    pub note: Option<String>,
    pub profile: Option<ProfileInfo>,
    pub profiles: Option<Vec<ListedProfile>>,
}

impl Draft {
    pub fn new(operation: Operation, dry_run: bool, chain: Chain) -> Self {
        Draft {
            operation,
            dry_run,
            chain,
            preflight: Vec::new(),
            warnings: Vec::new(),
            env_file: None,
            env: None,
            units: None,
            hold: None,
            hold_file: None,
            note: None,
            profile: None,
            profiles: None,
        }
    }

    /// A warning: on stderr now, and in the report.
    pub fn warn(&mut self, message: String) {
        self.chain.out.warn(&message);
        self.warnings.push(message);
    }
}

/// The one exit path: the report, its `changed` (any step's, never for status), the
/// error (the first failure), the summary line and the view.
pub fn finish(mut draft: Draft, result: Result<(), ToolError>) -> Outcome {
    let error = result.err().or_else(|| draft.chain.error.take());
    let changed =
        draft.operation != Operation::Status && draft.chain.records.iter().any(|r| r.changed);
    let dry_run = draft.dry_run;
    let mut report = Report {
        command: draft.operation.as_str().to_string(),
        env_file: draft.env_file.take(),
        steps: draft
            .chain
            .records
            .iter()
            .map(StepRecord::to_step)
            .collect(),
        not_run: draft.chain.not_run.clone(),
        preflight: draft.preflight.iter().map(StepRecord::to_step).collect(),
        warnings: std::mem::take(&mut draft.warnings),
        hold: draft.hold.take(),
        hold_file: draft.hold_file.take(),
        note: draft.note.take(),
        env: draft.env.take(),
        units: draft.units.take(),
        profile: draft.profile.take(),
        profiles: draft.profiles.take(),
        ..Report::default()
    };
    if draft.operation == Operation::Status {
        fill_tables(&mut report, &draft.chain.records);
    }
    let summary = error
        .is_none()
        .then(|| summary(&report, &draft.chain.records, dry_run));
    let view = view::render(
        &report,
        &draft.chain.records,
        &draft.preflight,
        error.as_ref(),
        dry_run,
    );
    let outcome = match error {
        Some(e) => Outcome::failure_with(e, &report, changed, dry_run),
        None => Outcome::success(&report, changed, dry_run),
    };
    outcome.with_view(view).with_summary(summary)
}

/// How many units a step changed.
pub fn units_changed(records: &[StepRecord], name: StepName) -> usize {
    records
        .iter()
        .filter(|r| r.name == name)
        .filter_map(StepRecord::svcctl)
        .flat_map(|r| &r.units)
        .filter(|u| u.changed)
        .count()
}

/// The truncate step's report (the first, if several).
pub fn truncated(records: &[StepRecord]) -> Option<&reports::pgtruncate::Report> {
    records
        .iter()
        .filter(|r| r.name == StepName::Truncate)
        .find_map(StepRecord::pgtruncate)
}

/// The bytes a truncate report freed (or would free).
pub fn freed(t: Option<&reports::pgtruncate::Report>) -> String {
    human_bytes(t.and_then(|t| t.bytes_freed).unwrap_or(0).max(0) as u64)
}

/// The one line a person reads: `hibernated: flags set, 2 units stopped and disabled,
/// 39.8 MiB freed`.
fn summary(report: &Report, records: &[StepRecord], dry_run: bool) -> String {
    let any_changed =
        |names: &[StepName]| records.iter().any(|r| names.contains(&r.name) && r.changed);
    let truncate = truncated(records);
    let freed = freed(truncate);
    match report.command.as_str() {
        "profiles" => {
            let list = report.profiles.as_deref().unwrap_or_default();
            let names: Vec<String> = list
                .iter()
                .map(|p| match &p.error {
                    Some(_) => format!("{} (unusable)", p.name),
                    None => p.name.clone(),
                })
                .collect();
            format!("profiles: {}", names.join(", "))
        }
        "status" => {
            let state = match report.env.as_ref().map(|e| e.hibernating) {
                Some(true) => "hibernating",
                Some(false) => "awake",
                None => "flags unknown",
            };
            let units: Vec<String> = report
                .units
                .iter()
                .flatten()
                .filter(|u| u.present)
                .map(|u| {
                    format!(
                        "{} {}/{}",
                        u.unit,
                        u.active.as_deref().unwrap_or("?"),
                        u.enabled.as_deref().unwrap_or("?")
                    )
                })
                .collect();
            let hold = report.hold.as_ref().map_or(String::new(), |h| {
                format!("; on hold since {} by {}", h.since, h.by)
            });
            format!(
                "status: {state}; {}; runtime tables hold {}{hold}",
                units.join(", "),
                human_bytes(report.runtime_bytes.unwrap_or(0))
            )
        }
        "wake" => {
            let flags = if any_changed(&[StepName::RestoreFlags, StepName::ClearFlags]) {
                "flags restored"
            } else {
                "flags already as before"
            };
            let how = if report.hold.is_some() {
                "as the hold record says"
            } else {
                "without a hold record (runbook defaults)"
            };
            format!(
                "{}: {flags}, {} unit(s) enabled, {} started, {} restarted, {} stopped, {how}; {}",
                if dry_run { "wake (dry run)" } else { "woke" },
                units_changed(records, StepName::EnableUnits),
                units_changed(records, StepName::StartUnits),
                units_changed(records, StepName::RestartUnits),
                units_changed(records, StepName::StopUnits),
                if records.iter().any(|r| r.name == StepName::RestoreData && r.changed) {
                    "the archive was put back"
                } else {
                    "no data was restored"
                },
            )
        }
        _ if dry_run => format!(
            "plan: hibernate would {}, stop and disable {} unit(s), empty {} table(s) holding {freed}",
            if any_changed(&[StepName::SetFlags]) { "set the flags" } else { "leave the flags (already set)" },
            units_changed(records, StepName::StopUnits).max(units_changed(records, StepName::DisableUnits)),
            truncate.map_or(0, |t| t.truncated.len()),
        ),
        _ => format!(
            "hibernated: {}, {} unit(s) stopped and {} disabled, {freed} freed",
            if any_changed(&[StepName::SetFlags]) { "flags set" } else { "flags already set" },
            units_changed(records, StepName::StopUnits),
            units_changed(records, StepName::DisableUnits)
        ),
    }
}

/// status: the runtime tables' sizes, out of the `read_tables` step's report.
fn fill_tables(report: &mut Report, records: &[StepRecord]) {
    let Some(tables) = records
        .iter()
        .filter(|r| r.ok && r.name == StepName::ReadTables)
        .find_map(StepRecord::pgtruncate)
    else {
        return;
    };
    let tables: Vec<TableStatus> = tables
        .truncated
        .iter()
        .map(|t| TableStatus {
            table: t.table.clone(),
            bytes: t.bytes_before,
            rows_estimate: t.rows_estimate,
        })
        .collect();
    report.runtime_bytes = Some(tables.iter().map(|t| t.bytes.max(0) as u64).sum());
    report.tables = Some(tables);
}

/// status: the units of an `svcctl status` report, reduced to what status shows.
pub fn units(svcctl: &reports::svcctl::Report) -> Vec<UnitStatus> {
    svcctl
        .units
        .iter()
        .map(|u| {
            let state = u.after.as_ref().or(u.before.as_ref());
            UnitStatus {
                unit: u.unit.clone(),
                present: u.present,
                active: state.map(|s| s.active.clone()),
                sub: state.map(|s| s.sub.clone()),
                enabled: state.and_then(|s| s.enabled.clone()),
                main_pid: state.map(|s| s.main_pid),
            }
        })
        .collect()
}
