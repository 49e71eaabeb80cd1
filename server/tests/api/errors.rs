use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_problem, spawn_app, spawn_app_with};

crate::on_both_backends!(a_write_that_fails_midway_leaves_the_previous_state_intact);

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problems() {
    let app = spawn_app(Backend::Sqlite).await;
    let problem = assert_problem(app.get("/v1/nothing-here").await, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["type"], "urn:switchboard:problem:not-found");
    // Deep inside the route tree too: a path that enters a scope and matches nothing there.
    for path in [
        "/v1/projects/shop/environments/production/nothing-here",
        "/v1/projects/shop/environments/production/secrets/NAME/nothing-here",
    ] {
        let problem = assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(
            problem["type"], "urn:switchboard:problem:not-found",
            "{path}"
        );
    }

    let response = app
        .request(Method::PUT, "/v1/projects")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD, POST");
    let problem = assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(
        problem["type"],
        "urn:switchboard:problem:method-not-allowed"
    );
    // A literal route beside a `{param}` one keeps its own methods.
    let response = app
        .request(Method::PATCH, "/v1/tokens/current")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "GET, HEAD");
    let problem = assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(
        problem["type"],
        "urn:switchboard:problem:method-not-allowed"
    );
}

#[tokio::test]
async fn malformed_bodies_get_a_problem_that_names_the_field() {
    let app = spawn_app(Backend::Sqlite).await;
    let send_raw = |body: &'static str, content_type: &'static str| {
        app.request(Method::POST, "/v1/projects")
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let problem = assert_problem(
        send_raw("{\"name\":", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("EOF"));
    assert_problem(
        send_raw("", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        send_raw("{\"name\":\"a\"} x", "application/json")
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        send_raw("{\"name\":\"a\"}", "text/plain").await.unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
    .await;
    let no_type = app
        .request(Method::POST, "/v1/projects")
        .body("{\"name\":\"a\"}")
        .send()
        .await
        .unwrap();
    assert_problem(no_type, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    let problem = assert_problem(
        app.post("/v1/projects", json!({ "name": "shop", "colour": "blue" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("unknown field; expected")
    );

    let problem = assert_problem(
        app.post("/v1/projects", json!({ "name": 42 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.name");

    let problem = assert_problem(
        app.post(
            "/v1/projects",
            json!({ "name": "shop", "description": "x".repeat(1001) }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.description");

    let listed: Value = app.get("/v1/projects").await.json().await.unwrap();
    assert_eq!(
        listed["items"],
        json!([]),
        "no bad request created anything"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_body_bytes = 2048).await;
    let big = json!({ "name": "shop", "description": "x".repeat(4096) });
    let problem = assert_problem(
        app.post("/v1/projects", big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("2048"));
    // A chunked body without Content-Length is cut off the same way.
    let chunks =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let response = app
        .request(Method::POST, "/v1/projects")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    let app = spawn_app(Backend::Sqlite).await;
    let problem = assert_problem(
        app.get("/v1/projects?limit=ten").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("limit"));
    let problem = assert_problem(
        app.get("/v1/projects?page=2").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    // The unknown name is the caller's text: the answer lists the known ones instead.
    assert_eq!(
        problem["detail"],
        "query: unknown field; expected `limit` or `cursor`"
    );
}

async fn a_write_that_fails_midway_leaves_the_previous_state_intact(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    // Make the audit insert, the last statement of every write, fail.
    sqlx::query("ALTER TABLE audit_events RENAME TO audit_events_away")
        .execute(app.store.pool())
        .await
        .unwrap();

    assert_problem(
        app.post("/v1/projects", json!({ "name": "blog" })).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert_problem(
        app.patch("/v1/projects/shop", json!({ "description": "changed" }))
            .await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert_problem(
        app.delete("/v1/projects/shop").await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;

    let listed: Value = app.get("/v1/projects").await.json().await.unwrap();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["name"], "shop");
    assert_eq!(items[0]["description"], "");
}
