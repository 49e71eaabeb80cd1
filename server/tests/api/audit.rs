use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_problem, item_strings, spawn_app};

crate::on_both_backends!(
    every_write_is_recorded_with_actor_source_and_before_after,
    the_audit_log_filters_by_project_actor_action_and_time,
    a_project_admin_reads_only_its_projects_events,
    the_audit_log_cannot_be_changed_through_the_api,
);

async fn every_write_is_recorded_with_actor_source_and_before_after(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.patch("/v1/projects/shop", json!({ "description": "new" }))
        .await;
    app.create_environment("shop", "staging", None).await;
    app.delete("/v1/projects/shop/environments/staging").await;

    let events = app.audit("").await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "environment.delete",
            "environment.create",
            "project.update",
            "project.create",
            "token.issue"
        ]
    );
    let update = &events[2];
    assert_eq!(update["actor"]["name"], "initial admin");
    assert!(update["actor"]["token_id"].is_string());
    assert_eq!(update["source_ip"], "127.0.0.1");
    assert!(update["request_id"].is_string());
    assert_eq!(update["project"], "shop");
    assert_eq!(update["target"], "project/shop");
    assert_eq!(update["before"]["description"], "");
    assert_eq!(update["after"]["description"], "new");
    assert!(update["at"].as_str().unwrap().ends_with('Z'));
    let first_start = &events[4];
    assert_eq!(first_start["actor"]["name"], "host:first-start");
}

async fn the_audit_log_filters_by_project_actor_action_and_time(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    let before_blog = time::OffsetDateTime::now_utc();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.create_project("blog").await;
    app.create_environment("blog", "staging", None).await;
    let (ops, ops_id) = app
        .issue_token(json!({ "name": "ops", "scopes": ["admin"] }))
        .await;
    app.request_as(Some(&ops), Method::PATCH, "/v1/projects/shop")
        .json(&json!({ "description": "by ops" }))
        .send()
        .await
        .unwrap();

    let actions = |events: Vec<Value>| {
        events
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        actions(app.audit("project=blog").await),
        ["environment.create", "project.create"]
    );
    assert_eq!(
        actions(app.audit(&format!("actor={ops_id}")).await),
        ["project.update"]
    );
    assert_eq!(actions(app.audit("actor=ops").await), ["project.update"]);
    assert_eq!(
        actions(app.audit("action=project.create").await),
        ["project.create", "project.create"]
    );
    assert_eq!(
        actions(app.audit("action=environment.*").await),
        ["environment.create"]
    );
    let since = before_blog
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let since = since.replace('+', "%2B");
    assert_eq!(
        actions(app.audit(&format!("since={since}&action=project.*")).await),
        ["project.update", "project.create"]
    );
    assert_eq!(
        actions(app.audit(&format!("until={since}&action=project.*")).await),
        ["project.create"]
    );

    // Pages of one, newest first, follow the cursor to the end.
    let mut seen = Vec::new();
    let mut path = "/v1/audit?limit=1&project=blog".to_owned();
    loop {
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/audit?limit=1&project=blog&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 2);
    assert!(seen[0] > seen[1]);

    let problem = assert_problem(
        app.get("/v1/audit?since=yesterday").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "query.since");
    assert_problem(
        app.get("/v1/audit?colour=blue").await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn a_project_admin_reads_only_its_projects_events(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_project("blog").await;
    let (shop_admin, _) = app
        .issue_token(json!({ "name": "shop admin", "scopes": ["admin"], "projects": ["shop"] }))
        .await;
    let page: Value = app
        .request_as(Some(&shop_admin), Method::GET, "/v1/audit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The project's creation and the issuance of the shop admin's own token (which names it).
    let projects = item_strings(&page, "project");
    assert_eq!(projects, ["shop", "shop"]);
    let response = app
        .request_as(Some(&shop_admin), Method::GET, "/v1/audit?project=blog")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

async fn the_audit_log_cannot_be_changed_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let response = app
            .request(method.clone(), "/v1/audit")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
    let response = app.delete("/v1/audit/1").await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
    assert_eq!(app.audit("").await.len(), 2);
}
