//! The client suite's server: the shop fixture and its flag actions on top of the shared test
//! harness's server (test-harness/), clients tuned for tests, and readiness loops.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_client::{Client, ClientBuilder, KillList, RefreshMode};
use switchboard_test_harness::{Backend, TestApp, spawn_app};

/// How long any "eventually" may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A running server (SQLite); stoppable and restartable on the same port and data. Everything
/// of [`TestApp`] is reachable through it; `post` here asserts success and returns the body.
pub struct TestServer(TestApp);

impl Deref for TestServer {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut TestApp {
        &mut self.0
    }
}

pub async fn spawn_server() -> TestServer {
    TestServer(spawn_app(Backend::Sqlite).await)
}

/// `shop` with `production`, the boolean flag `new-checkout` serving `on` to everyone there, and
/// an SDK token for `shop/production`.
pub async fn shop() -> (TestServer, String) {
    let server = spawn_server().await;
    server.create_project("shop").await;
    server.create_environment("shop", "production", None).await;
    server.create_flag_on("new-checkout").await;
    let token = server.sdk_token(&["production"]).await;
    (server, token)
}

impl TestServer {
    /// An admin `POST`; panics unless it succeeds. Returns the JSON body, if any.
    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn create_boolean_flag(&self, key: &str) {
        self.0.create_boolean_flag("shop", key).await;
    }

    /// A boolean flag serving `on` to everyone in `production` (a new flag starts disabled,
    /// and enabling it alone serves its default, `off`).
    pub async fn create_flag_on(&self, key: &str) {
        self.create_boolean_flag(key).await;
        let path = format!("/v1/projects/shop/environments/production/flags/{key}");
        let state =
            json!({"enabled": true, "default_serve": {"variant": "on"}, "off_variant": "off"});
        self.call(Method::PUT, &path, Some(state)).await;
    }

    fn state_path(key: &str, action: &str) -> String {
        format!("/v1/projects/shop/environments/production/flags/{key}/{action}")
    }

    pub async fn enable(&self, key: &str) {
        self.call(Method::POST, &Self::state_path(key, "enable"), None)
            .await;
    }

    pub async fn disable(&self, key: &str) {
        self.call(Method::POST, &Self::state_path(key, "disable"), None)
            .await;
    }

    pub async fn rollout(&self, key: &str, percentage: f64) {
        self.post(
            &Self::state_path(key, "rollout"),
            json!({"percentage": percentage}),
        )
        .await;
    }

    /// Pulls the kill switch of `shop/production`.
    pub async fn kill_environment(&self) {
        let path = "/v1/projects/shop/environments/production/kill";
        self.post(path, json!({"reason": "test"})).await;
    }

    pub async fn restore_environment(&self) {
        let path = "/v1/projects/shop/environments/production/kill";
        self.call(Method::DELETE, path, None).await;
    }

    /// A `flags:read` token for `shop` and these environments.
    pub async fn sdk_token(&self, environments: &[&str]) -> String {
        let body = json!({"name": "sdk", "scopes": ["flags:read"], "projects": ["shop"],
                          "environments": environments});
        self.issue_token(body).await.0
    }
}

/// A client of `server` that polls every 50 ms (no stream) and retries quickly, with no kills
/// from the environment.
pub fn client(server: &TestServer, token: &str) -> ClientBuilder {
    client_of(&server.address, token)
        .refresh_mode(RefreshMode::Polling)
        .poll_interval(Duration::from_millis(50))
}

/// A streaming client of `server` whose poll interval (an hour) is far beyond any test: every
/// change it sees came through the stream.
pub fn streaming_client(server: &TestServer, token: &str) -> ClientBuilder {
    client_of(&server.address, token).poll_interval(Duration::from_secs(3600))
}

/// The default (streaming) client of whatever listens at `address`, retrying quickly.
pub fn client_of(address: &str, token: &str) -> ClientBuilder {
    Client::builder(address, token)
        .backoff(Duration::from_millis(20), Duration::from_millis(200))
        .kill_list(KillList::none())
}

/// Waits until `check` holds, checking every 10 ms; fails the test after [`DEADLINE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An address where nothing listens (a port just released by the OS).
pub fn dead_address() -> String {
    format!("http://127.0.0.1:{}", switchboard_test_harness::free_port())
}
