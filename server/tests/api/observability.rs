//! What an operator sees: JSON logs with request ids, traces exported over OTLP, and no token or
//! key in any of it (run on the real binary, as production does); and metrics that stay true
//! when clients walk away.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::cli::ServerProcess;
use crate::helpers::{Backend, TestApp, spawn_app};

/// A stand-in OTLP/HTTP collector: accepts every export and reports its path and content type.
fn fake_collector() -> (u16, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || serve_export(stream, &tx));
        }
    });
    (port, rx)
}

fn serve_export(stream: TcpStream, tx: &mpsc::Sender<(String, String)>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap_or_default();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    let (mut length, mut content_type) = (0usize, String::new());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if let Some(value) = lower.strip_prefix("content-type:") {
            content_type = value.trim().to_owned();
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let mut stream = stream;
    let _ = stream.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
    );
    let _ = tx.send((path, content_type));
}

#[tokio::test]
async fn logs_are_json_with_request_ids_traces_are_exported_and_no_token_or_key_leaks() {
    let dir = tempfile::tempdir().unwrap();
    let (collector_port, exports) = fake_collector();
    let master_key = "k1:c3dpdGNoYm9hcmQtdGVzdC1tYXN0ZXIta2V5LTMyYnk=";
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("SWITCHBOARD_LOG_FORMAT", "json".into()),
            ("SWITCHBOARD_LOG", "debug".into()),
            ("SWITCHBOARD_MASTER_KEY", master_key.into()),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{collector_port}"),
            ),
            ("OTEL_BSP_SCHEDULE_DELAY", "50".into()),
        ],
    )
    .await;
    let base = server.base.clone();
    let admin = server.admin_token.clone();
    let client = reqwest::Client::new();
    let issued: Value = client
        .post(format!("{base}/v1/tokens"))
        .bearer_auth(&admin)
        .json(&json!({ "name": "ci", "scopes": ["secrets:read"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["token"].as_str().unwrap().to_owned();
    let id = issued["id"].as_str().unwrap();
    for (method, path, bearer) in [
        (Method::GET, "/v1/tokens/current".to_owned(), &token),
        (Method::DELETE, format!("/v1/tokens/{id}"), &admin),
        (Method::GET, "/v1/tokens/current".to_owned(), &token),
        (Method::GET, "/v1/projects/ghost".to_owned(), &admin),
    ] {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
    }

    let (path, content_type) = exports
        .recv_timeout(Duration::from_secs(20))
        .expect("a trace export");
    assert_eq!(path, "/v1/traces");
    assert_eq!(content_type, "application/x-protobuf");

    let logs = server.stop();
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"))
        })
        .collect();
    assert!(
        lines.iter().any(|l| l["span"]["request_id"].is_string()),
        "request spans carry their request id:\n{logs}"
    );
    let key = master_key.split_once(':').unwrap().1;
    for secret in [admin.as_str(), token.as_str(), key] {
        assert!(!logs.contains(secret), "a token or key reached the logs");
        // Nor any of its parts (a JWT's signature alone is as good as the token).
        if let Some(signature) = secret.rsplit('.').next() {
            assert!(!logs.contains(signature));
        }
    }
}

/// `switchboard_http_requests_in_flight` as `/metrics` reports it (the `/metrics` request itself
/// included).
async fn requests_in_flight(app: &TestApp) -> i64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("switchboard_http_requests_in_flight "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no in-flight gauge in:\n{text}"))
}

/// Polls the gauge until it reads `expected`; the last reading when it never does.
async fn wait_for_in_flight(app: &TestApp, expected: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = requests_in_flight(app).await;
        if now == expected || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_request_the_client_abandons_leaves_the_in_flight_gauge_where_it_was() {
    let app = spawn_app(Backend::Sqlite).await;
    let before = requests_in_flight(&app).await;

    // A request whose body never finishes arriving keeps its handler waiting...
    let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v1/projects HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 64\r\n\r\n{{\"name\":",
        app.admin_token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(wait_for_in_flight(&app, before + 1).await, before + 1);
    // ...until the client resets the connection, and the server drops the request mid-way.
    socket.set_zero_linger().unwrap();
    drop(socket);

    assert_eq!(wait_for_in_flight(&app, before).await, before);
}
