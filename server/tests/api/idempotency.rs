//! `Idempotency-Key` on writes: a client that lost the answer to a write (a timeout, a dropped
//! connection) sends it again with the same key and gets the original answer, applied once,
//! even after someone else wrote since. The key is the caller's own, bound to one request, and
//! nothing secret is kept with it.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Row;

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};

crate::on_both_backends!(
    a_retried_write_returns_the_original_answer_and_is_applied_once,
    a_retried_create_answers_201_again_instead_of_409,
    a_key_reused_for_another_body_is_422_and_a_malformed_key_is_400,
    a_key_belongs_to_the_token_that_sent_it,
    an_idempotent_secret_write_keeps_no_secret_value,
);

#[tokio::test]
async fn an_oversized_body_with_a_key_is_413_as_without() {
    let app = crate::helpers::spawn_app_with(Backend::Sqlite, |s| s.max_body_bytes = 2048).await;
    let big = json!({ "name": "shop", "description": "x".repeat(4096) });
    let response = app
        .request(Method::POST, "/v1/projects")
        .header("idempotency-key", "big-1")
        .json(&big)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(problem["detail"].as_str().unwrap().contains("2048"));
}

const ENV: &str = "/v1/projects/shop/environments/production";

async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app
}

/// Sends `body` with `key`; returns status, `ETag`, the replay marker and the JSON body.
async fn send_with_key(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Option<String>, bool, Value) {
    let response = app
        .request_as(Some(token), method, path)
        .header("idempotency-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let etag = header("etag");
    let replayed = header("idempotent-replayed").as_deref() == Some("true");
    let status = response.status();
    (
        status,
        etag,
        replayed,
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn versions_of(app: &TestApp, key: &str) -> usize {
    let page = app
        .call(Method::GET, &format!("{ENV}/config/{key}/versions"), None)
        .await;
    page["items"].as_array().unwrap().len()
}

async fn a_retried_write_returns_the_original_answer_and_is_applied_once(backend: Backend) {
    let app = shop(backend).await;
    let url = format!("{ENV}/config/limit");
    let admin = app.admin_token.clone();

    let first = send_with_key(
        &app,
        &admin,
        Method::PUT,
        &url,
        "retry-1",
        json!({ "value": 10 }),
    )
    .await;
    app.call(Method::PUT, &url, Some(json!({ "value": 20 })))
        .await;
    let retry = send_with_key(
        &app,
        &admin,
        Method::PUT,
        &url,
        "retry-1",
        json!({ "value": 10 }),
    )
    .await;

    assert_eq!(first.0, StatusCode::OK);
    assert_eq!(first.1.as_deref(), Some("\"1\""));
    assert!(!first.2, "the first answer is not a replay");
    assert_eq!((retry.0, &retry.1, &retry.3), (first.0, &first.1, &first.3));
    assert!(retry.2, "the retry says it is a replay");
    assert_eq!(
        versions_of(&app, "limit").await,
        2,
        "the retry wrote nothing"
    );
    let current = app.call(Method::GET, &url, None).await;
    assert_eq!(current["value"], 20, "the later write stays");
}

async fn a_retried_create_answers_201_again_instead_of_409(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    let segment = json!({ "name": "beta", "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] });
    let path = "/v1/projects/shop/segments";

    let first = send_with_key(
        &app,
        &admin,
        Method::POST,
        path,
        "create-beta",
        segment.clone(),
    )
    .await;
    let retry = send_with_key(
        &app,
        &admin,
        Method::POST,
        path,
        "create-beta",
        segment.clone(),
    )
    .await;
    let without_key = app.post(path, segment).await;

    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!((retry.0, &retry.1, &retry.3), (first.0, &first.1, &first.3));
    assert_eq!(
        without_key.status(),
        StatusCode::CONFLICT,
        "a new request is new"
    );
}

async fn a_key_reused_for_another_body_is_422_and_a_malformed_key_is_400(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    let url = format!("{ENV}/config/limit");
    send_with_key(
        &app,
        &admin,
        Method::PUT,
        &url,
        "k-1",
        json!({ "value": 1 }),
    )
    .await;

    let other_body = app
        .request(Method::PUT, &url)
        .header("idempotency-key", "k-1")
        .json(&json!({ "value": 2 }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(other_body, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "header.Idempotency-Key");
    let other_path = app
        .request(Method::PUT, &format!("{ENV}/config/other"))
        .header("idempotency-key", "k-1")
        .json(&json!({ "value": 1 }))
        .send()
        .await
        .unwrap();
    assert_problem(other_path, StatusCode::UNPROCESSABLE_ENTITY).await;

    for malformed in ["", "has space", &"x".repeat(256)] {
        let response = app
            .request(Method::PUT, &url)
            .header("idempotency-key", malformed)
            .json(&json!({ "value": 3 }))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], "header.Idempotency-Key");
    }
    assert_eq!(versions_of(&app, "limit").await, 1);
}

async fn a_key_belongs_to_the_token_that_sent_it(backend: Backend) {
    let app = shop(backend).await;
    let (ci, _) = app
        .issue_token(json!({ "name": "ci", "scopes": ["config:write", "config:read"] }))
        .await;
    let url = format!("{ENV}/config/limit");
    let admin = app.admin_token.clone();

    send_with_key(
        &app,
        &admin,
        Method::PUT,
        &url,
        "same",
        json!({ "value": 1 }),
    )
    .await;
    app.call(Method::PUT, &url, Some(json!({ "value": 2 })))
        .await;
    let theirs = send_with_key(&app, &ci, Method::PUT, &url, "same", json!({ "value": 1 })).await;

    assert_eq!(theirs.0, StatusCode::OK);
    assert!(!theirs.2, "another token's key is not a replay");
    assert_eq!(theirs.1.as_deref(), Some("\"3\""));
}

async fn an_idempotent_secret_write_keeps_no_secret_value(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    let value = "hunter2-very-secret";
    let url = format!("{ENV}/secrets/DB_PASSWORD");

    let first = send_with_key(
        &app,
        &admin,
        Method::PUT,
        &url,
        "s-1",
        json!({ "value": value }),
    )
    .await;
    let retry = send_with_key(
        &app,
        &admin,
        Method::PUT,
        &url,
        "s-1",
        json!({ "value": value }),
    )
    .await;

    assert_eq!(first.0, StatusCode::OK);
    assert!(retry.2);
    assert_eq!(retry.3, first.3);
    let rows = sqlx::query(
        "SELECT caller, key, request_hash, etag, location, content_type, body FROM idempotency_keys",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    for column in [
        "caller",
        "key",
        "request_hash",
        "etag",
        "location",
        "content_type",
        "body",
    ] {
        let text: Option<String> = rows[0].try_get(column).unwrap();
        let text = text.unwrap_or_default();
        assert!(!text.contains(value), "{column} holds the secret");
        assert!(!text.contains(&admin), "{column} holds the token");
    }
}
