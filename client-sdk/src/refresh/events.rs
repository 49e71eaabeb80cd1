//! `GET /v1/sdk/stream`: the server's change events for one environment, parsed.
//!
//! An event says "the environment is now at revision N"; it does not carry the snapshot, which
//! the streaming transport then fetches with a conditional `GET`. The first event on every
//! connection is the current revision, so a reconnect can never miss a change. Heartbeats are
//! SSE comments, which the parser skips; they only keep the connection (and the read timeout)
//! alive. `event: gone` means the environment was deleted; `event: unauthorized` that the
//! token was revoked or expired; `event: reconnect` that the server is shutting down and the
//! client should reconnect at once (it reaches another instance).

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::{EventStream, Eventsource};
use futures_core::Stream;
use http_body_util::BodyDataStream;
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde::Deserialize;

use super::http::{self, EndpointConfig, USER_AGENT};
use crate::error::{BuildError, RefreshError, chain};

/// What one event tells the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The environment is at this revision now.
    Changed { revision: u64 },
    /// The environment was deleted; the server ends the stream.
    Gone,
    /// The server is shutting down (a deploy, a rolling update) and ends the stream: reconnect
    /// now, to another instance, without a backoff delay.
    Reconnect,
}

/// Where and how to open the stream.
#[derive(Debug)]
pub(crate) struct EventsEndpoint {
    /// Without a total timeout (the response never ends); a read timeout instead, longer than
    /// the server's heartbeat interval, so a silently dead connection is noticed.
    http: reqwest::Client,
    url: Url,
    authorization: HeaderValue,
}

impl EventsEndpoint {
    pub(crate) fn new(
        config: &EndpointConfig<'_>,
        idle_timeout: Duration,
    ) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(idle_timeout)
            .user_agent(USER_AGENT)
            .build()
            .map_err(BuildError::Http)?;
        Ok(Self {
            http,
            url: http::endpoint_url(config, "v1/sdk/stream")?,
            authorization: http::authorization(config.token)?,
        })
    }

    /// Opens the stream, resuming after `last_event_id` when there is one.
    pub(crate) async fn connect(&self, last_event_id: Option<&str>) -> Result<Events, Refused> {
        let mut request = self
            .http
            .get(self.url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let mut response = request.send().await.map_err(|error| Refused {
            error: http::unreachable(error),
            retry_after: None,
        })?;
        if !response.status().is_success() {
            let retry_after = http::retry_after(&response);
            return Err(Refused {
                error: http::refusal(&mut response).await,
                retry_after,
            });
        }
        let chunks = BodyDataStream::new(reqwest::Body::from(response));
        Ok(Events {
            inner: Box::pin(chunks.eventsource()),
            last_event_id: None,
        })
    }
}

/// A stream that could not be opened: why, and how long the server asked clients to stay away
/// (a server at its stream limit answers `503` with `Retry-After`).
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) error: RefreshError,
    pub(crate) retry_after: Option<Duration>,
}

type Parsed = EventStream<BodyDataStream<reqwest::Body>>;

/// An open stream.
pub(crate) struct Events {
    inner: Pin<Box<Parsed>>,
    /// The `id` of the last event received, for `Last-Event-ID` on reconnect.
    pub(crate) last_event_id: Option<String>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("last_event_id", &self.last_event_id)
            .finish_non_exhaustive()
    }
}

impl Events {
    /// The next signal; `Ok(None)` when the server ended the stream cleanly (a restart, a
    /// deploy), an error when the connection broke or went silent past the idle timeout.
    pub(crate) async fn next(&mut self) -> Result<Option<Signal>, RefreshError> {
        #[derive(Deserialize)]
        struct Change {
            revision: u64,
        }
        loop {
            let item = std::future::poll_fn(|cx| self.inner.as_mut().poll_next(cx)).await;
            let event = match item {
                None => return Ok(None),
                Some(Err(error)) => {
                    return Err(RefreshError::Unreachable(format!(
                        "the change stream broke: {}",
                        chain(&error)
                    )));
                }
                Some(Ok(event)) => event,
            };
            if !event.id.is_empty() {
                self.last_event_id = Some(event.id);
            }
            match event.event.as_str() {
                "change" => {
                    let change: Change = serde_json::from_str(&event.data).map_err(|e| {
                        RefreshError::InvalidSnapshot(format!("unreadable change event: {e}"))
                    })?;
                    return Ok(Some(Signal::Changed {
                        revision: change.revision,
                    }));
                }
                "gone" => return Ok(Some(Signal::Gone)),
                "reconnect" => return Ok(Some(Signal::Reconnect)),
                // The server ends the stream of a token revoked or expired meanwhile; said as
                // the 401 every later request would get, so it is reported at once.
                "unauthorized" => {
                    #[derive(Deserialize)]
                    struct Unauthorized {
                        reason: Option<String>,
                    }
                    let reason = serde_json::from_str::<Unauthorized>(&event.data)
                        .ok()
                        .and_then(|u| u.reason)
                        .unwrap_or_else(|| "refused".into());
                    return Err(RefreshError::Unauthorized {
                        status: 401,
                        detail: format!("the token was {reason} while the change stream was open"),
                    });
                }
                // Event types this client does not know yet: a newer server may add some.
                other => tracing::debug!(event = other, "Switchboard: unknown stream event"),
            }
        }
    }
}
