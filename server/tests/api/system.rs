use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app};

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    let app = spawn_app(Backend::Sqlite).await;
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, json!({ "status": "ok" }));
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["redis"], "not configured");
}

#[tokio::test]
async fn losing_the_database_is_reported_by_readiness_without_leaving_service() {
    // Reads keep being served from memory, so readiness stays 200 and says what is missing.
    let app = spawn_app(Backend::Sqlite).await;
    app.store.close().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let asked = std::time::Instant::now();
        let response = app.client.get(app.url("/readyz")).send().await.unwrap();
        assert!(
            asked.elapsed() < std::time::Duration::from_millis(250),
            "readiness answers from its last check, at once"
        );
        assert_eq!(response.status(), StatusCode::OK);
        let ready: Value = response.json().await.unwrap();
        if ready["checks"]["database"] == "unavailable" {
            assert_eq!(ready["status"], "degraded");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reported: {ready}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("switchboard_dependency_up{dependency=\"database\"} 0"),
        "{metrics}"
    );
    // Health is about the process, not its dependencies.
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_project("shop").await;
    app.get("/v1/projects/shop").await;
    app.get("/v1/projects/ghost").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"switchboard_http_requests_total{method="GET",route="/v1/projects/{project}",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"switchboard_http_requests_total{method="GET",route="/v1/projects/{project}",status="404"} 1"#));
    assert!(text.contains("switchboard_http_request_duration_seconds_bucket"));
    assert!(!text.contains("ghost"), "raw paths never become labels");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app(Backend::Sqlite).await;
    let ok = app.get("/v1/projects").await;
    let missing = app.get("/v1/projects/ghost").await;
    for response in [ok, missing] {
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 36, "{id}");
    }
}

#[tokio::test]
async fn the_server_serves_its_own_contract() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .client
        .get(app.url("/openapi.yaml"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let on_disk =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    // Not assert_eq!: a mismatch would print the whole document twice.
    assert!(
        text == on_disk,
        "served {} bytes, the file has {}",
        text.len(),
        on_disk.len()
    );
}
