//! Changes made elsewhere (another instance, or the database itself) reach this instance's
//! snapshot cache through the revision poller, without any reload call.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use switchboard_core::FlagDefinition;
use switchboard_server::store::{flags, snapshots};

use super::{PRODUCTION, actor, get_snapshot, on, set_state, shop};
use crate::helpers::{Backend, TestApp};
use crate::on_both_backends;

on_both_backends!(
    changes_made_elsewhere_reach_the_cache_through_the_poller,
    a_deleted_environment_disappears_from_the_cache,
);

/// Waits (up to a deadline, without fixed sleeps) until `done` holds for the snapshot answer.
async fn eventually(app: &TestApp, query: &str, done: impl Fn(StatusCode, &Value) -> bool) {
    let admin = app.admin_token.clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = get_snapshot(app, &admin, query, &[]).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        if done(status, &body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "did not converge: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn changes_made_elsewhere_reach_the_cache_through_the_poller(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    let before = get_snapshot(&app, &admin, PRODUCTION, &[]).await;
    assert_eq!(before.status(), StatusCode::OK);

    // Another instance's writes: straight to the database, no reload on this one.
    flags::create(
        &app.store,
        &actor(),
        "shop",
        FlagDefinition::boolean("banner"),
    )
    .await
    .unwrap()
    .without_follow_up();
    set_state("shop", "production", "banner", on(), &app).await;

    eventually(&app, PRODUCTION, |_, body| {
        body["flags"].as_array().is_some_and(|f| {
            f.iter()
                .any(|f| f["key"] == "banner" && f["state"]["enabled"] == true)
        })
    })
    .await;
}

async fn a_deleted_environment_disappears_from_the_cache(backend: Backend) {
    let app = shop(backend).await;
    let admin = app.admin_token.clone();
    assert_eq!(
        get_snapshot(&app, &admin, PRODUCTION, &[]).await.status(),
        StatusCode::OK
    );
    let revisions = snapshots::revisions(&app.store).await.unwrap();
    assert_eq!(revisions.len(), 2);

    let deleted = app
        .delete("/v1/projects/shop/environments/production?confirm=production")
        .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());

    eventually(&app, PRODUCTION, |status, _| {
        status == StatusCode::NOT_FOUND
    })
    .await;
}
