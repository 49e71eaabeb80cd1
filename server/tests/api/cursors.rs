//! Page cursors are opaque: a client only hands back the `next_cursor` it was given. A crafted
//! one (a NUL byte, control characters, text that is not base64url) must be a 400 that names
//! the parameter on every list, on both backends, and never reach SQL, where PostgreSQL
//! refused a NUL byte with a 500. The lists are taken from the route table, so a list added
//! later is covered without touching this file.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};

crate::on_both_backends!(a_crafted_cursor_is_a_bad_request_on_every_list,);

/// Cursors no server issued: `AAAA` is three NUL bytes, `CQ` a tab, `!!` not base64url.
const CRAFTED: [&str; 4] = ["AAAA", "CQ", "!!", "Zm9vAGJhcg"];

/// One object of every kind, all named `checkout` (or `CHECKOUT` where a secret name must be),
/// so that every path parameter of the route table has something to name.
async fn every_kind_of_object(app: &TestApp) -> String {
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", Some("staging"))
        .await;
    app.create_boolean_flag("shop", "checkout").await;
    let segment = json!({ "name": "checkout", "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] });
    app.call(Method::POST, "/v1/projects/shop/segments", Some(segment))
        .await;
    let env = "/v1/projects/shop/environments/production";
    let value = Some(json!({ "value": "on" }));
    app.call(
        Method::PUT,
        &format!("{env}/config/checkout"),
        value.clone(),
    )
    .await;
    app.call(Method::PUT, &format!("{env}/secrets/CHECKOUT"), value)
        .await;
    let (_, token_id) = app
        .issue_token(json!({ "name": "ci", "scopes": ["config:read"] }))
        .await;
    token_id
}

async fn a_crafted_cursor_is_a_bad_request_on_every_list(backend: Backend) {
    let app = spawn_app(backend).await;
    let token_id = every_kind_of_object(&app).await;

    let mut lists = Vec::new();
    for (method, pattern) in switchboard_server::api::routes().table() {
        // The stream never ends; it takes no cursor.
        if method != "GET" || pattern == "/v1/sdk/stream" {
            continue;
        }
        let path = pattern
            .replace("{project}", "shop")
            .replace("{env}", "production")
            .replace("{key}", "checkout")
            .replace(
                "{name}",
                if pattern.contains("/secrets/") {
                    "CHECKOUT"
                } else {
                    "checkout"
                },
            )
            .replace("{id}", &token_id);
        let plain = app.get(&path).await;
        let is_list = plain.status() == StatusCode::OK
            && plain
                .json::<Value>()
                .await
                .is_ok_and(|body| body.get("next_cursor").is_some());
        for crafted in CRAFTED {
            let response = app.get(&format!("{path}?cursor={crafted}")).await;
            assert!(
                !response.status().is_server_error(),
                "GET {pattern} with a crafted cursor answered {}",
                response.status()
            );
            if is_list {
                let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
                assert_eq!(problem["errors"][0]["field"], "query.cursor", "{pattern}");
                assert!(
                    !problem.to_string().contains(crafted),
                    "the problem echoes the cursor"
                );
            }
        }
        if is_list {
            lists.push(pattern);
        }
    }
    for expected in [
        "/v1/projects",
        "/v1/projects/{project}/flags",
        "/v1/projects/{project}/segments",
        "/v1/tokens",
        "/v1/audit",
        "/v1/projects/{project}/environments",
        "/v1/projects/{project}/environments/{env}/config/{key}/versions",
    ] {
        assert!(
            lists.iter().any(|p| p == expected),
            "{expected} was recognised as a list"
        );
    }
}
