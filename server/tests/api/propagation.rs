//! Several instances on one database and one Redis: changes reach every instance's streams,
//! losing Redis costs nothing but latency, and nothing secret is ever put in Redis.

use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_core::{CompiledSnapshot, Context, Reason, Snapshot};

use crate::helpers::{Backend, NOT_CONFIGURED, TestApp, postgres, redis_url, spawn_app_with};
use crate::redis::OwnRedis;

/// Instances of one deployment: the first creates the store, the others join it (and share its
/// Redis prefix, which no other test's apps use).
pub(crate) async fn instances(count: usize, redis: &str, sync_interval_ms: u64) -> Vec<TestApp> {
    let backend = postgres().unwrap_or(Backend::Sqlite);
    let first = spawn_app_with(backend, |s| {
        s.redis_url = Some(redis.to_owned());
        s.sync_interval_ms = sync_interval_ms;
    })
    .await;
    let mut apps = vec![];
    for _ in 1..count {
        let mut other = spawn_app_with(Backend::Sqlite, |s| {
            s.database_url = first.settings.database_url.clone();
            s.master_key_file = Some(first.data_dir.path().join("master.key"));
            s.redis_url = Some(redis.to_owned());
            s.redis_prefix = first.settings.redis_prefix.clone();
            s.sync_interval_ms = sync_interval_ms;
        })
        .await;
        other.admin_token = first.admin_token.clone();
        apps.push(other);
    }
    apps.insert(0, first);
    apps
}

const FLAG: &str = "/v1/projects/shop/environments/production/flags/new-checkout";

/// A project with one boolean flag (off) and an SDK token for its production environment.
pub(crate) async fn prepare(app: &TestApp) -> String {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    assert_eq!(
        app.post(
            "/v1/projects/shop/flags",
            json!({ "key": "new-checkout", "type": "boolean" })
        )
        .await
        .status(),
        StatusCode::CREATED
    );
    app.issue_token(json!({ "name": "sdk", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] })).await.0
}

/// A minimal server-sent-events reader.
struct EventStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<actix_web::web::Bytes>>,
    buffer: String,
}

