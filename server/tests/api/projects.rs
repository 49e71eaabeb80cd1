use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_problem, spawn_app};

crate::on_both_backends!(
    a_created_project_can_be_read_listed_updated_and_deleted,
    project_names_must_be_slugs_and_unique,
    projects_list_in_pages_of_the_requested_size,
    deleting_a_project_with_environments_needs_its_name_as_confirmation,
);

async fn a_created_project_can_be_read_listed_updated_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .post(
            "/v1/projects",
            json!({ "name": "shop", "description": "web shop" }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/v1/projects/shop");
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], "shop");
    assert_eq!(created["description"], "web shop");

    let fetched: Value = app.get("/v1/projects/shop").await.json().await.unwrap();
    assert_eq!(fetched, created);

    let response = app
        .patch("/v1/projects/shop", json!({ "description": "the shop" }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["description"], "the shop");
    assert_eq!(updated["id"], created["id"]);

    let listed: Value = app.get("/v1/projects").await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed["items"][0]["description"], "the shop");

    assert_eq!(
        app.delete("/v1/projects/shop").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(app.get("/v1/projects/shop").await, StatusCode::NOT_FOUND).await;
}

async fn project_names_must_be_slugs_and_unique(backend: Backend) {
    let app = spawn_app(backend).await;
    for bad in ["Shop", "-shop", "shop-", "sh op", "", "ä"] {
        let problem = assert_problem(
            app.post("/v1/projects", json!({ "name": bad })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "body.name", "{bad:?}");
    }
    app.create_project("shop").await;
    let problem = assert_problem(
        app.post("/v1/projects", json!({ "name": "shop" })).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("already exists")
    );
    let listed: Value = app.get("/v1/projects").await.json().await.unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "failed creates leave nothing behind"
    );
}

async fn projects_list_in_pages_of_the_requested_size(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..5 {
        app.create_project(&format!("p{i}")).await;
    }
    let mut names = Vec::new();
    let mut path = "/v1/projects?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        names.extend(items.iter().map(|p| p["name"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/projects?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);
    assert!(pages >= 3);
    assert_problem(
        app.get("/v1/projects?limit=0").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        app.get("/v1/projects?limit=201").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_problem(
        app.get("/v1/projects?cursor=%%%").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn deleting_a_project_with_environments_needs_its_name_as_confirmation(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", Some("staging"))
        .await;

    let problem = assert_problem(app.delete("/v1/projects/shop").await, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("confirm=shop"));
    assert_problem(
        app.delete("/v1/projects/shop?confirm=blog").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        app.get("/v1/projects/shop/environments/production")
            .await
            .status(),
        StatusCode::OK
    );

    assert_eq!(
        app.delete("/v1/projects/shop?confirm=shop").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(app.get("/v1/projects/shop").await, StatusCode::NOT_FOUND).await;
    // The name is free again, and nothing of the old project comes back with it.
    app.create_project("shop").await;
    let envs: Value = app
        .get("/v1/projects/shop/environments")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(envs["items"], json!([]));
}
