//! `SWITCHBOARD_MAX_STREAMS`: an instance holds a bounded number of `/v1/sdk/stream`
//! connections, refuses the next one with a `503` that says what to do, and takes streams again
//! once one closes.

use std::time::{Duration, Instant};

use reqwest::{Method, Response, StatusCode};

use super::{PRODUCTION, get_snapshot, token};
use crate::helpers::{Backend, TestApp, assert_problem, spawn_app_with};

async fn open_stream(app: &TestApp, token: &str) -> Response {
    app.request_as(Some(token), Method::GET, "/v1/sdk/stream")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stream_past_the_limit_gets_503_until_an_open_one_closes() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.max_streams = 2;
        // The server notices a closed stream at its next write at the latest.
        s.stream_heartbeat_secs = 1;
    })
    .await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["production"]).await;

    let first = open_stream(&app, &sdk).await;
    let second = open_stream(&app, &sdk).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(second.status(), StatusCode::OK);

    let refused = open_stream(&app, &sdk).await;
    assert_eq!(refused.headers()["retry-after"], "30");
    let problem = assert_problem(refused, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(problem["type"], "urn:switchboard:problem:overloaded");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("2 open streams")
    );
    // What a refused client falls back to keeps working.
    let snapshot = get_snapshot(&app, &sdk, PRODUCTION, &[]).await;
    assert_eq!(snapshot.status(), StatusCode::OK);

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    let third = loop {
        let response = open_stream(&app, &sdk).await;
        if response.status() == StatusCode::OK {
            break response;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            Instant::now() < deadline,
            "the closed stream's slot was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Still two at most: the slot freed was taken again.
    assert_eq!(
        open_stream(&app, &sdk).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    drop((second, third));
}
