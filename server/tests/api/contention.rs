//! Concurrent writers on one resource. What a client relies on: the answer to its write (status,
//! `ETag`, body) describes the version *that* write created, so an `If-Match` built from it
//! never overwrites another writer; without `If-Match` a write is last-writer-wins and always
//! succeeds (no 412, no 409 from two first creations racing); with `If-Match` a stale version
//! is a 412, never a 409. PostgreSQL runs writers truly in parallel, so the races are real there.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

crate::on_both_backends!(
    every_acknowledged_config_write_answers_the_version_it_created,
    twenty_concurrent_first_creations_of_a_config_key_all_succeed,
    conditional_writers_get_412_never_409_and_lose_nothing,
    unconditional_concurrent_writes_of_flags_segments_and_secrets_all_succeed,
    promotions_racing_with_writes_to_the_target_all_succeed,
);

const WRITERS: usize = 20;
const ENV: &str = "/v1/projects/shop/environments/production";

async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app
}

/// Sends `request` and returns its status, `ETag` and JSON body (`Null` if none).
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Option<String>, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, etag, body)
}

/// The whole history of a config key: version → value.
async fn config_history(app: &TestApp, key: &str) -> Vec<(i64, Value)> {
    let mut history = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.map_or(String::new(), |c| format!("&cursor={c}"));
        let page = app
            .call(
                Method::GET,
                &format!("{ENV}/config/{key}/versions?limit=200{query}"),
                None,
            )
            .await;
        for item in page["items"].as_array().unwrap() {
            history.push((item["version"].as_i64().unwrap(), item["value"].clone()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return history,
        }
    }
}

async fn every_acknowledged_config_write_answers_the_version_it_created(backend: Backend) {
    let app = shop(backend).await;
    let url = format!("{ENV}/config/limit");

    let writers = (0..WRITERS).map(|writer| {
        let (app, url) = (&app, &url);
        async move {
            let mut answers = Vec::new();
            for write in 0..10 {
                let value = format!("writer {writer} write {write}");
                let request = app
                    .request(Method::PUT, url)
                    .json(&json!({ "value": value }));
                answers.push((value, send(request).await));
            }
            answers
        }
    });
    let answers: Vec<_> = join_all(writers).await.into_iter().flatten().collect();

    let history = config_history(&app, "limit").await;
    let mut versions = BTreeSet::new();
    for (value, (status, etag, body)) in &answers {
        assert_eq!(
            *status,
            StatusCode::OK,
            "an unconditional write failed: {body}"
        );
        let version = body["version"].as_i64().unwrap();
        assert_eq!(etag.as_deref(), Some(format!("\"{version}\"").as_str()));
        assert_eq!(
            body["value"],
            json!(value),
            "the answer shows another write"
        );
        let created = history.iter().find(|(v, _)| *v == version).unwrap();
        assert_eq!(
            created.1,
            json!(value),
            "version {version} holds another value"
        );
        assert!(
            versions.insert(version),
            "two answers claim version {version}"
        );
    }
    assert_eq!(history.len(), WRITERS * 10, "every write is one version");
}

async fn twenty_concurrent_first_creations_of_a_config_key_all_succeed(backend: Backend) {
    let app = shop(backend).await;

    let creations = (0..WRITERS).map(|writer| {
        let request = app
            .request(Method::PUT, &format!("{ENV}/config/fresh"))
            .json(&json!({ "value": writer }));
        send(request)
    });
    let statuses: Vec<StatusCode> = join_all(creations).await.into_iter().map(|a| a.0).collect();

    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(config_history(&app, "fresh").await.len(), WRITERS);
}

async fn conditional_writers_get_412_never_409_and_lose_nothing(backend: Backend) {
    let app = shop(backend).await;

    // Twenty clients create the key, each only if nobody has (`If-Match: "0"`).
    let creations = (0..WRITERS).map(|writer| {
        let request = app
            .request(Method::PUT, &format!("{ENV}/config/owner"))
            .header("if-match", "\"0\"")
            .json(&json!({ "value": writer }));
        send(request)
    });
    let statuses: Vec<StatusCode> = join_all(creations).await.into_iter().map(|a| a.0).collect();
    let created = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let stale = statuses
        .iter()
        .filter(|s| **s == StatusCode::PRECONDITION_FAILED)
        .count();
    assert_eq!((created, stale), (1, WRITERS - 1), "{statuses:?}");

    // Then each reads, and writes back on top of what it read, five times.
    let writers = (0..WRITERS).map(|writer| {
        let app = &app;
        async move {
            let mut outcomes = Vec::new();
            for write in 0..5 {
                let (_, etag, _) =
                    send(app.request(Method::GET, &format!("{ENV}/config/owner"))).await;
                let request = app
                    .request(Method::PUT, &format!("{ENV}/config/owner"))
                    .header("if-match", etag.unwrap())
                    .json(&json!({ "value": format!("{writer}/{write}") }));
                outcomes.push(send(request).await.0);
            }
            outcomes
        }
    });
    let outcomes: Vec<StatusCode> = join_all(writers).await.into_iter().flatten().collect();
    for status in &outcomes {
        assert!(
            [StatusCode::OK, StatusCode::PRECONDITION_FAILED].contains(status),
            "a conditional write answered {status}"
        );
    }
    let succeeded = outcomes.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(
        config_history(&app, "owner").await.len(),
        1 + succeeded,
        "every acknowledged conditional write is a version of its own"
    );
}

async fn unconditional_concurrent_writes_of_flags_segments_and_secrets_all_succeed(
    backend: Backend,
) {
    let app = shop(backend).await;
    app.create_boolean_flag("shop", "checkout").await;
    let segment = json!({ "name": "beta", "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] });
    app.call(Method::POST, "/v1/projects/shop/segments", Some(segment))
        .await;

    for (what, method, path) in [
        (
            "flag state",
            Method::POST,
            format!("{ENV}/flags/checkout/rollout"),
        ),
        (
            "segment",
            Method::PUT,
            "/v1/projects/shop/segments/beta".to_owned(),
        ),
        ("secret", Method::PUT, format!("{ENV}/secrets/API_KEY")),
    ] {
        let writes = (0..WRITERS).map(|writer| {
            let body = match what {
                "flag state" => json!({ "basis_points": 100 + writer }),
                "segment" => json!({ "description": format!("writer {writer}"), "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] }),
                _ => json!({ "value": format!("value {writer}") }),
            };
            send(app.request(method.clone(), &path).json(&body))
        });
        let answers = join_all(writes).await;
        let mut etags = BTreeSet::new();
        for (status, etag, body) in answers {
            assert_eq!(status, StatusCode::OK, "a {what} write failed: {body}");
            assert!(
                etags.insert(etag.unwrap()),
                "two {what} answers share an ETag"
            );
            if what == "flag state" {
                let version = body["version"].as_i64().unwrap();
                assert!(etags.contains(&format!("\"{version}\"")));
            }
        }
    }
}

async fn promotions_racing_with_writes_to_the_target_all_succeed(backend: Backend) {
    let app = shop(backend).await;
    app.create_environment("shop", "staging", None).await;
    let staging = "/v1/projects/shop/environments/staging";
    app.call(
        Method::PUT,
        &format!("{staging}/config/limit"),
        Some(json!({ "value": "from staging" })),
    )
    .await;

    let mut answers = Vec::new();
    for round in 0..3 {
        let writes = (0..WRITERS).map(|writer| {
            let request = if writer % 2 == 0 {
                app.request(Method::PUT, &format!("{ENV}/config/limit"))
                    .json(&json!({ "value": format!("{round}/{writer}") }))
            } else {
                app.request(Method::POST, &format!("{ENV}/promote"))
                    .json(&json!({ "from": "staging" }))
            };
            send(request)
        });
        answers.extend(join_all(writes).await);
    }

    for (status, _, body) in answers {
        assert_eq!(
            status,
            StatusCode::OK,
            "a write or promotion failed: {body}"
        );
    }
}
