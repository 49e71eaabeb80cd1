//! The change bus between instances, on Redis pub/sub: a write announces its project, and every
//! other instance re-checks revisions at once instead of at its next poll. An announcement says
//! only "look again"; what changed is always read from the database, so a lost or duplicated
//! message costs at most a poll interval or one extra query.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Snapshots;

/// What instances tell each other on the Redis bus; receivers re-check revisions in the database.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    origin: String,
    project: String,
}

const BUS_CHANNEL: &str = "changes";

impl Snapshots {
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
    pub(super) async fn announce(&self, project: &str) {
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
}
