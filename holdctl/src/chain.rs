//! The steps run so far, in order, and the error that stopped them.

use crate::child::{finish, run_step, start, Invocation, Running, StepRecord, StepResult};
use conventions::{Output, ToolError};
use reports::holdctl::StepName;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A step whose child [`Chain::run_all_starting_early`] starts with the first step.
pub struct Early {
    pub step: StepName,
    /// The step after whose success it may take its locks and run its statement.
    pub lock_after: StepName,
}

pub struct Chain {
    pub out: Output,
    child_flags: Vec<&'static str>,
    /// A dry run started before the survey ([`Chain::prestart_preflight`]).
    prestarted: Option<Prestarted>,
    pub records: Vec<StepRecord>,
    pub not_run: Vec<StepName>,
    pub error: Option<ToolError>,
    interrupted: Arc<AtomicBool>,
    /// Whether each step's verdict gets a progress line of its own (not when the view
    /// for people lists them anyway).
    verdicts: bool,
}

impl Chain {
    /// `interrupted` is set by holdctl's SIGINT/SIGTERM handler; `quiet` children get
    /// `-q` (their errors only); `for_view`: the view lists each step's verdict.
    pub fn new(out: Output, quiet: bool, for_view: bool, interrupted: Arc<AtomicBool>) -> Self {
        let mut child_flags = vec!["--json=short"];
        if quiet {
            child_flags.push("-q");
        }
        Chain {
            out,
            child_flags,
            prestarted: None,
            records: Vec::new(),
            not_run: Vec::new(),
            error: None,
            interrupted,
            verdicts: !for_view,
        }
    }

    /// A chain of its own for the dry run of the plan, sharing the interrupt flag: it
    /// prints no progress (the plan is shown, or the run that follows says it all). It
    /// takes over a dry run started ahead with [`Chain::prestart_preflight`].
    pub fn planner(&mut self) -> Chain {
        let mut planner = self.bare_planner();
        planner.prestarted = self.prestarted.take();
        planner
    }

    fn bare_planner(&self) -> Chain {
        Chain::new(
            Output::silent(self.out.tool()),
            true,
            true,
            Arc::clone(&self.interrupted),
        )
    }

    /// Starts one dry run of the preflight before the survey that decides the plan, as
    /// the planner would run it: when the plan holds the very same step, its result is
    /// used there; otherwise (or when the run stops before) it is killed unread.
    pub fn prestart_preflight(&mut self, step: Invocation) {
        let planner = self.bare_planner();
        if let Ok(running) = start(&step, &planner.child_flags, &planner.out, false) {
            self.prestarted = Some(Prestarted {
                step,
                running: Some(running),
            });
        }
    }

    /// Runs the steps in order, stopping at the first that fails; the rest are `not_run`.
    pub fn run_all(&mut self, steps: &[Invocation]) {
        let total = steps.len();
        for (i, step) in steps.iter().enumerate() {
            if self.error.is_some() {
                self.not_run.push(step.name);
                continue;
            }
            self.run(step, Some((i + 1, total)));
        }
    }

    /// Runs the steps in order like [`Chain::run_all`], except that the child of the
    /// step `early.step` (a pgtruncate) is started with the first step, with
    /// `--go-on-stdin`: it connects and plans while the steps before its own run.
    /// Once `early.lock_after` has succeeded it is told `lock` (it takes its locks and
    /// runs its statement, uncommitted), and when its turn comes, every step before it
    /// having succeeded, `go` (it commits). Otherwise its input is closed: it rolls back
    /// and ends with nothing emptied, and the step is reported as not run.
    pub fn run_all_starting_early(&mut self, steps: &[Invocation], early: Early) {
        let total = steps.len();
        // One that cannot be started runs, and fails, at its turn.
        let mut started: Option<(Invocation, Running)> = steps
            .iter()
            .find(|s| s.name == early.step)
            .filter(|_| self.error.is_none())
            .and_then(|target| {
                let mut gated = target.clone();
                gated.args.push("--go-on-stdin".into());
                start(&gated, &self.child_flags, &self.out, true)
                    .ok()
                    .map(|running| (gated, running))
            });
        for (i, step) in steps.iter().enumerate() {
            if self.error.is_some() {
                self.not_run.push(step.name);
                continue;
            }
            match started.take() {
                Some((gated, mut running)) if step.name == early.step => {
                    let label = self.announce(&gated, Some((i + 1, total)));
                    running.go();
                    let result = finish(&gated, running);
                    self.settle(&gated, &label, result);
                }
                mut waiting => {
                    let succeeded = self.run(step, Some((i + 1, total))).is_some();
                    if let (true, Some((_, running))) =
                        (succeeded && step.name == early.lock_after, waiting.as_mut())
                    {
                        running.lock();
                    }
                    started = waiting;
                }
            }
        }
        if let Some((_, running)) = started {
            running.cancel();
        }
    }

