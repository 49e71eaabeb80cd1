//! The in-memory cache of environments' SDK snapshots: what `GET /v1/sdk/snapshot` and
//! `POST /v1/evaluate` answer from, without a database round trip.
//!
//! Each entry is built once per change ([`EnvironmentSnapshot::build`]): the snapshot compiled
//! for evaluation, its JSON body serialized once, a gzip copy compressed once, and a strong ETag
//! derived from the body. A request then costs a map lookup and a reference-count increment;
//! the body is shared, never copied.
//!
//! # Consistency
//! - The map sits behind an [`ArcSwap`]: readers take no lock and see either the old map or the
//!   new one, never half an update. Writers copy the map (a few `Arc`s per environment), change
//!   the copy and swap it in, one at a time under `writer`, so two reloads cannot lose each
//!   other's work and a slower load can never put an older revision back.
//! - The cache holds the environments that have been asked for. A miss loads the environment
//!   once (concurrent misses wait for that load instead of each querying the database).
//! - Write handlers on this instance call [`Snapshots::reload_environment`] or
//!   [`Snapshots::reload_project`] after committing, so the change is visible at once here.
//!   Other instances hear of it on the Redis bus ([`Snapshots::listen`]) and converge through
//!   [`Snapshots::sync`]; [`Snapshots::watch`] runs the same sync every second as the net
//!   under the bus (Redis down, or a change made directly in the database): it compares every
//!   environment's revision (one cheap query), reloads what changed and drops what was deleted.
//!   Reloads never fail the caller: the database is the source of truth and the poller retries.
//!
//! # Layout
//! - `entry`: one environment's entry, built once per revision.
//! - `load`: reading environments from the store into the map, under the writer lock.
//! - `map`: the map itself, and the changes between two versions of it.
//! - `poller`: [`Snapshots::watch`] and [`Snapshots::sync`].
//! - `bus`: the announcements instances exchange on Redis.
//! - `shared_cache`: snapshot bodies shared between instances in Redis.
//! - `answers`: `POST /v1/evaluate` answers prepared once per entry, and the walk over
//!   evaluated flags (`Answers::each`) that OFREP's bulk answer writes from too.
//! - `ofrep`: OFREP answers prepared once per entry, and what client-side keys may see.

mod answers;
mod bus;
mod entry;
mod load;
mod map;
mod ofrep;
mod poller;
mod shared_cache;

pub use answers::{Answer, Answers};
pub use entry::EnvironmentSnapshot;
pub use ofrep::{OfrepAnswers, Single, View};

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::redis_connection::Redis;
use crate::store::snapshots;
use crate::store::{Store, StoreResult, now_micros};
use map::Map;

/// The cache; one per process, shared by all workers.
#[derive(Debug)]
pub struct Snapshots {
    store: Store,
    entries: ArcSwap<Map>,
    /// Serializes every change to `entries` (and the database read that precedes it), which
    /// makes misses single-flight and keeps revisions from going backwards.
    writer: tokio::sync::Mutex<()>,
    /// Tells streaming clients (`/v1/sdk/stream`) that an environment moved to a new revision.
    changes: tokio::sync::broadcast::Sender<Change>,
    /// Shared cache of snapshot bodies and the change bus between instances, when configured.
    redis: Option<Redis>,
    /// Identifies this process on the bus, so it ignores its own announcements.
    instance: String,
    /// When the database last answered a revision check (microseconds), for the stale marker.
    last_checked: AtomicI64,
}

/// An environment reached a new revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub project: String,
    pub environment: String,
    pub revision: u64,
    /// The environment was deleted (or can no longer be read).
    pub gone: bool,
}

impl Snapshots {
    pub fn new(store: Store, redis: Option<Redis>) -> Self {
        Self {
            store,
            entries: ArcSwap::from_pointee(Map::new()),
            writer: tokio::sync::Mutex::new(()),
            // Streams that fall this far behind get a full refresh instead (see the stream API).
            changes: tokio::sync::broadcast::channel(1024).0,
            redis,
            instance: uuid::Uuid::new_v4().to_string(),
            last_checked: AtomicI64::new(now_micros()),
        }
    }

    /// A receiver of every revision change this instance's cache sees.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// How long ago the database last answered a revision check; a reader serving from memory
    /// while this grows is serving possibly stale data.
    pub fn since_last_check(&self) -> Duration {
        let micros = now_micros().saturating_sub(self.last_checked.load(Ordering::Relaxed));
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }

    /// The cached entry, from memory only. This is the hot path: no lock, no allocation.
    pub fn peek(&self, project: &str, environment: &str) -> Option<Arc<EnvironmentSnapshot>> {
        self.entries
            .load()
            .get(project)
            .and_then(|envs| envs.get(environment))
            .cloned()
    }

    /// The entry, loading it on a miss. `Ok(None)` when the environment does not exist.
    pub async fn get(
        &self,
        project: &str,
        environment: &str,
    ) -> StoreResult<Option<Arc<EnvironmentSnapshot>>> {
        if let Some(entry) = self.peek(project, environment) {
            return Ok(Some(entry));
        }
        let _writer = self.writer.lock().await;
        // Whoever held the lock before us may have loaded it.
        if let Some(entry) = self.peek(project, environment) {
            return Ok(Some(entry));
        }
        tracing::debug!(project, environment, "snapshot cache miss");
        self.load_locked(project, environment).await
    }

    /// Re-reads one environment after a change to it, or forgets it if it is gone. Only a cached
    /// environment is re-read (an uncached one loads fresh on its first request). Never fails:
    /// errors are logged and the poller converges.
    pub async fn reload_environment(&self, project: &str, environment: &str) {
        let _writer = self.writer.lock().await;
        if self.peek(project, environment).is_none() {
            drop(_writer);
            self.announce(project);
            return;
        }
        if let Err(error) = self.load_locked(project, environment).await {
            tracing::warn!(%error, project, environment, "reloading a snapshot failed; the poller will retry");
        }
        drop(_writer);
        self.announce(project);
    }

    /// Re-reads every cached environment of a project (flag definitions and segments reach all
    /// of them) and forgets those that are gone. Never fails, like
    /// [`reload_environment`](Self::reload_environment).
    pub async fn reload_project(&self, project: &str) {
        let _writer = self.writer.lock().await;
        let result = match snapshots::revisions(&self.store).await {
            Ok(all) => {
                let current: Vec<_> = all.into_iter().filter(|r| r.project == project).collect();
                self.converge_locked(&current, Some(project), true).await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(%error, project, "reloading a project's snapshots failed; the poller will retry");
        }
        drop(_writer);
        self.announce(project);
    }
}
