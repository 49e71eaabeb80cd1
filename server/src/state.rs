//! [`AppState`]: what every handler can reach, built once by [`crate::startup`] and shared by
//! all workers. Its own module so that `api`, `auth` and `telemetry` depend on it without
//! depending on start-up (which depends on them).

use std::sync::Arc;

use crate::auth::TokenService;
use crate::changes::{Changed, Committed};
use crate::keys::Keyring;
use crate::oidc::keys::IssuerKeys;
use crate::readiness::Readiness;
use crate::redis_connection::Redis;
use crate::settings::Settings;
use crate::snapshots::Snapshots;
use crate::store::Store;
use crate::store::write_scope::WriteScope;
use crate::telemetry::Metrics;

/// What every handler can reach; one instance shared by all workers.
#[derive(Debug)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub tokens: Arc<TokenService>,
    pub redis: Option<Redis>,
    pub metrics: Metrics,
    /// The dependencies' last check, refreshed in the background: what `/readyz` answers.
    pub readiness: Arc<Readiness>,
    pub keyring: Arc<Keyring>,
    /// Every served environment's snapshot, in memory; write handlers reload it after commit.
    pub snapshots: Arc<Snapshots>,
    /// One permit per open `/v1/sdk/stream` (`max_streams`): streams hold memory and a socket
    /// for as long as the client stays, so their number is bounded per instance.
    pub stream_slots: Arc<tokio::sync::Semaphore>,
    /// Where release plans' guards look (Prometheus, allowed HTTP checks) and how long they wait.
    pub monitoring: crate::delivery::guards::Monitoring,
    /// OIDC issuers' signing keys, cached for token exchanges (`oidc::keys`).
    pub issuer_keys: Arc<IssuerKeys>,
    /// Fired when the instance starts draining (SIGTERM): open streams end with
    /// `event: reconnect` (see `crate::draining`).
    pub draining: crate::shutdown::Shutdown,
}

impl AppState {
    /// The post-commit step: refreshes this instance's snapshots for what changed (which
    /// announces it on the bus), then hands out the write's result. Never fails: a failed
    /// reload is logged and the revision poller converges.
    ///
    /// Bounded by the request's deadline (`store::write_scope`): the write is applied and its
    /// answer comes from the write itself, so a database that goes silent right after the
    /// commit must not hold the answer; the reload then finishes in the background (or the
    /// revision poller catches up). A write parked for its `Idempotency-Key` outcome is not
    /// committed yet: its follow-up waits for the commit (`api::idempotency`).
    pub async fn publish<T>(&self, committed: Committed<T>) -> T {
        let (value, changed) = committed.into_parts();
        match WriteScope::current() {
            Some(scope) if scope.defer(changed.clone()) => {}
            _ => self.follow_up(vec![changed]).await,
        }
        value
    }

    /// Runs the follow-ups of committed writes, within the request's deadline if there is one.
    pub async fn follow_up(&self, changes: Vec<Changed>) {
        if changes.iter().all(|c| *c == Changed::Nothing) {
            return;
        }
        let snapshots = self.snapshots.clone();
        let reload = async move {
            for changed in changes {
                match &changed {
                    Changed::Nothing => {}
                    Changed::Project(project) => snapshots.reload_project(project).await,
                    Changed::Environment {
                        project,
                        environment,
                    } => snapshots.reload_environment(project, environment).await,
                }
            }
        };
        let Some(deadline) = WriteScope::current().map(|scope| scope.deadline()) else {
            return reload.await;
        };
        let reloading = tokio::spawn(reload);
        if tokio::time::timeout_at(deadline, reloading).await.is_err() {
            tracing::warn!(
                "the snapshot reload after a write outlasted db_timeout_secs; answering \
                 meanwhile (the reload goes on; the revision poller is the fallback)"
            );
        }
    }
}
