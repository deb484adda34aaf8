//! One pass of an operation: survey (the units, the env files) → plan (the steps) → run
//! (hibernate: a dry run of every step first, the hold record written before the first
//! change) → record → report ([`crate::report::finish`], the one exit path).

use crate::chain::Chain;
use crate::child::StepRecord;
use crate::cli::{Cli, Operation};
use crate::hold::{self, StateDir};
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
    monitor: Unit,
    units_now: Vec<reports::holdctl::UnitBefore>,
    env: EnvLayout,
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
    unavailable(cli)?;
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
    if operation == Operation::Status {
        return status(cli, draft, database_url);
    }
    // wake undoes the hold of the units and env files the record names.
    let (service, monitor, explicit_monitor, files) = match (&record, operation) {
        (Some(r), Operation::Wake) => {
            let mut files: Vec<PathBuf> = Vec::new();
            for flag in &r.flags {
                let file = PathBuf::from(&flag.file);
                if !files.contains(&file) {
                    files.push(file);
                }
            }
            let monitor = r.options.monitor.clone();
            (r.options.service.clone(), monitor, false, Some(files))
        }
        _ => (
            cli.service.clone(),
            cli.monitor().to_string(),
            cli.monitor.is_some(),
            cli.env_file.clone().map(|f| vec![f]),
        ),
    };
    let survey = survey_host(draft, &service, &monitor, files)?;
    if explicit_monitor && !survey.monitor.present {
        draft.warn(format!(
            "monitor unit {} does not exist on this host, so it is left out; check --monitor (without it, the default {} is used when present)",
            survey.monitor.name,
            crate::cli::DEFAULT_MONITOR
        ));
    }
    env_problem(&survey.env, operation, database_url.is_some())?;
    draft.env_file = survey
        .env
        .source_of("DATABASE_URL")
        .or(survey.env.files.last().map(PathBuf::as_path))
        .map(|p| p.display().to_string());
    let target = Target {
        env: survey.env.clone(),
        service: survey.api.name.clone(),
        monitor: survey.monitor.name.clone(),
        database_url,
        include_opportunities: cli.include_opportunities,
        include_auth: cli.include_auth,
        keep_api: cli.keep_api,
        allow_socket: cli.allow_socket,
        dry_run,
    };
    match operation {
        Operation::Hibernate | Operation::Plan if dry_run => {
            draft.chain.run_all(&steps::hibernate(&target));
            Ok(())
        }
        Operation::Hibernate => hibernate(cli, draft, &target, &survey, state, record, interrupted),
        Operation::Wake => wake(draft, &target, &survey, state, record),
        Operation::Status | Operation::Plan => Ok(()),
    }
}

