//! [`ClientBuilder`]: every option of a client, and `build()`, which loads what is available
//! locally and starts the background refresh.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::Snapshot;

use crate::client::{Background, Client};
use crate::error::{BuildError, SnapshotFileError};
use crate::files;
use crate::kill::{KillList, KillSwitch};
use crate::refresh::http::{EndpointConfig, SnapshotEndpoint};
use crate::refresh::{self, Backoff, EventsEndpoint, Persistence, Poller, Streamer};
use crate::secrets::SecretsEndpoint;
use crate::shared::Shared;
use crate::status::Source;

/// Default interval between two polls of the snapshot (each usually a bodyless `304`).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
/// Shortest accepted poll interval: a floor against a configuration typo hammering the server.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Default time a change stream may stay silent before it is considered dead: four of the
/// server's default heartbeat intervals.
pub const DEFAULT_STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client hears about changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshMode {
    /// Server-sent events from `/v1/sdk/stream`: changes arrive within milliseconds. While the
    /// stream cannot be opened (a proxy that refuses long responses, the server down) the client
    /// polls at the poll interval and keeps trying to reconnect with backoff.
    #[default]
    Streaming,
    /// A conditional `GET` every poll interval, nothing else: for environments where a
    /// long-lived connection per process is unwelcome.
    Polling,
}

/// Configures a [`Client`]; obtained from [`Client::builder`].
#[must_use]
pub struct ClientBuilder {
    url: String,
    token: String,
    secrets_token: Option<String>,
    project: Option<String>,
    environment: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    poll_interval: Duration,
    refresh_mode: RefreshMode,
    stream_idle_timeout: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    bootstrap: Option<Bootstrap>,
    persist_path: Option<PathBuf>,
    kill_list: Option<KillList>,
    offline: bool,
}

enum Bootstrap {
    File(PathBuf),
    Snapshot(Box<Snapshot>),
}

impl fmt::Debug for ClientBuilder {
    // Hand-written so that the token never reaches a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("token", &"***")
            .field("secrets_token", &self.secrets_token.as_ref().map(|_| "***"))
            .field("project", &self.project)
            .field("environment", &self.environment)
            .field("poll_interval", &self.poll_interval)
            .field("refresh_mode", &self.refresh_mode)
            .field("persist_path", &self.persist_path)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(url: String, token: String) -> Self {
        Self {
            url,
            token,
            secrets_token: None,
            project: None,
            environment: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            poll_interval: DEFAULT_POLL_INTERVAL,
            refresh_mode: RefreshMode::default(),
            stream_idle_timeout: DEFAULT_STREAM_IDLE_TIMEOUT,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            bootstrap: None,
            persist_path: None,
            kill_list: None,
            offline: false,
        }
    }

    /// The project to read. Needed only when the token reaches more than one.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The environment to read. Needed only when the token reaches more than one.
    pub fn environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// A separate token for [`Client::fetch_secrets`] (scope `secrets:read`), so that the SDK
    /// token that every process holds need not read secrets. Without it, the SDK token is used.
    pub fn secrets_token(mut self, token: impl Into<String>) -> Self {
        self.secrets_token = Some(token.into());
        self
    }

