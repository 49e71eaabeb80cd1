//! Reading environments from the store into the map. Everything here runs under the writer
//! lock (see the consistency notes in the module above), which is what lets it copy the map,
//! change the copy and swap it in without losing a concurrent writer's work.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;

use super::map::{self, Map};
use super::{EnvironmentSnapshot, Snapshots};
use crate::store::snapshots::{self, EnvironmentRevision};
use crate::store::{StoreError, StoreResult, environments};

/// Environments read at once when many changed together (one write to a parent reaches all its
/// children); the pool bounds the connections they take.
const CONCURRENT_READS: usize = 8;

impl Snapshots {
    /// Brings the cached entries of `scope` (one project, or every project for `None`) in line
    /// with `current`, the database's list for that scope: reloads entries whose revision
    /// differs (all of them with `force`) and drops entries that are no longer listed. The
    /// writer lock must be held.
    pub(super) async fn converge_locked(
        &self,
        current: &[EnvironmentRevision],
        scope: Option<&str>,
        force: bool,
    ) -> StoreResult<()> {
        let entries = self.entries.load_full();
        let mut next = (*entries).clone();
        let listed: HashMap<(&str, &str), &EnvironmentRevision> = current
            .iter()
            .map(|r| ((r.project.as_str(), r.environment.as_str()), r))
            .collect();
        let mut stale = Vec::new();
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
                    map::remove(&mut next, project, environment);
                    continue;
                };
                if !force && i64::try_from(entry.revision).ok() == Some(row.revision) {
                    continue;
                }
                stale.push((
                    project.clone(),
                    environment.clone(),
                    row.environment_id.clone(),
                ));
            }
        }
        // A change to a project reaches every environment inheriting from it: read them side by
        // side, so that converging takes about one read whatever the fan-out.
        // The futures are made before they become a stream: a stream of `map` over borrowing
        // closures is not provably `Send` to the compiler.
        let reads: Vec<_> = stale
            .into_iter()
            .map(|(project, environment, id)| async move {
                let result = self.build(&id).await;
                (project, environment, result)
            })
            .collect();
        let mut built = futures_util::stream::iter(reads).buffer_unordered(CONCURRENT_READS);
        let mut first_error = None;
        while let Some((project, environment, result)) = built.next().await {
            match result {
                Ok(Some(fresh)) => map::insert(&mut next, fresh),
                Ok(None) => map::remove(&mut next, &project, &environment),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        self.publish_changes(&entries, next);
        first_error.map_or(Ok(()), Err)
    }

    /// Loads `project`/`environment`, stores it and returns it; forgets it if it does not exist.
    /// The writer lock must be held.
    pub(super) async fn load_locked(
        &self,
        project: &str,
        environment: &str,
    ) -> StoreResult<Option<Arc<EnvironmentSnapshot>>> {
        let id = match environments::get(&self.store, project, environment).await {
            Ok(env) => env.id,
            Err(StoreError::NotFound) => {
                self.update(|map| map::remove(map, project, environment));
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        let fresh = self.build(&id).await?;
        match &fresh {
            Some(entry) => {
                let entry = entry.clone();
                self.update(|map| map::insert(map, entry));
            }
            None => self.update(|map| map::remove(map, project, environment)),
        }
        Ok(fresh)
    }

    /// Reads and builds one environment's entry; `None` if it no longer exists.
    async fn build(&self, environment_id: &str) -> StoreResult<Option<Arc<EnvironmentSnapshot>>> {
        let loaded = match self.cached_in_redis(environment_id).await {
            Some(loaded) => loaded,
            None => match snapshots::load(&self.store, environment_id).await {
                Ok(loaded) => {
                    self.share_in_redis(environment_id, &loaded);
                    loaded
                }
                Err(StoreError::Absent(_) | StoreError::NotFound) => return Ok(None),
                Err(error) => return Err(error),
            },
        };
        // Read after the snapshot: a re-parenting in between bumps the revision, and the
        // reload it triggers reads both again.
        let lineage = match environments::lineage_of(&self.store, environment_id).await {
            Ok(lineage) => lineage,
            Err(StoreError::Absent(_) | StoreError::NotFound) => return Ok(None),
            Err(error) => return Err(error),
        };
        let id = environment_id.to_owned();
        let entry =
            tokio::task::spawn_blocking(move || EnvironmentSnapshot::build(id, lineage, &loaded))
                .await
                .map_err(|e| {
                    StoreError::Other(anyhow::anyhow!("building a snapshot panicked: {e}"))
                })?
                .map_err(StoreError::Other)?;
        Ok(Some(Arc::new(entry)))
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
        let changed = map::changes(before, &next);
        self.entries.store(Arc::new(next));
        for change in changed {
            // No receiver is fine: nobody is streaming.
            let _ = self.changes.send(change);
        }
    }
}
