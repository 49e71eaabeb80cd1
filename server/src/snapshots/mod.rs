//! The in-memory cache of environments' SDK snapshots: what `GET /v1/sdk/snapshot` and
//! `POST /v1/evaluate` answer from, without a database round trip.
//!
//! Each entry is built once per change: the snapshot compiled for evaluation, its JSON body
//! serialized once, a gzip copy compressed once, and a strong ETag derived from the body. A
//! request then costs a map lookup and a reference-count increment; the body is shared, never
//! copied.
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
//!   Other instances converge through [`Snapshots::watch`], which compares every environment's
//!   revision (one cheap query) each second, reloads what changed and drops what was deleted.
//!   Reloads never fail the caller: the database is the source of truth and the poller retries.

mod answers;

pub use answers::Answers;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use anyhow::Context;
use arc_swap::ArcSwap;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_core::{CompiledSnapshot, Snapshot};

use crate::redis_connection::Redis;
use crate::store::snapshots::{self, EnvironmentRevision};
use crate::store::{Store, StoreError, StoreResult, environments, now_micros};

/// One environment's snapshot, ready to serve and to evaluate.
#[derive(Debug)]
pub struct EnvironmentSnapshot {
    /// The environment's id: one deleted and created again under the same name is a different
    /// environment, and must not keep the old one's entry.
    pub environment_id: String,
    pub project: String,
    pub environment: String,
    pub revision: u64,
    /// Compiled once per revision; evaluation borrows it.
    pub compiled: Arc<CompiledSnapshot>,
    /// The pre-serialized pieces of `POST /v1/evaluate` answers for `compiled`.
    pub answers: Answers,
    /// The `application/json` body of `GET /v1/sdk/snapshot`.
    pub body: Bytes,
    /// `body`, gzip-compressed once at the best level (paid once per change, saved per request).
    pub gzip: Bytes,
    /// Strong validator: `"<revision>-<16 hex digits of SHA-256(body)>"`.
    pub etag: HeaderValue,
}

impl EnvironmentSnapshot {
    /// Compiles, serializes and compresses `snapshot`. CPU-bound (milliseconds for large
    /// snapshots), so callers run it off the async workers.
    pub fn build(environment_id: String, snapshot: &Snapshot) -> anyhow::Result<Self> {
        let body = serde_json::to_vec(snapshot).context("serializing a snapshot")?;
        let digest = Sha256::digest(&body);
        let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{}-{short}\"", snapshot.revision))
            .context("building an ETag")?;
        let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::best());
        encoder.write_all(&body).context("compressing a snapshot")?;
        let gzip = encoder.finish().context("compressing a snapshot")?;
        let compiled = CompiledSnapshot::compile(snapshot);
        let answers = Answers::build(snapshot, &compiled).context("preparing answers")?;
        Ok(Self {
            environment_id,
            project: snapshot.project.clone(),
            environment: snapshot.environment.clone(),
            revision: snapshot.revision,
            compiled: Arc::new(compiled),
            answers,
            body: Bytes::from(body),
            gzip: Bytes::from(gzip),
            etag,
        })
    }
}

/// Project name → environment name → entry. Nested so that a lookup by two `&str`s allocates
/// nothing.
type Map = HashMap<String, HashMap<String, Arc<EnvironmentSnapshot>>>;

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

/// What instances tell each other on the Redis bus; receivers re-check revisions in the database.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    origin: String,
    project: String,
}

const BUS_CHANNEL: &str = "changes";
/// Snapshot bodies in Redis expire on their own; keys carry the revision, so they are never stale.
const REDIS_TTL: Duration = Duration::from_secs(3600);

