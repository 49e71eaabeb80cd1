//! `GET /v1/sdk/stream`: server-sent events telling an SDK that its environment changed.
//!
//! Each event says "the environment is now at revision N" and carries the snapshot's ETag; the
//! SDK then fetches `GET /v1/sdk/snapshot` (answered from memory, `304` if it already has it).
//! Events carry the revision rather than the snapshot so that an idle stream costs only a
//! channel receiver and a timer, and a change costs every stream a few dozen bytes instead of
//! the whole document.
//!
//! The first event, sent on connect, is the current revision, so a client resuming with
//! `Last-Event-ID` can never miss a change: the events are states, not deltas, and the newest
//! state always replaces whatever was missed. A stream that falls behind the in-process channel
//! likewise just gets the current revision. Comment lines (`: heartbeat`) keep proxies from
//! closing idle streams. When the environment is deleted, an `event: gone` ends the stream.
//!
//! A stream is authorized once, when it opens, but it may stay open for days: so it also ends,
//! with an `event: unauthorized`, when its token is revoked (at once on the instance that learns
//! of the revocation, which is within a second on every instance) or expires (at its `exp`), and
//! at the latest at the next heartbeat. Ending frees the stream's slot. The checks need no
//! database, so a database outage never ends a stream.
//!
//! When the instance drains (SIGTERM, see `crate::draining`), every stream ends with an
//! `event: reconnect`: the client reconnects at once, to another instance, and the first event
//! there brings it the current revision, so no change is missed.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use tokio::sync::broadcast::error::RecvError;

use super::sdk::Target;
use super::{Routes, ValidQuery};
use crate::auth::{AuthError, Authorized, Principal, TokenService, scope};
use crate::error::ApiError;
use crate::shutdown::Shutdown;
use crate::snapshots::{Change, Snapshots};
use crate::state::AppState;
use crate::store::now_micros;

pub fn routes(routes: &mut Routes) {
    routes.add(Method::GET, "/v1/sdk/stream", stream);
}

#[tracing::instrument(skip_all)]
async fn stream(
    auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    ValidQuery(target): ValidQuery<Target>,
) -> Result<HttpResponse, ApiError> {
    let (project, environment) = target.select(auth.principal())?;
    open(&state, &auth.principal, project, environment).await
}

/// Opens the change stream of `project`/`environment` for `principal`, whose reach of the
/// environment the caller has checked: the one stream behind the SDK's `/v1/sdk/stream` and
/// the console's live pages.
pub(crate) async fn open(
    state: &AppState,
    principal: &Arc<Principal>,
    project: &str,
    environment: &str,
) -> Result<HttpResponse, ApiError> {
    if state.draining.is_requested() {
        // A kept-alive connection brought the client back to an instance that is going away:
        // send it elsewhere at once, on a new connection.
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/event-stream"))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .force_close()
            .body(RECONNECT));
    }
    // Before any work: a refused stream costs nothing. The permit lives as long as the stream.
    let slot = state
        .stream_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| {
            tracing::warn!(
                max_streams = state.settings.max_streams,
                "stream refused: this instance holds the most streams it may"
            );
            ApiError::Overloaded(format!(
                "this instance already holds its maximum of {} open streams; poll \
             /v1/sdk/snapshot meanwhile and retry the stream later",
                state.settings.max_streams
            ))
        })?;
    // Load (or find) the entry first: a stream for an environment that does not exist is a 404.
    let current = state
        .snapshots
        .get(project, environment)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format_args!("environment '{project}/{environment}'"))
        })?;
    super::reach::served(principal, &current)?;
    let events = Events {
        snapshots: state.snapshots.clone(),
        changes: state.snapshots.subscribe(),
        heartbeat: tokio::time::interval(Duration::from_secs(state.settings.stream_heartbeat_secs)),
        project: project.to_owned(),
        environment: environment.to_owned(),
        last_sent: None,
        first: Some(current.revision),
        draining: state.draining.clone(),
        token: TokenStanding {
            expires_in: Box::pin(tokio::time::sleep(expires_in(principal))),
            revocations: state.tokens.revocations(),
            tokens: state.tokens.clone(),
            principal: principal.clone(),
        },
        _open: OpenStream::new(state.metrics.streams.clone(), slot),
    };
    let body = futures_util::stream::unfold(events, |mut events| async move {
        let chunk = events.next().await?;
        Some((Ok::<_, actix_web::Error>(chunk), events))
    });
    // The first event is served from memory like a snapshot read, and says so the same way.
    let mut response = super::sdk::mark_stale(HttpResponse::Ok(), super::sdk::stale_for(state));
    Ok(response
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Compression middleware would buffer events; proxies must not buffer either.
        .insert_header((
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        ))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}

