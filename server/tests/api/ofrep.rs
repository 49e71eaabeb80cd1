//! OFREP (`/ofrep/v1/evaluate/flags[/{key}]`): OpenFeature's remote evaluation protocol, answered
//! from the same snapshot and evaluator as `/v1/evaluate`; client-side keys that see only
//! client-visible flags; the per-token rate limit; CORS for the evaluation routes.

use reqwest::header::{ETAG, IF_NONE_MATCH, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};
use crate::on_both_backends;
use crate::sdk::token;

on_both_backends!(
    one_flag_is_answered_in_ofrep_shape_as_v1_evaluate_answers_it,
    the_token_may_come_as_bearer_or_x_api_key_and_none_is_401,
    an_unknown_flag_is_404_flag_not_found,
    a_split_without_a_targeting_key_is_targeting_key_missing,
    bad_input_gets_the_protocol_error_shape_never_a_5xx,
    bulk_answers_every_flag_with_an_etag_and_revalidates_with_304,
    a_client_side_key_evaluates_client_visible_flags_only_and_reads_nothing,
);

const FLAGS: &str = "/v1/projects/shop/flags";
const STATES: &str = "/v1/projects/shop/environments/production/flags";
const SINGLE: &str = "/ofrep/v1/evaluate/flags";

/// `shop/production` with four flags: `banner` (boolean, pro plan → on, else off; client-
/// visible), `theme` (string, a 50/50 split), `limit` (number, static) and `layout` (object,
/// disabled).
async fn shop(backend: Backend) -> TestApp {
    shop_with(backend, |_| {}).await
}

async fn shop_with(
    backend: Backend,
    configure: impl FnOnce(&mut switchboard_server::settings::Settings),
) -> TestApp {
    let app = spawn_app_with(backend, configure).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    let flags = [
        (
            json!({"key": "banner", "type": "boolean", "client_visible": true}),
            json!({"enabled": true, "off_variant": "off", "default_serve": {"variant": "off"},
                   "rules": [{"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}],
                              "serve": {"variant": "on"}},
                             {"conditions": [{"attribute": "age", "op": "gte", "values": [18]}],
                              "serve": {"variant": "on"}}]}),
        ),
        (
            json!({"key": "theme", "type": "string", "variants": [
                {"key": "light", "value": "#fff"}, {"key": "dark", "value": "#000"}]}),
            json!({"enabled": true, "off_variant": "light", "default_serve": {"split": [
                {"variant": "light", "weight": 5000}, {"variant": "dark", "weight": 5000}]}}),
        ),
        (
            json!({"key": "limit", "type": "number", "variants": [{"key": "ten", "value": 10}]}),
            json!({"enabled": true, "off_variant": "ten", "default_serve": {"variant": "ten"}}),
        ),
        (
            json!({"key": "layout", "type": "json", "variants": [
                {"key": "grid", "value": {"columns": 3}}, {"key": "list", "value": {"columns": 1}}]}),
            json!({"enabled": false, "off_variant": "list", "default_serve": {"variant": "grid"}}),
        ),
    ];
    for (definition, state) in flags {
        let key = definition["key"].as_str().unwrap().to_owned();
        app.call(Method::POST, FLAGS, Some(definition)).await;
        app.call(Method::PUT, &format!("{STATES}/{key}"), Some(state))
            .await;
    }
    app
}

async fn sdk_key(app: &TestApp) -> String {
    token(app, &["flags:read"], &["shop"], &["production"]).await
}

