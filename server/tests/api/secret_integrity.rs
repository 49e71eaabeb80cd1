//! Someone with write access to the database but not the master key cannot roll a secret back
//! to an older value, make a version or a secret disappear from an export, or strip the tags
//! that bind them: each is refused as `secret-undecryptable`, naming the secret, never serving
//! what the rows now say.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use switchboard_server::store::Store;

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::secrets::{SECRETS, shop};

crate::on_both_backends!(
    moving_a_secrets_current_version_back_is_refused_instead_of_serving_the_old_value,
    deleting_a_secrets_newest_version_row_is_refused,
    replaying_an_older_rows_tag_together_with_its_version_is_refused,
    a_secret_row_deleted_in_the_database_fails_the_export_instead_of_vanishing_from_it,
    a_secret_whose_tag_was_stripped_is_refused,
    a_deleted_secret_put_back_in_the_database_fails_the_export,
    secrets_stored_before_tags_existed_are_tagged_by_the_upgrade_and_still_read,
);

async fn put_secret(app: &TestApp, name: &str, value: &str) {
    let response = app
        .request(Method::PUT, &format!("{SECRETS}/{name}"))
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The shop with secret `name` written twice: `old`, then `new` (current, version 2).
async fn two_versions(backend: Backend, name: &str, old: &str, new: &str) -> TestApp {
    let app = shop(backend).await;
    put_secret(&app, name, old).await;
    put_secret(&app, name, new).await;
    app
}

async fn tamper(app: &TestApp, statement: &'static str) {
    sqlx::query(statement)
        .execute(app.store.pool())
        .await
        .unwrap();
}

/// `path` answers `secret-undecryptable` with `detail` in its text and without `value`.
async fn assert_undecryptable(app: &TestApp, path: &str, detail: &str, value: &str) {
    let problem = assert_problem(app.get(path).await, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert_eq!(
        problem["type"],
        "urn:switchboard:problem:secret-undecryptable"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains(detail),
        "{problem}"
    );
    assert!(!problem.to_string().contains(value), "never the value");
}

/// Reading `name` and exporting are both refused as undecryptable, naming `name` in the read,
/// and neither answer carries `old` (the value the rows now point at).
async fn assert_refused(app: &TestApp, name: &str, old: &str) {
    let named = format!("'{name}'");
    assert_undecryptable(app, &format!("{SECRETS}/{name}"), &named, old).await;
    assert_undecryptable(app, &format!("{SECRETS}/export"), "", old).await;
}

async fn moving_a_secrets_current_version_back_is_refused_instead_of_serving_the_old_value(
    backend: Backend,
) {
    let app = two_versions(backend, "DB_PASSWORD", "leaked-last-month", "rotated-today").await;

    tamper(
        &app,
        "UPDATE secrets SET version = 1 WHERE name = 'DB_PASSWORD'",
    )
    .await;

    assert_refused(&app, "DB_PASSWORD", "leaked-last-month").await;
}

async fn deleting_a_secrets_newest_version_row_is_refused(backend: Backend) {
    let app = two_versions(backend, "API_KEY", "first", "second").await;

    // The newest version gone, the pointer left as it was: no longer a 404 that an export
    // would stop on without an alert.
    tamper(
        &app,
        "DELETE FROM secret_versions WHERE name = 'API_KEY' AND version = 2",
    )
    .await;
    assert_refused(&app, "API_KEY", "first").await;

    // And with the pointer moved back to the version that is left.
    tamper(
        &app,
        "UPDATE secrets SET version = 1 WHERE name = 'API_KEY'",
    )
    .await;
    assert_refused(&app, "API_KEY", "first").await;
}

async fn replaying_an_older_rows_tag_together_with_its_version_is_refused(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "TOKEN", "old-token").await;
    // An attacker who kept the row as it was (a backup, an earlier dump).
    let (key_id, mac): (String, Vec<u8>) =
        sqlx::query_as("SELECT mac_key_id, mac FROM secrets WHERE name = 'TOKEN'")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
    put_secret(&app, "TOKEN", "new-token").await;

    sqlx::query("UPDATE secrets SET version = 1, mac_key_id = $1, mac = $2 WHERE name = 'TOKEN'")
        .bind(key_id)
        .bind(mac)
        .execute(app.store.pool())
        .await
        .unwrap();

    assert_refused(&app, "TOKEN", "old-token").await;
}

async fn a_secret_row_deleted_in_the_database_fails_the_export_instead_of_vanishing_from_it(
    backend: Backend,
) {
    let app = shop(backend).await;
    put_secret(&app, "KEEP", "kept").await;
    put_secret(&app, "GONE", "gone").await;
    put_secret(&app, "DELETED", "deleted").await;
    // A delete through the API is a change the export simply reflects.
    let deleted = app
        .request(Method::DELETE, &format!("{SECRETS}/DELETED"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let export: Value = app
        .get(&format!("{SECRETS}/export?format=json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        export,
        json!({ "GONE": "gone", "KEEP": "kept" }),
        "{export}"
    );

    tamper(&app, "DELETE FROM secrets WHERE name = 'GONE'").await;

    let export = format!("{SECRETS}/export");
    assert_undecryptable(&app, &export, "list of secrets", "kept").await;
    // The secrets still there still read one by one.
    let kept: Value = app
        .get(&format!("{SECRETS}/KEEP"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(kept["value"], "kept");
}

async fn a_secret_whose_tag_was_stripped_is_refused(backend: Backend) {
    let app = two_versions(backend, "PIN", "1234", "5678").await;

    tamper(
        &app,
        "UPDATE secrets SET version = 1, mac = NULL, mac_key_id = NULL WHERE name = 'PIN'",
    )
    .await;

    assert_refused(&app, "PIN", "1234").await;
}

async fn a_deleted_secret_put_back_in_the_database_fails_the_export(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "KEEP", "kept").await;
    put_secret(&app, "RETIRED", "retired-value").await;
    let row: (String, i64, i64, i64, String, Vec<u8>) = sqlx::query_as(
        "SELECT environment_id, version, created_at, updated_at, mac_key_id, mac FROM secrets WHERE name = 'RETIRED'",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    let deleted = app
        .request(Method::DELETE, &format!("{SECRETS}/RETIRED"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    // The row put back exactly as it was, tag included.
    sqlx::query(
        "INSERT INTO secrets (environment_id, name, version, created_at, updated_at, updated_by, mac_key_id, mac) \
         VALUES ($1, 'RETIRED', $2, $3, $4, 'admin', $5, $6)",
    )
    .bind(row.0)
    .bind(row.1)
    .bind(row.2)
    .bind(row.3)
    .bind(row.4)
    .bind(row.5)
    .execute(app.store.pool())
    .await
    .unwrap();

    let export = format!("{SECRETS}/export");
    assert_undecryptable(&app, &export, "list of secrets", "retired-value").await;
}

async fn secrets_stored_before_tags_existed_are_tagged_by_the_upgrade_and_still_read(
    backend: Backend,
) {
    let mut app = shop(backend).await;
    put_secret(&app, "A", "alpha").await;
    put_secret(&app, "A", "alpha 2").await;
    put_secret(&app, "B", "bravo").await;
    app.stop().await;
    // Back to the schema before the tags: no columns, no list table, migration not applied.
    let url = app.settings.database_url.clone().unwrap();
    let database = Store::connect_url(&url, 1, Duration::from_secs(5))
        .await
        .unwrap();
    for statement in [
        "ALTER TABLE secrets DROP COLUMN mac",
        "ALTER TABLE secrets DROP COLUMN mac_key_id",
        "DROP TABLE secret_sets",
        "DELETE FROM _sqlx_migrations WHERE version = 20261202051331",
    ] {
        sqlx::query(statement)
            .execute(database.pool())
            .await
            .unwrap();
    }
    database.close().await;

    app.restart().await;

    let a: Value = app.get(&format!("{SECRETS}/A")).await.json().await.unwrap();
    assert_eq!(a["value"], "alpha 2");
    let export: Value = app
        .get(&format!("{SECRETS}/export?format=json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(export, json!({ "A": "alpha 2", "B": "bravo" }), "{export}");
    // Tagged now: tampering after the upgrade is caught like on a new install.
    tamper(&app, "UPDATE secrets SET version = 1 WHERE name = 'A'").await;
    assert_refused(&app, "A", "alpha\"").await;
}

/// The operator hears of it: the refusal is logged as a security alert naming the secret, and
/// neither the old nor the current value is in the log.
#[tokio::test]
async fn a_rolled_back_secret_raises_a_security_alert_in_the_log_without_its_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = crate::cli::ServerProcess::start(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let send = |method: Method, path: &str, body: Value| {
        client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&server.admin_token)
            .json(&body)
            .send()
    };
    send(Method::POST, "/v1/projects", json!({ "name": "shop" }))
        .await
        .unwrap();
    send(
        Method::POST,
        "/v1/projects/shop/environments",
        json!({ "name": "production" }),
    )
    .await
    .unwrap();
    for value in ["old-canary-6e1f", "new-canary-93ab"] {
        let put = send(
            Method::PUT,
            &format!("{SECRETS}/DB_PASSWORD"),
            json!({ "value": value }),
        )
        .await
        .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
    }
    let database = Store::connect_url(
        &format!("sqlite://{}", dir.path().join("switchboard.db").display()),
        1,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE secrets SET version = 1 WHERE name = 'DB_PASSWORD'")
        .execute(database.pool())
        .await
        .unwrap();
    database.close().await;

    let read = send(Method::GET, &format!("{SECRETS}/DB_PASSWORD"), json!(null))
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let log = server.stop();

    let alert = log
        .lines()
        .find(|line| line.contains("SECURITY ALERT"))
        .unwrap_or_else(|| panic!("no alert in: {log}"));
    assert!(alert.contains("DB_PASSWORD"), "{alert}");
    assert!(!log.contains("old-canary-6e1f") && !log.contains("new-canary-93ab"));
}
