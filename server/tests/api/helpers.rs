//! `spawn_app()` and typed helpers, one per endpoint, so tests read as what a user does.

use std::io::Write;
use std::sync::Once;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use switchboard_server::settings::Settings;
use switchboard_server::snapshots::Snapshots;
use switchboard_server::startup::Application;
use switchboard_server::store::Store;

/// The database a test runs against.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// A PostgreSQL server; each test gets a schema of its own in it.
    Postgres(String),
}

const POSTGRES_VAR: &str = "SWITCHBOARD_TEST_DATABASE_URL";
const REDIS_VAR: &str = "SWITCHBOARD_TEST_REDIS_URL";

fn required(what: &str) -> bool {
    std::env::var("SWITCHBOARD_TEST_REQUIRE")
        .map(|v| v.split(',').any(|w| w.trim() == what))
        .unwrap_or(false)
}

/// Says once, on the real stderr (not the captured one), that a backend's suite is skipped.
fn announce_skip(once: &'static Once, what: &str, var: &str) {
    once.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nnote: SKIPPING the {what} tests: set {var} to run them (e.g. {var}={example})\n",
            example = if what == "PostgreSQL" {
                "postgres://postgres@127.0.0.1:5432/test"
            } else {
                "redis://127.0.0.1:6379"
            },
        );
    });
}

/// The PostgreSQL backend when configured; `None` (test skipped, said once) when not.
pub fn postgres() -> Option<Backend> {
    static SKIP: Once = Once::new();
    match std::env::var(POSTGRES_VAR) {
        Ok(url) if !url.is_empty() => Some(Backend::Postgres(url)),
        _ if required("postgres") => {
            panic!("{POSTGRES_VAR} is not set but SWITCHBOARD_TEST_REQUIRE names postgres")
        }
        _ => {
            announce_skip(&SKIP, "PostgreSQL", POSTGRES_VAR);
            None
        }
    }
}

/// The Redis URL when configured; `None` (test skipped, said once) when not.
pub fn redis_url() -> Option<String> {
    static SKIP: Once = Once::new();
    match std::env::var(REDIS_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required("redis") => {
            panic!("{REDIS_VAR} is not set but SWITCHBOARD_TEST_REQUIRE names redis")
        }
        _ => {
            announce_skip(&SKIP, "Redis", REDIS_VAR);
            None
        }
    }
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(backend) = $crate::helpers::postgres() {
                        super::$name(backend).await
                    }
                }
            )*
        }
    };
}

/// A fresh, empty database for one test: its own SQLite file, or its own PostgreSQL schema.
pub async fn fresh_database_url(backend: &Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("test.db").display()),
        Backend::Postgres(base) => {
            let schema = format!("swbt_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect_url(base, 1, std::time::Duration::from_secs(10))
                .await
                .expect("connect to the test PostgreSQL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(admin.pool())
                .await
                .expect("create a test schema");
            admin.close().await;
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}options=-c%20search_path%3D{schema}")
        }
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: String,
    pub admin_token: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub store: Store,
    /// The server's snapshot cache, to reload after arranging data through the store.
    pub snapshots: std::sync::Arc<Snapshots>,
    // Dropped last: the SQLite file and key live here.
    pub data_dir: tempfile::TempDir,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns a server after `configure` adjusted its settings.
pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::for_tests(data_dir.path());
    settings.database_url = Some(fresh_database_url(&backend, data_dir.path()).await);
    configure(&mut settings);
    let mut app = Application::build(settings.clone())
        .await
        .expect("the app builds");
    // Empty on a second instance of a store that already had its first start.
    let admin_token = app.take_initial_admin_token().unwrap_or_default();
    let address = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
    let snapshots = app.state().snapshots.clone();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        admin_token,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Tests read answers as sent (another crate in the workspace turns gzip on).
            .no_gzip()
            .build()
            .unwrap(),
        settings,
        store,
        snapshots,
        data_dir,
    }
}

impl TestApp {
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

/// Asserts a problem+json answer with `status` and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status.as_u16());
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:switchboard:problem:")
    );
    assert!(!body["detail"].as_str().unwrap().is_empty());
    body
}

/// The string field `field` of every item of a list page.
pub fn item_strings(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page has items")
        .iter()
        .map(|item| item[field].as_str().expect("a string field").to_owned())
        .collect()
}

/// A TCP port free on the loopback interface right now (for servers the test starts itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
