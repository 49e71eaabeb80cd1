//! What a release plan does next, as pure functions of its spec, its progress, the time and
//! what happened (an operator's command, a guard evaluation). No SQL and no clock here: the
//! store applies the [`Effect`] in one transaction with its compare-and-set, and tests can
//! walk a plan through its life with any times they like.

use serde_json::{Value, json};

use super::guards::{Evaluation, Verdict};
use super::model::{OnFailure, PlanSpec, PlanStatus};

/// The columns of a plan that change as it runs. Times are microseconds since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub status: PlanStatus,
    /// `-1` until started.
    pub current_step: i64,
    pub hold_until: Option<i64>,
    /// While paused: what remained of the hold, in milliseconds.
    pub hold_left_ms: Option<i64>,
    pub next_check_at: Option<i64>,
    /// Consecutive failed evaluations.
    pub failures: i64,
    pub last_check: Option<Value>,
    pub reason: Option<Value>,
}

impl Progress {
    pub fn new() -> Self {
        Self {
            status: PlanStatus::Pending,
            current_step: -1,
            hold_until: None,
            hold_left_ms: None,
            next_check_at: None,
            failures: 0,
            last_check: None,
            reason: None,
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

/// The write a transition makes to the flag's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagWrite {
    /// Apply step `n` to the current state.
    Step(usize),
    /// Return to the state before the plan.
    Restore,
    /// Turn the flag off.
    Kill,
}

/// A transition: the new progress, the flag write it makes (if any) and the audit actions that
/// record it (none for a routine passing check).
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    pub progress: Progress,
    pub write: Option<FlagWrite>,
    pub actions: Vec<&'static str>,
}

/// What an operator asks of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Start,
    Pause,
    Resume,
    Skip,
    Abort,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Skip => "skip",
            Command::Abort => "abort",
        }
    }
}

/// Timings of the plan between evaluations.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub now: i64,
    /// How often guards are evaluated during a hold, in microseconds.
    pub check_interval: i64,
}

fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Progress on entering step `step` at `clock.now`, holding `hold`: the next evaluation comes
/// after one check interval, or at the end of the hold if that is sooner (the boundary check);
/// without guards only the boundary matters.
fn enter(
    spec: &PlanSpec,
    mut progress: Progress,
    step: usize,
    hold: i64,
    clock: Clock,
) -> Progress {
    let hold_until = clock.now.saturating_add(hold);
    progress.current_step = i64::try_from(step).unwrap_or(i64::MAX);
    progress.hold_until = Some(hold_until);
    progress.hold_left_ms = None;
    progress.next_check_at = Some(next_check(spec, clock, hold_until));
    progress.failures = 0;
    progress
}

fn next_check(spec: &PlanSpec, clock: Clock, hold_until: i64) -> i64 {
    if spec.guards.is_empty() {
        hold_until
    } else {
        clock
            .now
            .saturating_add(clock.check_interval)
            .min(hold_until)
    }
}

fn step_hold(spec: &PlanSpec, step: usize) -> i64 {
    spec.steps.get(step).map_or(0, |s| micros(s.hold))
}

fn current(progress: &Progress) -> usize {
    usize::try_from(progress.current_step).unwrap_or(0)
}

