use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, item_strings, spawn_app};

crate::on_both_backends!(
    a_flag_definition_is_created_read_listed_updated_and_deleted,
    a_stale_if_match_is_refused_and_nothing_is_lost,
    state_writes_are_validated_and_point_at_the_field,
    operators_can_roll_out_widen_kill_restore_and_roll_back,
    a_definition_change_may_not_orphan_a_state,
    segments_are_managed_and_protected_while_in_use,
    flag_scopes_and_environment_bounds_are_enforced,
    an_environment_holding_flag_states_needs_confirmation_to_delete,
);

async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", Some("staging"))
        .await;
    app
}

const STATE: &str = "/v1/projects/shop/environments/production/flags/new-checkout";

async fn create_checkout_flag(app: &TestApp) -> Value {
    let response = app
        .post(
            "/v1/projects/shop/flags",
            json!({ "key": "new-checkout", "type": "boolean", "description": "New checkout flow" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn a_flag_definition_is_created_read_listed_updated_and_deleted(backend: Backend) {
    let app = shop(backend).await;
    let created = create_checkout_flag(&app).await;
    assert_eq!(
        created["variants"],
        json!([{ "key": "on", "value": true }, { "key": "off", "value": false }])
    );
    assert_eq!(created["version"], 1);

    let response = app.get("/v1/projects/shop/flags/new-checkout").await;
    assert_eq!(response.headers()["etag"], "\"1\"");
    let listed: Value = app
        .get("/v1/projects/shop/flags")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(item_strings(&listed, "key"), ["new-checkout"]);

    let response = app
        .request(Method::PUT, "/v1/projects/shop/flags/new-checkout")
        .header("if-match", "\"1\"")
        .json(&json!({ "type": "boolean", "description": "Checkout v2", "owner": "team-payments", "tags": ["checkout"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["owner"], "team-payments");

    let problem = assert_problem(
        app.request(Method::PUT, "/v1/projects/shop/flags/new-checkout")
            .json(&json!({ "key": "renamed", "type": "boolean" }))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.key");
    assert_problem(
        app.post(
            "/v1/projects/shop/flags",
            json!({ "key": "new-checkout", "type": "boolean" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;

    assert_eq!(
        app.delete("/v1/projects/shop/flags/new-checkout")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get("/v1/projects/shop/flags/new-checkout").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let actions: Vec<String> = app
        .audit("action=flag.*")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["flag.delete", "flag.update", "flag.create"]);
}

async fn a_stale_if_match_is_refused_and_nothing_is_lost(backend: Backend) {
    let app = shop(backend).await;
    create_checkout_flag(&app).await;
    let fresh: Value = app.get(STATE).await.json().await.unwrap();
    assert_eq!(fresh["version"], 0);
    assert_eq!(fresh["enabled"], false);

    let write = |enabled: bool| {
        let mut state = fresh.clone();
        for field in ["flag", "environment", "version", "killed", "updated_at"] {
            state.as_object_mut().unwrap().remove(field);
        }
        state["enabled"] = json!(enabled);
        app.request(Method::PUT, STATE)
            .header("if-match", "\"0\"")
            .json(&state)
            .send()
    };
    // Two operators start from version 0; the second write must not silently win.
    let first = write(true).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], "\"1\"");
    let problem =
        assert_problem(write(false).await.unwrap(), StatusCode::PRECONDITION_FAILED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("now at version 1")
    );

    let current: Value = app.get(STATE).await.json().await.unwrap();
    assert_eq!(current["enabled"], true);
    assert_eq!(current["version"], 1);
    let stale = app
        .request(Method::POST, &format!("{STATE}/disable"))
        .header("if-match", "W/\"0\"")
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED).await;
}

async fn state_writes_are_validated_and_point_at_the_field(backend: Backend) {
    let app = shop(backend).await;
    create_checkout_flag(&app).await;
    let bad = json!({
        "enabled": true,
        "rules": [
            { "conditions": [{ "attribute": "plan", "op": "in", "values": ["pro"] }], "serve": { "variant": "on" } },
            { "conditions": [{ "op": "in_segment", "values": ["nobody"] }],
              "serve": { "split": [{ "variant": "on", "weight": 5000 }, { "variant": "off", "weight": 4000 }] } }
        ],
        "default_serve": { "variant": "maybe" },
        "off_variant": "off"
    });
    let response = app
        .request(Method::PUT, STATE)
        .json(&bad)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("body.rules[1].serve.split")),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("body.rules[1].conditions[0]")),
        "{fields:?}"
    );
    assert!(
        fields.iter().any(|f| f.starts_with("body.default_serve")),
        "{fields:?}"
    );

    for body in [
        json!({ "percentage": 101 }),
        json!({ "percentage": 12.345 }),
        json!({ "percentage": 5, "basis_points": 500 }),
        json!({}),
    ] {
        let response = app.post(&format!("{STATE}/rollout"), body.clone()).await;
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let unchanged: Value = app.get(STATE).await.json().await.unwrap();
    assert_eq!(unchanged["version"], 0, "no invalid write was stored");
}

async fn operators_can_roll_out_widen_kill_restore_and_roll_back(backend: Backend) {
    let app = shop(backend).await;
    create_checkout_flag(&app).await;
    let post = |path: String| app.request(Method::POST, &path).send();

    let enabled: Value = post(format!("{STATE}/enable"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (enabled["enabled"].clone(), enabled["version"].clone()),
        (json!(true), json!(1))
    );
    let five: Value = app
        .post(&format!("{STATE}/rollout"), json!({ "percentage": 5 }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        five["default_serve"]["split"],
        json!([{ "variant": "on", "weight": 500 }, { "variant": "off", "weight": 9500 }])
    );
    let fifty: Value = app
        .post(&format!("{STATE}/rollout"), json!({ "percentage": 50 }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fifty["default_serve"]["split"][0]["weight"], 5000);
    assert_eq!(fifty["version"], 3);

    // The kill switch turns everything off without touching stored states.
    let killed: Value = app
        .post(
            "/v1/projects/shop/environments/production/kill",
            json!({ "reason": "checkout errors" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(killed["killed"], true);
    assert_eq!(killed["reason"], "checkout errors");
    let during: Value = app.get(STATE).await.json().await.unwrap();
    assert_eq!(
        (
            during["killed"].clone(),
            during["enabled"].clone(),
            during["version"].clone()
        ),
        (json!(true), json!(true), json!(3))
    );
    // A bare POST (no body) works too and is idempotent.
    assert_eq!(
        post("/v1/projects/shop/environments/production/kill".into())
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let restored: Value = app
        .delete("/v1/projects/shop/environments/production/kill")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(restored["killed"], false);
    let after: Value = app.get(STATE).await.json().await.unwrap();
    assert_eq!(after["killed"], false);
    assert_eq!(
        after["default_serve"]["split"][0]["weight"], 5000,
        "restore brings back the state as it was"
    );

    // History, newest first, and a rollback to the 5 % version as a new version.
    let history: Value = app
        .get(&format!("{STATE}/versions"))
        .await
        .json()
        .await
        .unwrap();
    let versions: Vec<i64> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    assert_eq!(history["items"][1]["comment"], "rollout to 5.00 %");
    let rolled: Value = app
        .post(&format!("{STATE}/rollback"), json!({ "version": 2 }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rolled["version"], 4);
    assert_eq!(rolled["default_serve"]["split"][0]["weight"], 500);
    assert_problem(
        app.post(&format!("{STATE}/rollback"), json!({ "version": 99 }))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Enabling an enabled flag changes nothing and records nothing.
    let again: Value = post(format!("{STATE}/enable"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["version"], 4);
    let actions: Vec<String> = app
        .audit("project=shop&action=flag.*")
        .await
        .iter()
        .chain(
            app.audit("project=shop&action=environment.*")
                .await
                .iter()
                .take(2),
        )
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "flag.rollback",
            "flag.rollout",
            "flag.rollout",
            "flag.enable",
            "flag.create",
            "environment.restore",
            "environment.kill"
        ]
    );
    // Staging is untouched by all of this.
    let staging: Value = app
        .get("/v1/projects/shop/environments/staging/flags/new-checkout")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (staging["enabled"].clone(), staging["version"].clone()),
        (json!(false), json!(0))
    );
}

async fn a_definition_change_may_not_orphan_a_state(backend: Backend) {
    let app = shop(backend).await;
    app.post(
        "/v1/projects/shop/flags",
        json!({ "key": "theme", "type": "string", "variants": [{ "key": "light", "value": "light" }, { "key": "dark", "value": "dark" }] }),
    )
    .await;
    let path = "/v1/projects/shop/environments/production/flags/theme";
    let response = app
        .post(&format!("{path}/rollout"), json!({ "percentage": 10 }))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        problem["errors"][0]["field"], "body.variant",
        "a non-boolean rollout names its variants"
    );
    let response = app
        .post(
            &format!("{path}/rollout"),
            json!({ "percentage": 10, "variant": "dark", "otherwise": "light" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app
        .request(Method::PUT, "/v1/projects/shop/flags/theme")
        .json(&json!({ "type": "string", "variants": [{ "key": "light", "value": "light" }] }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("production"));
    let response = app
        .request(Method::PUT, "/v1/projects/shop/flags/theme")
        .json(&json!({ "type": "string", "variants": [{ "key": "light", "value": 1 }, { "key": "dark", "value": "dark" }] }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "body.variants[0].value");
}

async fn segments_are_managed_and_protected_while_in_use(backend: Backend) {
    let app = shop(backend).await;
    create_checkout_flag(&app).await;
    let beta = json!({ "name": "beta-testers", "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] });
    assert_eq!(
        app.post("/v1/projects/shop/segments", beta.clone())
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_problem(
        app.post("/v1/projects/shop/segments", beta).await,
        StatusCode::CONFLICT,
    )
    .await;
    let bad = json!({ "name": "nested", "conditions": [{ "op": "in_segment", "values": ["beta-testers"] }] });
    assert_problem(
        app.post("/v1/projects/shop/segments", bad).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    let state = json!({
        "enabled": true,
        "rules": [{ "conditions": [{ "op": "in_segment", "values": ["beta-testers"] }], "serve": { "variant": "on" } }],
        "default_serve": { "variant": "off" },
        "off_variant": "off"
    });
    assert_eq!(
        app.request(Method::PUT, STATE)
            .json(&state)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let problem = assert_problem(
        app.delete("/v1/projects/shop/segments/beta-testers").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("new-checkout in production")
    );

    let updated = app
        .request(Method::PUT, "/v1/projects/shop/segments/beta-testers")
        .header("if-match", "\"1\"")
        .json(&json!({ "description": "opted in", "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.headers()["etag"], "\"2\"");
    let listed: Value = app
        .get("/v1/projects/shop/segments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["description"], "opted in");

    let mut off = state.clone();
    off["rules"] = json!([]);
    app.request(Method::PUT, STATE)
        .json(&off)
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.delete("/v1/projects/shop/segments/beta-testers")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

async fn flag_scopes_and_environment_bounds_are_enforced(backend: Backend) {
    let app = shop(backend).await;
    create_checkout_flag(&app).await;
    let (reader, _) = app.issue_token(json!({ "name": "sdk", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] })).await;
    let (staging_writer, _) = app.issue_token(json!({ "name": "staging ops", "scopes": ["flags:write", "flags:read"], "projects": ["shop"], "environments": ["staging"] })).await;
    let (config_only, _) = app
        .issue_token(json!({ "name": "config", "scopes": ["config:read"] }))
        .await;
    let call =
        |token: &str, method: Method, path: &str| app.request_as(Some(token), method, path).send();

    assert_eq!(
        call(&reader, Method::GET, STATE).await.unwrap().status(),
        StatusCode::OK
    );
    assert_problem(
        call(&reader, Method::POST, &format!("{STATE}/enable"))
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        call(&config_only, Method::GET, "/v1/projects/shop/flags")
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;

    let staging = "/v1/projects/shop/environments/staging/flags/new-checkout";
    assert_eq!(
        call(&staging_writer, Method::POST, &format!("{staging}/enable"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_problem(
        call(&staging_writer, Method::POST, &format!("{STATE}/enable"))
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_problem(
        call(
            &staging_writer,
            Method::POST,
            "/v1/projects/shop/environments/production/kill",
        )
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Definitions are served in every environment: an environment-bound token may not change them.
    let response = app
        .request_as(
            Some(&staging_writer),
            Method::POST,
            "/v1/projects/shop/flags",
        )
        .json(&json!({ "key": "other", "type": "boolean" }))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

async fn an_environment_holding_flag_states_needs_confirmation_to_delete(backend: Backend) {
    let app = shop(backend).await;
    create_checkout_flag(&app).await;
    app.request(Method::POST, &format!("{STATE}/enable"))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(
        app.delete("/v1/projects/shop/environments/production")
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("confirm=production")
    );
    assert_eq!(
        app.delete("/v1/projects/shop/environments/production?confirm=production")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let problem = assert_problem(
        app.delete("/v1/projects/shop?confirm=nope").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "query.confirm");
    let problem = assert_problem(app.delete("/v1/projects/shop").await, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("1 flag(s)"));
}

/// Issue 13: `rollout` keeps who had the feature whatever the stored order, and precondition
/// headers are read as RFC 9110 says, a malformed one being a 400.
mod rollout_order_and_preconditions {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    use switchboard_core::hash;

    use super::{STATE, create_checkout_flag, shop};
    use crate::helpers::{Backend, TestApp, assert_problem};

    crate::on_both_backends!(
        widening_a_reversed_split_keeps_every_caller_who_had_the_feature,
        a_malformed_precondition_is_a_bad_request_that_names_the_header,
    );

    async fn rollout(app: &TestApp, percentage: u32) -> Value {
        let response = app
            .post(
                &format!("{STATE}/rollout"),
                json!({ "percentage": percentage }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn served(app: &TestApp, id: &str) -> Value {
        let response = app
            .post(
                "/v1/evaluate?project=shop&environment=production",
                json!({ "context": { "targeting_key": id }, "flags": ["new-checkout"] }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let answer: Value = response.json().await.unwrap();
        answer["results"][0]["variant"].clone()
    }

    async fn widening_a_reversed_split_keeps_every_caller_who_had_the_feature(backend: Backend) {
        let app = shop(backend).await;
        create_checkout_flag(&app).await;
        let stored = json!({
            "enabled": true,
            "default_serve": { "split": [
                { "variant": "off", "weight": 9500 }, { "variant": "on", "weight": 500 }
            ], "salt": "checkout-salt" },
            "off_variant": "off",
        });
        let response = app
            .request(Method::PUT, STATE)
            .json(&stored)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // Callers in the last 5 % of buckets have the feature.
        let had_it: Vec<String> = (0..2_000)
            .map(|i| format!("user-{i}"))
            .filter(|id| hash::bucket("checkout-salt", id) >= 9500)
            .take(10)
            .collect();
        assert_eq!(had_it.len(), 10);

        let widened = rollout(&app, 10).await;

        assert_eq!(
            widened["default_serve"],
            json!({ "split": [
                { "variant": "off", "weight": 9000 }, { "variant": "on", "weight": 1000 }
            ], "salt": "checkout-salt" })
        );
        for id in &had_it {
            assert_eq!(served(&app, id).await, "on", "{id} lost the feature");
        }
        let narrowed = rollout(&app, 2).await;
        assert_eq!(
            narrowed["default_serve"]["split"],
            json!([{ "variant": "off", "weight": 9800 }, { "variant": "on", "weight": 200 }])
        );
    }

    async fn a_malformed_precondition_is_a_bad_request_that_names_the_header(backend: Backend) {
        let app = shop(backend).await;
        create_checkout_flag(&app).await;
        let enable = |if_match: &'static str| {
            app.request(Method::POST, &format!("{STATE}/enable"))
                .header("if-match", if_match)
                .send()
        };

        for malformed in ["\"abc\"", "abc", "\"3", "*, \"0\""] {
            let problem =
                assert_problem(enable(malformed).await.unwrap(), StatusCode::BAD_REQUEST).await;
            assert_eq!(problem["errors"][0]["field"], "header.If-Match");
            assert!(!problem.to_string().contains("abc"), "the value is echoed");
        }
        let two_versions = enable("\"0\", \"1\"").await.unwrap();
        assert_problem(two_versions, StatusCode::BAD_REQUEST).await;
        let weak = enable("W/\"0\"").await.unwrap();
        assert_problem(weak, StatusCode::PRECONDITION_FAILED).await;
        assert_eq!(app.get(STATE).await.headers()["etag"], "\"0\"");

        let listed = enable("\"0\", W/\"0\"").await.unwrap();
        assert_eq!(listed.status(), StatusCode::OK);
        assert_eq!(listed.headers()["etag"], "\"1\"");

        let snapshot = app
            .request(
                Method::GET,
                "/v1/sdk/snapshot?project=shop&environment=production",
            )
            .header("if-none-match", "not-an-etag")
            .send()
            .await
            .unwrap();
        let problem = assert_problem(snapshot, StatusCode::BAD_REQUEST).await;
        assert_eq!(problem["errors"][0]["field"], "header.If-None-Match");
    }
}
