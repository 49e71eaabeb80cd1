//! Reach beyond the URL: a token limited to some environments reaches exactly those, by no
//! side door. Parents, `from` environments, inherited values, audit events and the answers
//! to writes are all checked, not only the `{env}` of the path (issue 12, defects 1 and 6).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};

crate::on_both_backends!(
    a_limited_token_cannot_create_a_child_of_an_environment_it_cannot_reach,
    a_limited_token_cannot_reparent_onto_an_environment_it_cannot_reach,
    values_inherited_from_an_unreachable_parent_are_not_shown,
    an_sdk_token_is_not_served_config_inherited_from_an_unreachable_parent,
    diff_and_promote_need_reach_on_both_environments_and_their_parents,
    audit_events_of_unreachable_environments_are_not_shown,
    a_write_only_token_learns_no_values_from_a_rollback_or_a_promote_dry_run,
    a_flags_write_only_token_is_not_shown_the_state_it_rolled_back_to,
    a_reparented_environment_serves_its_new_inherited_config_at_once,
);

/// `shop` with `production` (holding a production-only value) and `staging`, and a token
/// with `scopes` limited to `staging`.
async fn shop_with_a_staging_token(app: &TestApp, scopes: &[&str]) -> String {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app.create_environment("shop", "staging", None).await;
    put_config(app, "production", "db_password", json!("prod-only-value")).await;
    let (token, _) = app
        .issue_token(json!({
            "name": "staging-only",
            "scopes": scopes,
            "projects": ["shop"],
            "environments": ["staging", "dev"],
        }))
        .await;
    token
}

async fn put_config(app: &TestApp, env: &str, key: &str, value: Value) -> Value {
    let path = format!("/v1/projects/shop/environments/{env}/config/{key}");
    app.call(Method::PUT, &path, Some(json!({ "value": value })))
        .await
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.request_as(Some(token), method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn a_limited_token_cannot_create_a_child_of_an_environment_it_cannot_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["admin"]).await;

    let response = send(
        &app,
        &token,
        Method::POST,
        "/v1/projects/shop/environments",
        Some(json!({ "name": "dev", "parent": "production" })),
    )
    .await;

    assert_problem(response, StatusCode::FORBIDDEN).await;
    let missing = app.get("/v1/projects/shop/environments/dev").await;
    assert_eq!(
        missing.status(),
        StatusCode::NOT_FOUND,
        "nothing was created"
    );
}

async fn a_limited_token_cannot_reparent_onto_an_environment_it_cannot_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["admin"]).await;

    let response = send(
        &app,
        &token,
        Method::PATCH,
        "/v1/projects/shop/environments/staging",
        Some(json!({ "parent": "production" })),
    )
    .await;

    assert_problem(response, StatusCode::FORBIDDEN).await;
    let staging: Value = app
        .get("/v1/projects/shop/environments/staging")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(staging["parent"], Value::Null, "the parent is unchanged");
}

async fn values_inherited_from_an_unreachable_parent_are_not_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["config:read", "secrets:read"]).await;
    // An operator who reaches everything makes staging inherit from production.
    app.call(
        Method::PATCH,
        "/v1/projects/shop/environments/staging",
        Some(json!({ "parent": "production" })),
    )
    .await;

    for path in [
        "/v1/projects/shop/environments/staging/config",
        "/v1/projects/shop/environments/staging/config?format=dotenv",
        "/v1/projects/shop/environments/staging/config/db_password",
        "/v1/projects/shop/environments/staging/secrets/export?include_config=true",
    ] {
        let response = send(&app, &token, Method::GET, path, None).await;
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert!(
            !problem.to_string().contains("prod-only-value"),
            "{path}: {problem}"
        );
    }
}

async fn an_sdk_token_is_not_served_config_inherited_from_an_unreachable_parent(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["flags:read"]).await;
    let snapshot = "/v1/sdk/snapshot?project=shop&environment=staging";
    let response = send(&app, &token, Method::GET, snapshot, None).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "its own environment is served"
    );

    app.call(
        Method::PATCH,
        "/v1/projects/shop/environments/staging",
        Some(json!({ "parent": "production" })),
    )
    .await;

    for path in [snapshot, "/v1/sdk/stream?project=shop&environment=staging"] {
        let response = send(&app, &token, Method::GET, path, None).await;
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert!(!problem.to_string().contains("prod-only-value"), "{path}");
    }
}

async fn diff_and_promote_need_reach_on_both_environments_and_their_parents(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["config:read", "config:write"]).await;
    app.create_environment("shop", "dev", Some("production"))
        .await;

    let cases = [
        (Method::GET, "staging/diff?from=production", None),
        (Method::GET, "staging/diff?from=dev", None),
        (Method::GET, "dev/diff?from=staging", None),
        (
            Method::POST,
            "staging/promote",
            Some(json!({ "from": "dev", "dry_run": true })),
        ),
        (
            Method::POST,
            "dev/promote",
            Some(json!({ "from": "staging", "dry_run": true })),
        ),
    ];
    for (method, tail, body) in cases {
        let path = format!("/v1/projects/shop/environments/{tail}");
        let response = send(&app, &token, method, &path, body).await;
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert!(!problem.to_string().contains("prod-only-value"), "{path}");
    }
}

