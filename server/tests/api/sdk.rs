//! `GET /v1/sdk/snapshot` and `POST /v1/evaluate`: answered from memory, validated by ETag,
//! precompressed, scoped to one environment, and converging on changes made elsewhere.

mod convergence;
mod equivalence;
mod evaluate;
mod stream_limit;

use std::io::Read;

use reqwest::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH, VARY,
};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;
use switchboard_core::{FlagDefinition, FlagState, Serve, Snapshot};
use switchboard_server::store::WriteIntent;
use switchboard_server::store::audit::Actor;
use switchboard_server::store::flag_states;
use switchboard_server::store::flags;

use self::evaluate::evaluate;
use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_snapshot_has_an_etag_and_a_matching_if_none_match_gets_304,
    a_change_gives_a_new_etag_and_body,
    a_gzip_request_gets_the_precompressed_body_once,
    an_sdk_token_for_one_environment_needs_no_parameters,
    a_token_reaching_several_environments_must_name_one,
    another_environment_or_a_token_without_flags_read_is_forbidden,
    an_unknown_environment_is_not_found,
    the_kill_switch_turns_every_flag_off_in_the_snapshot,
);

pub fn actor() -> Actor {
    Actor::host("sdk-tests")
}

/// `shop` with `staging` and `production`, and a boolean flag `checkout` on in production.
pub async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", None).await;
    flags::create(
        &app.store,
        &actor(),
        "shop",
        FlagDefinition::boolean("checkout"),
    )
    .await
    .unwrap()
    .without_follow_up();
    set_state("shop", "production", "checkout", on(), &app).await;
    app
}

pub fn on() -> FlagState {
    FlagState::new(true, Serve::variant("on"), "off")
}

/// Stores a flag state directly, as another instance would (no cache reload).
pub async fn set_state(project: &str, env: &str, key: &str, state: FlagState, app: &TestApp) {
    let intent = WriteIntent {
        expected: None,
        action: "flag.state.update",
        comment: "",
    };
    flag_states::change(&app.store, &actor(), project, env, key, intent, |_, _| {
        Ok(state.clone())
    })
    .await
    .unwrap()
    .without_follow_up();
}

/// A token with `scopes` for `projects`/`environments`.
pub async fn token(app: &TestApp, scopes: &[&str], projects: &[&str], envs: &[&str]) -> String {
    let body = json!({"name": "sdk", "scopes": scopes, "projects": projects, "environments": envs});
    app.issue_token(body).await.0
}

