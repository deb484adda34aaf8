//! One pass of an operation: survey (the units, the env files) → plan (the steps) → run
//! (hibernate: a dry run of every step first, the hold record written before the first
//! change) → record → report ([`crate::report::finish`], the one exit path).

use crate::archive;
use crate::chain::{Chain, Early};
use crate::child::StepRecord;
use crate::cli::{Cli, Operation};
use crate::hold::{self, StateDir};
use crate::profiles::{self, Chosen};
use crate::report::{self, Draft};
use crate::steps::{self, EnvLayout, Target, UnitNow};
use crate::survey::{self, Unit};
use crate::{lock, prompt};
use conventions::ToolError;
use reports::holdctl::{FlagBefore, HoldOptions, HoldRecord, StepName};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// What the survey found: the units (as svcctl named them, and as they are now) and the
/// env files as the API unit reads them.
struct Survey {
    api: Unit,
    others: Vec<Unit>,
    units_now: Vec<reports::holdctl::UnitBefore>,
    env: EnvLayout,
}

/// What a run acts on: the units, flags and tables of the profile (with the command
/// line's overrides), or for wake with a hold record, the record's units and files.
struct Choice {
    service: String,
    others: Vec<String>,
    /// `--monitor` was given: a missing one is a warning.
    explicit_others: bool,
    /// The env files given (`--env-file`, the profile's `env_file`, the record's files);
    /// `None`: the API unit's `EnvironmentFile=` lines.
    files: Option<Vec<PathBuf>>,
    /// The flags read from each env file.
    keys: Vec<String>,
    /// `None` for wake with a hold record, which needs no profile.
    chosen: Option<Chosen>,
}

impl Choice {
    fn of_profile(cli: &Cli, chosen: Chosen) -> Choice {
        let files = cli
            .env_file
            .clone()
            .or_else(|| chosen.profile.env_file.clone())
            .map(|f| vec![f]);
        Choice {
            service: chosen.api(cli),
            others: chosen.others(cli),
            explicit_others: cli.monitor.is_some(),
            files,
            keys: chosen.profile.flags.keys().cloned().collect(),
            chosen: Some(chosen),
        }
    }

    fn of_record(r: &HoldRecord) -> Choice {
        let mut files: Vec<PathBuf> = Vec::new();
        for flag in &r.flags {
            let file = PathBuf::from(&flag.file);
            if !files.contains(&file) {
                files.push(file);
            }
        }
        // A record of an older holdctl names one other unit, as `monitor`.
        let others = if r.options.profile.is_some() || !r.options.others.is_empty() {
            r.options.others.clone()
        } else {
            vec![r.options.monitor.clone()]
        };
        let mut keys: Vec<String> = Vec::new();
        for flag in &r.flags {
            if !keys.contains(&flag.key) {
                keys.push(flag.key.clone());
            }
        }
        Choice {
            service: r.options.service.clone(),
            others,
            explicit_others: false,
            files: Some(files),
            keys,
            chosen: None,
        }
    }

    fn units(&self) -> Vec<String> {
        std::iter::once(self.service.clone())
            .chain(self.others.iter().cloned())
            .collect()
    }
}