impl EventStream {
    async fn open(app: &TestApp, token: &str) -> Self {
        let response = app
            .request_as(Some(token), Method::GET, "/v1/sdk/stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next `change` event's data, waiting at most `limit`.
    async fn next_change(&mut self, limit: Duration) -> Value {
        self.try_next_change(limit).await.expect("no event in time")
    }

    /// Like [`next_change`](Self::next_change), `None` when nothing came in time.
    async fn try_next_change(&mut self, limit: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if event.lines().any(|l| l == "event: change") {
                    let data = event
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .unwrap();
                    return Some(serde_json::from_str(data).unwrap());
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()?
                .unwrap()
                .unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Waits for a change event with a revision above `revision`.
    async fn change_after(&mut self, revision: u64, limit: Duration) -> Value {
        self.try_change_after(revision, limit)
            .await
            .expect("no newer revision in time")
    }

    async fn try_change_after(&mut self, revision: u64, limit: Duration) -> Option<Value> {
        loop {
            let event = self.try_next_change(limit).await?;
            if event["revision"].as_u64().unwrap() > revision {
                return Some(event);
            }
        }
    }
}

async fn snapshot_of(app: &TestApp, token: &str) -> Snapshot {
    let response = app
        .request_as(Some(token), Method::GET, "/v1/sdk/snapshot")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn flag_is_on(snapshot: &Snapshot, user: &str) -> (bool, Reason) {
    let compiled = CompiledSnapshot::compile(snapshot);
    let details = compiled.bool_details("new-checkout", &Context::with_targeting_key(user), false);
    (details.value, details.reason)
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn a_change_on_one_instance_reaches_streams_on_the_others_through_redis() {
        let redis = redis_url().expect(NOT_CONFIGURED);
        // The database check is effectively off: only the Redis bus can carry the change in time.
        let apps = instances(3, &redis, 600_000).await;
        let (a, b, c) = (&apps[0], &apps[1], &apps[2]);
        let token = prepare(a).await;
        let mut on_b = EventStream::open(b, &token).await;
        let mut on_c = EventStream::open(c, &token).await;
        let start_b = on_b.next_change(Duration::from_secs(10)).await["revision"]
            .as_u64()
            .unwrap();
        let start_c = on_c.next_change(Duration::from_secs(10)).await["revision"]
            .as_u64()
            .unwrap();

        assert_eq!(
            a.request(Method::POST, &format!("{FLAG}/enable"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        let event = on_b.change_after(start_b, Duration::from_secs(10)).await;
        assert_eq!(event["project"], "shop");
        let snapshot = snapshot_of(b, &token).await;
        assert_eq!(snapshot.revision, event["revision"].as_u64().unwrap());
        assert_eq!(flag_is_on(&snapshot, "user-1"), (true, Reason::Static));

        // The kill switch pulled on A turns the flag off for a client of C.
        assert_eq!(
            a.request(
                Method::POST,
                "/v1/projects/shop/environments/production/kill"
            )
            .send()
            .await
            .unwrap()
            .status(),
            StatusCode::OK
        );
        let mut revision = start_c;
        loop {
            revision = on_c.change_after(revision, Duration::from_secs(10)).await["revision"]
                .as_u64()
                .unwrap();
            let snapshot = snapshot_of(c, &token).await;
            if flag_is_on(&snapshot, "user-1") == (false, Reason::Disabled) {
                break;
            }
        }
    }
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn losing_redis_under_traffic_loses_no_read_and_no_write_and_the_bus_comes_back() {
        let mut redis = OwnRedis::start();
        // Pair one converges by checking the database; pair two only through the bus.
        let polled = instances(2, &redis.url, 200).await;
        let bus_only = instances(2, &redis.url, 600_000).await;
        let token = prepare(&polled[0]).await;
        let bus_token = prepare(&bus_only[0]).await;
        polled[0]
            .request(Method::POST, &format!("{FLAG}/enable"))
            .send()
            .await
            .unwrap();

        let mut writes = 0;
        let mut reads = 0;
        for step in 1..=40u32 {
            if step == 15 {
                redis.stop();
            }
            let write = polled[0]
                .post(
                    &format!("{FLAG}/rollout"),
                    json!({ "basis_points": step * 100 }),
                )
                .await;
            assert_eq!(
                write.status(),
                StatusCode::OK,
                "write {step} with Redis {}",
                if step >= 15 { "down" } else { "up" }
            );
            writes += 1;
            let read = polled[1]
                .request_as(Some(&token), Method::GET, "/v1/sdk/snapshot")
                .send()
                .await
                .unwrap();
            assert_eq!(read.status(), StatusCode::OK);
            reads += 1;
        }
        assert_eq!((writes, reads), (40, 40));
        // Without Redis the other instance converges on the last write by checking the database.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let snapshot = snapshot_of(&polled[1], &token).await;
            let weight = snapshot.flags[0].state.default_serve.clone();
            if serde_json::to_value(&weight).unwrap()["split"][0]["weight"] == 4000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the second instance did not converge without Redis"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Redis returns (empty, as after a restart or a flush): the bus resubscribes by itself.
        redis.restart();
        let mut stream = EventStream::open(&bus_only[1], &bus_token).await;
        let start = stream.next_change(Duration::from_secs(10)).await["revision"]
            .as_u64()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = None;
        while seen.is_none() {
            assert!(
                Instant::now() < deadline,
                "the bus did not come back after Redis restarted"
            );
            bus_only[0]
                .post(
                    &format!("{FLAG}/rollout"),
                    json!({ "basis_points": 100 + (start as u32 % 50) * 100 }),
                )
                .await;
            seen = stream
                .try_change_after(start, Duration::from_millis(700))
                .await;
        }
        let event = seen.unwrap();
        assert!(event["revision"].as_u64().unwrap() > start);
    }
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn no_secret_ever_reaches_redis() {
        let redis = OwnRedis::start();
        let apps = instances(2, &redis.url, 200).await;
        let token = prepare(&apps[0]).await;
        let canary = "redis-canary-51b2e0";
        let secrets = "/v1/projects/shop/environments/production/secrets";
        apps[0]
            .request(Method::PUT, &format!("{secrets}/CANARY"))
            .json(&json!({ "value": canary }))
            .send()
            .await
            .unwrap();
        apps[0]
            .request(
                Method::PUT,
                "/v1/projects/shop/environments/production/config/PLAIN",
            )
            .json(&json!({ "value": "not secret" }))
            .send()
            .await
            .unwrap();
        apps[0]
            .request(Method::POST, &format!("{FLAG}/enable"))
            .send()
            .await
            .unwrap();
        for app in &apps {
            assert_eq!(
                app.get(&format!("{secrets}/CANARY")).await.status(),
                StatusCode::OK
            );
            assert_eq!(
                app.get(&format!("{secrets}/export?include_config=true"))
                    .await
                    .status(),
                StatusCode::OK
            );
            snapshot_of(app, &token).await;
        }
        let mut connection = redis
            .client()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let snapshot_keys = format!("{}:snapshot:", apps[0].settings.redis_prefix);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(
            keys.iter().any(|k| k.starts_with(&snapshot_keys)),
            "snapshots were shared: {keys:?}"
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(canary);
        for key in keys {
            assert!(!key.contains(canary));
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut connection)
                .await
                .unwrap_or(None);
            let value = String::from_utf8_lossy(&value.unwrap_or_default()).into_owned();
            assert!(
                !value.contains(canary) && !value.contains(&encoded),
                "a secret is in Redis under {key}"
            );
        }
    }
}

#[tokio::test]
async fn without_the_database_reads_come_from_memory_marked_stale_and_writes_get_503() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.sync_interval_ms = 100).await;
    let token = prepare(&app).await;
    let fresh = app
        .request_as(Some(&token), Method::GET, "/v1/sdk/snapshot")
        .send()
        .await
        .unwrap();
    assert!(fresh.headers().get("x-switchboard-stale").is_none());
    let etag = fresh.headers()["etag"].clone();
    app.store.close().await;

    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let read = app
            .request_as(Some(&token), Method::GET, "/v1/sdk/snapshot")
            .send()
            .await
            .unwrap();
        assert_eq!(
            read.status(),
            StatusCode::OK,
            "reads keep working from memory"
        );
        assert_eq!(read.headers()["etag"], etag);
        if read.headers().get("x-switchboard-stale").is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "never marked stale");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let revalidated = app
        .request_as(Some(&token), Method::GET, "/v1/sdk/snapshot")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    let write = app
        .request(Method::POST, &format!("{FLAG}/enable"))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(write.headers().contains_key("retry-after"));
}
