//! Starting while the database is unreachable.
//!
//! A server that exits when its database does not answer at once gets restarted by its
//! orchestrator, and a whole fleet doing that against a recovering database is a thundering
//! herd. So `serve` keeps the process up and retries the connection with capped, jittered
//! backoff for up to `SWITCHBOARD_START_TIMEOUT_SECS`. Meanwhile a placeholder server on the
//! real listening socket tells probes what is going on: `/healthz` answers `200` (alive: do not
//! restart me), `/readyz` and everything else `503` with `Retry-After` (not ready: send no
//! traffic yet). Once connected the placeholder stops and the real server takes the same
//! socket over; connections arriving in between wait in the socket's backlog.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::error::ApiError;
use crate::settings::Settings;
use crate::store::Store;

/// The first pause between two attempts; it doubles up to [`MAX_DELAY`].
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Connects to the database, retrying with backoff while `listener` answers probes, until the
/// start timeout. A start timeout of 0 tries once.
pub async fn connect(settings: &Settings, listener: &TcpListener) -> anyhow::Result<Store> {
    let error = match Store::connect(settings).await {
        Ok(store) => return Ok(store),
        Err(error) if settings.start_timeout_secs == 0 => return Err(error),
        Err(error) => error,
    };
    tracing::warn!(
        error = format!("{error:#}"),
        start_timeout_secs = settings.start_timeout_secs,
        "the database is not reachable; retrying (alive, not ready meanwhile)"
    );
    let placeholder = Placeholder::serve(listener)?;
    let result = retry(settings).await;
    placeholder.stop().await;
    result
}

async fn retry(settings: &Settings) -> anyhow::Result<Store> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(settings.start_timeout_secs);
    let mut delay = FIRST_DELAY;
    loop {
        // Jitter spreads a fleet's retries, so they do not arrive at the database in waves.
        let jitter = rand::random_range(0..=delay.as_millis() as u64 / 2);
        let pause = delay + Duration::from_millis(jitter);
        if tokio::time::Instant::now() + pause >= deadline {
            tokio::time::sleep_until(deadline).await;
        } else {
            tokio::time::sleep(pause).await;
        }
        match Store::connect(settings).await {
            Ok(store) => {
                tracing::info!("the database is reachable; starting");
                return Ok(store);
            }
            Err(error) if tokio::time::Instant::now() >= deadline => {
                return Err(error)
                    .context("the database stayed unreachable for SWITCHBOARD_START_TIMEOUT_SECS");
            }
            Err(error) => {
                tracing::debug!(
                    error = format!("{error:#}"),
                    "the database is still unreachable"
                );
            }
        }
        delay = (delay * 2).min(MAX_DELAY);
    }
}

/// The server answering probes while the real one cannot start yet.
struct Placeholder {
    handle: ServerHandle,
    task: JoinHandle<std::io::Result<()>>,
}

impl Placeholder {
    fn serve(listener: &TcpListener) -> anyhow::Result<Self> {
        // A duplicate of the socket: stopping the placeholder closes only its copy.
        let socket = listener
            .try_clone()
            .context("SWITCHBOARD_LISTEN: cannot share the listening socket")?;
        let server = HttpServer::new(|| {
            App::new()
                .route("/healthz", web::get().to(alive))
                .route("/readyz", web::get().to(starting))
                .default_service(web::to(unavailable))
        })
        .workers(1)
        .disable_signals()
        .listen(socket)?
        .run();
        let handle = server.handle();
        Ok(Self {
            handle,
            task: tokio::spawn(server),
        })
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        let _ = self.task.await;
    }
}

async fn alive() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Every other route while starting: the usual `503` problem, with `Retry-After`.
async fn unavailable() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Unavailable(anyhow::anyhow!(
        "starting: the database is not reachable yet"
    )))
}

/// `/readyz` while starting.
async fn starting() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header(("retry-after", "5"))
        .json(json!({
            "status": "starting",
            "checks": { "database": "unavailable" },
        }))
}
