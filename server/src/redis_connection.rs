//! The optional Redis connection (`REDIS_URL`).
//!
//! The connection is lazy and reconnects by itself with bounded retries and timeouts, so a Redis
//! that is down at start-up, or goes away later, never stalls the service: readiness reports it
//! and everything else keeps working from the database.
//!
//! # A dead Redis is noticed once
//! A command to a Redis that is gone costs its whole timeout, and a reload of many environments
//! issues one per environment: paid in sequence, under the cache's writer lock, that blocked
//! every other reload and write for seconds. So the first failure opens a circuit breaker
//! ([`Redis::is_up`] turns false) and every command after it is skipped at once, as a miss,
//! until a successful `PING` (the readiness refresher sends one every second) or a restored
//! subscription closes it again. Request paths therefore never probe a dead Redis; only the
//! background does.
//!
//! Writes to Redis (the shared cache, the bus) never delay the caller either: they run in tasks
//! of their own, at most [`MAX_IN_FLIGHT`] at a time, and are dropped beyond that or while the
//! breaker is open. Redis only ever saves latency; the revision poller is the net under it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Background writes (shared-cache `SET`s, bus `PUBLISH`es) in flight at once; more are dropped,
/// so a slow Redis can never pile up tasks or memory behind a burst of writes.
pub const MAX_IN_FLIGHT: usize = 64;

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: ConnectionManager,
    /// Put in front of every key and channel name (`{prefix}:{name}`), see
    /// `SWITCHBOARD_REDIS_PREFIX`.
    prefix: Arc<str>,
    /// The circuit breaker: false from the first failed command until a `PING` succeeds.
    up: Arc<AtomicBool>,
    /// Bounds the background writes (see [`MAX_IN_FLIGHT`]).
    in_flight: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redis")
    }
}

impl Redis {
    /// Prepares the connection without waiting for Redis to answer.
    pub fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("REDIS_URL is not a valid Redis URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("REDIS_URL: cannot set up the connection")?;
        Ok(Self {
            client,
            manager,
            prefix: prefix.into(),
            up: Arc::new(AtomicBool::new(true)),
            in_flight: Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT)),
        })
    }

    /// `PING`, bounded by the command timeout; the one command sent while the breaker is open,
    /// and the one that closes it.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut connection = self.manager.clone();
        let result = async {
            let reply: String = tokio::time::timeout(
                COMMAND_TIMEOUT * 2,
                redis::cmd("PING").query_async(&mut connection),
            )
            .await
            .context("Redis did not answer in time")??;
            anyhow::ensure!(reply == "PONG", "unexpected PING reply");
            Ok(())
        }
        .await;
        self.record(result.is_ok());
        result
    }

    /// Whether Redis answered the last command sent to it; commands are skipped while it did not.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Opens or closes the breaker after a command, logging the transitions only.
    fn record(&self, ok: bool) {
        let was = self.up.swap(ok, Ordering::Relaxed);
        match (was, ok) {
            (true, false) => {
                tracing::warn!("Redis stopped answering; skipping it until a PING succeeds");
            }
            (false, true) => tracing::info!("Redis answers again"),
            _ => {}
        }
    }
}

impl Redis {
    /// The full Redis name of a key or channel.
    fn name(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Runs `command` bounded by the command timeout, unless the breaker is open; a failure
    /// opens it. `None` when skipped or failed.
    async fn run<T: redis::FromRedisValue>(&self, what: &str, command: redis::Cmd) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut connection = self.manager.clone();
        let query = command.query_async::<T>(&mut connection);
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, query).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                tracing::debug!(%error, command = what, "Redis command failed");
                self.record(false);
                None
            }
            Err(_) => {
                tracing::debug!(command = what, "Redis command timed out");
                self.record(false);
                None
            }
        }
    }

    /// `GET key`; `None` when absent, when Redis is unreachable, or while the breaker is open.
    pub async fn get_bytes(&self, key: &str) -> Option<Vec<u8>> {
        let mut get = redis::cmd("GET");
        get.arg(self.name(key));
        self.run::<Option<Vec<u8>>>("GET", get).await.flatten()
    }

    /// `SET key value EX ttl` in the background, best effort (Redis is a cache; the database
    /// stays the source of truth): returns at once.
    pub fn set_in_background(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let mut set = redis::cmd("SET");
        set.arg(self.name(key))
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1));
        self.spawn("SET", set);
    }

    /// `PUBLISH channel payload` in the background, best effort: returns at once.
    pub fn publish_in_background(&self, channel: &str, payload: Vec<u8>) {
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.name(channel)).arg(payload);
        self.spawn("PUBLISH", publish);
    }

    /// Sends `command` from a task of its own, within [`MAX_IN_FLIGHT`]; dropped while the
    /// breaker is open or when that many are already waiting.
    fn spawn(&self, what: &'static str, command: redis::Cmd) {
        if !self.is_up() {
            return;
        }
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            tracing::debug!(command = what, "too many Redis writes in flight; dropped");
            return;
        };
        let redis = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            redis.run::<redis::Value>(what, command).await;
        });
    }

    /// Subscribes to `channel` and calls `on_message` with each payload, for ever: when the
    /// connection drops it reconnects with backoff, and calls `on_reconnect` once subscribed
    /// again (messages sent meanwhile are lost; the caller re-checks what it may have missed).
    pub async fn subscribe<F, R>(self, channel: &'static str, on_message: F, on_reconnect: R)
    where
        F: Fn(Vec<u8>) + Send + Sync,
        R: Fn() + Send + Sync,
    {
        use futures_util::StreamExt;
        let full_channel = self.name(channel);
        let mut delay = Duration::from_millis(100);
        let mut first = true;
        loop {
            let subscribed = async {
                let mut pubsub =
                    tokio::time::timeout(COMMAND_TIMEOUT * 2, self.client.get_async_pubsub())
                        .await
                        .map_err(|_| anyhow::anyhow!("connecting timed out"))??;
                pubsub.subscribe(full_channel.as_str()).await?;
                anyhow::Ok(pubsub)
            }
            .await;
            match subscribed {
                Ok(pubsub) => {
                    if !first {
                        tracing::info!(channel, "Redis subscription restored");
                        self.record(true);
                        on_reconnect();
                    }
                    first = false;
                    delay = Duration::from_millis(100);
                    let mut messages = pubsub.into_on_message();
                    while let Some(message) = messages.next().await {
                        on_message(message.get_payload_bytes().to_vec());
                    }
                    tracing::warn!(channel, "Redis subscription lost; reconnecting");
                }
                Err(error) => {
                    tracing::debug!(%error, channel, "Redis subscription failed; retrying");
                    first = false;
                }
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}
