//! The database goes away for longer than every cache lifetime: tokens verified before keep
//! working (revocations seen before still apply), SDK reads keep being served from memory, and a
//! token never seen before waits for the database at most `db_timeout_secs`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::own_postgres::OwnPostgres;

/// The token cache's freshness, shortened so that the outage can outlast it in seconds.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);
const DB_TIMEOUT: Duration = Duration::from_secs(1);
/// Longer than the token cache, the sync interval and the revocation watcher's period.
const OUTAGE_BEFORE_CHECKS: Duration = Duration::from_millis(2500);

async fn status(app: &TestApp, token: &str, method: Method, path: &str) -> StatusCode {
    let mut request = app.request_as(Some(token), method.clone(), path);
    if method == Method::POST {
        request = request.json(&json!({ "context": { "targetingKey": "user-1" } }));
    }
    request.send().await.unwrap().status()
}

switchboard_test_harness::postgres_test! {
    #[tokio::test]
    async fn tokens_verified_before_a_database_outage_keep_working_through_it() {
        let postgres = OwnPostgres::start();
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.database_url = Some(postgres.url.clone());
            s.token_cache_ttl_secs = TOKEN_CACHE_TTL.as_secs();
            s.db_timeout_secs = DB_TIMEOUT.as_secs();
            s.sync_interval_ms = 100;
        })
        .await;
        app.create_project("shop").await;
        app.create_environment("shop", "production", None).await;
        app.create_boolean_flag("shop", "new-checkout").await;
        let sdk_body = |name: &str| {
            json!({ "name": name, "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] })
        };
        let (sdk, _) = app.issue_token(sdk_body("sdk")).await;
        let (revoked, revoked_id) = app.issue_token(sdk_body("revoked")).await;
        let (never_seen, _) = app.issue_token(sdk_body("never seen")).await;
        for token in [&sdk, &revoked] {
            assert_eq!(status(&app, token, Method::GET, "/v1/sdk/snapshot").await, StatusCode::OK);
        }
        assert_eq!(status(&app, &sdk, Method::POST, "/v1/evaluate").await, StatusCode::OK);
        assert_eq!(app.delete(&format!("/v1/tokens/{revoked_id}")).await.status(), StatusCode::OK);
        let stream = app
            .request_as(Some(&sdk), Method::GET, "/v1/sdk/stream")
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        let mut stream = stream.bytes_stream();

        postgres.stop();
        tokio::time::sleep(OUTAGE_BEFORE_CHECKS).await;

        // Several token-cache lifetimes into the outage, the verified token still reads.
        let until = Instant::now() + 3 * TOKEN_CACHE_TTL;
        while Instant::now() < until {
            assert_eq!(
                status(&app, &sdk, Method::GET, "/v1/sdk/snapshot").await,
                StatusCode::OK,
                "a verified token reads the snapshot during the outage"
            );
            assert_eq!(
                status(&app, &sdk, Method::POST, "/v1/evaluate").await,
                StatusCode::OK,
                "a verified token evaluates during the outage"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            status(&app, &revoked, Method::GET, "/v1/sdk/snapshot").await,
            StatusCode::UNAUTHORIZED,
            "a revocation seen before the outage still applies"
        );
        let started = Instant::now();
        assert_eq!(
            status(&app, &never_seen, Method::GET, "/v1/sdk/snapshot").await,
            StatusCode::SERVICE_UNAVAILABLE,
            "a token never seen needs the database"
        );
        assert!(
            started.elapsed() < DB_TIMEOUT + Duration::from_secs(2),
            "a new token waited {:?}",
            started.elapsed()
        );

        // The stream opened before the outage is still open and still heartbeating.
        let mut received = String::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !received.contains(": heartbeat") {
            let chunk = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("no heartbeat during the outage")
                .expect("the stream ended during the outage")
                .unwrap();
            received.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(!received.contains("unauthorized"), "{received:?}");
    }
}