/// The effect of an operator's command, or why it cannot apply now (a 409 for the caller).
pub fn command(
    spec: &PlanSpec,
    progress: &Progress,
    command: Command,
    clock: Clock,
) -> Result<Effect, String> {
    use PlanStatus::{Paused, Pending, Running};
    let status = progress.status;
    let refuse = || {
        Err(format!(
            "a {} plan cannot {}",
            status.as_str(),
            command.name()
        ))
    };
    let mut next = progress.clone();
    next.reason = None;
    match (command, status) {
        (Command::Start, Pending) => {
            let mut next = enter(spec, next, 0, step_hold(spec, 0), clock);
            next.status = Running;
            Ok(Effect {
                progress: next,
                write: Some(FlagWrite::Step(0)),
                actions: vec!["release_plan.started"],
            })
        }
        (Command::Pause, Running) => {
            let left = progress.hold_until.unwrap_or(clock.now) - clock.now;
            next.status = Paused;
            next.hold_left_ms = Some(left.max(0) / 1000);
            next.next_check_at = None;
            next.reason = Some(json!({ "kind": "operator" }));
            Ok(Effect {
                progress: next,
                write: None,
                actions: vec!["release_plan.paused"],
            })
        }
        (Command::Resume, Paused) => {
            let left = progress.hold_left_ms.unwrap_or(0).saturating_mul(1000);
            next.status = Running;
            next.hold_until = Some(clock.now.saturating_add(left));
            next.hold_left_ms = None;
            // Guards first: a plan paused because monitoring was down is checked at once.
            next.next_check_at = Some(clock.now);
            Ok(Effect {
                progress: next,
                write: None,
                actions: vec!["release_plan.resumed"],
            })
        }
        (Command::Skip, Running | Paused) => {
            let step = current(progress) + 1;
            if step >= spec.steps.len() {
                next.status = PlanStatus::Completed;
                next.next_check_at = None;
                next.hold_left_ms = None;
                return Ok(Effect {
                    progress: next,
                    write: None,
                    actions: vec!["release_plan.skipped", "release_plan.completed"],
                });
            }
            let hold = step_hold(spec, step);
            let mut next = enter(spec, next, step, hold, clock);
            if status == Paused {
                next.hold_left_ms = Some(hold / 1000);
                next.next_check_at = None;
            }
            Ok(Effect {
                progress: next,
                write: Some(FlagWrite::Step(step)),
                actions: vec!["release_plan.skipped"],
            })
        }
        (Command::Abort, Pending) => {
            next.status = PlanStatus::Aborted;
            Ok(Effect {
                progress: next,
                write: None,
                actions: vec!["release_plan.aborted"],
            })
        }
        (Command::Abort, Running | Paused) => {
            next.status = PlanStatus::Aborted;
            next.next_check_at = None;
            next.hold_left_ms = None;
            Ok(Effect {
                progress: next,
                write: Some(FlagWrite::Restore),
                actions: vec!["release_plan.aborted"],
            })
        }
        _ => refuse(),
    }
}