    /// Runs dry runs, which change nothing and do not depend on each other, all at once;
    /// the records, progress lines and first error come out in `steps`' order, exactly as
    /// [`Chain::run_all`] would give them: after the first failure the rest are
    /// `not_run`.
    pub fn run_dry_runs_at_once(&mut self, steps: &[Invocation]) {
        // Only what changes nothing may run out of order.
        if !steps.iter().all(|s| s.read_only) {
            return self.run_all(steps);
        }
        let total = steps.len();
        let labels: Vec<String> = steps
            .iter()
            .enumerate()
            .map(|(i, step)| self.announce(step, Some((i + 1, total))))
            .collect();
        let (flags, out) = (&self.child_flags, &self.out);
        let mut ahead = self.prestarted.take();
        let results: Vec<StepResult> = std::thread::scope(|scope| {
            let running: Vec<_> = steps
                .iter()
                .map(|step| {
                    let started = ahead.as_mut().and_then(|a| a.take_if_same(step));
                    scope.spawn(move || match started {
                        Some(running) => finish(step, running),
                        None => run_step(step, flags, out),
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|thread| thread.join().expect("a step's thread does not panic"))
                .collect()
        });
        for ((step, label), result) in steps.iter().zip(&labels).zip(results) {
            if self.error.is_some() {
                self.not_run.push(step.name);
                continue;
            }
            self.settle(step, label, result);
        }
    }

    /// Runs one step; returns its record when it succeeded.
    pub fn run(
        &mut self,
        step: &Invocation,
        position: Option<(usize, usize)>,
    ) -> Option<&StepRecord> {
        let label = self.announce(step, position);
        let result = run_step(step, &self.child_flags, &self.out);
        self.settle(step, &label, result)
    }

    /// The progress line before a step runs; returns the step's label.
    fn announce(&self, step: &Invocation, position: Option<(usize, usize)>) -> String {
        let label = match position {
            Some((i, n)) => format!("[{i}/{n}] {}", step.name),
            None => step.name.to_string(),
        };
        self.out.progress(&format!(
            "{label}: {} {}",
            step.tool.name(),
            step.args.join(" ")
        ));
        label
    }

    /// Records what a step gave: its verdict line, its record, the error that stops the
    /// chain (or an interrupt that arrived while it ran).
    fn settle(
        &mut self,
        step: &Invocation,
        label: &str,
        result: StepResult,
    ) -> Option<&StepRecord> {
        let verdict = match (&result.error, result.record.changed) {
            (Some(_), _) => format!(
                "failed (exit {})",
                result
                    .record
                    .exit_code
                    .map_or("-".into(), |c| c.to_string())
            ),
            (None, true) if result.record.dry_run => "would change".to_string(),
            (None, true) => "changed".to_string(),
            (None, false) => "no change".to_string(),
        };
        if self.verdicts || result.error.is_some() {
            self.out.progress(&format!("{label}: {verdict}"));
        }
        self.records.push(result.record);
        if let Some(e) = result.error {
            if self.error.is_none() {
                self.error = Some(e);
            }
            return None;
        }
        if self.interrupted() && self.error.is_none() {
            self.error = Some(ToolError::failed(format!(
                "interrupted after step {}: the remaining steps were not run",
                step.name
            )));
            return None;
        }
        self.records.last()
    }

    pub fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Marks `names` as not run (a step that could not run for want of an earlier one).
    pub fn skip(&mut self, names: &[StepName]) {
        self.not_run.extend_from_slice(names);
    }
}

/// A dry run started ahead of the plan; killed if the plan does not take it.
struct Prestarted {
    step: Invocation,
    running: Option<Running>,
}

impl Prestarted {
    /// The started child, when `step` is exactly the step it runs.
    fn take_if_same(&mut self, step: &Invocation) -> Option<Running> {
        if self.step == *step {
            self.running.take()
        } else {
            None
        }
    }
}

impl Drop for Prestarted {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.kill();
        }
    }
}
