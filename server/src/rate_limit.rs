//! A token bucket per API token, for the OFREP evaluation routes (`SWITCHBOARD_OFREP_RATE_LIMIT`).
//!
//! OFREP providers honour `429` with `Retry-After` (they pause evaluation until then), so a
//! misbehaving app (a render loop evaluating on every frame, a retry storm) is slowed down
//! without the server's other callers paying for it. Buckets are keyed by the token's id (never
//! the token), kept in memory per instance (a limit is per instance: behind a load balancer of
//! N instances a token gets up to N times the rate) and dropped after a minute unused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Idle buckets are forgotten after this long (a full bucket is the same as a new one).
const IDLE: Duration = Duration::from_secs(60);
const CAPACITY: u64 = 100_000;

/// The limiter; disabled when built with a rate of zero.
pub struct TokenBuckets {
    /// Tokens per second, and the bucket's size.
    rate: f64,
    burst: f64,
    buckets: Option<moka::sync::Cache<String, Arc<Mutex<Bucket>>>>,
}

impl std::fmt::Debug for TokenBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenBuckets")
            .field("rate", &self.rate)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl TokenBuckets {
    /// `rate` requests per second per token (0: no limit), bursts of up to `burst` (0: `rate`).
    pub fn new(rate: u32, burst: u32) -> Self {
        let rate = f64::from(rate);
        let burst = if burst == 0 { rate } else { f64::from(burst) };
        let buckets = (rate > 0.0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(IDLE)
                .build()
        });
        Self {
            rate,
            burst,
            buckets,
        }
    }

    /// Takes one request from `token_id`'s bucket; `Err(wait)` when it is empty, with how long
    /// until it holds one again.
    pub fn take(&self, token_id: &str) -> Result<(), Duration> {
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        let now = Instant::now();
        let bucket = buckets.get_with_by_ref(token_id, || {
            Arc::new(Mutex::new(Bucket {
                level: self.burst,
                at: now,
            }))
        });
        // A poisoned bucket only means another request panicked mid-update: its numbers are
        // still numbers.
        let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.level = (bucket.level + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.level >= 1.0 {
            bucket.level -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.level) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disabled_limiter_lets_everything_through() {
        let limiter = TokenBuckets::new(0, 0);
        assert!((0..10_000).all(|_| limiter.take("t").is_ok()));
    }

    #[test]
    fn a_burst_passes_then_the_next_request_waits_and_other_tokens_are_untouched() {
        let limiter = TokenBuckets::new(2, 5);
        assert!((0..5).all(|_| limiter.take("t").is_ok()));
        let wait = limiter.take("t").unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(limiter.take("other").is_ok());
    }
}
