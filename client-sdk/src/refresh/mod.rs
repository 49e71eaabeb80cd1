//! Keeping the snapshot current: the background task started by `build()`.
//!
//! # Transports
//!
//! A [`Transport`] is a way of hearing from the server: each call to [`Transport::next`] waits
//! for the next answer (a new snapshot, "not modified", or an error). [`run`] is the only
//! consumer and owns everything that does not depend on how the answer arrived: the revision
//! rule and the swap (through [`Shared::accept`]), readiness, error reporting, persistence.
//!
//! Two transports exist, chosen by the builder's [`crate::RefreshMode`]:
//! - [`stream::Streamer`] (the default) follows server-sent events from `/v1/sdk/stream`
//!   (`events` parses them), fetches the snapshot each event announces, reconnects with
//!   [`backoff::Backoff`], and polls while the stream is down;
//! - [`poll::Poller`] sends a conditional `GET` every poll interval.

mod backoff;
mod events;
pub(crate) mod http;
mod poll;
mod stream;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use backoff::Backoff;
pub(crate) use events::EventsEndpoint;
pub(crate) use poll::Poller;
pub(crate) use stream::Streamer;

use self::http::Answer;
use crate::error::RefreshError;
use crate::files;
use crate::shared::Shared;
use crate::status::Source;

/// A source of answers from the server (see the module documentation).
pub(crate) trait Transport: Send + 'static {
    /// Waits for, then returns, the server's next answer.
    fn next(&mut self) -> impl Future<Output = Result<Answer, RefreshError>> + Send;
}

/// Where the last good snapshot is persisted, and which revision is there already.
#[derive(Debug)]
pub(crate) struct Persistence {
    pub(crate) path: PathBuf,
    pub(crate) saved_revision: Option<u64>,
}

/// Runs until the task is aborted (when the last clone of the client is dropped).
pub(crate) async fn run<T: Transport>(
    shared: Arc<Shared>,
    mut transport: T,
    mut persistence: Option<Persistence>,
) {
    let mut failing = false;
    loop {
        let answer = transport.next().await;
        match answer {
            Ok(answer) => {
                if let Answer::Modified { snapshot, .. } = answer {
                    shared.accept(*snapshot, Source::Server);
                }
                shared.synced();
                if failing {
                    tracing::info!("Switchboard: the server answers again");
                    failing = false;
                }
                if let Some(persistence) = &mut persistence {
                    persist(&shared, persistence).await;
                }
            }
            Err(error) => {
                // Once per outage at `warn`: a server down for an hour must not flood the logs.
                if failing {
                    tracing::debug!(%error, "Switchboard: refresh failed again");
                } else {
                    tracing::warn!(%error, "Switchboard: refresh failed; serving the last good snapshot");
                    failing = true;
                }
                shared.failed(error);
            }
        }
    }
}

/// Writes the current snapshot if it is newer than the persisted one. Off the async workers:
/// serializing and `fsync` take milliseconds.
async fn persist(shared: &Shared, persistence: &mut Persistence) {
    let Some(current) = shared.store.load_full() else {
        return;
    };
    let revision = current.snapshot.revision;
    if persistence.saved_revision == Some(revision) {
        return;
    }
    let path = persistence.path.clone();
    let write =
        tokio::task::spawn_blocking(move || files::write_atomically(&path, &current.snapshot));
    // Recorded even on failure: a full disk would otherwise be retried (and logged) on every
    // poll; the next revision tries again.
    persistence.saved_revision = Some(revision);
    match write.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(
            %error, path = %persistence.path.display(),
            "Switchboard: cannot persist the snapshot; the next start will not have it"
        ),
        Err(error) => tracing::warn!(%error, "Switchboard: persisting the snapshot failed"),
    }
}