/// The effect of a guard evaluation on a running plan, made at `clock.now`.
///
/// - Any guard failed: one more consecutive failure; at the plan's threshold the flag is rolled
///   back (or killed) and the plan stops, recording the failing check and what it observed.
///   Below it, the plan stays on its step (a failing step is never widened) and checks again
///   after one interval.
/// - A guard could not be evaluated: the plan pauses. It never widens blind; an operator
///   resumes it once monitoring answers again.
/// - All passed: the failure count resets; if the hold has ended the next step is applied (or
///   the plan completes after its last step).
pub fn evaluated(
    spec: &PlanSpec,
    progress: &Progress,
    evaluation: &Evaluation,
    clock: Clock,
) -> Effect {
    let mut next = progress.clone();
    next.last_check = Some(evaluation.record(clock.now));
    match &evaluation.verdict {
        Verdict::Fail { guard, observed } => {
            next.failures = progress.failures + 1;
            let failed = json!({
                "kind": "guard_failed",
                "guard": guard,
                "observed": observed,
                "consecutive_failures": next.failures,
            });
            if next.failures >= i64::from(spec.failure_threshold) {
                let (status, write, action) = match spec.on_failure {
                    OnFailure::Rollback => (
                        PlanStatus::RolledBack,
                        FlagWrite::Restore,
                        "release_plan.rolled_back",
                    ),
                    OnFailure::Kill => (PlanStatus::Killed, FlagWrite::Kill, "release_plan.killed"),
                };
                next.status = status;
                next.next_check_at = None;
                next.reason = Some(failed);
                Effect {
                    progress: next,
                    write: Some(write),
                    actions: vec!["release_plan.guard_failed", action],
                }
            } else {
                next.next_check_at = Some(clock.now.saturating_add(clock.check_interval));
                next.reason = Some(failed);
                Effect {
                    progress: next,
                    write: None,
                    actions: vec!["release_plan.guard_failed"],
                }
            }
        }
        Verdict::Unknown { guard, detail } => {
            let left = progress.hold_until.unwrap_or(clock.now) - clock.now;
            next.status = PlanStatus::Paused;
            next.hold_left_ms = Some(left.max(0) / 1000);
            next.next_check_at = None;
            next.reason = Some(json!({
                "kind": "guard_unavailable",
                "guard": guard,
                "detail": detail,
            }));
            Effect {
                progress: next,
                write: None,
                actions: vec!["release_plan.paused"],
            }
        }
        Verdict::Pass => {
            next.failures = 0;
            next.reason = None;
            let hold_until = progress.hold_until.unwrap_or(clock.now);
            if hold_until > clock.now {
                next.next_check_at = Some(next_check(spec, clock, hold_until));
                return Effect {
                    progress: next,
                    write: None,
                    actions: vec![],
                };
            }
            let step = current(progress) + 1;
            if step >= spec.steps.len() {
                next.status = PlanStatus::Completed;
                next.next_check_at = None;
                return Effect {
                    progress: next,
                    write: None,
                    actions: vec!["release_plan.completed"],
                };
            }
            let mut next = enter(spec, next, step, step_hold(spec, step), clock);
            next.reason = None;
            Effect {
                progress: next,
                write: Some(FlagWrite::Step(step)),
                actions: vec!["release_plan.advanced"],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::model::{PlanBody, UrlPolicy};

    struct Open;
    impl UrlPolicy for Open {
        fn allows(&self, _: &reqwest::Url) -> bool {
            true
        }
        fn has_prometheus(&self) -> bool {
            true
        }
    }

    fn spec(threshold: u32) -> PlanSpec {
        let body: PlanBody = serde_json::from_value(json!({
            "steps": [{"percentage": 10, "hold_seconds": 10}, {"percentage": 100, "hold_seconds": 0}],
            "guards": [{"name": "errors", "prometheus": {"query": "x", "fail_when": ">", "threshold": 0.02}}],
            "failure_threshold": threshold,
        }))
        .unwrap();
        PlanSpec::parse(body, &Open).unwrap()
    }

    const SECOND: i64 = 1_000_000;

    fn at(now: i64) -> Clock {
        Clock {
            now,
            check_interval: 2 * SECOND,
        }
    }

    fn pass() -> Evaluation {
        Evaluation {
            verdict: Verdict::Pass,
            results: vec![],
        }
    }

    fn fail() -> Evaluation {
        Evaluation {
            verdict: Verdict::Fail {
                guard: "errors".into(),
                observed: json!(0.5),
            },
            results: vec![],
        }
    }

    #[test]
    fn a_passing_plan_holds_each_step_then_widens_then_completes() {
        let spec = spec(1);
        let started = command(&spec, &Progress::new(), Command::Start, at(0)).unwrap();
        assert_eq!(started.write, Some(FlagWrite::Step(0)));
        assert_eq!(started.progress.next_check_at, Some(2 * SECOND));
        let mid = evaluated(&spec, &started.progress, &pass(), at(2 * SECOND));
        assert_eq!(mid.write, None, "the hold has not ended");
        let boundary = evaluated(&spec, &mid.progress, &pass(), at(10 * SECOND));
        assert_eq!(boundary.write, Some(FlagWrite::Step(1)));
        let done = evaluated(&spec, &boundary.progress, &pass(), at(10 * SECOND));
        assert_eq!(done.progress.status, PlanStatus::Completed);
    }

    #[test]
    fn failures_below_the_threshold_hold_the_step_and_at_it_roll_back() {
        let spec = spec(2);
        let started = command(&spec, &Progress::new(), Command::Start, at(0)).unwrap();
        let once = evaluated(&spec, &started.progress, &fail(), at(10 * SECOND));
        assert_eq!(once.write, None, "a failing step is never widened");
        assert_eq!(once.progress.status, PlanStatus::Running);
        let twice = evaluated(&spec, &once.progress, &fail(), at(12 * SECOND));
        assert_eq!(twice.write, Some(FlagWrite::Restore));
        assert_eq!(twice.progress.status, PlanStatus::RolledBack);
    }

    #[test]
    fn an_unknown_guard_pauses_and_a_resume_checks_at_once() {
        let spec = spec(1);
        let started = command(&spec, &Progress::new(), Command::Start, at(0)).unwrap();
        let unknown = Evaluation {
            verdict: Verdict::Unknown {
                guard: "errors".into(),
                detail: "unreachable".into(),
            },
            results: vec![],
        };
        let paused = evaluated(&spec, &started.progress, &unknown, at(4 * SECOND));
        assert_eq!(paused.progress.status, PlanStatus::Paused);
        assert_eq!(paused.write, None);
        assert_eq!(paused.progress.hold_left_ms, Some(6_000));
        let resumed = command(&spec, &paused.progress, Command::Resume, at(100 * SECOND)).unwrap();
        assert_eq!(resumed.progress.next_check_at, Some(100 * SECOND));
        assert_eq!(resumed.progress.hold_until, Some(106 * SECOND));
        assert!(command(&spec, &resumed.progress, Command::Start, at(0)).is_err());
    }
}