/// `read_units` then `read_flags` of each env file (`files` when given, which must
/// exist; else the API unit's): everything an operation needs to know before it plans.
fn survey_host(
    draft: &mut Draft,
    service: &str,
    monitor: &str,
    files: Option<Vec<PathBuf>>,
) -> Result<Survey, ToolError> {
    let chain = &mut draft.chain;
    let units_report = chain
        .run(&steps::units_status(service, monitor), None)
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
    let (api, monitor) = survey::units(&units_report)?;
    if !api.present {
        return Err(api_missing(&api.name));
    }
    let from_unit = files.is_none();
    let files = match files {
        Some(files) => files,
        None => env_files(None, &api)?,
    };
    let env = survey::read_env(chain, files, from_unit);
    if let Some(e) = chain.error.take() {
        return Err(e);
    }
    Ok(Survey {
        api,
        monitor,
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
fn status(cli: &Cli, draft: &mut Draft, database_url: Option<String>) -> Result<(), ToolError> {
    let monitor = cli.monitor().to_string();
    let chain = &mut draft.chain;
    let units_report = chain
        .run(&steps::units_status(&cli.service, &monitor), None)
        .and_then(StepRecord::svcctl)
        .cloned();
    let mut first_error = chain.error.take();
    draft.units = units_report.as_ref().map(report::units);
    let api = match units_report.as_ref().map(survey::units) {
        Some(Ok((api, monitor))) => {
            if !api.present {
                first_error.get_or_insert(api_missing(&api.name));
            }
            if cli.monitor.is_some() && !monitor.present {
                draft.warn(format!(
                    "monitor unit {} does not exist on this host; check --monitor",
                    monitor.name
                ));
            }
            Some(api)
        }
        Some(Err(e)) => {
            first_error.get_or_insert(e);
            None
        }
        None => None,
    };
    let files = match (&cli.env_file, &api) {
        (Some(path), _) => Some(vec![path.clone()]),
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
                cli.service
            )));
        }
        draft
            .chain
            .skip(&[StepName::ReadFlags, StepName::ReadTables]);
        return Err(first_error.expect("set above"));
    };
    let chain = &mut draft.chain;
    let env = survey::read_env(chain, files, cli.env_file.is_none());
    if let Some(e) = chain.error.take() {
        first_error.get_or_insert(e);
    }
    draft.env = survey::env_status(&draft.chain.records, &env);
    draft.env_file = env
        .source_of("DATABASE_URL")
        .or(env.files.last().map(PathBuf::as_path))
        .map(|p| p.display().to_string());
    if env.files.is_empty() {
        draft.chain.skip(&[StepName::ReadTables]);
        return Err(first_error.unwrap_or_else(no_env_file));
    }
    let target = Target {
        env,
        service: cli.service.clone(),
        monitor,
        database_url,
        include_opportunities: cli.include_opportunities,
        include_auth: cli.include_auth,
        keep_api: cli.keep_api,
        allow_socket: cli.allow_socket,
        dry_run: true,
    };
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
    planner.run_all(&steps::hibernate(&dry));
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
            let chosen = (cli.include_opportunities, cli.include_auth, cli.keep_api);
            let o = &mut record.options;
            if (o.include_opportunities, o.include_auth, o.keep_api) != chosen {
                (o.include_opportunities, o.include_auth, o.keep_api) = chosen;
                state.write(&record)?;
            }
            Some(record)
        }
        None if hibernating(&survey.env) => {
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
    draft.chain.run_all(&plan);
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
    draft.note = Some("wake restores no data: tables emptied by hibernate stay empty".into());
    draft
        .chain
        .out
        .warn("wake restores no data: tables emptied by hibernate stay empty");
    let Some(record) = record else {
        let undone = state.as_ref().is_some_and(StateDir::has_history);
        let where_ = state
            .as_ref()
            .map_or(String::new(), |s| s.record_path().display().to_string());
        if undone && !hibernating(&survey.env) {
            draft.warn(format!(
                "no hold to undo: there is no hold record in {where_} and the last hold was undone already (its record is in holds/ beside it); nothing was changed"
            ));
            return Ok(());
        }
        draft.warn(format!(
            "no hold record in {where_} (a host put on hold by hand, or by an older holdctl): wake sets HIBERNATE_MODE=false INGEST_ENABLED=true and enables and starts both units, which may not be how they were before"
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
    let flags = steps::HIBERNATE_FLAGS
        .iter()
        .map(|(key, _)| FlagBefore {
            file: target.env.file_for(key).display().to_string(),
            key: key.to_string(),
            before: target.env.value_in_its_file(key),
        })
        .collect();
    let database = report::truncated(&draft.preflight).and_then(|t| t.database.clone());
    HoldRecord {
        format: 1,
        since: hold::now_rfc3339(),
        by: hold::who(),
        host: hold::host_name(),
        options: HoldOptions {
            service: target.service.clone(),
            monitor: target.monitor.clone(),
            env_file: cli.env_file.as_ref().map(|p| p.display().to_string()),
            include_opportunities: cli.include_opportunities,
            include_auth: cli.include_auth,
            keep_api: cli.keep_api,
        },
        database,
        flags,
        units: survey.units_now.clone(),
    }
}

/// Whether both flags already read as hibernate writes them (where systemd reads them).
fn hibernating(env: &EnvLayout) -> bool {
    steps::HIBERNATE_FLAGS
        .iter()
        .all(|(key, value)| env.value_in_its_file(key).as_deref() == Some(*value))
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
    if needs_database && !url_given && env.source_of("DATABASE_URL").is_none() {
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

/// `--archive` and `--restore` need pgtruncate's `--archive` and `--undo`, which this
/// build's pgtruncate does not have: refused before anything runs, rather than a hold
/// that silently keeps no archive.
fn unavailable(cli: &Cli) -> Result<(), ToolError> {
    let (flag, needs) = match (&cli.archive, cli.restore) {
        (Some(_), _) => ("--archive", "pgtruncate --archive"),
        (None, true) => ("--restore", "pgtruncate --undo"),
        (None, false) => return Ok(()),
    };
    Err(ToolError::usage(format!(
        "{needs} is not available in this build, so holdctl {flag} cannot keep its promise: nothing was changed; run without {flag}, or install holdkit tools whose pgtruncate has it"
    )))
}
