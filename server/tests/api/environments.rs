use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_problem, item_strings, spawn_app};

crate::on_both_backends!(
    environments_keep_their_order_and_name_their_parent,
    a_parent_must_exist_in_the_same_project_and_never_form_a_cycle,
    a_parent_cannot_be_deleted_while_it_has_children,
    environment_names_are_unique_per_project_only,
    environments_of_a_missing_project_are_not_found,
);

async fn environments_keep_their_order_and_name_their_parent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "development", None).await;
    app.create_environment("shop", "staging", Some("development"))
        .await;
    let production = app
        .create_environment("shop", "production", Some("staging"))
        .await;
    assert_eq!(production["parent"], "staging");
    assert_eq!(production["position"], 2);

    let listed: Value = app
        .get("/v1/projects/shop/environments")
        .await
        .json()
        .await
        .unwrap();
    let names = item_strings(&listed, "name");
    assert_eq!(names, ["development", "staging", "production"]);

    // Move production first and detach it from its parent.
    let response = app
        .patch(
            "/v1/projects/shop/environments/production",
            json!({ "position": 0, "parent": null, "description": "live" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["parent"], Value::Null);
    assert_eq!(updated["description"], "live");

    // An absent field leaves the value alone.
    let updated: Value = app
        .patch(
            "/v1/projects/shop/environments/staging",
            json!({ "description": "pre-prod" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["parent"], "development");

    let page: Value = app
        .get("/v1/projects/shop/environments?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let first = item_strings(&page, "name");
    assert_eq!(first, ["development", "production"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!(
            "/v1/projects/shop/environments?limit=2&cursor={cursor}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["items"][0]["name"], "staging");
}

async fn a_parent_must_exist_in_the_same_project_and_never_form_a_cycle(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_project("blog").await;
    app.create_environment("blog", "staging", None).await;

    let problem = assert_problem(
        app.post(
            "/v1/projects/shop/environments",
            json!({ "name": "production", "parent": "staging" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.parent");

    app.create_environment("shop", "a", None).await;
    app.create_environment("shop", "b", Some("a")).await;
    app.create_environment("shop", "c", Some("b")).await;
    for (env, parent) in [("a", "c"), ("a", "a")] {
        let problem = assert_problem(
            app.patch(
                &format!("/v1/projects/shop/environments/{env}"),
                json!({ "parent": parent }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("cycle"),
            "{problem}"
        );
    }
    let a: Value = app
        .get("/v1/projects/shop/environments/a")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["parent"], Value::Null, "a refused update changes nothing");
}

async fn a_parent_cannot_be_deleted_while_it_has_children(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", Some("staging"))
        .await;

    let problem = assert_problem(
        app.delete("/v1/projects/shop/environments/staging").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("production"));

    assert_eq!(
        app.delete("/v1/projects/shop/environments/production")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete("/v1/projects/shop/environments/staging")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get("/v1/projects/shop/environments/staging").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn environment_names_are_unique_per_project_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_project("blog").await;
    app.create_environment("shop", "production", None).await;
    app.create_environment("blog", "production", None).await;
    assert_problem(
        app.post(
            "/v1/projects/shop/environments",
            json!({ "name": "production" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
}

async fn environments_of_a_missing_project_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_problem(
        app.get("/v1/projects/ghost/environments").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.post(
            "/v1/projects/ghost/environments",
            json!({ "name": "production" }),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_problem(
        app.get("/v1/projects/ghost/environments/production").await,
        StatusCode::NOT_FOUND,
    )
    .await;
}
