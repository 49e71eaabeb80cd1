//! Redis as readiness sees it: the configured one, and one of the test's own that goes away
//! (reported, never a reason to leave service).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, NOT_CONFIGURED, TestApp, redis_url, spawn_app_with};

async fn readiness(app: &TestApp) -> (StatusCode, Value) {
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn readiness_checks_the_configured_redis() {
        let url = redis_url().expect(NOT_CONFIGURED);
        let app = spawn_app_with(Backend::Sqlite, |s| s.redis_url = Some(url)).await;
        let (status, body) = readiness(&app).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["checks"]["redis"], "ok");
    }
}

/// A `redis-server` of the test's own on a free port, stopped when dropped.
pub struct OwnRedis {
    child: Child,
    port: u16,
    pub url: String,
}

impl OwnRedis {
    pub fn start() -> Self {
        let port = crate::helpers::free_port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the Redis fault tests");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.get_connection().is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port, url }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let fresh = Self::start_on(self.port);
        let old = std::mem::replace(self, fresh);
        std::mem::forget(old);
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url.as_str()).unwrap()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

switchboard_test_harness::redis_test! {
    #[tokio::test]
    async fn losing_redis_is_reported_by_readiness_without_leaving_service() {
        // Runs wherever Redis suites run: it needs the redis-server binary.
        let mut redis = OwnRedis::start();
        let app = spawn_app_with(Backend::Sqlite, |s| s.redis_url = Some(redis.url.clone())).await;
        assert_eq!(readiness(&app).await.0, StatusCode::OK);

        redis.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = readiness(&app).await;
            // Instances converge through the database without Redis: no reason to stop serving.
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["checks"]["redis"] == "unavailable" {
                assert_eq!(body["checks"]["database"], "ok");
                assert_eq!(body["status"], "degraded");
                break;
            }
            assert!(Instant::now() < deadline, "Redis never reported down: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let metrics = app.get("/metrics").await.text().await.unwrap();
        assert!(metrics.contains("switchboard_dependency_up{dependency=\"redis\"} 0"), "{metrics}");
        // The API itself does not depend on Redis.
        app.create_project("shop").await;
        assert_eq!(app.get("/v1/projects/shop").await.status(), StatusCode::OK);
    }
}