/// Runs `cli`'s operation, filling `draft`; the error that stopped it, if any.
pub fn operate(
    cli: &Cli,
    draft: &mut Draft,
    database_url: Option<String>,
    interrupted: &AtomicBool,
) -> Result<(), ToolError> {
    let operation = cli.operation;
    let dry_run = draft.dry_run;
    if operation == Operation::Profiles {
        draft.profiles = Some(profiles::list()?);
        return Ok(());
    }
    // The profile is read before anything else, so one that may not be trusted, or is
    // broken, stops the run with nothing touched, not even the state directory. wake
    // reads it only when there is no hold record to follow.
    let chosen = match operation {
        Operation::Wake => None,
        _ => Some(profiles::choose(cli)?),
    };
    let destructive = operation == Operation::Hibernate && !dry_run;
    if destructive && !cli.yes && !std::io::stdin().is_terminal() {
        return Err(ToolError::refused(
            "hibernate empties database tables and stdin is not a terminal to ask on: \
             run `holdctl plan` to see what it would do, then add --yes",
        ));
    }
    // Only runs that change the host take the lock and create the state directory;
    // status and plans only read.
    let mutating = matches!(operation, Operation::Hibernate | Operation::Wake) && !dry_run;
    let _lock = if mutating {
        Some(lock::acquire(&cli.lock)?)
    } else {
        None
    };
    let opened = hold::open(&cli.state_dir, mutating).and_then(|state| {
        let record = match &state {
            Some(state) => state.read()?,
            None => None,
        };
        Ok((state, record))
    });
    let (state, record) = match opened {
        // Reading runs by a user who may not enter the state directory still show the
        // rest; a record that may not be trusted stops every run.
        Err(e) if !mutating && e.kind == conventions::ErrorKind::Permission => {
            draft.warn(format!("the hold record cannot be read: {}", e.message));
            (None, None)
        }
        opened => opened?,
    };
    if let (Some(state), Some(_)) = (&state, &record) {
        draft.hold_file = Some(state.record_path().display().to_string());
    }
    draft.hold = record.clone();
    let choice = choose(cli, draft, record.as_ref(), chosen)?;
    if operation == Operation::Status {
        return status(cli, draft, &choice, database_url);
    }
    if operation == Operation::Hibernate && !dry_run {
        if let Some(step) = truncate_check_ahead(cli, &choice, &database_url) {
            draft.chain.prestart_preflight(step);
        }
    }
    let survey = survey_host(draft, &choice)?;
    for other in survey.others.iter().filter(|u| !u.present) {
        if choice.explicit_others {
            draft.warn(format!(
                "unit {} (--monitor) does not exist on this host, so it is left out; check --monitor (without it, the profile's other units are used)",
                other.name
            ));
        }
    }
    env_problem(&survey.env, operation, database_url.is_some())?;
    draft.env_file = survey
        .env
        .source_of(steps::URL_KEY)
        .or(survey.env.files.last().map(PathBuf::as_path))
        .map(|p| p.display().to_string());
    let mut target = target(cli, &choice, &survey, database_url, dry_run);
    match operation {
        Operation::Hibernate | Operation::Plan => {
            target.archive = archive::choose_file(cli, draft, &target, !dry_run)?;
        }
        Operation::Wake if cli.restore => {
            target.restore = Some(archive::to_restore(record.as_ref())?);
        }
        _ => {}
    }
    match operation {
        Operation::Hibernate | Operation::Plan if dry_run => {
            draft.chain.run_dry_runs_at_once(&steps::hibernate(&target));
            Ok(())
        }
        Operation::Hibernate => hibernate(cli, draft, &target, &survey, state, record, interrupted),
        Operation::Wake => wake(draft, &target, &survey, state, record),
        Operation::Status | Operation::Plan | Operation::Profiles => Ok(()),
    }
}

/// wake with a hold record undoes the hold of the units and env files the record names,
/// whatever the profile says now; every other run follows the profile (`chosen`, when
/// already read).
fn choose(
    cli: &Cli,
    draft: &mut Draft,
    record: Option<&HoldRecord>,
    chosen: Option<Chosen>,
) -> Result<Choice, ToolError> {
    if let (Some(r), Operation::Wake) = (record, cli.operation) {
        if let Some(info) = &r.options.profile {
            if let Some(warning) = profiles::recheck(info) {
                draft.warn(warning);
            }
            draft.profile = Some(info.clone());
        }
        return Ok(Choice::of_record(r));
    }
    let chosen = match chosen {
        Some(chosen) => chosen,
        None => profiles::choose(cli)?,
    };
    draft.profile = Some(chosen.info());
    Ok(Choice::of_profile(cli, chosen))
}

