//! What a caller sends is theirs: a secret value (a string or a number), a token in a header or
//! in a query string must not come back in an error message, a log line (text or JSON, at debug
//! level) or an exported span, whichever endpoint it was sent to and whether or not the request
//! succeeded. And refusals, which anyone can provoke, are counted in `/metrics` instead of
//! written to the log one line each.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::ServerProcess;
use crate::helpers::{Backend, assert_problem, spawn_app};

crate::on_both_backends!(
    validation_messages_name_the_field_and_the_shape_but_never_the_value,
    refused_credentials_are_counted_in_metrics_by_reason,
);

const CANARY: &str = "canary-5e1d-NEVER-LOG";
const CANARY_NUMBER: i64 = 7_319_462_805_117;
const HEADER_CANARY: &str = "canary-header-token-9d1c";

async fn validation_messages_name_the_field_and_the_shape_but_never_the_value(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    let env = "/v1/projects/shop/environments/production";

    let put = |path: String, body: Value| app.request(Method::PUT, &path).json(&body).send();
    let number = assert_problem(
        put(format!("{env}/secrets/PIN"), json!({ "value": 482913 }))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(number["errors"][0]["field"], "body.value");
    assert_eq!(
        number["errors"][0]["message"],
        "expected a string, got a number"
    );
    assert!(!number.to_string().contains("482913"), "{number}");

    // Every endpoint's body and query string is read the same way: wrong types, unknown
    // variants and unknown names are described, never quoted.
    let wrong_bodies = [
        (
            Method::POST,
            "/v1/projects".to_owned(),
            json!({ "name": CANARY_NUMBER }),
        ),
        (
            Method::POST,
            "/v1/tokens".to_owned(),
            json!({ "name": "ci", "scopes": "admin", "ttl_seconds": CANARY }),
        ),
        (
            Method::POST,
            "/v1/projects/shop/flags".to_owned(),
            json!({ "key": CANARY_NUMBER }),
        ),
        (
            Method::PUT,
            format!("{env}/config/DB_URL"),
            json!({ "value": "x", CANARY: 1 }),
        ),
        (
            Method::POST,
            format!("{env}/secrets/PIN/rollback"),
            json!({ "version": CANARY }),
        ),
    ];
    for (method, path, body) in wrong_bodies {
        let answer = app
            .request(method.clone(), &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let text = answer.text().await.unwrap();
        assert!(status.is_client_error(), "{method} {path}: {status}");
        assert!(!text.contains(CANARY), "{method} {path} echoed: {text}");
        assert!(
            !text.contains(&CANARY_NUMBER.to_string()),
            "{method} {path} echoed: {text}"
        );
    }
    for query in [
        format!("{env}/secrets/export?format={CANARY}"),
        format!("/v1/projects?limit={CANARY}"),
        format!("/v1/audit?{CANARY}=1"),
    ] {
        let text = app.get(&query).await.text().await.unwrap();
        assert!(!text.contains(CANARY), "{query} echoed: {text}");
    }

    // No Rust type names: the shape is said in JSON terms.
    let shape = assert_problem(
        app.request(Method::POST, "/v1/projects")
            .json(&json!("shop"))
            .send()
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        shape["errors"][0]["message"],
        "expected an object, got a string"
    );

    // A JSON syntax error says where it is.
    let syntax = assert_problem(
        app.request(Method::POST, "/v1/projects")
            .header("content-type", "application/json")
            .body("{\n  \"name\": \"shop\",,\n}")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        syntax["detail"]
            .as_str()
            .unwrap()
            .contains("invalid JSON at line 2 column"),
        "{syntax}"
    );

    // Every bad scope of a token request is named, not only the first.
    let scopes = assert_problem(
        app.post(
            "/v1/tokens",
            json!({ "name": "ci", "scopes": ["flags:raed", "admin", "secret:read"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&str> = scopes["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["body.scopes[0]", "body.scopes[2]"], "{scopes}");
}

/// `switchboard_auth_refusals_total{reason="..."}` as `/metrics` reports it.
async fn refusals(app: &switchboard_test_harness::TestApp, reason: &str) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let series = format!("switchboard_auth_refusals_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |count| count.trim().parse().unwrap())
}

async fn refused_credentials_are_counted_in_metrics_by_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let (reader, _) = app
        .issue_token(json!({ "name": "reader", "scopes": ["flags:read"] }))
        .await;
    let (revoked, revoked_id) = app
        .issue_token(json!({ "name": "gone", "scopes": ["flags:read"] }))
        .await;
    assert!(
        app.delete(&format!("/v1/tokens/{revoked_id}"))
            .await
            .status()
            .is_success()
    );
    // The same token with another signature.
    let (unsigned, _) = reader.rsplit_once('.').unwrap();
    let forged = format!("{unsigned}.{}", "A".repeat(43));

    for (token, expected) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some(forged.as_str()), StatusCode::UNAUTHORIZED),
        (Some(revoked.as_str()), StatusCode::UNAUTHORIZED),
        (Some(reader.as_str()), StatusCode::FORBIDDEN),
    ] {
        let status = app
            .request_as(token, Method::GET, "/v1/tokens")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, expected);
    }
    // Revoked on the instance that serves it, the token is refused at once, as revoked.
    assert_eq!(refusals(&app, "missing_or_malformed").await, 1);
    assert_eq!(refusals(&app, "bad_signature").await, 1);
    assert_eq!(refusals(&app, "revoked").await, 1);
    assert_eq!(refusals(&app, "forbidden").await, 1);
}

/// A stand-in OTLP/HTTP collector that keeps the raw bytes of every export (protobuf carries
/// strings as they are, so a leaked value is findable in them).
fn span_collector() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let sink = sink.clone();
            std::thread::spawn(move || keep_export(stream, &sink));
        }
    });
    (port, received)
}

