//! Converging on the database: the revision check every instance runs each second, and after
//! every announcement it hears. It is the net under the Redis bus (Redis down, a lost message,
//! a change made directly in the database), so it must be cheap when nothing changed: one
//! query, compared without taking the writer lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Snapshots;
use crate::shutdown::Shutdown;
use crate::store::snapshots::{self, EnvironmentRevision};
use crate::store::{StoreResult, now_micros};

impl Snapshots {
    /// Polls the environments' revisions every `every` and brings the cache up to date: how
    /// changes made by other instances (or directly in the database) arrive when no
    /// announcement does. Runs until `shutdown` is requested (or the store is closed); a round
    /// in progress finishes first.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: Shutdown) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        while shutdown.next_tick(&mut ticker).await {
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
}
