//! An open `/v1/sdk/stream` lives no longer than its token: revoked or expired, the stream ends
//! with an `unauthorized` event within a heartbeat interval and gives its slot back.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_server::auth::{TokenRequest, TokenService};
use switchboard_server::domain::{Access, Scope};
use switchboard_server::store::audit::Actor;

use crate::helpers::{Backend, TestApp, signing_keys_of, spawn_app_with};

crate::on_both_backends!(
    an_open_stream_ends_when_its_token_is_revoked_and_frees_its_slot,
    an_open_stream_ends_when_its_token_expires_and_frees_its_slot,
    a_stream_on_another_instance_ends_when_its_token_is_revoked,
);

const HEARTBEAT: Duration = Duration::from_secs(1);
/// What a loaded test machine may add to the bound.
const MARGIN: Duration = Duration::from_secs(2);

/// One slot and a one-second heartbeat: a stream that does not end keeps the next one out.
async fn app_with_one_slot(backend: Backend) -> TestApp {
    let app = spawn_app_with(backend, |s| {
        s.stream_heartbeat_secs = HEARTBEAT.as_secs();
        s.max_streams = 1;
    })
    .await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app
}

fn sdk_token_body(name: &str) -> Value {
    json!({ "name": name, "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] })
}

/// Everything the stream sends until it ends, or panics if it is still open after `limit`.
async fn rest_of_stream(response: reqwest::Response, limit: Duration) -> String {
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(chunk)) => text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            Ok(None) => return text,
            Err(_) => panic!("the stream is still open after {limit:?}; it sent {text:?}"),
        }
    }
}

async fn open_stream(app: &TestApp, token: &str) -> reqwest::Response {
    app.request_as(
        Some(token),
        Method::GET,
        "/v1/sdk/stream?project=shop&environment=production",
    )
    .send()
    .await
    .unwrap()
}

/// The stream's last event says why it ended.
fn assert_ended_unauthorized(sent: &str, reason: &str) {
    let last = format!("event: unauthorized\ndata: {{\"reason\":\"{reason}\"}}\n\n");
    assert!(sent.ends_with(&last), "{sent:?}");
}

async fn assert_slot_is_free(app: &TestApp) {
    let (next, _) = app.issue_token(sdk_token_body("next")).await;
    let response = open_stream(app, &next).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the ended stream gave its slot back"
    );
}

async fn an_open_stream_ends_when_its_token_is_revoked_and_frees_its_slot(backend: Backend) {
    let app = app_with_one_slot(backend).await;
    let (token, id) = app.issue_token(sdk_token_body("sdk")).await;
    let stream = open_stream(&app, &token).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let (other, _) = app.issue_token(sdk_token_body("waiting")).await;
    assert_eq!(
        open_stream(&app, &other).await.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the only slot is taken"
    );

    assert_eq!(
        app.delete(&format!("/v1/tokens/{id}")).await.status(),
        StatusCode::OK
    );
    let sent = rest_of_stream(stream, HEARTBEAT + MARGIN).await;
    assert_ended_unauthorized(&sent, "revoked");
    assert_slot_is_free(&app).await;
}

async fn an_open_stream_ends_when_its_token_expires_and_frees_its_slot(backend: Backend) {
    let app = app_with_one_slot(backend).await;
    // The API's shortest lifetime is a minute; the service issues a two-second one directly.
    let keys = signing_keys_of(&app).await;
    let service = TokenService::new(app.store.clone(), keys, Duration::from_secs(300));
    let (_, token) = service
        .issue(
            &Actor::host("test"),
            TokenRequest {
                name: "short".into(),
                scopes: vec![Scope::FlagsRead],
                projects: Access::All,
                environments: Access::All,
                ttl_secs: 2,
                not_after: None,
            },
        )
        .await
        .unwrap();
    let stream = open_stream(&app, &token).await;
    assert_eq!(stream.status(), StatusCode::OK);

    let sent = rest_of_stream(stream, Duration::from_secs(2) + HEARTBEAT + MARGIN).await;
    assert!(
        sent.starts_with("id: "),
        "it was a working stream: {sent:?}"
    );
    assert_ended_unauthorized(&sent, "expired");
    assert_slot_is_free(&app).await;
}

async fn a_stream_on_another_instance_ends_when_its_token_is_revoked(backend: Backend) {
    let first = app_with_one_slot(backend).await;
    let mut second = spawn_app_with(Backend::Sqlite, |s| {
        s.database_url = first.settings.database_url.clone();
        s.master_key_file = Some(first.data_dir.path().join("master.key"));
        s.stream_heartbeat_secs = HEARTBEAT.as_secs();
    })
    .await;
    second.admin_token = first.admin_token.clone();
    let (token, id) = first.issue_token(sdk_token_body("sdk")).await;
    let stream = open_stream(&second, &token).await;
    assert_eq!(stream.status(), StatusCode::OK);

    assert_eq!(
        first.delete(&format!("/v1/tokens/{id}")).await.status(),
        StatusCode::OK
    );
    // Other instances learn of a revocation within a second; then the stream ends.
    let sent = rest_of_stream(stream, Duration::from_secs(1) + HEARTBEAT + MARGIN).await;
    assert_ended_unauthorized(&sent, "revoked");
}
