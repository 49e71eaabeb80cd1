//! A server per test, typed helpers for the API calls the tests make, and readiness loops.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard_client::{Client, ClientBuilder, KillList, RefreshMode};
use switchboard_server::settings::Settings;
use switchboard_server::startup::Application;
use tokio::task::JoinHandle;

/// How long any "eventually" may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A running server; stoppable and restartable on the same port and data.
pub struct TestServer {
    pub address: String,
    pub admin_token: String,
    http: reqwest::Client,
    settings: Settings,
    running: Option<(ServerHandle, JoinHandle<std::io::Result<()>>)>,
    // Dropped last: the SQLite file and the master key live here.
    _data_dir: tempfile::TempDir,
}

pub async fn spawn_server() -> TestServer {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_tests(data_dir.path());
    settings.database_url = Some(format!(
        "sqlite://{}?mode=rwc",
        data_dir.path().join("switchboard.db").display()
    ));
    let mut server = TestServer {
        address: String::new(),
        admin_token: String::new(),
        http: reqwest::Client::new(),
        settings,
        running: None,
        _data_dir: data_dir,
    };
    server.start().await;
    server
}

/// `shop` with `production`, the boolean flag `new-checkout` serving `on` to everyone there, and
/// an SDK token for `shop/production`.
pub async fn shop() -> (TestServer, String) {
    let server = spawn_server().await;
    server.post("/v1/projects", json!({"name": "shop"})).await;
    server
        .post(
            "/v1/projects/shop/environments",
            json!({"name": "production"}),
        )
        .await;
    server.create_flag_on("new-checkout").await;
    let token = server.sdk_token(&["production"]).await;
    (server, token)
}

impl TestServer {
    /// Builds and runs the server; after a stop, on the same port, data and keys.
    async fn start(&mut self) {
        let mut app = Application::build(self.settings.clone())
            .await
            .expect("the server builds");
        if let Some(token) = app.take_initial_admin_token() {
            self.admin_token = token;
        }
        // Pin the port, so that a restart comes back where the client is pointed.
        self.settings.listen = SocketAddr::from(([127, 0, 0, 1], app.port()));
        self.address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        self.running = Some((handle, tokio::spawn(app.run_until_stopped())));
    }

    /// Stops the server at once (in-flight requests are dropped) and waits until it is down.
    pub async fn stop(&mut self) {
        if let Some((handle, task)) = self.running.take() {
            handle.stop(false).await;
            let _ = task.await;
        }
    }

    pub async fn restart(&mut self) {
        self.start().await;
    }

    /// An admin request to `path`; panics unless it succeeds. Returns the JSON body, if any.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(&self.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn create_boolean_flag(&self, key: &str) {
        self.post(
            "/v1/projects/shop/flags",
            json!({"key": key, "type": "boolean"}),
        )
        .await;
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
        let issued = self.post("/v1/tokens", body).await;
        issued["token"].as_str().unwrap().to_owned()
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
