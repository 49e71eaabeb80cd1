//! The SDK's hot path made cheap (issue 21) still labels, counts and identifies every request:
//! metrics resolved once per label set keep counting each request under its route pattern,
//! request ids come from a thread-local generator yet stay unique UUIDs, and a token cached by
//! a fast hash is still told apart from any other.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};

use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;
use crate::sdk::{get_snapshot, shop, token};

on_both_backends!(
    every_request_on_the_hot_path_is_counted_under_its_route_method_and_status,
    a_token_one_character_off_a_cached_one_is_refused,
);

async fn metrics(app: &TestApp) -> String {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

fn count(text: &str, labels: &str) -> Option<u64> {
    let prefix = format!("switchboard_http_requests_total{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|value| value.trim().parse().ok())
}

async fn every_request_on_the_hot_path_is_counted_under_its_route_method_and_status(
    backend: Backend,
) {
    let app = shop(backend).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["production"]).await;
    let first = get_snapshot(&app, &sdk, "", &[]).await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    for _ in 0..3 {
        let response = get_snapshot(&app, &sdk, "", &[("if-none-match", &etag)]).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    }
    let refused = app
        .request_as(Some(&sdk), Method::DELETE, "/v1/sdk/snapshot")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::METHOD_NOT_ALLOWED);
    app.get("/v1/no/such/route").await;

    let text = metrics(&app).await;

    let route = r#"route="/v1/sdk/snapshot""#;
    assert_eq!(
        count(&text, &format!(r#"method="GET",{route},status="200""#)),
        Some(1),
        "{text}"
    );
    assert_eq!(
        count(&text, &format!(r#"method="GET",{route},status="304""#)),
        Some(3),
        "{text}"
    );
    assert_eq!(
        count(&text, &format!(r#"method="DELETE",{route},status="405""#)),
        Some(1),
        "{text}"
    );
    assert_eq!(
        count(&text, r#"method="GET",route="unmatched",status="404""#),
        Some(1),
        "{text}"
    );
    assert!(text.contains(&format!(
        r#"switchboard_http_request_duration_seconds_count{{method="GET",{route}}} 4"#
    )));
}

async fn a_token_one_character_off_a_cached_one_is_refused(backend: Backend) {
    let app = shop(backend).await;
    let sdk = token(&app, &["flags:read"], &["shop"], &["production"]).await;
    assert_eq!(
        get_snapshot(&app, &sdk, "", &[]).await.status(),
        StatusCode::OK
    );

    // The real token is cached now; the same bytes but its last one are not it.
    let mut forged = sdk.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        get_snapshot(&app, &forged, "", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_snapshot(&app, &sdk, "", &[]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn request_ids_are_distinct_version_4_uuids() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let mut seen = HashSet::new();
    for _ in 0..50 {
        let response = app.get("/healthz").await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let uuid = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(uuid.get_version_num(), 4, "{id}");
        assert!(seen.insert(id), "request ids repeat");
    }
}