async fn audit_events_of_unreachable_environments_are_not_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["admin"]).await;
    put_config(&app, "staging", "feature_limit", json!(3)).await;

    let response = send(&app, &token, Method::GET, "/v1/audit?project=shop", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let events = page["items"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["environment"] == "staging"),
        "its own environment's events are shown: {page}"
    );
    for event in events {
        assert!(
            // The token reaches staging and dev (its own issuance is recorded for both).
            event["environment"].is_null()
                || event["environment"] == "staging"
                || event["environment"] == "dev",
            "{event}"
        );
    }
    assert!(!page.to_string().contains("prod-only-value"));
}

async fn a_write_only_token_learns_no_values_from_a_rollback_or_a_promote_dry_run(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["config:write"]).await;
    put_config(&app, "staging", "api_key", json!("old-hidden-value")).await;
    put_config(&app, "staging", "api_key", json!("new-hidden-value")).await;
    app.create_environment("shop", "dev", None).await;
    put_config(&app, "dev", "api_key", json!("dev-hidden-value")).await;

    let rollback = send(
        &app,
        &token,
        Method::POST,
        "/v1/projects/shop/environments/staging/config/api_key/rollback",
        Some(json!({ "version": 1 })),
    )
    .await;
    assert!(rollback.status().is_success(), "{}", rollback.status());
    let text = rollback.text().await.unwrap();
    assert!(!text.contains("hidden-value"), "rollback answer: {text}");

    let dry_run = send(
        &app,
        &token,
        Method::POST,
        "/v1/projects/shop/environments/staging/promote",
        Some(json!({ "from": "dev", "dry_run": true })),
    )
    .await;
    assert_eq!(dry_run.status(), StatusCode::OK);
    let plan: Value = dry_run.json().await.unwrap();
    assert_eq!(plan["changes"][0]["key"], "api_key", "the keys are shown");
    assert!(!plan.to_string().contains("hidden-value"), "{plan}");

    // The rollback itself happened: an admin reads the old value back.
    let entry = app
        .call(
            Method::GET,
            "/v1/projects/shop/environments/staging/config/api_key",
            None,
        )
        .await;
    assert_eq!(entry["value"], "old-hidden-value");
}

async fn a_flags_write_only_token_is_not_shown_the_state_it_rolled_back_to(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = shop_with_a_staging_token(&app, &["flags:write"]).await;
    app.create_boolean_flag("shop", "checkout").await;
    let state = "/v1/projects/shop/environments/staging/flags/checkout";
    let targeted = json!({
        "enabled": true,
        "rules": [{ "conditions": [{ "attribute": "email", "op": "in",
                    "values": ["ceo@example.com"] }], "serve": { "variant": "on" } }],
        "default_serve": { "variant": "off" },
        "off_variant": "off"
    });
    app.call(Method::PUT, state, Some(targeted)).await;
    let cleared = json!({ "enabled": false, "rules": [], "default_serve": { "variant": "off" },
                          "off_variant": "off" });
    app.call(Method::PUT, state, Some(cleared)).await;

    let rollback = send(
        &app,
        &token,
        Method::POST,
        &format!("{state}/rollback"),
        Some(json!({ "version": 1 })),
    )
    .await;

    assert_eq!(rollback.status(), StatusCode::NO_CONTENT);
    assert!(rollback.headers().contains_key("etag"), "the new version");
    let text = rollback.text().await.unwrap();
    assert!(!text.contains("ceo@example.com"), "{text}");
    let now = app.call(Method::GET, state, None).await;
    assert_eq!(now["enabled"], true, "the rollback happened");
}

async fn a_reparented_environment_serves_its_new_inherited_config_at_once(backend: Backend) {
    // A poll interval far longer than the test: only the write's own follow-up can refresh.
    let app = crate::helpers::spawn_app_with(backend, |settings| {
        settings.sync_interval_ms = 3_600_000;
    })
    .await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app.create_environment("shop", "staging", None).await;
    put_config(&app, "production", "timeout_ms", json!(250)).await;
    let snapshot = "/v1/sdk/snapshot?project=shop&environment=staging";
    let before: Value = app.get(snapshot).await.json().await.unwrap();
    assert!(before["config"].get("timeout_ms").is_none());

    app.call(
        Method::PATCH,
        "/v1/projects/shop/environments/staging",
        Some(json!({ "parent": "production" })),
    )
    .await;

    let after: Value = app.get(snapshot).await.json().await.unwrap();
    assert_eq!(after["config"]["timeout_ms"], 250);
}
