//! Every answer served from a snapshot that may be out of date says so, the same way: the
//! snapshot, evaluations and the stream all carry `X-Switchboard-Stale: <seconds>` once the
//! database has stopped answering (issue 13, defect 11).

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, spawn_app_with};
use crate::propagation::prepare;

#[tokio::test]
async fn without_the_database_evaluations_and_streams_are_marked_stale_like_snapshots() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.sync_interval_ms = 100).await;
    let token = prepare(&app).await;
    let evaluate = || {
        app.request_as(Some(&token), Method::POST, "/v1/evaluate")
            .json(&json!({ "context": { "targeting_key": "u1" } }))
            .send()
    };
    let fresh = evaluate().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert!(fresh.headers().get("x-switchboard-stale").is_none());

    app.store.close().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let snapshot = app
            .request_as(Some(&token), Method::GET, "/v1/sdk/snapshot")
            .send()
            .await
            .unwrap();
        if snapshot.headers().get("x-switchboard-stale").is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the snapshot was never marked stale"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evaluated = evaluate().await.unwrap();
    assert_eq!(
        evaluated.status(),
        StatusCode::OK,
        "evaluations keep working from memory"
    );
    assert!(
        evaluated.headers().get("x-switchboard-stale").is_some(),
        "an evaluation from a stale snapshot says so"
    );
    let stream = app
        .request_as(Some(&token), Method::GET, "/v1/sdk/stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers().get("x-switchboard-stale").is_some(),
        "a stream opened from a stale snapshot says so"
    );
}
