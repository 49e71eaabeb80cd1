//! Webhooks: every audited change of a project reaches its endpoints exactly once, signed as
//! the Standard Webhooks convention describes (checked with its reference library), through a
//! receiver that was down, across instances, and never with a secret's value.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_test_harness::required;

use crate::helpers::{
    Backend, NOT_CONFIGURED, TestApp, assert_problem, postgres, spawn_app, spawn_app_with,
};
use crate::webhook_receiver::{Answer, Received, Receiver};

crate::on_both_backends!(
    a_receiver_that_was_down_gets_every_change_once_with_a_valid_signature,
    a_secret_write_is_delivered_without_its_value,
    a_delivery_is_sent_again_on_request_with_the_same_id,
    a_slack_endpoint_receives_one_line_of_text,
    an_instance_that_dies_mid_send_loses_its_claim_and_another_instance_delivers,
    webhook_urls_and_filters_are_validated_without_echoing_them,
);

const ENV: &str = "/v1/projects/shop/environments/production";
const SECRET_VALUE: &str = "sk_live_WEBHOOK_MUST_NOT_SEE_THIS";
const WAIT: Duration = Duration::from_secs(20);

/// A project `shop` with a `production` environment.
async fn shop(app: &TestApp) {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
}

/// Creates a webhook of `shop`; returns its id and its signing secret.
async fn create_webhook(app: &TestApp, body: Value) -> (String, String) {
    let response = app.post("/v1/projects/shop/webhooks", body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// The webhook's deliveries, newest first (one page).
async fn deliveries(app: &TestApp, webhook: &str) -> Vec<Value> {
    let page = app
        .call(
            Method::GET,
            &format!("/v1/projects/shop/webhooks/{webhook}/deliveries?limit=200"),
            None,
        )
        .await;
    page["items"].as_array().unwrap().clone()
}

/// Waits until the webhook has `count` deliveries that all satisfy `done`.
async fn wait_for_deliveries(
    app: &TestApp,
    webhook: &str,
    count: usize,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let items = deliveries(app, webhook).await;
        if items.len() == count && items.iter().all(&done) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never settled: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn delivered(delivery: &Value) -> bool {
    delivery["status"] == "delivered"
}

/// The ids and actions of `shop`'s audit events from `first_action`'s on, oldest first.
async fn events_since(app: &TestApp, first_action: &str) -> Vec<(i64, String)> {
    let mut events: Vec<(i64, String)> = app
        .audit("project=shop&limit=200")
        .await
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    events.reverse();
    let start = events.iter().position(|(_, a)| a == first_action).unwrap();
    events.split_off(start)
}

/// Some changes of every kind a project has: a flag, its state, config, a secret, the kill
/// switch.
async fn make_changes(app: &TestApp) {
    app.create_boolean_flag("shop", "checkout").await;
    app.call(Method::POST, &format!("{ENV}/flags/checkout/enable"), None)
        .await;
    app.call(
        Method::PUT,
        &format!("{ENV}/config/greeting"),
        Some(json!({ "value": "hello" })),
    )
    .await;
    app.call(
        Method::PUT,
        &format!("{ENV}/secrets/API_KEY"),
        Some(json!({ "value": SECRET_VALUE })),
    )
    .await;
    app.call(Method::POST, &format!("{ENV}/kill"), None).await;
    app.call(Method::DELETE, &format!("{ENV}/kill"), None).await;
}

/// What the Standard Webhooks reference library (PyPI `standardwebhooks`, installed by
/// tests/webhooks/install.sh) says of `messages`: the payloads it accepted, or why it rejected
/// one. `None` when it is not installed, unless `SWITCHBOARD_TEST_REQUIRE` names `readers`.
fn reference_verdict(secret: &str, messages: &[Received]) -> Option<Result<Vec<Value>, String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/webhooks");
    let python = dir.join(".venv/bin/python");
    if !python.exists() {
        assert!(
            !required("readers"),
            "tests/webhooks/.venv is missing: run tests/webhooks/install.sh"
        );
        eprintln!(
            "note: standardwebhooks is not installed (tests/webhooks/install.sh); \
             signatures not verified with it"
        );
        return None;
    }
    let request = json!({
        "secret": secret,
        "messages": messages
            .iter()
            .map(|m| json!({ "headers": m.headers, "body": m.body }))
            .collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .arg(dir.join("verify.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        request.to_string().as_bytes(),
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    Some(match output.status.success() {
        true => Ok(serde_json::from_slice(&output.stdout).unwrap()),
        false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
    })
}

/// The payloads of `messages`, each verified by the reference library (when installed).
fn verified_by_reference_library(secret: &str, messages: &[Received]) -> Option<Vec<Value>> {
    reference_verdict(secret, messages).map(|verdict| match verdict {
        Ok(payloads) => payloads,
        Err(why) => panic!("the reference library rejected a delivery: {why}"),
    })
}

async fn a_receiver_that_was_down_gets_every_change_once_with_a_valid_signature(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let mut receiver = Receiver::down();
    let (webhook, secret) = create_webhook(&app, json!({ "url": receiver.url() })).await;
    assert!(secret.starts_with("whsec_"));

    make_changes(&app).await;
    let events = events_since(&app, "webhook.create").await;
    assert_eq!(events.len(), 7, "{events:?}");
    // Down: every delivery is tried, and fails, at least once.
    let failing = wait_for_deliveries(&app, &webhook, events.len(), |d| {
        d["attempts"].as_i64().unwrap() >= 1
    })
    .await;
    assert!(failing.iter().all(|d| d["status"] == "pending"));
    assert_eq!(failing[0]["log"][0]["error"], "could not connect");

    receiver.start().await;
    let settled = wait_for_deliveries(&app, &webhook, events.len(), delivered).await;
    let received = receiver.received();

    // Exactly once: one request per event, each with its own id.
    assert_eq!(received.len(), events.len());
    let ids: HashSet<&str> = received.iter().map(Received::id).collect();
    assert_eq!(ids.len(), events.len());
    let delivered_events: HashSet<i64> = received
        .iter()
        .map(|r| r.json()["data"]["audit_event_id"].as_i64().unwrap())
        .collect();
    let expected: HashSet<i64> = events.iter().map(|(id, _)| *id).collect();
    assert_eq!(delivered_events, expected);
    for message in &received {
        let payload = message.json();
        let (_, action) = events
            .iter()
            .find(|(id, _)| Some(*id) == payload["data"]["audit_event_id"].as_i64())
            .unwrap();
        assert_eq!(&payload["type"], action.as_str());
        assert_eq!(message.headers["content-type"], "application/json");
    }
    // The log shows the failures, then the answer.
    for delivery in &settled {
        let log = delivery["log"].as_array().unwrap();
        assert!(log.len() >= 2, "{delivery:#}");
        assert!(log[0]["status_code"].is_null());
        assert_eq!(log.last().unwrap()["status_code"], 200);
        assert_eq!(log.last().unwrap()["response_snippet"], "received");
    }
    if let Some(verified) = verified_by_reference_library(&secret, &received) {
        assert_eq!(verified.len(), events.len());
    }
    // A tampered body does not verify.
    let mut forged = received[0].clone();
    forged.body = forged.body.replace("shop", "shoq");
    if let Some(verdict) = reference_verdict(&secret, &[forged]) {
        assert!(verdict.is_err(), "a forged body verified");
    }
}

async fn a_secret_write_is_delivered_without_its_value(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let receiver = Receiver::up().await;
    let (webhook, _) = create_webhook(
        &app,
        json!({ "url": receiver.url(), "events": ["secret.*"] }),
    )
    .await;

    make_changes(&app).await;
    wait_for_deliveries(&app, &webhook, 1, delivered).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let payload = received[0].json();
    assert_eq!(payload["type"], "secret.write");
    assert_eq!(payload["data"]["environment"], "production");
    assert!(
        payload["data"]["target"]
            .as_str()
            .unwrap()
            .contains("API_KEY")
    );
    assert!(!received[0].body.contains(SECRET_VALUE));
    assert!(!received[0].body.contains("WEBHOOK_MUST_NOT"));
}

async fn a_delivery_is_sent_again_on_request_with_the_same_id(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let receiver = Receiver::up().await;
    let (webhook, secret) = create_webhook(
        &app,
        json!({ "url": receiver.url(), "events": ["flag.create"] }),
    )
    .await;
    app.create_boolean_flag("shop", "checkout").await;
    let first = wait_for_deliveries(&app, &webhook, 1, delivered).await;
    let delivery = first[0]["id"].as_str().unwrap().to_owned();

    let path = format!("/v1/projects/shop/webhooks/{webhook}/deliveries/{delivery}/redeliver");
    let response = app.post(&path, json!({})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let received = receiver.wait_for(2, WAIT).await;
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].id(), delivery);
    assert_eq!(received[1].id(), delivery);
    assert_eq!(received[0].body, received[1].body);
    let settled = wait_for_deliveries(&app, &webhook, 1, |d| {
        delivered(d) && d["log"].as_array().unwrap().len() == 2
    })
    .await;
    assert_eq!(settled[0]["log"][0]["manual"], false);
    assert_eq!(settled[0]["log"][1]["manual"], true);
    verified_by_reference_library(&secret, &received);

    // A delivery the webhook does not have is not found.
    let unknown = "msg_00000000000000000000000000000000";
    let response = app
        .post(
            &format!("/v1/projects/shop/webhooks/{webhook}/deliveries/{unknown}/redeliver"),
            json!({}),
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

async fn a_slack_endpoint_receives_one_line_of_text(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let receiver = Receiver::up().await;
    let (webhook, _) = create_webhook(
        &app,
        json!({ "url": receiver.url(), "format": "slack", "events": ["environment.kill"] }),
    )
    .await;
    make_changes(&app).await;
    wait_for_deliveries(&app, &webhook, 1, delivered).await;

    let payload = receiver.received()[0].json();
    assert_eq!(payload.as_object().unwrap().len(), 1, "{payload}");
    let text = payload["text"].as_str().unwrap();
    assert!(text.contains("`environment.kill`"), "{text}");
    assert!(text.contains("in shop/production"), "{text}");
}

async fn an_instance_that_dies_mid_send_loses_its_claim_and_another_instance_delivers(
    backend: Backend,
) {
    let lease = |s: &mut switchboard_server::settings::Settings| {
        s.webhooks.webhooks_timeout_secs = 3;
        s.webhooks.webhooks_lease_secs = 4;
        // Stopping does not wait for the attempt in flight: the instance dies mid-send.
        s.shutdown_timeout_secs = 0;
    };
    let mut first = spawn_app_with(backend, lease).await;
    shop(&first).await;
    let mut receiver = Receiver::down();
    receiver.answer(Answer::Hang);
    receiver.start().await;
    let (webhook, secret) = create_webhook(
        &first,
        json!({ "url": receiver.url(), "events": ["flag.create"] }),
    )
    .await;
    first.create_boolean_flag("shop", "checkout").await;

    // The first instance has claimed the delivery and is waiting for an answer…
    let deadline = Instant::now() + WAIT;
    while claimed_by(&first).await.is_none() {
        assert!(Instant::now() < deadline, "the delivery was never claimed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …when it dies.
    let claimed_at = Instant::now();
    first.stop().await;
    receiver.answer(Answer::Status(200));

    let second = spawn_app_with(Backend::Sqlite, |s| {
        lease(s);
        s.database_url = first.settings.database_url.clone();
        s.master_key_file = Some(first.data_dir.path().join("master.key"));
    })
    .await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received.len(), 1);
    // Not before the dead instance's lease ran out.
    assert!(
        claimed_at.elapsed() >= Duration::from_secs(3),
        "{:?}",
        claimed_at.elapsed()
    );
    let mut second = second;
    second.admin_token = first.admin_token.clone();
    let settled = wait_for_deliveries(&second, &webhook, 1, delivered).await;
    // The dead instance's attempt was never recorded; the second one's was.
    assert_eq!(settled[0]["log"].as_array().unwrap().len(), 1);
    verified_by_reference_library(&secret, &received);
}

/// Who holds the claim on the only delivery, if anyone.
async fn claimed_by(app: &TestApp) -> Option<String> {
    sqlx::query_scalar::<_, Option<String>>("SELECT claimed_by FROM webhook_deliveries")
        .fetch_optional(app.store.pool())
        .await
        .unwrap()
        .flatten()
}

async fn webhook_urls_and_filters_are_validated_without_echoing_them(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.webhooks.webhooks_allow_http = false;
        s.webhooks.webhooks_deny_private = true;
    })
    .await;
    shop(&app).await;
    for (body, field) in [
        (
            json!({ "url": "http://hooks.example.com/T0KEN-in-url" }),
            "body.url",
        ),
        (
            json!({ "url": "https://169.254.169.254/T0KEN-in-url" }),
            "body.url",
        ),
        (
            json!({ "url": "https://user:T0KEN-in-url@hooks.example.com/" }),
            "body.url",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "events": ["T0KEN-in-url"] }),
            "body.events",
        ),
        (
            json!({ "url": "https://hooks.example.com/", "events": [] }),
            "body.events",
        ),
    ] {
        let response = app.post("/v1/projects/shop/webhooks", body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field);
        assert!(!problem.to_string().contains("T0KEN"), "{problem}");
    }
    let response = app
        .post(
            "/v1/projects/shop/webhooks",
            json!({ "url": "https://hooks.example.com/", "format": "teams" }),
        )
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(!problem.to_string().contains("teams"), "{problem}");

    // The secret is shown once: never in a listing or a read.
    let (webhook, secret) =
        create_webhook(&app, json!({ "url": "https://hooks.example.com/in" })).await;
    let listed = app
        .call(Method::GET, "/v1/projects/shop/webhooks", None)
        .await;
    let one = app
        .call(
            Method::GET,
            &format!("/v1/projects/shop/webhooks/{webhook}"),
            None,
        )
        .await;
    assert!(!listed.to_string().contains(&secret));
    assert!(!one.to_string().contains(&secret));
    assert!(one.get("secret").is_none());
    assert_eq!(one["events"], json!(["*"]));
    // Rotation shows a new one.
    let rotated = app
        .call(
            Method::POST,
            &format!("/v1/projects/shop/webhooks/{webhook}/rotate-secret"),
            None,
        )
        .await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // A token for one environment may not manage the project's webhooks.
    let (narrow, _) = app
        .issue_token(json!({ "name": "narrow", "scopes": ["admin"], "projects": ["shop"], "environments": ["production"] }))
        .await;
    let response = app
        .request_as(Some(&narrow), Method::GET, "/v1/projects/shop/webhooks")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

mod across_instances {
    use super::*;

    switchboard_test_harness::postgres_test! {
        #[tokio::test]
        async fn two_instances_on_one_postgres_deliver_each_event_once() {
            let backend = postgres().expect(NOT_CONFIGURED);
            let first = spawn_app(backend).await;
            let mut second = spawn_app_with(Backend::Sqlite, |s| {
                s.database_url = first.settings.database_url.clone();
                s.master_key_file = Some(first.data_dir.path().join("master.key"));
            })
            .await;
            second.admin_token = first.admin_token.clone();
            shop(&first).await;
            let receiver = Receiver::up().await;
            let (webhook, secret) = create_webhook(&first, json!({ "url": receiver.url() })).await;

            // Writes on both instances; both instances' workers race for every delivery.
            for i in 0..20 {
                let app = if i % 2 == 0 { &first } else { &second };
                let path = format!("{ENV}/config/key{i}");
                app.call(Method::PUT, &path, Some(json!({ "value": i }))).await;
            }
            let events = events_since(&first, "webhook.create").await;
            assert_eq!(events.len(), 21);
            let settled = wait_for_deliveries(&first, &webhook, events.len(), delivered).await;

            // One attempt each: no delivery was sent by both instances.
            for delivery in &settled {
                assert_eq!(delivery["log"].as_array().unwrap().len(), 1, "{delivery:#}");
            }
            let received = receiver.received();
            assert_eq!(received.len(), events.len());
            let ids: HashSet<&str> = received.iter().map(Received::id).collect();
            assert_eq!(ids.len(), events.len());
            verified_by_reference_library(&secret, &received);
        }
    }
}

#[tokio::test]
async fn webhook_answers_match_the_schemas_the_spec_documents() {
    use crate::contract::check;
    let app = spawn_app(Backend::Sqlite).await;
    shop(&app).await;
    let receiver = Receiver::up().await;
    let list = "/v1/projects/{project}/webhooks";
    let one = "/v1/projects/{project}/webhooks/{webhook}";
    let created = check(
        &app,
        Method::POST,
        "/v1/projects/shop/webhooks",
        list,
        Some(json!({ "url": receiver.url(), "events": ["flag.*"], "description": "bot" })),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/projects/shop/webhooks/{id}");
    check(&app, Method::GET, "/v1/projects/shop/webhooks", list, None).await;
    check(&app, Method::GET, &path, one, None).await;
    check(
        &app,
        Method::PATCH,
        &path,
        one,
        Some(json!({ "format": "slack" })),
    )
    .await;
    check(
        &app,
        Method::POST,
        &format!("{path}/rotate-secret"),
        "/v1/projects/{project}/webhooks/{webhook}/rotate-secret",
        None,
    )
    .await;
    app.create_boolean_flag("shop", "checkout").await;
    let settled = wait_for_deliveries(&app, id, 1, delivered).await;
    let deliveries = "/v1/projects/{project}/webhooks/{webhook}/deliveries";
    check(
        &app,
        Method::GET,
        &format!("{path}/deliveries"),
        deliveries,
        None,
    )
    .await;
    check(
        &app,
        Method::GET,
        &format!("{path}/deliveries?status=bogus"),
        deliveries,
        None,
    )
    .await;
    let delivery = settled[0]["id"].as_str().unwrap();
    check(
        &app,
        Method::POST,
        &format!("{path}/deliveries/{delivery}/redeliver"),
        "/v1/projects/{project}/webhooks/{webhook}/deliveries/{delivery}/redeliver",
        None,
    )
    .await;
    let missing = "/v1/projects/shop/webhooks/0190b3a4-7c1e-7000-8000-000000000000";
    check(&app, Method::GET, missing, one, None).await;
}
