//! A real server per test on a port of its own, stoppable and restartable on the same port and
//! data, with typed helpers for the requests tests make.

use std::net::SocketAddr;

use actix_web::dev::ServerHandle;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use switchboard_server::settings::Settings;
use switchboard_server::snapshots::Snapshots;
use switchboard_server::startup::Application;
use switchboard_server::store::Store;
use tokio::task::JoinHandle;

use crate::{Backend, TestDatabase};

/// A running server and what a test needs to talk to it.
#[derive(Debug)]
pub struct TestApp {
    pub address: String,
    /// The token printed at the first start; kept across restarts.
    pub admin_token: String,
    pub client: reqwest::Client,
    /// What the server was built with; `listen` pinned to its port after the first start.
    pub settings: Settings,
    pub store: Store,
    /// The server's snapshot cache, to reload after arranging data through the store.
    pub snapshots: std::sync::Arc<Snapshots>,
    running: Option<(ServerHandle, JoinHandle<std::io::Result<()>>)>,
    // Dropped after the fields above and before the directory: the PostgreSQL schema.
    _database: TestDatabase,
    // Dropped last: the SQLite file and key live here.
    pub data_dir: tempfile::TempDir,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server after `configure` adjusted its settings.
///
/// Each app gets a Redis prefix of its own, so that tests sharing one Redis do not hear each
/// other; instances meant to talk to each other are given the first one's (`configure`).
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(&backend, data_dir.path()).await;
    let mut settings = Settings::for_tests(data_dir.path());
    settings.database_url = Some(database.url.clone());
    settings.redis_prefix = format!("swbt-{}", uuid::Uuid::new_v4().simple());
    configure(&mut settings);
    let (app, admin_token) = build(&settings).await;
    let mut test_app = TestApp {
        address: String::new(),
        admin_token: admin_token.unwrap_or_default(),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Tests read answers as sent (the client crate turns reqwest's gzip on).
            .no_gzip()
            .build()
            .unwrap(),
        store: app.state().store.clone(),
        snapshots: app.state().snapshots.clone(),
        settings,
        running: None,
        _database: database,
        data_dir,
    };
    test_app.run(app);
    test_app
}

/// Builds the server; the admin token is there only at the first start of a store.
async fn build(settings: &Settings) -> (Application, Option<String>) {
    let mut app = Application::build(settings.clone())
        .await
        .expect("the app builds");
    let token = app.take_initial_admin_token();
    (app, token)
}

impl TestApp {
    fn run(&mut self, app: Application) {
        // Pin the port, so that a restart comes back where clients are pointed.
        self.settings.listen = SocketAddr::from(([127, 0, 0, 1], app.port()));
        self.address = format!("http://127.0.0.1:{}", app.port());
        self.store = app.state().store.clone();
        self.snapshots = app.state().snapshots.clone();
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

    /// Starts the server again on the same port, data and keys.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (app, token) = build(&self.settings).await;
        if let Some(token) = token {
            self.admin_token = token;
        }
        self.run(app);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A request with the admin token.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.admin_token)
    }

    /// A request with the given token (`None`: no Authorization header).
    pub fn request_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, self.url(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.unwrap()
    }

    /// An admin request to `path`; panics unless it succeeds. Returns the JSON body, if any.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// Fixtures: what many tests arrange before they act.
impl TestApp {
    pub async fn create_project(&self, name: &str) -> Value {
        let response = self.post("/v1/projects", json!({ "name": name })).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creating project {name}"
        );
        response.json().await.unwrap()
    }

    pub async fn create_environment(
        &self,
        project: &str,
        name: &str,
        parent: Option<&str>,
    ) -> Value {
        let response = self
            .post(
                &format!("/v1/projects/{project}/environments"),
                json!({ "name": name, "parent": parent }),
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "creating environment {name}"
        );
        response.json().await.unwrap()
    }

    /// A boolean flag (variants `on` and `off`), disabled everywhere.
    pub async fn create_boolean_flag(&self, project: &str, key: &str) -> Value {
        let path = format!("/v1/projects/{project}/flags");
        let body = json!({ "key": key, "type": "boolean" });
        self.call(Method::POST, &path, Some(body)).await
    }

    /// Issues a token with the admin token; returns (jwt, id).
    pub async fn issue_token(&self, body: Value) -> (String, String) {
        let response = self.post("/v1/tokens", body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let issued: Value = response.json().await.unwrap();
        (
            issued["token"].as_str().unwrap().to_owned(),
            issued["id"].as_str().unwrap().to_owned(),
        )
    }

    /// The newest audit events (up to 50), optionally filtered by a query string.
    pub async fn audit(&self, query: &str) -> Vec<Value> {
        let response = self.get(&format!("/v1/audit?{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        page["items"].as_array().unwrap().clone()
    }
}

/// A TCP port free on the loopback interface right now (for servers a test starts itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
