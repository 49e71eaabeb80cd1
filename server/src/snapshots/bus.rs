//! The change bus between instances, on Redis pub/sub: a write announces its project, and every
//! other instance re-checks revisions at once instead of at its next poll. An announcement says
//! only "look again"; what changed is always read from the database, so a lost or duplicated
//! message costs at most a poll interval or one extra query.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::Snapshots;
use crate::shutdown::Shutdown;

/// What instances tell each other on the Redis bus; receivers re-check revisions in the database.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    origin: String,
    project: String,
}

const BUS_CHANNEL: &str = "changes";

impl Snapshots {
    /// Listens to the other instances' announcements on Redis and re-checks revisions when one
    /// arrives (or when the subscription comes back after an outage). Runs until `shutdown` is
    /// requested; returns at once without Redis.
    pub async fn listen(self: Arc<Self>, shutdown: Shutdown) {
        let Some(redis) = self.redis.clone() else {
            return;
        };
        // The re-checks run here rather than in tasks of their own, so that shutdown stops them
        // too; announcements arriving during one are answered by a single next one.
        let recheck = Arc::new(Notify::new());
        let on_message = {
            let recheck = recheck.clone();
            let instance = self.instance.clone();
            move |payload: Vec<u8>| {
                let Ok(message) = serde_json::from_slice::<Announcement>(&payload) else {
                    return;
                };
                if message.origin != instance {
                    tracing::debug!(
                        project = message.project,
                        "another instance announced a change"
                    );
                    recheck.notify_one();
                }
            }
        };
        let on_reconnect = {
            let recheck = recheck.clone();
            move || recheck.notify_one()
        };
        let rechecks = async {
            loop {
                recheck.notified().await;
                if let Err(error) = self.sync().await {
                    tracing::debug!(%error, "syncing after an announcement failed");
                }
            }
        };
        tokio::select! {
            () = shutdown.requested() => {}
            () = redis.subscribe(BUS_CHANNEL, on_message, on_reconnect) => {}
            _ = rechecks => {}
        }
    }

    /// Tells the other instances that `project` changed (best effort; the poller is the net).
    /// Returns at once: the announcement is sent in the background, so a slow or dead Redis
    /// never delays the write that caused it.
    pub(super) fn announce(&self, project: &str) {
        if let Some(redis) = &self.redis {
            let message = Announcement {
                origin: self.instance.clone(),
                project: project.to_owned(),
            };
            if let Ok(payload) = serde_json::to_vec(&message) {
                redis.publish_in_background(BUS_CHANNEL, payload);
            }
        }
    }
}