/// An open stream's place: counted for `/metrics` and holding one of the instance's stream
/// slots while it lives.
struct OpenStream {
    gauge: prometheus::IntGauge,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl OpenStream {
    fn new(gauge: prometheus::IntGauge, slot: tokio::sync::OwnedSemaphorePermit) -> Self {
        gauge.inc();
        Self { gauge, _slot: slot }
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The stream's token, watched so that the stream ends with it.
struct TokenStanding {
    tokens: Arc<TokenService>,
    principal: Arc<Principal>,
    /// Fires at the token's expiry.
    expires_in: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Changes when this instance learns of a revocation.
    revocations: tokio::sync::watch::Receiver<u64>,
}

/// Time left until the principal's token expires.
fn expires_in(principal: &Principal) -> Duration {
    let micros = principal.expires_at.saturating_sub(now_micros()).max(0);
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

/// The last event of a stream whose token no longer holds.
fn unauthorized(refused: &AuthError) -> Bytes {
    let reason = match refused {
        AuthError::Expired => "expired",
        _ => "revoked",
    };
    Bytes::from(format!(
        "event: unauthorized\ndata: {{\"reason\":\"{reason}\"}}\n\n"
    ))
}

struct Events {
    snapshots: Arc<Snapshots>,
    changes: tokio::sync::broadcast::Receiver<Change>,
    heartbeat: tokio::time::Interval,
    project: String,
    environment: String,
    last_sent: Option<u64>,
    first: Option<u64>,
    token: TokenStanding,
    /// Fires when the instance starts draining (SIGTERM).
    draining: Shutdown,
    _open: OpenStream,
}

/// The last event of a stream whose instance is shutting down: reconnect now (to another
/// instance), resuming from the last revision.
const RECONNECT: &str = "event: reconnect\ndata: {\"reason\":\"shutting-down\"}\n\n";

impl Events {
    /// The next chunk to send, or `None` to end the stream.
    async fn next(&mut self) -> Option<Bytes> {
        if self.last_sent == Some(u64::MAX) {
            return None;
        }
        if let Some(revision) = self.first.take() {
            // The interval's first tick is immediate; spend it now so heartbeats start later.
            self.heartbeat.tick().await;
            return Some(self.event_at(revision));
        }
        loop {
            tokio::select! {
                () = self.draining.requested() => {
                    self.last_sent = Some(u64::MAX);
                    return Some(Bytes::from_static(RECONNECT.as_bytes()));
                }
                _ = &mut self.token.expires_in => return self.end_unauthorized(),
                changed = self.token.revocations.changed() => {
                    if changed.is_err() || self.token.tokens.standing(&self.token.principal).is_err() {
                        return self.end_unauthorized();
                    }
                }
                _ = self.heartbeat.tick() => {
                    // The backstop: whatever a notification missed is seen here.
                    if self.token.tokens.standing(&self.token.principal).is_err() {
                        return self.end_unauthorized();
                    }
                    return Some(Bytes::from_static(b": heartbeat\n\n"));
                }
                received = self.changes.recv() => match received {
                    Ok(change) if change.project == self.project && change.environment == self.environment => {
                        if change.gone {
                            return self.current();
                        }
                        if self.last_sent.is_none_or(|sent| change.revision > sent) {
                            return Some(self.event_at(change.revision));
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return self.current(),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    /// The `unauthorized` event, after which the stream ends (and its slot frees).
    fn end_unauthorized(&mut self) -> Option<Bytes> {
        let refused = self
            .token
            .tokens
            .standing(&self.token.principal)
            .err()
            .unwrap_or(AuthError::Expired);
        self.last_sent = Some(u64::MAX);
        Some(unauthorized(&refused))
    }

    /// The environment's current revision, or the `gone` event if it was deleted.
    fn current(&mut self) -> Option<Bytes> {
        match self.snapshots.peek(&self.project, &self.environment) {
            Some(entry) => Some(self.event_at(entry.revision)),
            None if self.last_sent == Some(u64::MAX) => None,
            None => {
                self.last_sent = Some(u64::MAX);
                Some(Bytes::from_static(b"event: gone\ndata: {}\n\n"))
            }
        }
    }

    fn event_at(&mut self, revision: u64) -> Bytes {
        self.last_sent = Some(revision);
        let etag = self
            .snapshots
            .peek(&self.project, &self.environment)
            .filter(|entry| entry.revision == revision)
            .and_then(|entry| entry.etag.to_str().ok().map(str::to_owned));
        let data = serde_json::json!({
            "project": self.project,
            "environment": self.environment,
            "revision": revision,
            "etag": etag,
        });
        Bytes::from(format!("id: {revision}\nevent: change\ndata: {data}\n\n"))
    }
}
