//! Delays between requests: the poll interval with jitter, and exponential backoff on errors.
//!
//! Jitter matters because clients start together (a deploy restarts every instance at once):
//! without it they would poll the server in lockstep forever, and after an outage they would all
//! retry in the same instant.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

/// Exponential backoff with "equal jitter": the n-th consecutive failure waits between half and
/// all of `min(max, initial * 2^n)`, so retries spread out but never collapse to zero.
#[derive(Debug)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: Rng,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
            rng: Rng::new(),
        }
    }

    /// The delay after one more failure.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let factor = 2u32.saturating_pow(self.failures.min(30));
        self.failures = self.failures.saturating_add(1);
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        ceiling.mul_f64(0.5 + 0.5 * self.rng.unit())
    }

    /// The longest delay, for errors that retrying soon cannot fix.
    pub(crate) fn slowest(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.max.mul_f64(0.5 + 0.5 * self.rng.unit())
    }

    /// A delay of at least `wait` (a server's `Retry-After`), capped at the longest backoff so
    /// a wrong header cannot silence the client, and up to a quarter longer so that clients
    /// refused together do not all come back in the same second.
    pub(crate) fn at_least(&mut self, wait: Duration) -> Duration {
        wait.min(self.max).mul_f64(1.0 + 0.25 * self.rng.unit())
    }

    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// `interval` ± 10 %.
    pub(crate) fn jittered(&mut self, interval: Duration) -> Duration {
        interval.mul_f64(0.9 + 0.2 * self.rng.unit())
    }
}

/// xorshift64*, seeded from the standard library's per-process random keys: plenty for spreading
/// requests out, and no dependency on a random-number crate.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        // Never zero: xorshift would stay at zero forever.
        Self(RandomState::new().hash_one(std::process::id()) | 1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // The top 53 bits, as a fraction: exactly representable in an f64.
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..6).map(|_| backoff.next_delay()).collect();
        let ceilings = [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis);
        for (delay, ceiling) in delays.iter().zip(ceilings) {
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn the_poll_interval_is_spread_by_ten_percent() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let interval = Duration::from_secs(10);
        let delays: Vec<Duration> = (0..1000).map(|_| backoff.jittered(interval)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= interval.mul_f64(0.9) && *d <= interval.mul_f64(1.1))
        );
        assert!(delays.iter().any(|d| *d < interval) && delays.iter().any(|d| *d > interval));
    }

    #[test]
    fn a_retry_after_is_a_floor_capped_at_the_longest_backoff() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        for _ in 0..100 {
            let delay = backoff.at_least(Duration::from_secs(30));
            assert!(delay >= Duration::from_secs(30) && delay <= Duration::from_millis(37_500));
        }
        let capped = backoff.at_least(Duration::from_secs(86_400));
        assert!(capped >= Duration::from_secs(60) && capped <= Duration::from_secs(75));
    }
}
