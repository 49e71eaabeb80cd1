//! Token lifetimes nest: a token never outlives or outreaches the token that issued it, and
//! revoking a token revokes what it issued, transitively, with an audit event for each. Tokens
//! made on the host (the first admin token, `bootstrap-token`) have no issuer.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

crate::on_both_backends!(
    a_token_never_outlives_the_token_that_issued_it,
    revoking_a_token_revokes_the_tokens_it_issued_transitively,
    a_token_cannot_grant_environments_its_issuer_does_not_reach,
    tokens_made_on_the_host_have_no_issuer_and_survive_other_revocations,
);

/// Issues a token as `issuer`; the answer's body.
async fn issue_as(app: &TestApp, issuer: &str, body: Value) -> Value {
    let (status, issued) = send_as(app, issuer, Method::POST, "/v1/tokens", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    issued
}

/// Sends a request as `token`; its status and JSON body (`null` when it has none).
async fn send_as(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.request_as(Some(token), method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn call_as(app: &TestApp, token: &str, method: Method, path: &str) -> (StatusCode, Value) {
    send_as(app, token, method, path, None).await
}

async fn status_of(app: &TestApp, token: &str) -> StatusCode {
    call_as(app, token, Method::GET, "/v1/tokens/current")
        .await
        .0
}

fn token_of(issued: &Value) -> String {
    issued["token"].as_str().unwrap().to_owned()
}

async fn a_token_never_outlives_the_token_that_issued_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let parent = issue_as(
        &app,
        &app.admin_token,
        json!({ "name": "one hour", "scopes": ["admin"], "ttl_seconds": 3600 }),
    )
    .await;
    let parent_token = token_of(&parent);

    let ten_years = issue_as(
        &app,
        &parent_token,
        json!({ "name": "ten years", "scopes": ["flags:read"], "ttl_seconds": 315_360_000 }),
    )
    .await;
    assert_eq!(
        ten_years["expires_at"], parent["expires_at"],
        "clamped to the issuer's expiry"
    );
    let default_lifetime = issue_as(
        &app,
        &parent_token,
        json!({ "name": "default", "scopes": ["flags:read"] }),
    )
    .await;
    assert_eq!(default_lifetime["expires_at"], parent["expires_at"]);
    let shorter = issue_as(
        &app,
        &parent_token,
        json!({ "name": "a minute", "scopes": ["flags:read"], "ttl_seconds": 60 }),
    )
    .await;
    assert!(
        shorter["expires_at"].as_str() < parent["expires_at"].as_str(),
        "a shorter lifetime is kept as asked"
    );
    // The record is what the server enforces, not just what the answer said.
    let path = format!("/v1/tokens/{}", ten_years["id"].as_str().unwrap());
    let (_, stored) = call_as(&app, &app.admin_token, Method::GET, &path).await;
    assert_eq!(stored["expires_at"], parent["expires_at"]);
    assert_eq!(stored["created_by"], parent["id"]);
}

async fn revoking_a_token_revokes_the_tokens_it_issued_transitively(backend: Backend) {
    let app = spawn_app(backend).await;
    let team = issue_as(
        &app,
        &app.admin_token,
        json!({ "name": "team admin", "scopes": ["admin"] }),
    )
    .await;
    let ci = issue_as(
        &app,
        &token_of(&team),
        json!({ "name": "ci", "scopes": ["admin"] }),
    )
    .await;
    let job = issue_as(
        &app,
        &token_of(&ci),
        json!({ "name": "deploy job", "scopes": ["secrets:read"] }),
    )
    .await;
    let unrelated = issue_as(
        &app,
        &app.admin_token,
        json!({ "name": "other team", "scopes": ["flags:read"] }),
    )
    .await;
    for issued in [&team, &ci, &job, &unrelated] {
        assert_eq!(status_of(&app, &token_of(issued)).await, StatusCode::OK);
    }

    let path = format!("/v1/tokens/{}", team["id"].as_str().unwrap());
    let (status, revoked) = call_as(&app, &app.admin_token, Method::DELETE, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(revoked["id"], team["id"]);
    assert_eq!(revoked["revoked_with"], json!([ci["id"], job["id"]]));

    for issued in [&team, &ci, &job] {
        let (status, problem) =
            call_as(&app, &token_of(issued), Method::GET, "/v1/tokens/current").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(problem["detail"].as_str().unwrap().contains("revoked"));
    }
    assert_eq!(
        status_of(&app, &token_of(&unrelated)).await,
        StatusCode::OK,
        "a token issued by someone else is untouched"
    );
    let (_, listed) = call_as(&app, &app.admin_token, Method::GET, "/v1/tokens").await;
    for item in listed["items"].as_array().unwrap() {
        let expected_revoked = [&team, &ci, &job].iter().any(|t| t["id"] == item["id"]);
        assert_eq!(item["revoked_at"].is_string(), expected_revoked, "{item}");
    }

    let events = app.audit("action=token.revoke").await;
    let targets: Vec<&str> = events
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{targets:?}");
    for issued in [&team, &ci, &job] {
        let target = format!("token/{}", issued["id"].as_str().unwrap());
        assert!(targets.contains(&target.as_str()), "{target} not audited");
    }
    let job_event = events
        .iter()
        .find(|e| e["target"] == format!("token/{}", job["id"].as_str().unwrap()))
        .unwrap();
    assert_eq!(
        job_event["after"]["revoked_with"],
        format!("token/{}", ci["id"].as_str().unwrap()),
        "the event says which revocation took it along"
    );

    // Revoking again changes nothing and audits nothing more.
    let path = format!("/v1/tokens/{}", team["id"].as_str().unwrap());
    let (_, again) = call_as(&app, &app.admin_token, Method::DELETE, &path).await;
    assert_eq!(again["revoked_at"], revoked["revoked_at"]);
    assert_eq!(again["revoked_with"], json!([]));
    assert_eq!(app.audit("action=token.revoke").await.len(), 3);
}

async fn a_token_cannot_grant_environments_its_issuer_does_not_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    let staging_admin = token_of(
        &issue_as(
            &app,
            &app.admin_token,
            json!({ "name": "staging admin", "scopes": ["admin"], "projects": ["shop"], "environments": ["staging"] }),
        )
        .await,
    );
    for body in [
        json!({ "name": "all envs", "scopes": ["flags:read"], "projects": ["shop"] }),
        json!({ "name": "prod", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] }),
        json!({ "name": "both", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["staging", "production"] }),
    ] {
        let (status, _) =
            send_as(&app, &staging_admin, Method::POST, "/v1/tokens", Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    issue_as(
        &app,
        &staging_admin,
        json!({ "name": "staging sdk", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["staging"] }),
    )
    .await;
}

async fn tokens_made_on_the_host_have_no_issuer_and_survive_other_revocations(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut command = crate::cli::switchboard(app.data_dir.path());
    if let Some(url) = &app.settings.database_url {
        command.env("DATABASE_URL", url);
    }
    let output = command.args(["bootstrap-token"]).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bootstrap = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    for token in [&app.admin_token, &bootstrap] {
        let (_, me) = call_as(&app, token, Method::GET, "/v1/tokens/current").await;
        assert!(me["created_by"].is_null(), "{me}");
    }
    // Revoking the first admin token takes what it issued, not what the host made.
    let issued = issue_as(
        &app,
        &app.admin_token,
        json!({ "name": "child", "scopes": ["flags:read"] }),
    )
    .await;
    let (_, initial) = call_as(&app, &app.admin_token, Method::GET, "/v1/tokens/current").await;
    let path = format!("/v1/tokens/{}", initial["id"].as_str().unwrap());
    let (_, revoked) = call_as(&app, &bootstrap, Method::DELETE, &path).await;
    assert_eq!(revoked["revoked_with"], json!([issued["id"]]));
    assert_eq!(status_of(&app, &bootstrap).await, StatusCode::OK);
    assert_eq!(
        status_of(&app, &token_of(&issued)).await,
        StatusCode::UNAUTHORIZED
    );
}
