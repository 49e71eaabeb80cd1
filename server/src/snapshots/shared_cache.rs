//! Snapshot bodies shared between instances in Redis: when one instance has read an
//! environment from the database, the others building the same revision fetch it from Redis
//! with one small revision query instead of the full snapshot read. Best effort throughout:
//! any miss or failure falls back to the database, the source of truth.

use std::time::Duration;

use super::Snapshots;
use crate::store::snapshots::{self, Loaded};

/// Snapshot bodies in Redis expire on their own; keys carry the revision, so they are never stale.
const REDIS_TTL: Duration = Duration::from_secs(3600);

fn redis_key(environment_id: &str, revision: i64) -> String {
    format!("snapshot:{environment_id}:{revision}")
}

impl Snapshots {
    /// The environment's snapshot at its current revision from the shared Redis cache: one
    /// small query for the revision instead of the full snapshot read. `None` on any miss, and
    /// at once (without that query) while Redis is known to be down.
    pub(super) async fn cached_in_redis(&self, environment_id: &str) -> Option<Loaded> {
        let redis = self.redis.as_ref().filter(|redis| redis.is_up())?;
        let revision = snapshots::revision(&self.store, environment_id)
            .await
            .ok()??;
        let bytes = redis
            .get_bytes(&redis_key(environment_id, revision))
            .await?;
        // A value in another shape (an instance of another release) is a miss.
        let loaded: Loaded = serde_json::from_slice(&bytes).ok()?;
        (i64::try_from(loaded.snapshot.revision).ok() == Some(revision)).then_some(loaded)
    }

    /// Shares a snapshot read from the database with the other instances (best effort). A
    /// snapshot holds flags, segments and config, never a secret. Returns at once: the `SET`
    /// runs in the background.
    pub(super) fn share_in_redis(&self, environment_id: &str, loaded: &Loaded) {
        let Some(redis) = self.redis.as_ref().filter(|redis| redis.is_up()) else {
            return;
        };
        let Ok(revision) = i64::try_from(loaded.snapshot.revision) else {
            return;
        };
        if let Ok(body) = serde_json::to_vec(loaded) {
            redis.set_in_background(&redis_key(environment_id, revision), body, REDIS_TTL);
        }
    }
}
