//! Writes of every kind (creates, updates and deletes of projects, environments, flags,
//! segments, the kill switch, config, secrets, tokens) while the database first goes silent
//! (a partition: a `COMMIT` can be held and delivered later) and then stops. What a client must
//! be able to rely on:
//!
//! - every write answers within `db_timeout_secs` plus a small margin;
//! - a write answered 503 `unavailable` ("nothing was changed") was not applied;
//! - a retry with the same `Idempotency-Key` after the outage returns the original outcome,
//!   applied once; a write whose commit was in flight (503 `outcome-unknown`) replays its
//!   outcome if the commit landed, and runs once more if it did not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::outage::SilentProxy;
use crate::own_postgres::OwnPostgres;

const DB_TIMEOUT_SECS: u64 = 2;
/// What a request may take beyond `db_timeout_secs` (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_millis(1_500);
const ENV: &str = "/v1/projects/shop/environments/production";

/// One write as sent, and what it was answered.
#[derive(Debug)]
struct Sent {
    method: Method,
    path: String,
    body: Value,
    key: Option<String>,
    status: Option<StatusCode>,
    answer: Value,
    took: Duration,
}

impl Sent {
    fn problem(&self) -> &str {
        self.answer["type"].as_str().unwrap_or("")
    }
}

/// The `round`-th write of `writer`: each writer keeps to one kind, creating and deleting in
/// turns where the kind has both.
fn write(writer: usize, round: usize) -> (Method, String, Value) {
    let name = format!("w{writer}-{}", round / 2);
    let create = round % 2 == 0;
    match writer % 10 {
        0 if create => (Method::POST, "/v1/projects".into(), json!({ "name": name })),
        0 => (
            Method::DELETE,
            format!("/v1/projects/{name}?confirm={name}"),
            json!(null),
        ),
        1 if create => (
            Method::POST,
            "/v1/projects/shop/environments".into(),
            json!({ "name": name }),
        ),
        1 => (
            Method::DELETE,
            format!("/v1/projects/shop/environments/{name}?confirm={name}"),
            json!(null),
        ),
        2 if create => (
            Method::POST,
            "/v1/projects/shop/flags".into(),
            json!({ "key": name, "type": "boolean" }),
        ),
        2 => (
            Method::DELETE,
            format!("/v1/projects/shop/flags/{name}"),
            json!(null),
        ),
        3 if create => (
            Method::POST,
            "/v1/projects/shop/segments".into(),
            json!({ "name": name, "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] }),
        ),
        3 => (
            Method::DELETE,
            format!("/v1/projects/shop/segments/{name}"),
            json!(null),
        ),
        4 if create => (
            Method::POST,
            format!("{ENV}/kill"),
            json!({ "reason": name }),
        ),
        4 => (Method::DELETE, format!("{ENV}/kill"), json!(null)),
        5 => (
            Method::PATCH,
            "/v1/projects/shop".into(),
            json!({ "description": name }),
        ),
        6 => (
            Method::PUT,
            format!("{ENV}/config/LIMIT"),
            json!({ "value": round }),
        ),
        7 => (
            Method::PUT,
            format!("{ENV}/secrets/API_KEY"),
            json!({ "value": name }),
        ),
        8 => (
            Method::POST,
            format!("{ENV}/flags/checkout/rollout"),
            json!({ "basis_points": round }),
        ),
        _ => (
            Method::POST,
            "/v1/tokens".into(),
            json!({ "name": name, "scopes": ["flags:read"], "projects": ["shop"] }),
        ),
    }
}

async fn send(app: &TestApp, method: Method, path: &str, body: &Value, key: Option<&str>) -> Sent {
    let started = Instant::now();
    let mut request = app
        .request(method.clone(), path)
        .timeout(Duration::from_secs(60));
    if !body.is_null() {
        request = request.json(body);
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status();
            let replayed = response.headers().contains_key("idempotent-replayed");
            let mut answer = response.json::<Value>().await.unwrap_or(Value::Null);
            if replayed {
                answer = json!({ "replayed": answer });
            }
            (Some(status), answer)
        }
        Err(_) => (None, Value::Null),
    };
    Sent {
        method,
        path: path.to_owned(),
        body: body.clone(),
        key: key.map(str::to_owned),
        status,
        answer,
        took: started.elapsed(),
    }
}

/// The retry of `sent` with its key, once the key is no longer held by the first request.
async fn retry(app: &TestApp, sent: &Sent) -> Sent {
    let settled = Instant::now() + Duration::from_secs(30);
    loop {
        let again = send(
            app,
            sent.method.clone(),
            &sent.path,
            &sent.body,
            sent.key.as_deref(),
        )
        .await;
        let still_running = again.status == Some(StatusCode::CONFLICT)
            && again.answer["detail"]
                .as_str()
                .is_some_and(|d| d.contains("still being processed"));
        if !still_running && again.status != Some(StatusCode::SERVICE_UNAVAILABLE) {
            return again;
        }
        assert!(
            Instant::now() < settled,
            "the key of {} {} stays held",
            sent.method,
            sent.path
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

switchboard_test_harness::postgres_test! {
    #[tokio::test]
    async fn writes_of_every_kind_answer_in_time_through_an_outage_and_retries_replay_their_outcome() {
        let postgres = OwnPostgres::start();
        let proxy = SilentProxy::start().await;
        proxy.set_upstream(postgres.url.split_once('@').unwrap().1.split_once('/').unwrap().0);
        let url = postgres.url.replace(
            postgres.url.split_once('@').unwrap().1.split_once('/').unwrap().0,
            &format!("127.0.0.1:{}", proxy.port),
        );
        let app = spawn_app_with(Backend::Sqlite, |s| {
            s.database_url = Some(url);
            s.db_timeout_secs = DB_TIMEOUT_SECS;
            s.sync_interval_ms = 100;
        })
        .await;
        app.create_project("shop").await;
        app.create_environment("shop", "production", None).await;
        app.create_boolean_flag("shop", "checkout").await;

        // Twenty writers, two of each kind, write until told to stop; the database goes
        // silent under them (commits held in the network), speaks again, then stops.
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..20).map(|writer| {
            let (app, stop) = (&app, stop.clone());
            async move {
                let mut sent = Vec::new();
                let mut round = 0;
                while !stop.load(Ordering::SeqCst) {
                    let (method, path, body) = write(writer, round);
                    let key = (!path.starts_with("/v1/tokens")).then(|| format!("{writer}-{round}"));
                    sent.push(send(app, method, &path, &body, key.as_deref()).await);
                    round += 1;
                }
                sent
            }
        });
        let outage = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            proxy.go_silent();
            tokio::time::sleep(Duration::from_secs(DB_TIMEOUT_SECS) * 2).await;
            proxy.speak_again();
            tokio::time::sleep(Duration::from_millis(500)).await;
            postgres.stop();
            tokio::time::sleep(Duration::from_secs(DB_TIMEOUT_SECS)).await;
            stop.store(true, Ordering::SeqCst);
        };
        let (sent, ()) = tokio::join!(futures_util::future::join_all(writers), outage);
        let sent: Vec<Sent> = sent.into_iter().flatten().collect();

        let bound = Duration::from_secs(DB_TIMEOUT_SECS) + MARGIN;
        for write in &sent {
            assert!(
                write.took <= bound,
                "{} {} took {:?} ({:?})",
                write.method, write.path, write.took, write.status
            );
            let status = write.status.expect("answered");
            assert!(
                status.is_success() || status == StatusCode::SERVICE_UNAVAILABLE
                    || (status == StatusCode::NOT_FOUND && write.method == Method::DELETE),
                "{} {} answered {status}: {}",
                write.method, write.path, write.answer
            );
        }
        let failed = |kind: &str| sent.iter().filter(|w| w.problem().ends_with(kind)).count();
        assert!(failed(":unavailable") > 0, "the outage was seen");
        assert!(sent.iter().any(|w| w.status.is_some_and(|s| s.is_success())));

        // The database is back: every write is sent again with its key.
        postgres.restart();
        let recovered = Instant::now() + Duration::from_secs(30);
        while app.get("/v1/projects/shop").await.status() != StatusCode::OK {
            assert!(Instant::now() < recovered, "the server does not recover");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut unknown_applied = 0;
        for write in sent.iter().filter(|w| w.key.is_some()) {
            let again = retry(&app, write).await;
            let replayed = again.answer.get("replayed");
            match write.problem() {
                // "Nothing was changed": so the retry runs it, for the first time.
                "urn:switchboard:problem:unavailable" => {
                    assert!(replayed.is_none(), "{} {} was applied", write.method, write.path);
                    assert_ne!(
                        again.status,
                        Some(StatusCode::CONFLICT),
                        "{} {} was applied before: {}",
                        write.method, write.path, again.answer
                    );
                }
                // Applied with its outcome, or not at all.
                "urn:switchboard:problem:outcome-unknown" => {
                    if replayed.is_some() {
                        unknown_applied += 1;
                        assert!(again.status.is_some_and(|s| s.is_success()));
                    }
                }
                // Answered: the retry gets the same answer, not a second application.
                _ => {
                    assert_eq!(again.status, write.status, "{} {}", write.method, write.path);
                    assert_eq!(replayed, Some(&write.answer), "{} {}", write.method, write.path);
                }
            }
        }
        eprintln!(
            "{} writes: {} unavailable, {} outcome unknown ({unknown_applied} of them applied)",
            sent.len(),
            failed(":unavailable"),
            failed(":outcome-unknown"),
        );
    }
}
