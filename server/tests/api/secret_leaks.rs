//! A canary secret goes through every endpoint; afterwards neither the logs (at debug level)
//! nor the database files hold it, in clear or in base64.

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::cli::ServerProcess;

const CANARY: &str = "canary-7f3a9c-DO-NOT-LEAK";

fn leaks_in(haystack: &[u8]) -> Vec<String> {
    let encodings = [
        CANARY.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(CANARY),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(CANARY),
    ];
    encodings
        .into_iter()
        .filter(|needle| {
            haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .collect()
}

#[tokio::test]
async fn a_canary_secret_never_reaches_logs_or_database_rows() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("SWITCHBOARD_LOG_FORMAT", "json".into()),
            ("SWITCHBOARD_LOG", "debug".into()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let mut request = client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&server.admin_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.unwrap() }
    };
    call(
        Method::POST,
        "/v1/projects",
        Some(json!({ "name": "shop" })),
    )
    .await;
    call(
        Method::POST,
        "/v1/projects/shop/environments",
        Some(json!({ "name": "production" })),
    )
    .await;
    let secrets = "/v1/projects/shop/environments/production/secrets";
    call(
        Method::PUT,
        &format!("{secrets}/CANARY"),
        Some(json!({ "value": CANARY })),
    )
    .await;
    call(
        Method::PUT,
        &format!("{secrets}/CANARY"),
        Some(json!({ "value": "second" })),
    )
    .await;
    let mut answers = Vec::new();
    for (method, path, body) in [
        (Method::GET, secrets.to_owned(), None),
        (Method::GET, format!("{secrets}/CANARY/versions"), None),
        (
            Method::POST,
            format!("{secrets}/CANARY/rollback"),
            Some(json!({ "version": 1 })),
        ),
        (Method::GET, format!("{secrets}/CANARY"), None),
        (Method::GET, format!("{secrets}/export"), None),
        (Method::GET, format!("{secrets}/export?format=json"), None),
        (Method::GET, format!("{secrets}/export?format=shell"), None),
        (
            Method::PUT,
            format!("{secrets}/CANARY"),
            Some(json!({ "value": CANARY, "unknown": 1 })),
        ),
        (
            Method::PUT,
            format!("{secrets}/bad name"),
            Some(json!({ "value": CANARY })),
        ),
        (Method::POST, "/v1/admin/master-key/rotate".to_owned(), None),
        (Method::GET, "/v1/audit?limit=200".to_owned(), None),
        (Method::DELETE, format!("{secrets}/CANARY"), None),
    ] {
        let response = call(method.clone(), &path, body).await;
        answers.push((
            method,
            path,
            response.status(),
            response.text().await.unwrap(),
        ));
    }
    // Only the explicit reads and exports may carry the value.
    for (method, path, status, text) in &answers {
        let may_carry =
            *method == Method::GET && (path.ends_with("/CANARY") || path.contains("/export"));
        assert_eq!(
            !leaks_in(text.as_bytes()).is_empty(),
            may_carry && status.is_success(),
            "{method} {path} -> {status}"
        );
    }

    let logs = server.stop();
    assert!(logs.lines().count() > 10, "debug logging was on");
    assert_eq!(
        leaks_in(logs.as_bytes()),
        Vec::<String>::new(),
        "the canary reached the logs"
    );
    let mut scanned = 0;
    for file in ["switchboard.db", "switchboard.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        scanned += bytes.len();
        assert_eq!(
            leaks_in(&bytes),
            Vec::<String>::new(),
            "the canary is readable in {file}"
        );
    }
    assert!(
        scanned > 50_000,
        "the database files were there to scan ({scanned} bytes)"
    );
}
