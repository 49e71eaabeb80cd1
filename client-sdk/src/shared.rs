//! The state every clone of a client and its refresh task share.

use switchboard_core::Snapshot;
use tokio::sync::watch;

use crate::error::RefreshError;
use crate::kill::KillSwitch;
use crate::listeners::Listeners;
use crate::status::{Source, Status};
use crate::store::{Outcome, Store};

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) kills: KillSwitch,
    pub(crate) listeners: Listeners,
    /// A watch channel rather than a plain lock so that `wait_ready` can await a change; the
    /// sender lives here, so it exists as long as any client or the refresh task does.
    pub(crate) status: watch::Sender<Status>,
}

impl Shared {
    pub(crate) fn new(kills: KillSwitch) -> Self {
        Self {
            store: Store::default(),
            kills,
            listeners: Listeners::default(),
            status: watch::Sender::new(Status::default()),
        }
    }

    /// Offers a snapshot: swaps it in if the revision rule allows, records where it came from,
    /// then tells the listeners.
    pub(crate) fn accept(&self, snapshot: Snapshot, source: Source) -> Outcome {
        let outcome = self.store.apply(snapshot);
        match &outcome {
            Outcome::Applied(change) => {
                self.status.send_modify(|s| {
                    s.revision = Some(change.revision);
                    s.source = Some(source);
                });
                tracing::debug!(revision = change.revision, %source, changed = ?change.flags,
                                "Switchboard: new snapshot");
                self.listeners.notify(change);
            }
            Outcome::Stale { current } => {
                tracing::debug!(current, %source, "Switchboard: older snapshot ignored");
            }
            Outcome::Unchanged => {}
        }
        outcome
    }

    /// The server answered (with a snapshot or a `304`).
    pub(crate) fn synced(&self) {
        self.status.send_if_modified(|s| {
            let changed = !s.synced || s.last_error.is_some();
            s.synced = true;
            s.last_error = None;
            changed
        });
    }

    pub(crate) fn failed(&self, error: RefreshError) {
        self.status.send_if_modified(|s| {
            let changed = s.last_error.as_ref() != Some(&error);
            s.last_error = Some(error);
            changed
        });
    }
}
