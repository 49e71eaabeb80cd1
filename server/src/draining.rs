//! The graceful drain at SIGTERM (or SIGINT): what a rolling update needs from an instance.
//!
//! An orchestrator replacing an instance sends it SIGTERM and expects it to be gone within a
//! grace period, without cutting off its clients. Left to actix, the drain would wait for every
//! open `/v1/sdk/stream` to end on its own (they never do) until the shutdown timeout, then
//! drop them mid-stream. Instead, [`Stopper::drain`]:
//! 1. fires the drain signal: every open stream sends a last `event: reconnect` and ends, and a
//!    stream opened meanwhile gets only that event, with `Connection: close`, so SDKs reconnect
//!    at once, resuming from their last revision (a stream's first event is always the current
//!    state); the drain waits (5 s at most) until every stream has ended;
//! 2. stops accepting connections (the listening socket closes: new connections go to the other
//!    instances behind the load balancer; in Kubernetes the preStop sleep has already taken
//!    the pod out of its Service's endpoints);
//! 3. lets in-flight requests finish for up to `SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS`, answering
//!    each with `Connection: close` so kept-alive connections do not hold the drain open.
//!
//! A second signal during the drain stops at once.

use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use tokio::sync::{Semaphore, watch};

use crate::shutdown::{self, Shutdown};

/// How long the streams get to send their last event and end before the server stops.
const STREAMS_END_WITHIN: Duration = Duration::from_secs(5);

/// Stops a running server the way SIGTERM does; cheap to clone.
#[derive(Clone, Debug)]
pub struct Stopper {
    handle: ServerHandle,
    signal: Arc<watch::Sender<bool>>,
    /// The stream slots (`AppState::stream_slots`): all free once every stream has ended.
    streams: Arc<Semaphore>,
    max_streams: u32,
}

/// The drain signal, before the server it will stop exists: what fires it (turned into a
/// [`Stopper`] once the server runs) and what it is read through (`AppState::draining`).
pub(crate) fn drain_signal() -> (watch::Sender<bool>, Shutdown) {
    shutdown::signal()
}

impl Stopper {
    pub(crate) fn new(
        handle: ServerHandle,
        signal: watch::Sender<bool>,
        streams: Arc<Semaphore>,
        max_streams: u32,
    ) -> Self {
        Self {
            handle,
            signal: Arc::new(signal),
            streams,
            max_streams,
        }
    }

    /// Stops accepting, tells open streams to reconnect elsewhere, and completes once
    /// in-flight requests have finished (or the shutdown timeout has passed).
    #[tracing::instrument(skip_all)]
    pub async fn drain(&self) {
        // Streams first: actix's stop drops connections it counts as idle, and a stream must
        // get its last event out. Until the socket closes below, a stream opened meanwhile gets
        // that event alone (see `api::stream`).
        self.signal.send_replace(true);
        // Every slot free: every stream has ended.
        let ended = self.streams.acquire_many(self.max_streams);
        let all_slots = tokio::time::timeout(STREAMS_END_WITHIN, ended).await;
        if all_slots.is_err() {
            tracing::warn!("some streams did not end within 5 s of the drain; stopping anyway");
        }
        self.handle.stop(true).await;
        drop(all_slots);
    }

    /// Stops at once: open connections are dropped.
    pub async fn stop_now(&self) {
        self.handle.stop(false).await;
    }
}

/// Waits for SIGTERM or SIGINT, drains, and stops at once on a second signal. Runs for as long
/// as the server does.
pub(crate) async fn stop_on_signals(stopper: Stopper) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut terminate, mut interrupt) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "cannot listen for SIGTERM/SIGINT; stop the process with SIGKILL");
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    tracing::info!("stop requested: draining (open streams are told to reconnect elsewhere)");
    tokio::select! {
        () = stopper.drain() => {}
        _ = terminate.recv() => stopper.stop_now().await,
        _ = interrupt.recv() => stopper.stop_now().await,
    }
}

/// Middleware: while draining, every answer closes its connection, so that a kept-alive
/// connection neither holds the drain open nor brings the client back to this instance.
pub async fn close_when_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req
        .app_data::<actix_web::web::Data<crate::state::AppState>>()
        .map(|state| state.draining.clone());
    let mut response = next.call(req).await?;
    if draining.is_some_and(|draining| draining.is_requested()) {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}
