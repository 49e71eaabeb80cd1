//! `POST /v1/evaluate`: every flag or the listed ones, for one bounded context.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{shop, token};
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    evaluate_answers_every_flag_or_the_listed_ones,
    evaluate_refuses_oversized_or_unknown_input,
);

/// `POST /v1/evaluate` as `token`, expecting 200.
pub async fn evaluate(app: &TestApp, token: &str, query: &str, body: Value) -> Value {
    let response = app
        .request_as(Some(token), Method::POST, &format!("/v1/evaluate{query}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn evaluate_answers_every_flag_or_the_listed_ones(backend: Backend) {
    let app = shop(backend).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["production"]).await;
    let context = json!({"targeting_key": "u1", "attributes": {"plan": "pro"}});

    let all = evaluate(&app, &sdk, "", json!({ "context": context })).await;

    assert_eq!(
        (&all["project"], &all["environment"]),
        (&json!("shop"), &json!("production"))
    );
    assert!(all["revision"].as_u64().unwrap() > 0);
    assert_eq!(
        all["results"],
        json!([{"key": "checkout", "value": true, "variant": "on", "reason": "STATIC"}])
    );

    let listed = evaluate(
        &app,
        &sdk,
        "",
        json!({"context": context, "flags": ["nope", "checkout"]}),
    )
    .await;
    assert_eq!(listed["results"][0]["error_code"], "FLAG_NOT_FOUND");
    assert_eq!(listed["results"][0]["reason"], "ERROR");
    assert_eq!(listed["results"][1]["key"], "checkout");
}

async fn evaluate_refuses_oversized_or_unknown_input(backend: Backend) {
    let app = shop(backend).await;
    let post = |body: Value| {
        app.request(
            Method::POST,
            "/v1/evaluate?project=shop&environment=production",
        )
        .json(&body)
        .send()
    };
    let attributes: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("a{i}"), json!(i))).collect();

    let problem = assert_problem(
        post(json!({"context": {"attributes": attributes}}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.context.attributes");
    let problem = assert_problem(
        post(json!({"context": {}, "flag": ["x"]})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("flag"));
    assert_problem(
        post(json!({"context": {"targeting_key": 7}}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
}