pub async fn get_snapshot(
    app: &TestApp,
    token: &str,
    query: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = app.request_as(
        Some(token),
        Method::GET,
        &format!("/v1/sdk/snapshot{query}"),
    );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

pub const PRODUCTION: &str = "?project=shop&environment=production";

fn etag(response: &Response) -> String {
    response.headers()[ETAG].to_str().unwrap().to_owned()
}

async fn a_snapshot_has_an_etag_and_a_matching_if_none_match_gets_304(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();

    let response = get_snapshot(&app, &admin, PRODUCTION, &[]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(response.headers()[VARY], "Accept-Encoding");
    assert!(response.headers().get(CONTENT_ENCODING).is_none());
    let tag = etag(&response);
    let snapshot: Snapshot = response.json().await.unwrap();
    assert_eq!(
        (snapshot.project.as_str(), snapshot.environment.as_str()),
        ("shop", "production")
    );
    assert!(
        tag.starts_with(&format!("\"{}-", snapshot.revision)),
        "{tag}"
    );
    assert!(snapshot.flags[0].state.enabled);

    for if_none_match in [
        tag.clone(),
        format!("W/{tag}"),
        format!("\"other\", {tag}"),
        "*".into(),
    ] {
        let response = get_snapshot(
            &app,
            &admin,
            PRODUCTION,
            &[("if-none-match", &if_none_match)],
        )
        .await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "{if_none_match}"
        );
        assert_eq!(etag(&response), tag);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let stale = get_snapshot(&app, &admin, PRODUCTION, &[("if-none-match", "\"1-0000\"")]).await;
    assert_eq!(stale.status(), StatusCode::OK);
}

async fn a_change_gives_a_new_etag_and_body(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    let before = get_snapshot(&app, &admin, PRODUCTION, &[]).await;
    let old_tag = etag(&before);

    set_state(
        "shop",
        "production",
        "checkout",
        FlagState::new(false, Serve::variant("on"), "off"),
        &app,
    )
    .await;
    app.snapshots.reload_project("shop").await;

    let response = get_snapshot(
        &app,
        &admin,
        PRODUCTION,
        &[(IF_NONE_MATCH.as_str(), &old_tag)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(etag(&response), old_tag);
    let snapshot: Snapshot = response.json().await.unwrap();
    assert!(!snapshot.flags[0].state.enabled);
}

async fn a_gzip_request_gets_the_precompressed_body_once(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    let plain = get_snapshot(&app, &admin, PRODUCTION, &[]).await;
    let plain_tag = etag(&plain);
    let plain = plain.bytes().await.unwrap();

    for accept in ["gzip", "br;q=1.0, gzip;q=0.8, deflate"] {
        let response = get_snapshot(
            &app,
            &admin,
            PRODUCTION,
            &[(ACCEPT_ENCODING.as_str(), accept)],
        )
        .await;

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip", "{accept}");
        assert_eq!(etag(&response), plain_tag);
        let compressed = response.bytes().await.unwrap();
        // One gunzip gives the JSON: the Compress middleware did not encode it a second time.
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut json)
            .unwrap();
        assert_eq!(json, plain);
    }
    let refused = get_snapshot(
        &app,
        &admin,
        PRODUCTION,
        &[(ACCEPT_ENCODING.as_str(), "gzip;q=0")],
    )
    .await;
    assert!(refused.headers().get(CONTENT_ENCODING).is_none());
}

async fn an_sdk_token_for_one_environment_needs_no_parameters(backend: Backend) {
    let app = shop(backend).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["production"]).await;

    let response = get_snapshot(&app, &sdk, "", &[]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let snapshot: Snapshot = response.json().await.unwrap();
    assert_eq!(snapshot.environment, "production");
}

async fn a_token_reaching_several_environments_must_name_one(backend: Backend) {
    let app = shop(backend).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["staging", "production"]).await;

    let problem = assert_problem(
        get_snapshot(&app, &sdk, "", &[]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "query.environment");
    let admin = app.admin_token.clone();
    let problem = assert_problem(
        get_snapshot(&app, &admin, "", &[]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["query.project", "query.environment"]);

    let named = get_snapshot(&app, &sdk, "?environment=staging", &[]).await;
    assert_eq!(named.status(), StatusCode::OK);
    assert_eq!(
        named.json::<Snapshot>().await.unwrap().environment,
        "staging"
    );
}

async fn another_environment_or_a_token_without_flags_read_is_forbidden(backend: Backend) {
    let app = shop(backend).await;
    app.create_project("other").await;
    app.create_environment("other", "production", None).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["staging"]).await;
    let problem = assert_problem(
        get_snapshot(&app, &sdk, PRODUCTION, &[]).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("production"));
    let other = token(&app, &["flags:read"], &["other"], &["production"]).await;
    assert_problem(
        get_snapshot(&app, &other, PRODUCTION, &[]).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    let ci = token(&app, &["secrets:read"], &["shop"], &["production"]).await;
    assert_problem(
        get_snapshot(&app, &ci, "", &[]).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let evaluate = app
        .request_as(Some(&ci), Method::POST, "/v1/evaluate")
        .json(&json!({"context": {}}))
        .send()
        .await
        .unwrap();
    assert_problem(evaluate, StatusCode::FORBIDDEN).await;
}

async fn an_unknown_environment_is_not_found(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    for query in [
        "?project=shop&environment=qa",
        "?project=ghost&environment=production",
    ] {
        assert_problem(
            get_snapshot(&app, &admin, query, &[]).await,
            StatusCode::NOT_FOUND,
        )
        .await;
    }
}

async fn the_kill_switch_turns_every_flag_off_in_the_snapshot(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();

    flag_states::set_kill(&app.store, &actor(), "shop", "production", true, "incident")
        .await
        .unwrap()
        .without_follow_up();
    app.snapshots.reload_environment("shop", "production").await;

    let snapshot: Snapshot = get_snapshot(&app, &admin, PRODUCTION, &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(snapshot.flags.iter().all(|f| !f.state.enabled));
    let results = evaluate(
        &app,
        &admin,
        PRODUCTION,
        json!({"context": {"targeting_key": "u1"}}),
    )
    .await;
    assert_eq!(results["results"][0]["reason"], "DISABLED");
    assert_eq!(results["results"][0]["value"], false);
}
