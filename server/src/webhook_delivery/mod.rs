//! The delivery loop each instance runs: find due deliveries, claim each with a lease, send it
//! signed, record the attempt, schedule the retry.
//!
//! Retries back off exponentially from `webhooks_retry_initial_ms` (doubling, capped at
//! `webhooks_retry_max_ms`) with jitter (each wait is drawn between half and all of its step,
//! so a receiver that comes back is not hit by every queued delivery at the same instant),
//! for `webhooks_retry_window_secs` after the event (24 h by default). A 2xx answer delivers;
//! anything else, redirects included (they are not followed), is a failed attempt.
//!
//! Apart from `crate::webhooks` (the pure values) because it depends on the store, which
//! depends on those values; [`payload`] builds the bodies from audit rows.

pub mod payload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use tokio::task::JoinSet;

use crate::keys::Keyring;
use crate::settings::WebhookSettings;
use crate::shutdown::Shutdown;
use crate::store::webhook_deliveries::{self as deliveries, Attempt, Next, Outgoing};
use crate::store::{Store, now_micros, webhooks};
use crate::webhooks::address::{Blocked, GuardedResolver, is_private};
use crate::webhooks::signature;

/// Most deliveries one instance sends at once.
const IN_FLIGHT: usize = 16;
/// Bytes of a receiver's answer kept in the delivery log.
const SNIPPET: usize = 256;

/// One instance's sender.
#[derive(Debug)]
pub struct Worker {
    store: Store,
    keyring: Arc<Keyring>,
    settings: WebhookSettings,
    /// Who holds a claim: unique per process start, so a restarted instance never mistakes its
    /// predecessor's claims for its own.
    instance: String,
    client: reqwest::Client,
}