/// The steps' target: the units as svcctl named them, the env files as read, the
/// profile's flags and tables.
fn target(
    cli: &Cli,
    choice: &Choice,
    survey: &Survey,
    database_url: Option<String>,
    dry_run: bool,
) -> Target {
    let chosen = choice.chosen.as_ref();
    Target {
        env: survey.env.clone(),
        service: survey.api.name.clone(),
        others: survey.others.iter().map(|u| u.name.clone()).collect(),
        flags: chosen.map(Chosen::flags).unwrap_or_default(),
        wake_flags: chosen.map(Chosen::wake_flags).unwrap_or_default(),
        profile: chosen.map(|c| c.spec.clone()).unwrap_or_default(),
        includes: chosen.map(|c| c.includes.clone()).unwrap_or_default(),
        database_url,
        keep_api: cli.keep_api,
        allow_socket: cli.allow_socket,
        archive: None,
        restore: None,
        dry_run,
    }
}

/// The preflight's dry run of the truncate when its arguments need nothing the survey
/// reads (the database given, or the one env file given, which the survey must then find
/// DATABASE_URL in), so it can run while the units and files are read; the preflight
/// uses its result only if its own truncate step turns out the very same.
fn truncate_check_ahead(
    cli: &Cli,
    choice: &Choice,
    database_url: &Option<String>,
) -> Option<crate::child::Invocation> {
    if cli.archive.is_some() {
        return None;
    }
    let file = match (&choice.files, database_url) {
        (_, Some(_)) => PathBuf::new(),
        (Some(files), None) if files.len() == 1 => files[0].clone(),
        _ => return None,
    };
    let guess = Survey {
        api: Unit {
            name: choice.service.clone(),
            present: true,
            environment_files: vec![],
        },
        others: vec![],
        units_now: vec![],
        env: EnvLayout::single(file),
    };
    let dry = target(cli, choice, &guess, database_url.clone(), true);
    Some(steps::hibernate_truncate(&dry))
}

/// `read_units` then `read_flags` of each env file (the choice's, which must exist;
/// else the API unit's): everything an operation needs to know before it plans.
fn survey_host(draft: &mut Draft, choice: &Choice) -> Result<Survey, ToolError> {
    let chain = &mut draft.chain;
    let asked = choice.units();
    let units_report = chain
        .run(&steps::units_status(&asked), None)
        .and_then(StepRecord::svcctl)
        .cloned();
    if let Some(e) = chain.error.take() {
        return Err(e);
    }
    let units_report = units_report.ok_or_else(|| {
        ToolError::failed(
            "svcctl printed no report of the units: run `svcctl status` by hand to see why",
        )
    })?;
    let (api, others) = survey::units(&units_report, asked.len())?;
    if !api.present {
        return Err(api_missing(&api.name));
    }
    let from_unit = choice.files.is_none();
    let files = match &choice.files {
        Some(files) => files.clone(),
        None => env_files(None, &api)?,
    };
    let env = survey::read_env(chain, files, from_unit, &choice.keys);
    if let Some(e) = chain.error.take() {
        return Err(e);
    }
    Ok(Survey {
        api,
        others,
        units_now: survey::units_now(&units_report),
        env,
    })
}

fn api_missing(name: &str) -> ToolError {
    ToolError::not_found(format!(
        "unit {name} does not exist on this host: nothing was changed; name the API unit with --service"
    ))
    .with("unit", name)
}

/// `--env-file`, else the API unit's `EnvironmentFile=` lines.
fn env_files(env_file: Option<&PathBuf>, api: &Unit) -> Result<Vec<PathBuf>, ToolError> {
    match env_file {
        Some(path) => Ok(vec![path.clone()]),
        None if api.environment_files.is_empty() => Err(ToolError::usage(format!(
            "unit {} names no EnvironmentFile=: pass the env file with --env-file",
            api.name
        ))),
        None => Ok(api.environment_files.clone()),
    }
}

