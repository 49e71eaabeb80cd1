//! What `/readyz` reports: whether this instance can serve its traffic, and how its
//! dependencies are doing.
//!
//! Readiness is a load balancer's signal to send traffic here or elsewhere, so it fails only
//! when this instance cannot serve at all: while it is still starting (the database has never
//! been reached, so nothing is loaded; see `startup`). A dependency that goes away later is a
//! degradation every instance shares and survives: with Redis down, instances converge through
//! the database; with the database down, reads are served from memory (marked stale) and
//! writes answer `503` with `Retry-After`. Failing readiness then would only take every
//! instance out of service at once. So those are reported in the body and in the
//! `switchboard_dependency_up` metric, and the answer stays `200`.
//!
//! The checks run in the background every second, each bounded by [`CHECK_TIMEOUT`], and
//! `/readyz` answers the last result: a probe never waits on a dependency that hangs.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::redis_connection::Redis;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::telemetry::Metrics;

/// The longest one dependency check may take; a dependency slower than that counts as down.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// How often the checks run.
const EVERY: Duration = Duration::from_secs(1);

/// One dependency's state at the last check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Ok,
    Unavailable,
    NotConfigured,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Unavailable => "unavailable",
            Check::NotConfigured => "not configured",
        }
    }
}

/// The dependencies at the last check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    pub database: Check,
    pub redis: Check,
}

impl Report {
    /// Whether a configured dependency did not answer its last check.
    pub fn degraded(&self) -> bool {
        self.database == Check::Unavailable || self.redis == Check::Unavailable
    }
}

/// The last checks' results, refreshed by [`Readiness::watch`].
#[derive(Debug)]
pub struct Readiness {
    store: Store,
    redis: Option<Redis>,
    metrics: Metrics,
    last: ArcSwap<Report>,
}

impl Readiness {
    /// Checks once, so that the first probe already has an answer.
    pub async fn new(store: Store, redis: Option<Redis>, metrics: Metrics) -> Self {
        let readiness = Self {
            store,
            redis,
            metrics,
            last: ArcSwap::from_pointee(Report {
                database: Check::Ok,
                redis: Check::NotConfigured,
            }),
        };
        readiness.refresh().await;
        readiness
    }

    /// The last result; costs no I/O.
    pub fn report(&self) -> Report {
        **self.last.load()
    }

    /// Re-checks every second until shutdown. The Redis `PING` is also what closes Redis's
    /// circuit breaker once it is back (see `redis_connection`).
    pub async fn watch(self: Arc<Self>, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while shutdown.next_tick(&mut ticker).await {
            self.refresh().await;
        }
    }

    async fn refresh(&self) {
        let database = async {
            match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
                Ok(Ok(())) => Check::Ok,
                _ => Check::Unavailable,
            }
        };
        let redis = async {
            match &self.redis {
                None => Check::NotConfigured,
                Some(redis) => match tokio::time::timeout(CHECK_TIMEOUT, redis.ping()).await {
                    Ok(Ok(())) => Check::Ok,
                    _ => Check::Unavailable,
                },
            }
        };
        let (database, redis) = tokio::join!(database, redis);
        let report = Report { database, redis };
        let gauge = |name: &str, check: Check| {
            if check != Check::NotConfigured {
                self.metrics
                    .dependency_up
                    .with_label_values(&[name])
                    .set(i64::from(check == Check::Ok));
            }
        };
        gauge("database", database);
        gauge("redis", redis);
        self.last.store(Arc::new(report));
    }
}