fn keep_export(stream: TcpStream, sink: &Mutex<Vec<u8>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    sink.lock().unwrap().extend_from_slice(&body);
    let mut stream = stream;
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
    );
}

/// A route's path with its parameters filled in with names that exist after the set-up.
fn concrete(pattern: &str) -> String {
    pattern
        .replace("{project}", "shop")
        .replace("{env}", "production")
        .replace("{key}", "PIN")
        .replace("{name}", "PIN")
        .replace("{id}", "tok-unknown")
}

/// Sends the canaries through every route of the server in `format`, then returns what the
/// server logged and what it exported as spans, and the admin token it used.
async fn canaries_through_every_route(format: &str) -> (String, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (collector, spans) = span_collector();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("SWITCHBOARD_LOG_FORMAT", format.into()),
            ("SWITCHBOARD_LOG", "debug".into()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{collector}"),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "50".into()),
        ],
    )
    .await;
    let admin = server.admin_token.clone();
    // A stream answers and stays open: a short timeout moves on.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let send = |method: Method, path: String, bearer: Option<&str>, body: Option<String>| {
        let mut request = client.request(method, format!("{}{path}", server.base));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        async move {
            let _ = request.send().await.map(|r| r.status());
        }
    };
    let setup = [
        ("/v1/projects", json!({ "name": "shop" })),
        (
            "/v1/projects/shop/environments",
            json!({ "name": "production" }),
        ),
    ];
    for (path, body) in setup {
        send(
            Method::POST,
            path.into(),
            Some(&admin),
            Some(body.to_string()),
        )
        .await;
    }
    let secret = "/v1/projects/shop/environments/production/secrets/PIN".to_owned();
    let value = json!({ "value": CANARY }).to_string();
    send(Method::PUT, secret, Some(&admin), Some(value)).await;

    let mut routes = switchboard_server::api::routes().table();
    // Deletions last, so the other routes meet existing objects.
    routes.sort_by_key(|(method, _)| method == "DELETE");
    let bodies = [
        json!({ "value": CANARY_NUMBER }).to_string(),
        json!({ "value": CANARY, "name": CANARY_NUMBER, "scopes": [CANARY], "version": CANARY })
            .to_string(),
        json!({ CANARY: CANARY_NUMBER }).to_string(),
        format!("{{\"value\": \"{CANARY}"),
    ];
    let query = format!("?access_token={admin}&format={CANARY}&limit={CANARY_NUMBER}");
    for (method, pattern) in &routes {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let path = concrete(pattern);
        // Refused before anything is read: no token, a made-up one, the token in the query.
        send(method.clone(), format!("{path}{query}"), None, None).await;
        send(method.clone(), path.clone(), Some(HEADER_CANARY), None).await;
        for body in &bodies {
            let body = (method != Method::GET).then(|| body.clone());
            send(method.clone(), format!("{path}{query}"), Some(&admin), body).await;
        }
    }

    let logs = server.stop();
    // The exporter flushed at shutdown; give the collector's threads a moment to store it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spans = spans.lock().unwrap().clone();
    (logs, spans, admin)
}

fn leaks(haystack: &[u8], admin: &str) -> Vec<String> {
    let signature = admin.rsplit('.').next().unwrap_or(admin);
    let number = CANARY_NUMBER.to_string();
    [CANARY, number.as_str(), HEADER_CANARY, admin, signature]
        .into_iter()
        .filter(|needle| {
            haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn canaries_sent_to_every_endpoint_never_reach_logs_or_spans() {
    for format in ["json", "text"] {
        let (logs, spans, admin) = canaries_through_every_route(format).await;
        assert!(logs.lines().count() > 50, "debug logging was on ({format})");
        assert_eq!(
            leaks(logs.as_bytes(), &admin),
            Vec::<String>::new(),
            "{format} logs"
        );
        assert!(
            logs.contains("request refused"),
            "refusals are logged at debug ({format})"
        );
        assert!(
            String::from_utf8_lossy(&spans).contains("/v1/projects/{project}"),
            "spans were exported with their route ({format})"
        );
        assert_eq!(
            leaks(&spans, &admin),
            Vec::<String>::new(),
            "{format} spans"
        );
    }
}

#[tokio::test]
async fn a_flood_of_anonymous_requests_writes_no_log_line_each_at_the_default_level() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &[]).await;
    let client = reqwest::Client::new();
    let before = std::fs::read_to_string(&server.log_path)
        .unwrap()
        .lines()
        .count();
    for i in 0..200 {
        let status = client
            .get(format!("{}/v1/projects?attempt={i}", server.base))
            .bearer_auth(HEADER_CANARY)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let logs = server.stop();
    let added = logs.lines().count() - before;
    // At most the once-a-minute summary and the shutdown lines.
    assert!(added <= 6, "{added} lines for 200 refusals:\n{logs}");
}
