//! [`Client`]: the handle applications hold.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use switchboard_core::{Context, Snapshot};
use tokio::task::AbortHandle;

use crate::builder::ClientBuilder;
use crate::details::Details;
use crate::kill::KillList;
use crate::listeners::ListenerId;
use crate::secrets::{SecretValue, Secrets, SecretsEndpoint, SecretsError};
use crate::shared::Shared;
use crate::status::{NotReady, Source, Status};
use crate::store::{Change, Outcome};
use crate::view::View;

/// A Switchboard client: evaluates flags locally against the latest snapshot it has.
///
/// Cheap to clone (two reference counts) and `Send + Sync`: build one per process and share it.
/// The background refresh stops when the last clone is dropped.
///
/// Getters never fail and never block: they answer from memory, and whenever there is no answer
/// (unknown flag, wrong type, no snapshot yet, flag killed) they return the caller's `default`.
/// The `*_details` variants say why.
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    /// Shared by the clones only (not by the task), so that dropping the last clone stops it.
    background: Arc<Background>,
}

// Applications keep one client in a static or hand clones to every thread and task: a change
// that made it lose `Clone`, `Send` or `Sync` must not compile.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Client>();
};

/// What only the clients' clones share: the refresh task (aborted on drop) and the way to
/// the server's secrets. Both `None` for an offline client.
#[derive(Debug)]
pub(crate) struct Background {
    pub(crate) task: Option<AbortHandle>,
    pub(crate) secrets: Option<SecretsEndpoint>,
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("status", &*self.shared.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client for the server at `url` (e.g. `http://127.0.0.1:8080`),
    /// authenticating with an SDK token (scope `flags:read`).
    pub fn builder(url: impl Into<String>, sdk_token: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url.into(), sdk_token.into())
    }

    pub(crate) fn from_parts(shared: Arc<Shared>, background: Background) -> Self {
        Self {
            shared,
            background: Arc::new(background),
        }
    }

