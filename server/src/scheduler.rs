//! The scheduler: the background loop that applies due scheduled changes and moves running
//! release plans (guard checks, step boundaries), on one instance at a time.
//!
//! Every `scheduler_tick_ms` each instance asks for the `scheduler` lease (see
//! `store::leases`); the holder does the round, the others wait. A holder that crashes stops
//! renewing, and another instance takes over once the lease expires (`scheduler_lease_ms`):
//! the bound on how long work waits after a crash. The lease avoids duplicated work; it is not
//! what keeps a step from being applied twice: every transition is a compare-and-set on the
//! plan's version committed with its flag write, so even two holders at once (a holder stalled
//! past its lease) apply each step once.
//!
//! Nothing is kept in memory between rounds: plans and schedules are rows, so a restart resumes
//! where the database says. A step whose hold ended while no instance ran is due at once, and
//! is evaluated (its guards checked) like any boundary, never advanced blind.

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::guards::{Evaluation, Monitoring};
use crate::delivery::lifecycle::{self, Clock, Effect};
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::store::release_plans::{self, Plan};
use crate::store::{StoreError, leases, now_micros, scheduled_changes};

const LEASE: &str = "scheduler";
/// Work taken per round; the rest waits for the next tick.
const BATCH: i64 = 100;

/// Runs the scheduler until shutdown, then gives the lease up so that another instance takes
/// over at its next tick.
pub async fn run(state: Arc<AppState>, monitoring: Monitoring, shutdown: Shutdown) {
    let holder = uuid::Uuid::new_v4().to_string();
    let settings = state.settings.clone();
    let lease = Duration::from_millis(settings.scheduler_lease_ms);
    let mut ticker = tokio::time::interval(Duration::from_millis(settings.scheduler_tick_ms));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held = false;
    while shutdown.next_tick(&mut ticker).await {
        match leases::try_hold(&state.store, LEASE, &holder, lease).await {
            Ok(now_held) => {
                if now_held != held {
                    tracing::info!(held = now_held, "scheduler lease");
                }
                held = now_held;
            }
            Err(error) => {
                tracing::warn!(error = %error, "scheduler: cannot reach the lease; skipping a round");
                held = false;
            }
        }
        if held {
            round(&state, &monitoring).await;
        }
    }
    if held && let Err(error) = leases::release(&state.store, LEASE, &holder).await {
        tracing::warn!(error = %error, "scheduler: could not give the lease up at shutdown");
    }
}

/// One round: due scheduled changes, then due plans.
#[tracing::instrument(skip_all)]
async fn round(state: &AppState, monitoring: &Monitoring) {
    match scheduled_changes::due(&state.store, now_micros(), BATCH).await {
        Ok(due) => {
            for schedule in due {
                match scheduled_changes::apply(&state.store, &schedule).await {
                    Ok(Some(applied)) => {
                        state.publish(applied).await;
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(schedule = %schedule.id, error = %error, "scheduled change not applied; retrying next round");
                    }
                }
            }
        }
        Err(error) => tracing::warn!(error = %error, "scheduler: cannot read due changes"),
    }
    match release_plans::due(&state.store, now_micros(), BATCH).await {
        Ok(due) => {
            for plan in due {
                advance(state, monitoring, &plan).await;
            }
        }
        Err(error) => tracing::warn!(error = %error, "scheduler: cannot read due plans"),
    }
}

/// Evaluates a due plan's guards and commits what follows.
async fn advance(state: &AppState, monitoring: &Monitoring, plan: &Plan) {
    let evaluation = if plan.spec.guards.is_empty() {
        Evaluation::from_results(vec![])
    } else {
        monitoring.evaluate(&plan.spec.guards).await
    };
    let clock = Clock {
        now: now_micros(),
        check_interval: check_interval(state),
    };
    let effect = lifecycle::evaluated(&plan.spec, &plan.progress, &evaluation, clock);
    let actor = release_plans::plan_actor(&plan.id);
    match release_plans::transition(&state.store, &actor, plan, &effect).await {
        Ok(moved) => {
            state.publish(moved).await;
        }
        // Another instance moved it first: its transition stands.
        Err(StoreError::Stale { .. }) => {}
        // The flag no longer accepts the step (its variants changed): pause and say why,
        // instead of retrying every round.
        Err(error @ (StoreError::Invalid(_) | StoreError::Absent(_) | StoreError::NotFound)) => {
            let mut progress = effect.progress.clone();
            progress.status = crate::delivery::model::PlanStatus::Paused;
            progress.next_check_at = None;
            progress.hold_left_ms = Some(0);
            progress.current_step = plan.progress.current_step;
            progress.reason = Some(serde_json::json!({
                "kind": "step_failed",
                "detail": error.to_string(),
            }));
            let paused = Effect {
                progress,
                write: None,
                actions: vec!["release_plan.paused"],
            };
            match release_plans::transition(&state.store, &actor, plan, &paused).await {
                Ok(moved) => {
                    state.publish(moved).await;
                }
                Err(error) => {
                    tracing::warn!(plan = %plan.id, error = %error, "release plan could not be paused");
                }
            }
        }
        Err(error) => {
            tracing::warn!(plan = %plan.id, error = %error, "release plan not moved; retrying next round");
        }
    }
}

/// The guard interval in microseconds.
pub fn check_interval(state: &AppState) -> i64 {
    i64::try_from(state.settings.guard_interval_ms)
        .unwrap_or(i64::MAX / 1000)
        .saturating_mul(1000)
}
