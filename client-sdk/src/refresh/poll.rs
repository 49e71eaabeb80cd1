//! Following changes by polling: a conditional `GET` every interval (± 10 %), backing off
//! exponentially while the server fails.

use std::time::Duration;

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
    /// Before the next request; `None` for the first, which goes out at once.
    delay: Option<Duration>,
}

impl Poller {
    pub(crate) fn new(endpoint: SnapshotEndpoint, interval: Duration, backoff: Backoff) -> Self {
        Self {
            endpoint,
            etag: None,
            interval,
            backoff,
            delay: None,
        }
    }
}

impl Transport for Poller {
    async fn next(&mut self) -> Result<Answer, RefreshError> {
        if let Some(delay) = self.delay {
            tokio::time::sleep(delay).await;
        }
        let result = self.endpoint.fetch(self.etag.as_deref()).await;
        self.delay = Some(match &result {
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
        });
        result
    }
}