impl Worker {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        settings: WebhookSettings,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(settings.webhooks_timeout_secs);
        let mut client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Switchboard-Webhooks/", env!("CARGO_PKG_VERSION")));
        if settings.webhooks_deny_private {
            client = client.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            store,
            keyring,
            settings,
            instance: uuid::Uuid::new_v4().to_string(),
            client: client.build()?,
        })
    }

    /// Runs until `shutdown`, then lets the attempts in flight finish (the shutdown timeout
    /// bounds them; one cut short is retried once its lease runs out).
    pub async fn run(self: Arc<Self>, shutdown: Shutdown) {
        let mut ticker =
            tokio::time::interval(Duration::from_millis(self.settings.webhooks_poll_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_flight = JoinSet::new();
        let mut failing = false;
        while shutdown.next_tick(&mut ticker).await {
            while in_flight.try_join_next().is_some() {}
            let free = IN_FLIGHT.saturating_sub(in_flight.len());
            if free == 0 {
                continue;
            }
            match self.claim_due(free).await {
                Ok(claimed) => {
                    failing = false;
                    for id in claimed {
                        in_flight.spawn(self.clone().deliver(id));
                    }
                }
                // Once per outage, not once per tick.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "looking for due webhook deliveries failed");
                }
                Err(_) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    async fn claim_due(&self, free: usize) -> crate::store::StoreResult<Vec<String>> {
        let lease =
            i64::try_from(self.settings.webhooks_lease_secs * 1_000_000).unwrap_or(i64::MAX);
        let mut claimed = Vec::new();
        for id in deliveries::due(&self.store, free).await? {
            if deliveries::claim(&self.store, &id, &self.instance, lease).await? {
                claimed.push(id);
            }
        }
        Ok(claimed)
    }

    /// Sends claimed delivery `id` once and records the outcome.
    #[tracing::instrument(skip_all, fields(delivery = %id))]
    async fn deliver(self: Arc<Self>, id: String) {
        let outgoing = match deliveries::outgoing(&self.store, &id).await {
            Ok(outgoing) => outgoing,
            Err(error) => {
                // The claim runs out and the delivery is tried again then.
                tracing::warn!(%error, "loading a webhook delivery failed");
                return;
            }
        };
        let attempt = self.attempt(&outgoing).await;
        let next = self.next(&outgoing, &attempt);
        match deliveries::record(&self.store, &id, &self.instance, &attempt, next).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "a webhook attempt outlasted its lease; another instance took the delivery over"
            ),
            Err(error) => tracing::warn!(%error, "recording a webhook attempt failed"),
        }
    }

    /// One signed `POST`. The URL is never logged or recorded (a Slack URL is a credential).
    async fn attempt(&self, outgoing: &Outgoing) -> Attempt {
        let at = now_micros();
        let started = Instant::now();
        let result = self.send(outgoing).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error, response_snippet) = match result {
            Ok((status, snippet)) => (Some(i64::from(status)), None, snippet),
            Err(error) => (None, Some(error), None),
        };
        Attempt {
            at,
            duration_ms,
            status_code,
            error,
            response_snippet,
            manual: outgoing.manual,
        }
    }

    /// The answer's status and the start of its body, or why there was none.
    async fn send(&self, outgoing: &Outgoing) -> Result<(u16, Option<String>), String> {
        let url = reqwest::Url::parse(&outgoing.url)
            .map_err(|_| "the URL no longer parses".to_owned())?;
        if self.settings.webhooks_deny_private {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(is_private) {
                return Err(Blocked.to_string());
            }
        }
        let secret = webhooks::secret(&self.store, &self.keyring, &outgoing.endpoint_id)
            .await
            .map_err(|error| {
                tracing::error!(%error, "a webhook signing secret is unavailable");
                "the signing secret is unavailable".to_owned()
            })?;
        let body = payload::body(&outgoing.event, outgoing.format);
        let timestamp = now_micros() / 1_000_000;
        let signature = signature::sign(&secret, &outgoing.id, timestamp, &body);
        drop(secret);
        let response = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", outgoing.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(describe)?;
        let status = response.status().as_u16();
        Ok((status, snippet(response).await))
    }

    /// Delivered on a 2xx; otherwise the next try, or failed once the window is over.
    fn next(&self, outgoing: &Outgoing, attempt: &Attempt) -> Next {
        if attempt
            .status_code
            .is_some_and(|code| (200..300).contains(&code))
        {
            return Next::Delivered;
        }
        let step = backoff(
            u32::try_from(outgoing.attempts + 1).unwrap_or(u32::MAX),
            self.settings.webhooks_retry_initial_ms,
            self.settings.webhooks_retry_max_ms,
        );
        let wait = rand::random_range(step / 2..=step.max(1));
        let at = now_micros().saturating_add(i64::try_from(wait * 1_000).unwrap_or(i64::MAX));
        let window =
            i64::try_from(self.settings.webhooks_retry_window_secs * 1_000_000).unwrap_or(i64::MAX);
        if at > outgoing.retry_from.saturating_add(window) {
            Next::Failed
        } else {
            Next::RetryAt(at)
        }
    }
}

/// The step before retry `n` (1 for the first), in milliseconds: `initial · 2ⁿ⁻¹`, at most `max`.
fn backoff(n: u32, initial: u64, max: u64) -> u64 {
    let factor = 1u64.checked_shl(n.saturating_sub(1)).unwrap_or(u64::MAX);
    initial.saturating_mul(factor).min(max)
}

/// Why a request got no answer, in words that carry neither the URL nor anything it sent.
fn describe(error: reqwest::Error) -> String {
    let blocked = std::error::Error::source(&error).is_some_and(|mut source| {
        loop {
            if source.is::<Blocked>() {
                break true;
            }
            match source.source() {
                Some(next) => source = next,
                None => break false,
            }
        }
    });
    if blocked {
        Blocked.to_string()
    } else if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "could not connect".into()
    } else {
        format!("request failed: {}", error.without_url())
    }
}

/// The first [`SNIPPET`] bytes of the body (lossy UTF-8); the rest is not read.
async fn snippet(mut response: reqwest::Response) -> Option<String> {
    let mut bytes = Vec::new();
    while bytes.len() < SNIPPET {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(SNIPPET);
    (!bytes.is_empty()).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let steps: Vec<u64> = (1..=7).map(|n| backoff(n, 5_000, 60_000)).collect();
        assert_eq!(
            steps,
            [5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]
        );
        assert_eq!(backoff(200, 5_000, 3_600_000), 3_600_000);
    }
}
