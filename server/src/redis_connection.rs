//! The optional Redis connection (`REDIS_URL`).
//!
//! The connection is lazy and reconnects by itself with bounded retries and timeouts, so a Redis
//! that is down at start-up, or goes away later, never stalls the service: readiness reports it
//! and everything else keeps working from the database.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long a Redis command may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct Redis {
    client: redis::Client,
    manager: ConnectionManager,
    /// Put in front of every key and channel name (`{prefix}:{name}`), see
    /// `SWITCHBOARD_REDIS_PREFIX`.
    prefix: std::sync::Arc<str>,
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
        })
    }

    /// `PING`, bounded by the command timeout.
    pub async fn ping(&self) -> anyhow::Result<()> {
        let mut connection = self.manager.clone();
        let reply: String = tokio::time::timeout(
            COMMAND_TIMEOUT * 2,
            redis::cmd("PING").query_async(&mut connection),
        )
        .await
        .context("Redis did not answer in time")??;
        anyhow::ensure!(reply == "PONG", "unexpected PING reply");
        Ok(())
    }
}

impl Redis {
    /// The full Redis name of a key or channel.
    fn name(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// `GET key`, bounded by the command timeout; `None` when absent or Redis is unreachable.
    pub async fn get_bytes(&self, key: &str) -> Option<Vec<u8>> {
        let mut connection = self.manager.clone();
        let mut get = redis::cmd("GET");
        get.arg(self.name(key));
        let command = get.query_async::<Option<Vec<u8>>>(&mut connection);
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, command).await {
            Ok(Ok(value)) => value,
            Ok(Err(error)) => {
                tracing::debug!(%error, "Redis GET failed");
                None
            }
            Err(_) => None,
        }
    }

    /// `SET key value EX ttl`, best effort: a failure is logged and otherwise ignored (Redis
    /// is a cache; the database stays the source of truth).
    pub async fn set_bytes(&self, key: &str, value: &[u8], ttl: Duration) {
        let mut connection = self.manager.clone();
        let mut set = redis::cmd("SET");
        set.arg(self.name(key))
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1));
        let command = set.query_async::<()>(&mut connection);
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, command).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(%error, "Redis SET failed"),
            Err(_) => tracing::debug!("Redis SET timed out"),
        }
    }

    /// `PUBLISH channel payload`, best effort.
    pub async fn publish(&self, channel: &str, payload: &[u8]) {
        let mut connection = self.manager.clone();
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.name(channel)).arg(payload);
        let command = publish.query_async::<i64>(&mut connection);
        match tokio::time::timeout(COMMAND_TIMEOUT * 2, command).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(%error, "Redis PUBLISH failed"),
            Err(_) => tracing::debug!("Redis PUBLISH timed out"),
        }
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