fn redis_key(environment_id: &str, revision: i64) -> String {
    format!("snapshot:{environment_id}:{revision}")
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

    /// Listens to the other instances' announcements on Redis and re-checks revisions when one
    /// arrives (or when the subscription comes back after an outage). Runs for ever.
    pub async fn listen(self: Arc<Self>) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        let on_message = {
            let this = self.clone();
            move |payload: Vec<u8>| {
                let Ok(message) = serde_json::from_slice::<Announcement>(&payload) else {
                    return;
                };
                if message.origin == this.instance {
                    return;
                }
                let this = this.clone();
                tokio::spawn(async move {
                    if let Err(error) = this.sync().await {
                        tracing::debug!(%error, project = message.project, "syncing after an announcement failed");
                    }
                });
            }
        };
        let on_reconnect = {
            let this = self.clone();
            move || {
                let this = this.clone();
                tokio::spawn(async move {
                    let _ = this.sync().await;
                });
            }
        };
        redis.subscribe(BUS_CHANNEL, on_message, on_reconnect).await;
    }

    /// Tells the other instances that `project` changed (best effort; the poller is the net).
    async fn announce(&self, project: &str) {
        if let Some(redis) = &self.redis {
            let message = Announcement {
                origin: self.instance.clone(),
                project: project.to_owned(),
            };
            if let Ok(payload) = serde_json::to_vec(&message) {
                redis.publish(BUS_CHANNEL, &payload).await;
            }
        }
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
            self.announce(project).await;
            return;
        }
        if let Err(error) = self.load_locked(project, environment).await {
            tracing::warn!(%error, project, environment, "reloading a snapshot failed; the poller will retry");
        }
        drop(_writer);
        self.announce(project).await;
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
        self.announce(project).await;
    }

    /// Polls the environments' revisions every `every` and brings the cache up to date: how
    /// changes made by other instances (or directly in the database) arrive. Runs until the
    /// store is closed at shutdown.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            ticker.tick().await;
            if self.store.pool().is_closed() {
                return;
            }
            match self.sync().await {
                Ok(()) if failing => {
                    tracing::info!("snapshot revisions readable again");
                    failing = false;
                }
                Ok(()) => {}
                // Once per outage, not once a second.
                Err(error) if !failing => {
                    tracing::warn!(%error, "checking snapshot revisions failed; serving what is cached");
                    failing = true;
                }
                Err(error) => tracing::debug!(%error, "checking snapshot revisions still fails"),
            }
        }
    }

    /// One round of [`watch`](Self::watch). Costs nothing while the cache is empty and one query
    /// while nothing changed.
    pub async fn sync(&self) -> StoreResult<()> {
        if self.entries.load().is_empty() {
            self.last_checked.store(now_micros(), Ordering::Relaxed);
            return Ok(());
        }
        let current = snapshots::revisions(&self.store).await?;
        self.last_checked.store(now_micros(), Ordering::Relaxed);
        if self.is_current(&current) {
            return Ok(());
        }
        let _writer = self.writer.lock().await;
        // Read again under the lock: an entry loaded while we waited must not be judged by the
        // older list.
        let current = snapshots::revisions(&self.store).await?;
        self.converge_locked(&current, None, false).await
    }

    /// Whether every cached entry still exists at the revision it holds (the common case, checked
    /// without taking the writer lock).
    fn is_current(&self, current: &[EnvironmentRevision]) -> bool {
        let entries = self.entries.load();
        let mut seen = 0;
        for row in current {
            if let Some(entry) = entries
                .get(&row.project)
                .and_then(|envs| envs.get(&row.environment))
            {
                if entry.environment_id != row.environment_id
                    || i64::try_from(entry.revision).ok() != Some(row.revision)
                {
                    return false;
                }
                seen += 1;
            }
        }
        seen == entries.values().map(HashMap::len).sum::<usize>()
    }

    /// Brings the cached entries of `scope` (one project, or every project for `None`) in line
    /// with `current`, the database's list for that scope: reloads entries whose revision
    /// differs (all of them with `force`) and drops entries that are no longer listed. The
    /// writer lock must be held.
    async fn converge_locked(
        &self,
        current: &[EnvironmentRevision],
        scope: Option<&str>,
        force: bool,
    ) -> StoreResult<()> {
        let entries = self.entries.load_full();
        let mut next = (*entries).clone();
        let mut first_error = None;
        let listed: HashMap<(&str, &str), &EnvironmentRevision> = current
            .iter()
            .map(|r| ((r.project.as_str(), r.environment.as_str()), r))
            .collect();
        for (project, envs) in &*entries {
            if scope.is_some_and(|p| p != project) {
                continue;
            }
            for (environment, entry) in envs {
                // Matching the id too forgets an environment deleted and created again.
                let row = listed
                    .get(&(project.as_str(), environment.as_str()))
                    .filter(|r| r.environment_id == entry.environment_id);
                let Some(row) = row else {
                    remove(&mut next, project, environment);
                    continue;
                };
                if !force && i64::try_from(entry.revision).ok() == Some(row.revision) {
                    continue;
                }
                match self.build(&row.environment_id).await {
                    Ok(Some(fresh)) => insert(&mut next, fresh),
                    Ok(None) => remove(&mut next, project, environment),
                    Err(error) => {
                        first_error.get_or_insert(error);
                    }
                }
            }
        }
        self.publish_changes(&entries, next);
        first_error.map_or(Ok(()), Err)
    }

    /// Loads `project`/`environment`, stores it and returns it; forgets it if it does not exist.
    /// The writer lock must be held.
    async fn load_locked(
        &self,
        project: &str,
        environment: &str,
    ) -> StoreResult<Option<Arc<EnvironmentSnapshot>>> {
        let id = match environments::get(&self.store, project, environment).await {
            Ok(env) => env.id,
            Err(StoreError::NotFound) => {
                self.update(|map| remove(map, project, environment));
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let fresh = self.build(&id).await?;
        match &fresh {
            Some(entry) => {
                let entry = entry.clone();
                self.update(|map| insert(map, entry));
            }
            None => self.update(|map| remove(map, project, environment)),
        }
        Ok(fresh)
    }

    /// Reads and builds one environment's entry; `None` if it no longer exists.
    async fn build(&self, environment_id: &str) -> StoreResult<Option<Arc<EnvironmentSnapshot>>> {
        let snapshot = match self.cached_in_redis(environment_id).await {
            Some(snapshot) => snapshot,
            None => match snapshots::load(&self.store, environment_id).await {
                Ok(snapshot) => {
                    self.share_in_redis(environment_id, &snapshot).await;
                    snapshot
                }
                Err(StoreError::Absent(_) | StoreError::NotFound) => return Ok(None),
                Err(error) => return Err(error),
            },
        };
        let id = environment_id.to_owned();
        let entry = tokio::task::spawn_blocking(move || EnvironmentSnapshot::build(id, &snapshot))
            .await
            .map_err(|e| StoreError::Other(anyhow::anyhow!("building a snapshot panicked: {e}")))?
            .map_err(StoreError::Other)?;
        Ok(Some(Arc::new(entry)))
    }

    /// The environment's snapshot at its current revision from the shared Redis cache: one
    /// small query for the revision instead of the full snapshot read. `None` on any miss.
    async fn cached_in_redis(&self, environment_id: &str) -> Option<Snapshot> {
        let redis = self.redis.as_ref()?;
        let revision = snapshots::revision(&self.store, environment_id)
            .await
            .ok()??;
        let bytes = redis
            .get_bytes(&redis_key(environment_id, revision))
            .await?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes).ok()?;
        (i64::try_from(snapshot.revision).ok() == Some(revision)).then_some(snapshot)
    }

    /// Shares a snapshot read from the database with the other instances (best effort). A
    /// snapshot holds flags, segments and config, never a secret.
    async fn share_in_redis(&self, environment_id: &str, snapshot: &Snapshot) {
        let Some(redis) = &self.redis else { return };
        let Ok(revision) = i64::try_from(snapshot.revision) else {
            return;
        };
        if let Ok(body) = serde_json::to_vec(snapshot) {
            redis
                .set_bytes(&redis_key(environment_id, revision), &body, REDIS_TTL)
                .await;
        }
    }

    /// Copy, change, swap. The writer lock must be held.
    fn update(&self, change: impl FnOnce(&mut Map)) {
        let before = self.entries.load_full();
        let mut next = (*before).clone();
        change(&mut next);
        self.publish_changes(&before, next);
    }

    /// Swaps `next` in and tells streaming clients about every environment whose revision moved.
    fn publish_changes(&self, before: &Map, next: Map) {
        let mut changed = Vec::new();
        for (project, envs) in &next {
            for (environment, entry) in envs {
                let old = before.get(project).and_then(|e| e.get(environment));
                if old.is_none_or(|old| {
                    old.revision != entry.revision || old.environment_id != entry.environment_id
                }) {
                    changed.push(Change {
                        project: project.clone(),
                        environment: environment.clone(),
                        revision: entry.revision,
                        gone: false,
                    });
                }
            }
        }
        for (project, envs) in before {
            for (environment, entry) in envs {
                if next.get(project).and_then(|e| e.get(environment)).is_none() {
                    changed.push(Change {
                        project: project.clone(),
                        environment: environment.clone(),
                        revision: entry.revision,
                        gone: true,
                    });
                }
            }
        }
        self.entries.store(Arc::new(next));
        for change in changed {
            // No receiver is fine: nobody is streaming.
            let _ = self.changes.send(change);
        }
    }
}

/// Inserts `fresh` unless the map already holds a newer revision of the same environment.
fn insert(map: &mut Map, fresh: Arc<EnvironmentSnapshot>) {
    let envs = map.entry(fresh.project.clone()).or_default();
    match envs.get(&fresh.environment) {
        Some(old)
            if old.environment_id == fresh.environment_id && old.revision > fresh.revision => {}
        _ => {
            envs.insert(fresh.environment.clone(), fresh);
        }
    }
}

fn remove(map: &mut Map, project: &str, environment: &str) {
    if let Some(envs) = map.get_mut(project) {
        envs.remove(environment);
        if envs.is_empty() {
            map.remove(project);
        }
    }
}