async fn client_key(app: &TestApp) -> String {
    token(app, &["flags:evaluate"], &["shop"], &["production"]).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Response {
    app.request_as(Some(token), Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn post_raw(app: &TestApp, token: &str, path: &str, body: impl Into<String>) -> Response {
    app.request_as(Some(token), Method::POST, path)
        .header("content-type", "application/json")
        .body(body.into())
        .send()
        .await
        .unwrap()
}

async fn json_of(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

/// `/v1/evaluate`'s result for `key` and a native context.
async fn evaluated(app: &TestApp, token: &str, key: &str, context: Value) -> Value {
    let body = json!({"context": context, "flags": [key]});
    let answer = json_of(post(app, token, "/v1/evaluate", body).await, StatusCode::OK).await;
    answer["results"][0].clone()
}

async fn one_flag_is_answered_in_ofrep_shape_as_v1_evaluate_answers_it(backend: Backend) {
    let app = shop(backend).await;
    let key = sdk_key(&app).await;
    let cases = [
        (
            "banner",
            json!({"targetingKey": "u1", "plan": "pro"}),
            "TARGETING_MATCH",
        ),
        (
            "banner",
            json!({"targetingKey": "u1", "plan": "free"}),
            "DEFAULT",
        ),
        ("theme", json!({"targetingKey": "u1"}), "SPLIT"),
        ("limit", json!({}), "STATIC"),
        ("layout", json!({"targetingKey": "u1"}), "DISABLED"),
    ];
    for (flag, context, reason) in cases {
        let answer = post(
            &app,
            &key,
            &format!("{SINGLE}/{flag}"),
            json!({ "context": context }),
        )
        .await;
        let answer = json_of(answer, StatusCode::OK).await;

        let mut native = json!({"attributes": context.clone()});
        if let Some(id) = context.get("targetingKey") {
            native["targeting_key"] = id.clone();
            native["attributes"]
                .as_object_mut()
                .unwrap()
                .remove("targetingKey");
        }
        let expected = evaluated(&app, &key, flag, native).await;
        assert_eq!(answer["reason"], reason, "{flag}");
        assert_eq!(
            answer,
            json!({"key": flag, "value": expected["value"], "variant": expected["variant"],
                   "reason": expected["reason"]})
        );
    }
}

async fn the_token_may_come_as_bearer_or_x_api_key_and_none_is_401(backend: Backend) {
    let app = shop(backend).await;
    let key = sdk_key(&app).await;
    let body = json!({"context": {"plan": "pro"}});
    let with_api_key = app
        .client
        .post(app.url(&format!("{SINGLE}/banner")))
        .header("x-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(with_api_key, StatusCode::OK).await["value"], true);

    let anonymous = app
        .client
        .post(app.url(&format!("{SINGLE}/banner")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED).await;
    // X-API-Key is for the evaluation routes only.
    let elsewhere = app
        .client
        .get(app.url("/v1/projects"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_problem(elsewhere, StatusCode::UNAUTHORIZED).await;
    let writer = token(&app, &["flags:write"], &["shop"], &["production"]).await;
    let refused = post(&app, &writer, &format!("{SINGLE}/banner"), body).await;
    assert_problem(refused, StatusCode::FORBIDDEN).await;
}

async fn an_unknown_flag_is_404_flag_not_found(backend: Backend) {
    let app = shop(backend).await;
    let key = sdk_key(&app).await;
    let answer = post(
        &app,
        &key,
        &format!("{SINGLE}/nope"),
        json!({"context": {}}),
    )
    .await;
    let answer = json_of(answer, StatusCode::NOT_FOUND).await;
    assert_eq!(answer["key"], "nope");
    assert_eq!(answer["errorCode"], "FLAG_NOT_FOUND");
    assert!(answer["errorDetails"].is_string());
}

async fn a_split_without_a_targeting_key_is_targeting_key_missing(backend: Backend) {
    let app = shop(backend).await;
    let key = sdk_key(&app).await;
    let answer = post(
        &app,
        &key,
        &format!("{SINGLE}/theme"),
        json!({"context": {}}),
    )
    .await;
    let answer = json_of(answer, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        (&answer["key"], &answer["errorCode"]),
        (&json!("theme"), &json!("TARGETING_KEY_MISSING"))
    );
    let expected = evaluated(&app, &key, "theme", json!({})).await;
    assert_eq!(expected["error_code"], "TARGETING_KEY_MISSING");
}

async fn bad_input_gets_the_protocol_error_shape_never_a_5xx(backend: Backend) {
    let app = shop(backend).await;
    let key = sdk_key(&app).await;
    let banner = format!("{SINGLE}/banner");
    let many: serde_json::Map<String, Value> =
        (0..101).map(|i| (format!("a{i}"), json!(i))).collect();
    let huge = format!(r#"{{"context": {{"note": "{}"}}}}"#, "x".repeat(40 * 1024));
    let cases = [
        (r#"{"context": {"plan": "#.to_owned(), "PARSE_ERROR"),
        ("".to_owned(), "PARSE_ERROR"),
        (r#"{"context": ["u1"]}"#.to_owned(), "INVALID_CONTEXT"),
        (
            r#"{"context": {"targetingKey": 42}}"#.to_owned(),
            "INVALID_CONTEXT",
        ),
        (r#"[1, 2]"#.to_owned(), "INVALID_CONTEXT"),
        (json!({ "context": many }).to_string(), "INVALID_CONTEXT"),
        (huge, "INVALID_CONTEXT"),
    ];
    for (body, code) in cases {
        let single = json_of(
            post_raw(&app, &key, &banner, body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(single["errorCode"], code, "{}", &body[..body.len().min(40)]);
        assert_eq!(single["key"], "banner");
        assert!(single["errorDetails"].is_string());
        let bulk = json_of(
            post_raw(&app, &key, SINGLE, body.clone()).await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(bulk["errorCode"], code);
        assert!(bulk.get("key").is_none());
    }
    // The submitted values are never echoed.
    let echoed = post_raw(
        &app,
        &key,
        &banner,
        r#"{"context": {"targetingKey": "s3cr3t-canary", "x": }"#,
    )
    .await;
    assert!(!echoed.text().await.unwrap().contains("s3cr3t-canary"));

    // An attribute of the wrong type for a rule simply does not match it.
    for age in [json!("old"), json!({"years": 40}), json!([40]), json!(true)] {
        let answer = post(
            &app,
            &key,
            &banner,
            json!({"context": {"targetingKey": "u1", "age": age}}),
        )
        .await;
        assert_eq!(json_of(answer, StatusCode::OK).await["reason"], "DEFAULT");
    }
}

async fn bulk_answers_every_flag_with_an_etag_and_revalidates_with_304(backend: Backend) {
    let app = shop(backend).await;
    let key = sdk_key(&app).await;
    let body = json!({"context": {"targetingKey": "u1", "plan": "pro"}});
    let first = post(&app, &key, SINGLE, body.clone()).await;
    let etag = first.headers()[ETAG].to_str().unwrap().to_owned();
    let answer = json_of(first, StatusCode::OK).await;
    let keys: Vec<&str> = answer["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["banner", "layout", "limit", "theme"]);
    assert_eq!(answer["flags"][0]["reason"], "TARGETING_MATCH");
    assert_eq!(answer["flags"][1]["value"], json!({"columns": 1}));
    assert!(answer["metadata"]["revision"].as_u64().is_some());

    let again = app
        .request_as(Some(&key), Method::POST, SINGLE)
        .header(IF_NONE_MATCH, &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[ETAG], etag.as_str());

    // Another context is another answer.
    let other = app
        .request_as(Some(&key), Method::POST, SINGLE)
        .header(IF_NONE_MATCH, &etag)
        .json(&json!({"context": {"targetingKey": "u1", "plan": "free"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(other, StatusCode::OK).await["flags"][0]["reason"],
        "DEFAULT"
    );

    // A change on the server is a new answer: the kill switch turns every flag off.
    app.call(
        Method::POST,
        "/v1/projects/shop/environments/production/kill",
        None,
    )
    .await;
    let killed = app
        .request_as(Some(&key), Method::POST, SINGLE)
        .header(IF_NONE_MATCH, &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_ne!(killed.headers()[ETAG], etag.as_str());
    let killed = json_of(killed, StatusCode::OK).await;
    assert!(
        killed["flags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["reason"] == "DISABLED"),
        "{killed}"
    );
}

async fn a_client_side_key_evaluates_client_visible_flags_only_and_reads_nothing(backend: Backend) {
    let app = shop(backend).await;
    let client = client_key(&app).await;
    let context = json!({"targetingKey": "u1", "plan": "pro"});

    let bulk = json_of(
        post(&app, &client, SINGLE, json!({"context": context})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        bulk["flags"],
        json!([{"key": "banner", "value": true, "variant": "on", "reason": "TARGETING_MATCH"}])
    );
    let visible = post(
        &app,
        &client,
        &format!("{SINGLE}/banner"),
        json!({"context": context}),
    )
    .await;
    assert_eq!(json_of(visible, StatusCode::OK).await["value"], true);
    // A hidden flag is answered exactly as a missing one.
    let hidden = post(
        &app,
        &client,
        &format!("{SINGLE}/theme"),
        json!({"context": context}),
    )
    .await;
    let hidden = json_of(hidden, StatusCode::NOT_FOUND).await;
    let missing = post(
        &app,
        &client,
        &format!("{SINGLE}/nope"),
        json!({"context": context}),
    )
    .await;
    let missing = json_of(missing, StatusCode::NOT_FOUND).await;
    assert_eq!(hidden["errorDetails"], missing["errorDetails"]);
    assert_eq!(hidden["errorCode"], "FLAG_NOT_FOUND");

    // `/v1/evaluate` too: every visible flag, and a listed hidden one is not found.
    let native = json!({"targeting_key": "u1", "attributes": {"plan": "pro"}});
    let all = post(&app, &client, "/v1/evaluate", json!({"context": native})).await;
    let all = json_of(all, StatusCode::OK).await;
    assert_eq!(all["results"].as_array().unwrap().len(), 1);
    assert_eq!(all["results"][0]["key"], "banner");
    let listed = post(
        &app,
        &client,
        "/v1/evaluate",
        json!({"context": native, "flags": ["theme", "banner"]}),
    )
    .await;
    let listed = json_of(listed, StatusCode::OK).await;
    assert_eq!(listed["results"][0]["error_code"], "FLAG_NOT_FOUND");
    assert_eq!(listed["results"][1]["value"], true);

    // Nothing else: not the snapshot (rules, segments, config), the stream, or definitions.
    for path in [
        "/v1/sdk/snapshot",
        "/v1/sdk/stream",
        "/v1/projects/shop/flags",
        "/v1/projects/shop/flags/banner",
        "/v1/projects/shop/segments",
        "/v1/projects/shop/environments/production/flags/banner",
        "/v1/projects/shop/environments/production/config",
    ] {
        let response = app
            .request_as(Some(&client), Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }

    // Marking a flag client-visible is a definition change the client sees at once.
    let definition = json!({"type": "string", "client_visible": true, "variants": [
        {"key": "light", "value": "#fff"}, {"key": "dark", "value": "#000"}]});
    app.call(Method::PUT, &format!("{FLAGS}/theme"), Some(definition))
        .await;
    let read = app.call(Method::GET, &format!("{FLAGS}/theme"), None).await;
    assert_eq!(read["client_visible"], true);
    let now = post(
        &app,
        &client,
        &format!("{SINGLE}/theme"),
        json!({"context": context}),
    )
    .await;
    assert_eq!(json_of(now, StatusCode::OK).await["reason"], "SPLIT");
}

#[tokio::test]
async fn past_its_rate_limit_a_token_gets_429_with_retry_after_and_others_do_not() {
    let app = shop_with(Backend::Sqlite, |s| {
        s.ofrep_rate_limit = 1;
        s.ofrep_rate_burst = 3;
    })
    .await;
    let key = sdk_key(&app).await;
    let other = sdk_key(&app).await;
    let path = format!("{SINGLE}/banner");
    for _ in 0..3 {
        assert_eq!(
            post(&app, &key, &path, json!({})).await.status(),
            StatusCode::OK
        );
    }
    let limited = post(&app, &key, &path, json!({})).await;
    assert_eq!(limited.headers()[RETRY_AFTER], "1");
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        post(&app, &other, SINGLE, json!({})).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn browsers_of_allowed_origins_get_cors_on_the_evaluation_routes_only() {
    let allowed = "https://app.example.com";
    let app = shop_with(Backend::Sqlite, |s| {
        s.cors_origins = vec![allowed.to_owned()]
    })
    .await;
    let client = client_key(&app).await;
    let preflight = |origin: &'static str, path: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-api-key, content-type")
            .send()
    };
    let ok = preflight(allowed, "/ofrep/v1/evaluate/flags")
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(ok.headers()["access-control-allow-origin"], allowed);
    let headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("x-api-key") && headers.contains("if-none-match"));

    let stranger = preflight("https://evil.example", "/ofrep/v1/evaluate/flags")
        .await
        .unwrap();
    assert!(
        stranger
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let elsewhere = preflight(allowed, "/v1/projects").await.unwrap();
    assert!(
        elsewhere
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let answer = app
        .client
        .post(app.url(SINGLE))
        .header("origin", allowed)
        .header("x-api-key", &client)
        .json(&json!({"context": {"targetingKey": "u1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["access-control-allow-origin"], allowed);
    let exposed = answer.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("etag"));
    assert_eq!(answer.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_configured_origins_no_cors_header_is_sent() {
    let app = spawn_app(Backend::Sqlite).await;
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/v1/evaluate"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