    /// Waits until the server has answered once, for at most `timeout`.
    ///
    /// Returns early with an error when the server answered with something retrying will not
    /// fix (a refused token, an unknown environment). Either way the client keeps running: on
    /// `Err` it serves its bootstrap or persisted snapshot if it has one, else the callers'
    /// defaults, and picks up the server's snapshot as soon as it can.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<(), NotReady> {
        if self.background.task.is_some() {
            let mut status = self.shared.status.subscribe();
            let ready = status.wait_for(|s| {
                s.synced || s.last_error.as_ref().is_some_and(|e| e.needs_attention())
            });
            // Err(elapsed) and a closed channel both mean "not ready"; see the status.
            let _ = tokio::time::timeout(timeout, ready).await;
        }
        let status = self.status();
        if status.synced {
            Ok(())
        } else {
            Err(NotReady { status })
        }
    }

    /// What the client serves now and how fresh it is.
    pub fn status(&self) -> Status {
        self.shared.status.borrow().clone()
    }

    /// Runs `f` on a [`View`] of the current snapshot: several flags evaluated against one
    /// revision, and string or JSON values borrowed instead of copied.
    ///
    /// ```
    /// # let client = switchboard_client::Client::builder("http://unused", "t").offline().build()?;
    /// # let user = switchboard_client::Context::with_targeting_key("user-42");
    /// let (checkout, theme) = client.with_view(|flags| {
    ///     (flags.bool_value("new-checkout", &user, false),
    ///      flags.string_value("theme", &user, "light").len())
    /// });
    /// # Ok::<(), switchboard_client::BuildError>(())
    /// ```
    ///
    /// Every getter goes through here: the view reads the thread's cached snapshot (see
    /// `store`), so `f` may call getters or take views itself.
    #[inline]
    pub fn with_view<R>(&self, f: impl FnOnce(View<'_>) -> R) -> R {
        let kills = &self.shared.kills;
        self.shared.store.read(|loaded| f(View::new(loaded, kills)))
    }

    /// The boolean value of flag `key` for `ctx`, or `default` if the flag is unknown, not a
    /// boolean, broken, killed on this client, or there is no snapshot yet. Never allocates.
    #[inline]
    pub fn bool_value(&self, key: &str, ctx: &Context, default: bool) -> bool {
        self.with_view(|v| v.bool_value(key, ctx, default))
    }

    /// [`bool_value`](Self::bool_value) with the variant, reason and error code.
    pub fn bool_details(&self, key: &str, ctx: &Context, default: bool) -> Details<bool> {
        self.with_view(|v| v.bool_details(key, ctx, default))
    }

    /// The string value of flag `key`, or `default`. [`Client::with_view`] borrows instead.
    pub fn string_value(&self, key: &str, ctx: &Context, default: &str) -> String {
        self.with_view(|v| v.string_value(key, ctx, default).to_owned())
    }

    pub fn string_details(&self, key: &str, ctx: &Context, default: &str) -> Details<String> {
        self.with_view(|v| v.string_details(key, ctx, default))
    }

    /// The numeric value of flag `key`, or `default`.
    pub fn number_value(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        self.with_view(|v| v.number_value(key, ctx, default))
    }

    pub fn number_details(&self, key: &str, ctx: &Context, default: f64) -> Details<f64> {
        self.with_view(|v| v.number_details(key, ctx, default))
    }

    /// The value of number flag `key` as an integer, or `default` (also when the served number
    /// has a fraction).
    pub fn integer_value(&self, key: &str, ctx: &Context, default: i64) -> i64 {
        self.with_view(|v| v.integer_value(key, ctx, default))
    }

    pub fn integer_details(&self, key: &str, ctx: &Context, default: i64) -> Details<i64> {
        self.with_view(|v| v.integer_details(key, ctx, default))
    }

    /// The value of `json` flag `key`, or `default`. [`Client::with_view`] borrows instead.
    pub fn json_value(&self, key: &str, ctx: &Context, default: &Value) -> Value {
        self.with_view(|v| v.json_value(key, ctx, default).clone())
    }

    pub fn json_details(&self, key: &str, ctx: &Context, default: &Value) -> Details<Value> {
        self.with_view(|v| v.json_details(key, ctx, default))
    }

    /// Forces flag `key` to every caller's default (reason `DISABLED`) until
    /// [`revive`](Self::revive)d, whatever the server says and whether or not it is reachable.
    pub fn kill(&self, key: &str) {
        tracing::warn!(flag = key, "Switchboard: flag killed on this client");
        self.shared.kills.kill(key);
    }

    /// Kills every flag, including flags that appear later, until
    /// [`revive_all`](Self::revive_all). [`revive`](Self::revive) does not make exceptions to it.
    pub fn kill_all(&self) {
        tracing::warn!("Switchboard: every flag killed on this client");
        self.shared.kills.kill_all();
    }

    /// Undoes [`kill`](Self::kill) (and a kill of `key` from `SWITCHBOARD_KILL`).
    pub fn revive(&self, key: &str) {
        tracing::info!(flag = key, "Switchboard: flag revived on this client");
        self.shared.kills.revive(key);
    }

    /// Lifts every client-side kill: `kill_all` and every `kill`.
    pub fn revive_all(&self) {
        tracing::info!("Switchboard: every flag revived on this client");
        self.shared.kills.revive_all();
    }

    /// Whether flag `key` is killed on this client (by name or by `kill_all`).
    pub fn is_killed(&self, key: &str) -> bool {
        self.shared.kills.is_killed(key)
    }

    /// What is killed on this client now.
    pub fn killed(&self) -> KillList {
        self.shared.kills.list()
    }

    /// Calls `listener` after every snapshot swap, with what changed. See [`Change`] and the
    /// listener rules in the crate documentation.
    pub fn on_change<F>(&self, listener: F) -> ListenerId
    where
        F: Fn(&Change) + Send + Sync + 'static,
    {
        self.shared.listeners.add(None, Arc::new(listener))
    }

    /// Calls `listener` after a snapshot swap that changed flag `key`.
    pub fn on_flag_change<F>(&self, key: &str, listener: F) -> ListenerId
    where
        F: Fn(&Change) + Send + Sync + 'static,
    {
        self.shared.listeners.add(Some(key), Arc::new(listener))
    }

    /// Unregisters a listener; `false` if it was not registered.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        self.shared.listeners.remove(id)
    }

    /// Fetches every secret of the environment from the server, now.
    ///
    /// Each call is a request the server audits (`secrets:read` on the environment, from the
    /// token given to [`ClientBuilder::secrets_token`], else the SDK token). Nothing is cached:
    /// keep the result only as long as you need it; its values are wiped when dropped. The
    /// environment is the builder's, else the snapshot's.
    pub async fn fetch_secrets(&self) -> Result<Secrets, SecretsError> {
        let endpoint = self.secrets_endpoint()?;
        let held = self.held_environment();
        endpoint
            .fetch_all(held.as_ref().map(|(p, e)| (p.as_str(), e.as_str())))
            .await
    }

    /// Fetches one secret from the server, now; see [`fetch_secrets`](Self::fetch_secrets).
    pub async fn fetch_secret(&self, name: &str) -> Result<SecretValue, SecretsError> {
        let endpoint = self.secrets_endpoint()?;
        let held = self.held_environment();
        endpoint
            .fetch_one(held.as_ref().map(|(p, e)| (p.as_str(), e.as_str())), name)
            .await
    }

    fn secrets_endpoint(&self) -> Result<&SecretsEndpoint, SecretsError> {
        self.background
            .secrets
            .as_ref()
            .ok_or(SecretsError::Offline)
    }

    /// The project and environment of the snapshot served, if any.
    fn held_environment(&self) -> Option<(String, String)> {
        let held = self.shared.store.load_full()?;
        Some((
            held.snapshot.project.clone(),
            held.snapshot.environment.clone(),
        ))
    }

    /// Offers a snapshot obtained by other means (a file the application watches, a test
    /// fixture). The same rules apply as to the server's: an older revision is ignored, a swap
    /// notifies listeners. The background refresh keeps running and will replace it with any
    /// newer revision from the server.
    pub fn apply_snapshot(&self, snapshot: Snapshot) -> Outcome {
        self.shared.accept(snapshot, Source::Application)
    }
}
