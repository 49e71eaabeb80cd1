//! The server suite's own assertions; the server per test, backends and typed request helpers
//! come from the shared test harness (test-harness/), re-exported here.

use reqwest::{Response, StatusCode};
use serde_json::Value;
use switchboard_server::keys::{Keyring, MasterKeySource};
use switchboard_server::store::signing_keys::{self, SigningKey};
pub use switchboard_test_harness::{
    Backend, NOT_CONFIGURED, TestApp, TestDatabase, free_port, postgres, redis_url, spawn_app,
    spawn_app_with,
};

/// The URL of a fresh, empty database. Its PostgreSQL schema outlives the test: prefer
/// [`TestDatabase`], which drops it when dropped.
#[allow(
    dead_code,
    reason = "for tests that only need a URL (readme.rs, shutdown.rs on main)"
)]
pub async fn fresh_database_url(backend: &Backend, dir: &std::path::Path) -> String {
    TestDatabase::create(backend, dir).await.keep()
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

/// The app's token signing keys (newest first), read as the server reads them: for tests that
/// sign tokens themselves.
pub async fn signing_keys_of(app: &TestApp) -> Vec<SigningKey> {
    let source = MasterKeySource::File(app.data_dir.path().join("master.key"));
    let (keyring, _) = Keyring::load(&source).unwrap();
    signing_keys::load_or_create(&app.store, &keyring)
        .await
        .unwrap()
}
