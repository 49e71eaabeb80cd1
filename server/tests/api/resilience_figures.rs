//! The figures of BENCHMARKS.md's "Resilience" table, measured through the real servers (not a
//! test: ignored unless asked for, it prints instead of asserting):
//!
//! ```sh
//! cargo test -p switchboard-server --test api resilience_figures -- --ignored --nocapture
//! ```

use std::time::{Duration, Instant};

use serde_json::json;

use crate::propagation::instances;
use crate::redis::OwnRedis;
use crate::redis_outage::{put_config, revision, until_redis_is_noticed_down};

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut samples = samples.to_vec();
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

/// From one config write to a parent on A until B's cache holds every child's new revision.
async fn convergence(fan_out: usize) -> Vec<Duration> {
    let mut redis = OwnRedis::start();
    let apps = instances(2, &redis.url, 1000).await;
    let (a, b) = (&apps[0], &apps[1]);
    a.create_project("shop").await;
    a.create_environment("shop", "base", None).await;
    let children: Vec<String> = (0..fan_out).map(|i| format!("child-{i}")).collect();
    for child in &children {
        a.create_environment("shop", child, Some("base")).await;
        revision(b, child).await;
    }
    redis.stop();
    until_redis_is_noticed_down(a).await;
    until_redis_is_noticed_down(b).await;
    let mut samples = vec![];
    for round in 0..5 {
        let before: Vec<u64> = children
            .iter()
            .map(|c| b.snapshots.peek("shop", c).unwrap().revision)
            .collect();
        put_config(a, "base", "LIMIT", json!(round)).await;
        let written = Instant::now();
        while children.iter().zip(&before).any(|(c, old)| {
            b.snapshots
                .peek("shop", c)
                .is_none_or(|e| e.revision <= *old)
        }) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples.push(written.elapsed());
    }
    samples
}

async fn write_latencies(redis_up: bool) -> Vec<Duration> {
    let mut redis = OwnRedis::start();
    let apps = instances(1, &redis.url, 1000).await;
    let app = &apps[0];
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    if !redis_up {
        redis.stop();
        until_redis_is_noticed_down(app).await;
    }
    let mut samples = vec![];
    for i in 0..200 {
        samples.push(put_config(app, "production", "LIMIT", json!(i)).await);
    }
    samples
}

// Needs the redis-server binary (its own Redis per measurement); PostgreSQL when configured.
#[tokio::test]
#[ignore = "prints BENCHMARKS.md's resilience figures; run with --ignored --nocapture"]
async fn resilience_figures() {
    for fan_out in [1, 10, 100] {
        let samples = convergence(fan_out).await;
        println!(
            "convergence with Redis down, fan-out {fan_out}: median {:?}, max {:?} ({samples:?})",
            percentile(&samples, 0.5),
            percentile(&samples, 1.0)
        );
    }
    for up in [true, false] {
        let samples = write_latencies(up).await;
        println!(
            "config PUT with Redis {}: p50 {:?}, p99 {:?}, max {:?}",
            if up { "up" } else { "down" },
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            percentile(&samples, 1.0)
        );
    }
}
