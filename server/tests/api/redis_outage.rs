//! Redis going away costs nothing but the bus's latency: instances converge through the
//! database within one sync interval whatever the fan-out, and no write or read waits on the
//! dead Redis (issue 13, defects 2 and 3).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::propagation::instances;
use crate::redis::OwnRedis;

/// The default `SWITCHBOARD_SYNC_INTERVAL_MS`: the promised convergence bound without Redis.
const SYNC_INTERVAL: Duration = Duration::from_millis(1000);
/// What a loaded test machine adds to a bound (scheduling, one database read per environment).
const MARGIN: Duration = Duration::from_millis(1000);

/// Waits (on the instance's own readiness report, refreshed every second) until it has
/// noticed that Redis is gone; readiness stays 200 all along.
pub(crate) async fn until_redis_is_noticed_down(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.get("/readyz").await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "Redis down is no reason to stop serving"
        );
        let body: Value = response.json().await.unwrap();
        if body["checks"]["redis"] == "unavailable" {
            return;
        }
        assert!(Instant::now() < deadline, "Redis never reported down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn revision(app: &TestApp, environment: &str) -> u64 {
    let response = app
        .request(
            Method::GET,
            &format!("/v1/sdk/snapshot?project=shop&environment={environment}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["revision"]
        .as_u64()
        .unwrap()
}

pub(crate) async fn put_config(
    app: &TestApp,
    environment: &str,
    key: &str,
    value: Value,
) -> Duration {
    let started = Instant::now();
    let response = app
        .request(
            Method::PUT,
            &format!("/v1/projects/shop/environments/{environment}/config/{key}"),
        )
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    started.elapsed()
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn with_redis_down_a_write_to_a_parent_reaches_its_ten_children_elsewhere_within_one_sync_interval_and_blocks_nothing() {
        let mut redis = OwnRedis::start();
        let apps = instances(2, &redis.url, SYNC_INTERVAL.as_millis() as u64).await;
        let (a, b) = (&apps[0], &apps[1]);
        a.create_project("shop").await;
        a.create_environment("shop", "base", None).await;
        a.create_environment("shop", "uncached", None).await;
        let children: Vec<String> = (0..10).map(|i| format!("child-{i}")).collect();
        for child in &children {
            a.create_environment("shop", child, Some("base")).await;
        }
        // Instance B serves every child from memory.
        let mut before = vec![];
        for child in &children {
            before.push(revision(b, child).await);
        }
        redis.stop();
        until_redis_is_noticed_down(a).await;
        until_redis_is_noticed_down(b).await;

        put_config(a, "base", "TIMEOUT", json!(30)).await;
        let written = Instant::now();
        // While B refreshes ten environments, its own writes and first reads do not wait.
        let flag_write = Instant::now();
        assert_eq!(
            b.post("/v1/projects/shop/flags", json!({ "key": "beta", "type": "boolean" }))
                .await
                .status(),
            StatusCode::CREATED
        );
        let flag_write = flag_write.elapsed();
        let first_read = Instant::now();
        revision(b, "uncached").await;
        let first_read = first_read.elapsed();
        loop {
            let mut behind = 0;
            for (child, old) in children.iter().zip(&before) {
                if revision(b, child).await <= *old {
                    behind += 1;
                }
            }
            if behind == 0 {
                break;
            }
            assert!(
                written.elapsed() < SYNC_INTERVAL + MARGIN,
                "{behind} of 10 children still behind after {:?}",
                written.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(flag_write < MARGIN, "a flag write on B took {flag_write:?}");
        assert!(first_read < MARGIN, "a first read on B took {first_read:?}");
    }
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn with_redis_down_writes_are_acknowledged_without_waiting_for_redis() {
        let mut redis = OwnRedis::start();
        let apps = instances(1, &redis.url, SYNC_INTERVAL.as_millis() as u64).await;
        let app = &apps[0];
        app.create_project("shop").await;
        app.create_environment("shop", "production", None).await;
        revision(app, "production").await;
        redis.stop();
        until_redis_is_noticed_down(app).await;
        let mut slowest = Duration::ZERO;
        for i in 0..10 {
            slowest = slowest.max(put_config(app, "production", "LIMIT", json!(i)).await);
        }
        assert!(slowest < Duration::from_millis(500), "the slowest write took {slowest:?}");
    }
}