/// status: every read step runs that can, so one unreachable part does not hide the
/// others; the first failure is the exit code, and every step that could not run is in
/// `not_run`.
fn status(
    cli: &Cli,
    draft: &mut Draft,
    choice: &Choice,
    database_url: Option<String>,
) -> Result<(), ToolError> {
    let chain = &mut draft.chain;
    let asked = choice.units();
    let units_report = chain
        .run(&steps::units_status(&asked), None)
        .and_then(StepRecord::svcctl)
        .cloned();
    let mut first_error = chain.error.take();
    draft.units = units_report.as_ref().map(report::units);
    let surveyed = units_report.as_ref().map(|r| survey::units(r, asked.len()));
    let api = match surveyed {
        Some(Ok((api, others))) => {
            if !api.present {
                first_error.get_or_insert(api_missing(&api.name));
            }
            for other in others.iter().filter(|u| !u.present) {
                if choice.explicit_others {
                    draft.warn(format!(
                        "unit {} (--monitor) does not exist on this host; check --monitor",
                        other.name
                    ));
                }
            }
            Some(api)
        }
        Some(Err(e)) => {
            first_error.get_or_insert(e);
            None
        }
        None => None,
    };
    let files = match (&choice.files, &api) {
        (Some(files), _) => Some(files.clone()),
        (None, Some(api)) if api.present => env_files(None, api)
            .map_err(|e| {
                first_error.get_or_insert(e);
            })
            .ok(),
        _ => None,
    };
    let Some(files) = files else {
        if first_error.is_none() {
            first_error = Some(ToolError::failed(format!(
                "the units could not be read, so the env files of {} are unknown: see the read_units step, or pass --env-file",
                choice.service
            )));
        }
        draft
            .chain
            .skip(&[StepName::ReadFlags, StepName::ReadTables]);
        return Err(first_error.expect("set above"));
    };
    let chain = &mut draft.chain;
    let env = survey::read_env(chain, files, choice.files.is_none(), &choice.keys);
    if let Some(e) = chain.error.take() {
        first_error.get_or_insert(e);
    }
    let flags = choice
        .chosen
        .as_ref()
        .map(Chosen::flags)
        .unwrap_or_default();
    draft.env = survey::env_status(&draft.chain.records, &env, &flags);
    draft.env_file = env
        .source_of(steps::URL_KEY)
        .or(env.files.last().map(PathBuf::as_path))
        .map(|p| p.display().to_string());
    if env.files.is_empty() {
        draft.chain.skip(&[StepName::ReadTables]);
        return Err(first_error.unwrap_or_else(no_env_file));
    }
    let survey = Survey {
        api: api.unwrap_or(Unit {
            name: choice.service.clone(),
            present: false,
            environment_files: vec![],
        }),
        others: vec![],
        units_now: vec![],
        env,
    };
    let mut target = target(cli, choice, &survey, database_url, true);
    target.service = choice.service.clone();
    for step in steps::status(&target) {
        draft.chain.run(&step, None);
    }
    if let Some(e) = draft.chain.error.take() {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}

/// hibernate: every step as a dry run first (nothing changes unless all succeed), the
/// question on a terminal, the hold record, then the steps.
fn hibernate(
    cli: &Cli,
    draft: &mut Draft,
    target: &Target,
    survey: &Survey,
    state: Option<StateDir>,
    record: Option<HoldRecord>,
    interrupted: &AtomicBool,
) -> Result<(), ToolError> {
    let plan = steps::hibernate(target);
    let mut dry = target.clone();
    dry.dry_run = true;
    let mut planner: Chain = draft.chain.planner();
    planner.run_dry_runs_at_once(&steps::hibernate(&dry));
    let failed = planner.error.take();
    draft.preflight = std::mem::take(&mut planner.records);
    if let Some(e) = failed {
        draft
            .chain
            .skip(&plan.iter().map(|s| s.name).collect::<Vec<_>>());
        let message = format!(
            "{}; found by the dry run of every step before anything changed: nothing was changed",
            e.message
        );
        return Err(ToolError { message, ..e });
    }
    if !cli.yes && !prompt::confirm(&draft.preflight, interrupted)? {
        draft
            .chain
            .skip(&plan.iter().map(|s| s.name).collect::<Vec<_>>());
        return Err(ToolError::refused(
            "hibernate was not confirmed: nothing was changed",
        ));
    }
    let state = state.ok_or_else(|| ToolError::failed("the state directory is not open"))?;
    let record = match record {
        // An interrupted (or repeated) hibernate keeps the first record's "before"; what
        // it empties now is this run's choice, so the record says so.
        Some(mut record) => {
            let before = record.options.clone();
            chosen_options(&mut record.options, cli, target, draft);
            if record.options != before {
                state.write(&record)?;
            }
            Some(record)
        }
        None if hibernating(target) => {
            draft.warn(format!(
                "the flags already read as on hold and there is no hold record in {}: the state before the hold is unknown, so none is recorded and wake will do what the runbook says",
                state.record_path().display()
            ));
            None
        }
        None => {
            let record = new_record(cli, draft, target, survey);
            state.write(&record)?;
            Some(record)
        }
    };
    if record.is_some() {
        draft.hold_file = Some(state.record_path().display().to_string());
    }
    draft.hold = record;
    // pgtruncate connects and plans while the flags are set and the units stop, locks and
    // empties the tables (uncommitted) while they are disabled, and commits after that.
    draft.chain.run_all_starting_early(
        &plan,
        Early {
            step: StepName::Truncate,
            lock_after: StepName::StopUnits,
        },
    );
    // The archive into the record once it is written (a rerun keeps the first one).
    if let (Some(record), Some(written)) = (&mut draft.hold, archive::written(&draft.chain.records))
    {
        if record.archive.is_none() {
            record.archive = Some(written);
            state.write(record)?;
        }
    }
    match draft.chain.error.take() {
        Some(e) => Err(after_change(e, &draft.chain)),
        None => Ok(()),
    }
}

/// wake: exactly what the record says, then the record into the history. Without one:
/// nothing to undo when the last hold was undone already, else the runbook's defaults
/// and a warning.
fn wake(
    draft: &mut Draft,
    target: &Target,
    survey: &Survey,
    state: Option<StateDir>,
    record: Option<HoldRecord>,
) -> Result<(), ToolError> {
    let note = match &target.restore {
        Some(file) => {
            format!("wake --restore puts the hold's archive {file} back before any unit starts")
        }
        None => "wake restores no data: tables emptied by hibernate stay empty".to_string(),
    };
    if target.restore.is_none() {
        draft.chain.out.warn(&note);
    }
    draft.note = Some(note);
    let Some(record) = record else {
        let undone = state.as_ref().is_some_and(StateDir::has_history);
        let where_ = state
            .as_ref()
            .map_or(String::new(), |s| s.record_path().display().to_string());
        if undone && !hibernating(target) {
            draft.warn(format!(
                "no hold to undo: there is no hold record in {where_} and the last hold was undone already (its record is in holds/ beside it); nothing was changed"
            ));
            return Ok(());
        }
        draft.warn(format!(
            "no hold record in {where_} (a host put on hold by hand, or by an older holdctl): wake writes the flags as {} says (wake_flags, else unset) and enables and starts every unit, which may not be how they were before",
            draft.profile.as_ref().map_or("the profile".to_string(), |p| format!("profile {}", p.name))
        ));
        draft.chain.run_all(&steps::wake_by_runbook(target));
        return Ok(());
    };
    let now: Vec<UnitNow> = survey
        .units_now
        .iter()
        .map(|u| UnitNow {
            unit: u.unit.clone(),
            active: u.was_active(),
        })
        .collect();
    draft
        .chain
        .run_all(&steps::wake_from_record(target, &record, &now));
    draft.hold = Some(record);
    if let Some(e) = draft.chain.error.take() {
        return Err(after_change(e, &draft.chain));
    }
    if let (Some(state), false) = (state, draft.dry_run) {
        let moved = state.retire()?;
        draft.hold_file = Some(moved.display().to_string());
    }
    Ok(())
}

/// The record of the host as the survey found it, before anything changes.
fn new_record(cli: &Cli, draft: &Draft, target: &Target, survey: &Survey) -> HoldRecord {
    let flags = target
        .flags
        .iter()
        .map(|(key, _)| FlagBefore {
            file: target.env.file_for(key).display().to_string(),
            key: key.to_string(),
            before: target.env.value_in_its_file(key),
        })
        .collect();
    let database = report::truncated(&draft.preflight).and_then(|t| t.database.clone());
    let mut options = HoldOptions {
        service: target.service.clone(),
        monitor: target.others.first().cloned().unwrap_or_default(),
        env_file: cli.env_file.as_ref().map(|p| p.display().to_string()),
        include_opportunities: false,
        include_auth: false,
        keep_api: false,
        profile: None,
        others: target.others.clone(),
        include: vec![],
    };
    chosen_options(&mut options, cli, target, draft);
    HoldRecord {
        format: 1,
        since: hold::now_rfc3339(),
        by: hold::who(),
        host: hold::host_name(),
        options,
        database,
        flags,
        units: survey.units_now.clone(),
        archive: None,
    }
}

/// This run's choices in a record's options: the profile, what it empties, `--keep-api`.
fn chosen_options(options: &mut HoldOptions, cli: &Cli, target: &Target, draft: &Draft) {
    let has = |name: &str| target.includes.iter().any(|i| i == name);
    let [(_, opportunities), (_, auth)] = crate::cli::INCLUDE_SPELLINGS;
    options.include_opportunities = has(opportunities);
    options.include_auth = has(auth);
    options.include = cli.include.clone();
    options.keep_api = cli.keep_api;
    options.profile = draft.profile.clone();
}

/// Whether every flag already reads as hibernate writes it (where systemd reads it); a
/// profile without flags never reads as on hold.
fn hibernating(target: &Target) -> bool {
    !target.flags.is_empty()
        && target
            .flags
            .iter()
            .all(|(key, value)| target.env.value_in_its_file(key).as_ref() == Some(value))
}

/// A failure after steps ran: what was already changed, and that running the same
/// command again finishes the job.
fn after_change(e: ToolError, chain: &Chain) -> ToolError {
    let changed: Vec<&str> = chain
        .records
        .iter()
        .filter(|r| r.changed && !r.dry_run)
        .map(|r| r.name.as_str())
        .collect();
    let done = if changed.is_empty() {
        "nothing was changed yet".to_string()
    } else {
        format!("already changed: {}", changed.join(", "))
    };
    let message = format!(
        "{}; {done}; run the same command again to finish the job (every step is idempotent)",
        e.message
    );
    ToolError { message, ..e }.with("already_changed", changed)
}

/// What stops an operation before anything is touched: no env file to write the flags
/// to, or (for hibernate) no database to empty.
fn env_problem(env: &EnvLayout, operation: Operation, url_given: bool) -> Result<(), ToolError> {
    if env.files.is_empty() {
        return Err(no_env_file());
    }
    let needs_database = matches!(operation, Operation::Hibernate | Operation::Plan);
    if needs_database && !url_given && env.source_of(steps::URL_KEY).is_none() {
        let list: Vec<String> = env.files.iter().map(|f| f.display().to_string()).collect();
        return Err(ToolError::not_found(format!(
            "no DATABASE_URL in {} (as systemd reads them), so the database to empty is unknown: nothing was changed; add it there, or give the database with {}",
            list.join(", "),
            crate::child::DATABASE_URL_VAR
        ))
        .with("env_files", list));
    }
    Ok(())
}

fn no_env_file() -> ToolError {
    ToolError::not_found(
        "none of the API unit's env files exists: nothing was changed; create it, or pass --env-file",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(flags: &[(&str, &str)]) -> Target {
        Target {
            env: EnvLayout::default(),
            service: "app.service".into(),
            others: vec![],
            flags: flags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            wake_flags: vec![],
            profile: "app".into(),
            includes: vec![],
            database_url: None,
            keep_api: false,
            allow_socket: false,
            archive: None,
            restore: None,
            dry_run: false,
        }
    }

    #[test]
    fn a_profile_without_flags_never_reads_as_on_hold() {
        // Otherwise its first hibernate would find the host "already on hold" and keep
        // no record of it.
        assert!(!hibernating(&target(&[])));
        assert!(!hibernating(&target(&[("MAINTENANCE", "1")])));
    }
}