    /// Time allowed to open a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for a whole request, body included (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Time between two polls (default 15 s, at least 10 ms), spread by ± 10 % so that a fleet
    /// restarted together does not poll in lockstep.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(MIN_POLL_INTERVAL);
        self
    }

    /// Streaming (the default) or polling only; see [`RefreshMode`].
    pub fn refresh_mode(mut self, mode: RefreshMode) -> Self {
        self.refresh_mode = mode;
        self
    }

    /// How long the change stream may stay silent (no event, no heartbeat) before the client
    /// drops it and reconnects (default 60 s). Keep it above the server's
    /// `SWITCHBOARD_STREAM_HEARTBEAT_SECS` (15 s by default).
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = timeout.max(MIN_POLL_INTERVAL);
        self
    }

    /// Retry delays while the server fails: from `initial`, doubling, up to `max` (default 1 s
    /// to 60 s), each randomized between half and all of its value.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial.max(MIN_POLL_INTERVAL);
        self.backoff_max = max.max(self.backoff_initial);
        self
    }

    /// A snapshot file (the JSON of `GET /v1/sdk/snapshot`) to serve until the server answers,
    /// so that the application starts with real flag values even when the server is down.
    /// `build()` fails if the file cannot be read or parsed: it was asked for explicitly.
    pub fn bootstrap_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.bootstrap = Some(Bootstrap::File(path.into()));
        self
    }

    /// Like [`bootstrap_file`](Self::bootstrap_file), from a snapshot in memory (embedded in the
    /// binary, or built by a test).
    pub fn bootstrap(mut self, snapshot: Snapshot) -> Self {
        self.bootstrap = Some(Bootstrap::Snapshot(Box::new(snapshot)));
        self
    }

    /// Saves every new snapshot from the server to `path` (atomically, mode `0600`) and loads
    /// it at the next start. A missing or unreadable file is not an error, only a warning: it is
    /// a cache.
    pub fn persist_to(mut self, path: impl Into<PathBuf>) -> Self {
        self.persist_path = Some(path.into());
        self
    }

    /// The flags killed from the start. Without this, `build()` reads `SWITCHBOARD_KILL`
    /// ([`KillList::from_env`]); with it, the environment variable is not read.
    pub fn kill_list(mut self, kills: KillList) -> Self {
        self.kill_list = Some(kills);
        self
    }

    /// No background refresh and no network: the client serves its bootstrap (or persisted)
    /// snapshot and whatever [`Client::apply_snapshot`] gives it. Needs no tokio runtime.
    /// For tests, benchmarks and air-gapped deployments.
    pub fn offline(mut self) -> Self {
        self.offline = true;
        self
    }

    /// Builds the client: loads the bootstrap and persisted snapshots (the newer one is served),
    /// then, unless offline, starts the background refresh on the current tokio runtime. The
    /// first request goes out at once; [`Client::wait_ready`] waits for its answer.
    pub fn build(self) -> Result<Client, BuildError> {
        let background = if self.offline {
            None
        } else {
            let config = EndpointConfig {
                base_url: &self.url,
                token: &self.token,
                project: self.project.as_deref(),
                environment: self.environment.as_deref(),
                connect_timeout: self.connect_timeout,
                request_timeout: self.request_timeout,
            };
            let snapshots = SnapshotEndpoint::new(&config)?;
            let secrets = SecretsEndpoint::new(
                &config,
                self.secrets_token.as_deref().unwrap_or(&self.token),
            )?;
            let events = match self.refresh_mode {
                RefreshMode::Streaming => {
                    Some(EventsEndpoint::new(&config, self.stream_idle_timeout)?)
                }
                RefreshMode::Polling => None,
            };
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
            Some((snapshots, events, secrets, runtime))
        };

        let kills = self.kill_list.clone().unwrap_or_else(KillList::from_env);
        if !kills.is_empty() {
            tracing::warn!(killed = %kills, "Switchboard: flags killed from the start");
        }
        let shared = Arc::new(Shared::new(KillSwitch::new(&kills)));

        if let Some(snapshot) = self.load_bootstrap()? {
            shared.accept(snapshot, Source::Bootstrap);
        }
        let saved_revision = self.load_persisted().map(|snapshot| {
            let revision = snapshot.revision;
            shared.accept(snapshot, Source::Persisted);
            revision
        });

        let Some((snapshots, events, secrets, runtime)) = background else {
            let offline = Background {
                task: None,
                secrets: None,
            };
            return Ok(Client::from_parts(shared, offline));
        };
        let backoff = || Backoff::new(self.backoff_initial, self.backoff_max);
        let poller = Poller::new(snapshots, self.poll_interval, backoff());
        let persistence = self.persist_path.map(|path| Persistence {
            path,
            saved_revision,
        });
        let task = match events {
            Some(events) => runtime.spawn(refresh::run(
                Arc::clone(&shared),
                Streamer::new(events, poller, backoff()),
                persistence,
            )),
            None => runtime.spawn(refresh::run(Arc::clone(&shared), poller, persistence)),
        };
        let background = Background {
            task: Some(task.abort_handle()),
            secrets: Some(secrets),
        };
        Ok(Client::from_parts(shared, background))
    }

    fn load_bootstrap(&self) -> Result<Option<Snapshot>, BuildError> {
        let snapshot = match &self.bootstrap {
            None => return Ok(None),
            Some(Bootstrap::Snapshot(snapshot)) => Snapshot::clone(snapshot),
            Some(Bootstrap::File(path)) => {
                files::read(path).map_err(|source| BuildError::Bootstrap {
                    path: path.clone(),
                    source,
                })?
            }
        };
        if !self.targets(&snapshot) {
            return Err(BuildError::WrongEnvironment {
                expected: self.target_name(),
                found: format!("{}/{}", snapshot.project, snapshot.environment),
            });
        }
        Ok(Some(snapshot))
    }

    /// The persisted snapshot, if there is a usable one for this client's environment.
    fn load_persisted(&self) -> Option<Snapshot> {
        let path = self.persist_path.as_ref()?;
        match files::read(path) {
            Ok(snapshot) if self.targets(&snapshot) => Some(snapshot),
            Ok(snapshot) => {
                tracing::warn!(
                    path = %path.display(),
                    found = %format_args!("{}/{}", snapshot.project, snapshot.environment),
                    expected = %self.target_name(),
                    "Switchboard: the persisted snapshot is for another environment; not used"
                );
                None
            }
            Err(SnapshotFileError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                tracing::warn!(%error, path = %path.display(),
                               "Switchboard: the persisted snapshot is unusable; not used");
                None
            }
        }
    }

    /// Whether `snapshot` is for the project and environment this client was told to read
    /// (anything goes for what the builder leaves to the token).
    fn targets(&self, snapshot: &Snapshot) -> bool {
        self.project.as_ref().is_none_or(|p| *p == snapshot.project)
            && self
                .environment
                .as_ref()
                .is_none_or(|e| *e == snapshot.environment)
    }

    fn target_name(&self) -> String {
        format!(
            "{}/{}",
            self.project.as_deref().unwrap_or("*"),
            self.environment.as_deref().unwrap_or("*")
        )
    }
}
