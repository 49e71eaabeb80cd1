//! Following changes by server-sent events, with polling while the stream is down.
//!
//! While the stream is open, each change event triggers one conditional `GET` of the snapshot
//! (through the [`Poller`], which keeps the `ETag`), unless the client already holds that
//! revision. Every (re)connection starts with the current revision, so whatever happened while
//! the stream was down is caught up at once. Behind a load balancer the fetch may reach another
//! instance than the stream, one that has not heard of the change yet: a snapshot older than
//! the announced revision is fetched again after 25, 50, 100, … ms (six times at most).
//!
//! When the stream breaks, the transport reports the error; when it cannot be opened, it logs
//! a warning (once per run of failures) and lets the poller's answer say whether the client is
//! current. Either way it reconnects after an exponential backoff (or the refusal's
//! `Retry-After`, when longer) and meanwhile polls at the poll interval: a proxy that refuses long-lived responses degrades the client to polling
//! rather than to staleness, and does not make `wait_ready` give up. A stream the
//! server ends cleanly (a restart, a deploy) is reopened after the backoff's first step without
//! reporting an error; one that ends with `event: reconnect` (an instance draining at SIGTERM)
//! is reopened at once, which reaches another instance. A failed snapshot fetch also drops the stream: its first event after the
//! reconnect says the revision again, so the change is not lost.

use tokio::time::Instant;

use super::Transport;
use super::backoff::Backoff;
use super::events::{Events, EventsEndpoint, Refused, Signal};
use super::http::Answer;
use super::poll::Poller;
use crate::error::RefreshError;

#[derive(Debug)]
pub(crate) struct Streamer {
    events: EventsEndpoint,
    /// Fetches what an event announces; polls while the stream is down.
    poller: Poller,
    /// Delays between reconnection attempts.
    backoff: Backoff,
    open: Option<Events>,
    /// Not before this instant is the stream reopened.
    reconnect_at: Instant,
    /// Kept across connections for `Last-Event-ID`.
    last_event_id: Option<String>,
    /// The revision of the last snapshot fetched, to skip fetches an event makes pointless.
    revision: Option<u64>,
    /// Whether the current run of failed connection attempts was logged already.
    refused_logged: bool,
    /// A revision an event announced that the fetch did not bring yet, and how many times it
    /// was asked again.
    announced: Option<(u64, u32)>,
}

/// How many times a snapshot older than the announced revision is fetched again, after 25,
/// 50, 100, … ms (1.6 s in all).
const ANNOUNCED_RETRIES: u32 = 6;

impl Streamer {
    pub(crate) fn new(events: EventsEndpoint, poller: Poller, backoff: Backoff) -> Self {
        Self {
            events,
            poller,
            backoff,
            open: None,
            reconnect_at: Instant::now(),
            last_event_id: None,
            revision: None,
            refused_logged: false,
            announced: None,
        }
    }

    /// Closes the stream, keeping its last event id for the next connection.
    fn close_stream(&mut self) {
        if let Some(events) = self.open.take() {
            self.last_event_id = events.last_event_id.or(self.last_event_id.take());
        }
    }

    /// Closes the stream and schedules the next attempt.
    fn drop_stream(&mut self, error: Option<&RefreshError>) {
        self.close_stream();
        let delay = match error {
            Some(error) if error.needs_attention() => self.backoff.slowest(),
            _ => self.backoff.next_delay(),
        };
        self.reconnect_at = Instant::now() + delay;
    }

    /// The snapshot a change event announced.
    async fn fetch(&mut self) -> Result<Answer, RefreshError> {
        let answer = self.poller.fetch_now().await;
        match &answer {
            Ok(Answer::Modified { snapshot, .. }) => self.revision = Some(snapshot.revision),
            Ok(Answer::NotModified) => {}
            Err(error) => self.drop_stream(Some(error)),
        }
        answer
    }
}

impl Transport for Streamer {
    async fn next(&mut self) -> Result<Answer, RefreshError> {
        loop {
            // The stream and the fetch may reach different instances (behind a load balancer),
            // and the fetch's may not hold the announced revision yet: ask again shortly.
            if let Some((wanted, tries)) = self.announced.take()
                && self.revision.is_none_or(|held| held < wanted)
                && tries < ANNOUNCED_RETRIES
            {
                tokio::time::sleep(std::time::Duration::from_millis(25 << tries)).await;
                self.announced = Some((wanted, tries + 1));
                return self.fetch().await;
            }
            if let Some(events) = &mut self.open {
                match events.next().await {
                    Ok(Some(Signal::Changed { revision })) => {
                        // A stream that delivers is healthy: the next break starts the backoff
                        // from its first step again.
                        self.backoff.reset();
                        if self.revision.is_some_and(|held| held >= revision) {
                            return Ok(Answer::NotModified);
                        }
                        self.announced = Some((revision, 0));
                        return self.fetch().await;
                    }
                    Ok(Some(Signal::Gone)) => {
                        let gone = RefreshError::Status {
                            status: 404,
                            detail: "the environment was deleted".into(),
                        };
                        self.drop_stream(Some(&gone));
                        return Err(gone);
                    }
                    Ok(Some(Signal::Reconnect)) => {
                        // The instance is draining: reconnect at once (to another instance). The
                        // first event there is the current revision, so nothing is missed.
                        tracing::debug!("Switchboard: the server asked for a reconnect");
                        self.close_stream();
                        self.reconnect_at = Instant::now();
                        continue;
                    }
                    Ok(None) => {
                        tracing::debug!("Switchboard: the server closed the change stream");
                        self.drop_stream(None);
                        continue;
                    }
                    Err(error) => {
                        self.drop_stream(Some(&error));
                        return Err(error);
                    }
                }
            }
            if Instant::now() >= self.reconnect_at {
                match self.events.connect(self.last_event_id.as_deref()).await {
                    Ok(events) => {
                        tracing::debug!("Switchboard: change stream open");
                        self.refused_logged = false;
                        self.open = Some(events);
                    }
                    Err(Refused { error, retry_after }) => {
                        // Not reported as a refresh failure: whether the client is current is
                        // the poller's to say, and it answers next (at once at start-up). A
                        // server without the stream endpoint, or a proxy refusing it, then
                        // costs freshness, not readiness.
                        if !self.refused_logged {
                            tracing::warn!(%error, "Switchboard: cannot open the change stream; polling meanwhile");
                            self.refused_logged = true;
                        }
                        self.drop_stream(Some(&error));
                        // A server at its stream limit says when to come back; the backoff's
                        // first steps would be far sooner.
                        if let Some(wait) = retry_after {
                            let at = Instant::now() + self.backoff.at_least(wait);
                            self.reconnect_at = self.reconnect_at.max(at);
                        }
                    }
                }
                continue;
            }
            // The stream is down: poll on the poller's schedule until it is time to reconnect.
            // The poller is cancel-safe (see `poll`): a poll cut short by the deadline loses
            // nothing.
            if let Ok(answer) = tokio::time::timeout_at(self.reconnect_at, self.poller.next()).await
            {
                if let Ok(Answer::Modified { snapshot, .. }) = &answer {
                    self.revision = Some(snapshot.revision);
                }
                return answer;
            }
        }
    }
}
