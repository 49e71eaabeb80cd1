//! Following changes by polling: a conditional `GET` every interval (± 10 %), backing off
//! exponentially while the server fails.
//!
//! The poller is also the streaming transport's fallback and its way of fetching the snapshot a
//! change event announces, so its state is kept cancel-safe: the time of the next poll is an
//! instant, not a pending sleep, and a poll dropped half-way changes nothing.

use std::time::Duration;

use tokio::time::Instant;

use super::Transport;
use super::backoff::Backoff;
use super::http::{Answer, SnapshotEndpoint};
use crate::error::RefreshError;

#[derive(Debug)]
pub(crate) struct Poller {
    endpoint: SnapshotEndpoint,
    /// The validator of the last snapshot the server sent, for `If-None-Match`.
    etag: Option<String>,
    interval: Duration,
    backoff: Backoff,
    /// When the next poll goes out; `None` for the first, which goes out at once.
    next_at: Option<Instant>,
}

impl Poller {
    pub(crate) fn new(endpoint: SnapshotEndpoint, interval: Duration, backoff: Backoff) -> Self {
        Self {
            endpoint,
            etag: None,
            interval,
            backoff,
            next_at: None,
        }
    }

    /// One conditional `GET` now, whatever the schedule; the next poll is due an interval
    /// (or a backoff delay) after it.
    pub(crate) async fn fetch_now(&mut self) -> Result<Answer, RefreshError> {
        let result = self.endpoint.fetch(self.etag.as_deref()).await;
        let delay = match &result {
            Ok(answer) => {
                if let Answer::Modified { etag, .. } = answer {
                    self.etag.clone_from(etag);
                }
                self.backoff.reset();
                self.backoff.jittered(self.interval)
            }
            // A refused token or an unknown environment will not fix itself in a second.
            Err(error) if error.needs_attention() => self.backoff.slowest(),
            Err(_) => self.backoff.next_delay(),
        };
        self.next_at = Some(Instant::now() + delay);
        result
    }
}

impl Transport for Poller {
    async fn next(&mut self) -> Result<Answer, RefreshError> {
        if let Some(at) = self.next_at {
            tokio::time::sleep_until(at).await;
        }
        self.fetch_now().await
    }
}
