//! Scheduled changes: a one-off flag change at a given time, applied once by the scheduler
//! (once across instances too), listed, cancellable, audited.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app_with};
use crate::on_both_backends;
use crate::release_plans::{FLAG, arrange, audited, fast, history, until};

on_both_backends!(
    a_scheduled_change_applies_at_its_time_once_and_is_audited,
    a_cancelled_change_never_applies,
    schedules_in_the_past_or_for_unknown_variants_are_refused,
);

/// RFC 3339 for `from_now` ahead.
fn at(from_now: Duration) -> String {
    let when = time::OffsetDateTime::now_utc() + from_now;
    when.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

async fn schedule(app: &TestApp, body: Value) -> String {
    let response = app.post(&format!("{FLAG}/schedules"), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.headers()["location"].to_str().unwrap().to_owned()
}

fn fast_scheduler(s: &mut switchboard_server::settings::Settings) {
    fast(s, "http://127.0.0.1:9", 100);
}

async fn a_scheduled_change_applies_at_its_time_once_and_is_audited(backend: Backend) {
    let app = spawn_app_with(backend, fast_scheduler).await;
    arrange(&app).await;
    let path = schedule(
        &app,
        json!({ "at": at(Duration::from_millis(300)), "enabled": true, "comment": "launch" }),
    )
    .await;
    let pending = app.call(Method::GET, &path, None).await;
    assert_eq!(pending["status"], "pending");
    assert_eq!(app.call(Method::GET, FLAG, None).await["enabled"], false);

    let applied = until(&app, &path, Duration::from_secs(10), |s| {
        s["status"] == "applied"
    })
    .await;
    assert_eq!(app.call(Method::GET, FLAG, None).await["enabled"], true);
    assert_eq!(applied["outcome"]["flag_version"], 1);
    let id = applied["id"].as_str().unwrap();
    assert_eq!(
        history(&app).await,
        [format!("scheduled change {id}: launch")]
    );
    assert_eq!(audited(&app, "scheduled_change.created").await, 1);
    assert_eq!(audited(&app, "scheduled_change.applied").await, 1);
    let listed = app
        .call(
            Method::GET,
            "/v1/projects/shop/environments/production/schedules",
            None,
        )
        .await;
    assert_eq!(listed["items"][0]["id"], id);
    assert_eq!(listed["items"][0]["status"], "applied");
}

async fn a_cancelled_change_never_applies(backend: Backend) {
    let app = spawn_app_with(backend, fast_scheduler).await;
    arrange(&app).await;
    let path = schedule(
        &app,
        json!({ "at": at(Duration::from_millis(300)), "percentage": 50 }),
    )
    .await;
    let cancelled = app.call(Method::DELETE, &path, None).await;
    assert_eq!(cancelled["status"], "cancelled");
    let again = app.delete(&path).await;
    assert_problem(again, StatusCode::CONFLICT).await;

    // Past its time, by several scheduler rounds.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.call(Method::GET, &path, None).await["status"],
        "cancelled"
    );
    assert!(history(&app).await.is_empty(), "the flag never changed");
    assert_eq!(audited(&app, "scheduled_change.cancelled").await, 1);
}

async fn schedules_in_the_past_or_for_unknown_variants_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, fast_scheduler).await;
    arrange(&app).await;
    let cases = [
        (
            json!({ "at": "2001-01-01T00:00:00Z", "enabled": true }),
            "body.at",
        ),
        (json!({ "at": "tomorrow", "enabled": true }), "body.at"),
        (json!({ "at": at(Duration::from_secs(60)) }), "body"),
        (
            json!({ "at": at(Duration::from_secs(60)), "percentage": 5, "variant": "nope" }),
            "body.state",
        ),
    ];
    for (body, field) in cases {
        let response = app.post(&format!("{FLAG}/schedules"), body.clone()).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"].as_str().unwrap().starts_with(field)),
            "{body}: {problem}"
        );
    }
}

switchboard_test_harness::postgres_test! {
    #[tokio::test]
    async fn a_schedule_fires_once_across_two_instances() {
        let first = spawn_app_with(crate::helpers::postgres().unwrap(), fast_scheduler).await;
        let mut second = spawn_app_with(Backend::Sqlite, |s| {
            fast_scheduler(s);
            s.database_url = first.settings.database_url.clone();
            s.master_key_file = Some(first.data_dir.path().join("master.key"));
        })
        .await;
        second.admin_token = first.admin_token.clone();
        arrange(&first).await;
        let mut paths = Vec::new();
        for (i, enabled) in [true, false, true].into_iter().enumerate() {
            let when = at(Duration::from_millis(300 + 100 * i as u64));
            paths.push(schedule(&first, json!({ "at": when, "enabled": enabled })).await);
        }
        for path in &paths {
            until(&second, path, Duration::from_secs(10), |s| s["status"] == "applied").await;
        }
        // More rounds on both instances: nothing is applied again.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(history(&first).await.len(), 3, "one version per scheduled change");
        assert_eq!(audited(&second, "scheduled_change.applied").await, 3);
        assert_eq!(first.call(Method::GET, FLAG, None).await["enabled"], true);
    }
}
