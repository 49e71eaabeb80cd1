//! Building and running the service.
//!
//! [`Application::build`] does everything that can fail before the first request (keys, database,
//! migrations, signing keys, listening socket), so a bad setting stops start-up with a message
//! instead of surfacing later. The built application knows its port (tests bind port 0) and
//! [`Application::run_until_stopped`] serves until SIGTERM/SIGINT, then drains in-flight requests
//! for up to `SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS`, then stops the background loops (waiting as
//! long again at most) and closes the store they used.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::api;
use crate::auth::{Authenticator, TokenService};
use crate::draining::Stopper;
use crate::keys::Keyring;
use crate::readiness::{Check, Readiness};
use crate::redis_connection::Redis;
use crate::settings::Settings;
use crate::shutdown::{BackgroundTasks, RunningTasks};
use crate::snapshots::Snapshots;
use crate::starting;
use crate::state::AppState;
use crate::store::{Store, signing_keys};
use crate::telemetry::{self, Metrics, RequestSpan};

/// The shared back end of a server or a host-side command: keys, store, tokens.
#[derive(Debug)]
pub struct Core {
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub tokens: Arc<TokenService>,
    /// Whether this start generated the master key file (worth a loud warning).
    pub generated_master_key: bool,
}

impl Core {
    /// Loads the keyring, connects, migrates and loads the signing keys.
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let keyring = Self::keyring(settings)?;
        let store = Store::connect(settings).await?;
        Self::assemble(store, keyring, settings).await
    }

    /// Checks the settings and loads the keyring (with whether it was just generated): what
    /// can fail without a database, so it fails at once instead of after the connection.
    fn keyring(settings: &Settings) -> anyhow::Result<(Keyring, bool)> {
        settings.validate()?;
        Keyring::load(&settings.master_key_source())
    }

    /// Migrates `store` and loads the signing keys.
    async fn assemble(
        store: Store,
        (keyring, generated_master_key): (Keyring, bool),
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        // After connecting, so SQLite's -wal and -shm files exist to be checked too.
        crate::local_files::warn_if_loose(&settings.private_paths());
        let tags_existing_secrets =
            crate::store::secret_integrity::applies_tag_migration(&store).await;
        store.migrate().await?;
        if tags_existing_secrets {
            let tagged = crate::store::secret_integrity::tag_existing(&store, &keyring)
                .await
                .context("tagging existing secrets' metadata")?;
            if tagged > 0 {
                tracing::info!(
                    tagged,
                    "tagged the metadata of the secrets stored before tags existed"
                );
            }
        }
        let keys = signing_keys::load_or_create(&store, &keyring)
            .await
            .context("loading the token signing keys")?;
        let tokens = Arc::new(TokenService::new(
            store.clone(),
            keys,
            Duration::from_secs(settings.token_cache_ttl_secs),
        ));
        Ok(Self {
            store,
            keyring: Arc::new(keyring),
            tokens,
            generated_master_key,
        })
    }
}

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
    stopper: Stopper,
    state: web::Data<AppState>,
    /// The revocation watcher, the snapshot poller and the bus listener: stopped once the HTTP
    /// server has drained, before the store closes under them.
    background: BackgroundTasks,
    initial_admin_token: Option<String>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Listens first, then connects: a database that is not reachable yet is retried for up to
    /// `SWITCHBOARD_START_TIMEOUT_SECS` while the socket answers probes (see `starting`).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let keyring = Core::keyring(&settings)?;
        let issuer_keys = Arc::new(issuer_keys(&settings)?);
        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("SWITCHBOARD_LISTEN: cannot listen on {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let store = starting::connect(&settings, &listener).await?;
        let core = Core::assemble(store, keyring, &settings).await?;
        if core.generated_master_key {
            tracing::warn!(
                path = %settings.data_dir.join("master.key").display(),
                "GENERATED A NEW MASTER KEY in the data directory. Fine for a laptop; in production \
                 supply SWITCHBOARD_MASTER_KEY or SWITCHBOARD_MASTER_KEY_FILE from a secret store, \
                 and back the key up: without it no secret can be decrypted."
            );
        }
        let redis = settings
            .redis_url
            .as_deref()
            .map(|url| Redis::connect(url, &settings.redis_prefix))
            .transpose()?;
        let metrics = Metrics::new()?;
        // Its first check also tells whether Redis is reachable yet.
        let readiness =
            Arc::new(Readiness::new(core.store.clone(), redis.clone(), metrics.clone()).await);
        if readiness.report().redis == Check::Unavailable {
            tracing::warn!("Redis is not reachable yet; continuing, /readyz reports it");
        }
        // Only once the port is ours (bound above, before the database): a first start that
        // cannot bind must not spend the one-time admin token on a process that exits before
        // showing it.
        let initial_admin_token = core.tokens.issue_initial_admin().await?;

        let mut background = BackgroundTasks::default();
        background.spawn(
            core.tokens
                .clone()
                .watch_revocations(Duration::from_secs(1), background.shutdown()),
        );
        // Writes on other instances arrive on the Redis bus when there is one; polling revisions
        // is the net under it (Redis down, a lost message) and, without Redis, how writes made
        // by other instances (or directly in the database) reach this one's cache.
        let snapshots = Arc::new(Snapshots::new(core.store.clone(), redis.clone()));
        background.spawn(snapshots.clone().watch(
            Duration::from_millis(settings.sync_interval_ms),
            background.shutdown(),
        ));
        background.spawn(snapshots.clone().listen(background.shutdown()));
        background.spawn(readiness.clone().watch(background.shutdown()));
        // Every instance sends webhooks; the lease on each delivery keeps it to one sender.
        let webhooks = crate::webhook_delivery::Worker::new(
            core.store.clone(),
            core.keyring.clone(),
            settings.webhooks.clone(),
        )?;
        background.spawn(Arc::new(webhooks).run(background.shutdown()));

        let monitoring = crate::delivery::guards::Monitoring::new(&settings)?;
        let (drain, draining) = crate::draining::drain_signal();
        let state = web::Data::new(AppState {
            settings: Arc::new(settings.clone()),
            store: core.store,
            tokens: core.tokens,
            redis,
            metrics,
            readiness,
            keyring: core.keyring,
            snapshots,
            stream_slots: Arc::new(tokio::sync::Semaphore::new(settings.max_streams as usize)),
            monitoring: monitoring.clone(),
            issuer_keys,
            draining,
        });
        // Release plans and scheduled changes: on the lease holder only (see `delivery`).
        background.spawn(crate::scheduler::run(
            state.clone().into_inner(),
            monitoring,
            background.shutdown(),
        ));
        // The extractor and the middleware get what they need as app data of their own, so
        // `auth` and `telemetry` do not depend on the application state (no module cycle).
        let authenticator = web::Data::new(Authenticator {
            tokens: state.tokens.clone(),
            trust_proxy_headers: settings.trust_proxy_headers,
        });
        let metrics = web::Data::new(state.metrics.clone());
        let console_sessions = web::Data::new(crate::console::Sessions::new(Duration::from_secs(
            settings.console_session_secs,
        )));
        let body_limit = usize::try_from(settings.max_body_bytes).unwrap_or(usize::MAX);
        // OFREP's per-token rate limit and the evaluation routes' CORS origins.
        let rate_limits = web::Data::new(crate::rate_limit::TokenBuckets::new(
            settings.ofrep_rate_limit,
            settings.ofrep_rate_burst,
        ));
        let cors = web::Data::new(api::cors::CorsPolicy::new(&settings.cors_origins));
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(authenticator.clone())
                .app_data(metrics.clone())
                .app_data(console_sessions.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(rate_limits.clone())
                .app_data(cors.clone())
                // Innermost: it records the answer as the handler wrote it.
                .wrap(from_fn(api::idempotency::replay))
                .wrap(from_fn(api::deadline::bound_requests))
                .wrap(from_fn(crate::draining::close_when_draining))
                .wrap(Compress::default())
                .wrap(from_fn(api::cors::cors))
                .wrap(from_fn(telemetry::observe))
                .wrap(TracingLogger::<RequestSpan>::new())
                .configure(|cfg| api::routes().register(cfg))
                .configure(crate::console::routes)
                .default_service(web::to(api::unknown_route))
        })
        .listen(listener)?
        .shutdown_timeout(settings.shutdown_timeout_secs)
        // SIGTERM/SIGINT are ours (`run_until_stopped`): a drain that ends streams first.
        .disable_signals();
        if settings.workers > 0 {
            server = server.workers(settings.workers);
        }
        let server = server.run();
        let stopper = Stopper::new(
            server.handle(),
            drain,
            state.stream_slots.clone(),
            settings.max_streams,
        );
        Ok(Self {
            port,
            server,
            stopper,
            state,
            background,
            initial_admin_token,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The admin token created because the store was empty; `None` on every later start.
    pub fn take_initial_admin_token(&mut self) -> Option<String> {
        self.initial_admin_token.take()
    }

    /// A handle to stop the server (gracefully or not) from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Stops the server as SIGTERM does: stop accepting, streams told to reconnect elsewhere,
    /// in-flight requests drained (see `crate::draining`).
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// How many background tasks are still running; readable after the application is gone.
    pub fn background_tasks(&self) -> RunningTasks {
        self.background.running()
    }

    /// Serves until stopped: by SIGTERM or SIGINT (a drain; a second signal stops at once) or
    /// through [`handle`](Self::handle) or [`stopper`](Self::stopper).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let signals = tokio::spawn(crate::draining::stop_on_signals(self.stopper.clone()));
        let result = self.server.await;
        signals.abort();
        let limit = Duration::from_secs(self.state.settings.shutdown_timeout_secs);
        self.background.stop(limit).await;
        self.state.store.close().await;
        result
    }
}

/// The OIDC issuers' key cache, trusting `SWITCHBOARD_OIDC_CA_FILE` too when it is set; a file
/// that cannot be read or holds no certificate stops the start (a typo would otherwise show up
/// as refused exchanges only).
fn issuer_keys(settings: &Settings) -> anyhow::Result<crate::oidc::keys::IssuerKeys> {
    let pem = settings
        .oidc_ca_file
        .as_ref()
        .map(|path| {
            std::fs::read(path).with_context(|| {
                format!("SWITCHBOARD_OIDC_CA_FILE: cannot read {}", path.display())
            })
        })
        .transpose()?;
    crate::oidc::keys::IssuerKeys::new(
        pem.as_deref(),
        Duration::from_secs(settings.oidc_jwks_max_age_secs),
        Duration::from_secs(settings.oidc_jwks_refresh_secs),
    )
}
