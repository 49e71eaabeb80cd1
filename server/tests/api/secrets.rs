use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app, spawn_app_with};

crate::on_both_backends!(
    secrets_are_written_read_listed_versioned_rolled_back_and_deleted,
    every_read_and_export_is_audited_without_the_value,
    concurrent_reads_each_get_their_own_audit_record,
    a_ciphertext_moved_or_modified_fails_for_that_secret_only,
    exports_serve_pipelines_in_every_format,
    secret_scopes_are_separate_from_config_and_flags,
    the_master_key_rotates_under_a_running_server,
);

pub const SECRETS: &str = "/v1/projects/shop/environments/production/secrets";

pub async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    prepare(&app).await;
    app
}

async fn prepare(app: &TestApp) {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
}

async fn put_secret(app: &TestApp, name: &str, value: &str) -> reqwest::Response {
    app.request(Method::PUT, &format!("{SECRETS}/{name}"))
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap()
}

async fn read_secret(app: &TestApp, name: &str) -> reqwest::Response {
    app.get(&format!("{SECRETS}/{name}")).await
}

async fn secrets_are_written_read_listed_versioned_rolled_back_and_deleted(backend: Backend) {
    let app = shop(backend).await;
    let written = put_secret(&app, "DB_PASSWORD", "hunter2").await;
    assert_eq!(written.status(), StatusCode::OK);
    let text = written.text().await.unwrap();
    assert!(
        !text.contains("hunter2"),
        "a write never echoes the value: {text}"
    );
    put_secret(&app, "DB_PASSWORD", "correct horse").await;

    let response = read_secret(&app, "DB_PASSWORD").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["etag"], "\"2\"");
    let secret: Value = response.json().await.unwrap();
    assert_eq!(
        secret,
        json!({ "name": "DB_PASSWORD", "version": 2, "value": "correct horse" })
    );

    let listed = app.get(SECRETS).await.text().await.unwrap();
    assert!(!listed.contains("correct horse") && !listed.contains("hunter2"));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["items"][0]["name"], "DB_PASSWORD");
    assert_eq!(listed["items"][0]["version"], 2);
    assert_eq!(listed["items"][0]["updated_by"], "initial admin");

    let versions: Value = app
        .get(&format!("{SECRETS}/DB_PASSWORD/versions"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    assert!(!versions.to_string().contains("hunter2"));

    let rolled = app
        .post(
            &format!("{SECRETS}/DB_PASSWORD/rollback"),
            json!({ "version": 1 }),
        )
        .await;
    assert_eq!(rolled.status(), StatusCode::OK);
    let secret: Value = read_secret(&app, "DB_PASSWORD").await.json().await.unwrap();
    assert_eq!(
        (secret["version"].clone(), secret["value"].clone()),
        (json!(3), json!("hunter2"))
    );

    let stale = app
        .request(Method::PUT, &format!("{SECRETS}/DB_PASSWORD"))
        .header("if-match", "\"1\"")
        .json(&json!({ "value": "x" }))
        .send()
        .await
        .unwrap();
    assert_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let problem = assert_problem(
        put_secret(&app, "bad name", "x").await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "path.name");

    assert_eq!(
        app.delete(&format!("{SECRETS}/DB_PASSWORD")).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        read_secret(&app, "DB_PASSWORD").await,
        StatusCode::NOT_FOUND,
    )
    .await;
    // Re-created, it continues its version numbers: an old ciphertext can never fit a new row.
    let again: Value = put_secret(&app, "DB_PASSWORD", "new")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["version"], 4);
}

async fn every_read_and_export_is_audited_without_the_value(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "API_KEY", "sk-live-123").await;
    put_secret(&app, "DB_PASSWORD", "hunter2").await;
    read_secret(&app, "API_KEY").await;
    app.get(&format!("{SECRETS}/export")).await;

    let reads = app.audit("action=secret.read").await;
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0]["after"]["secrets"], json!(["API_KEY"]));
    assert_eq!(reads[0]["source_ip"], "127.0.0.1");
    let exports = app.audit("action=secret.export").await;
    assert_eq!(
        exports[0]["after"]["secrets"],
        json!(["API_KEY", "DB_PASSWORD"])
    );
    let everything = app.get("/v1/audit?limit=200").await.text().await.unwrap();
    assert!(!everything.contains("sk-live-123") && !everything.contains("hunter2"));
}

/// Reads are group-committed: many at once must still each leave exactly one record, with
/// its own request id, before their values are returned.
async fn concurrent_reads_each_get_their_own_audit_record(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "API_KEY", "sk-live-123").await;

    let reads = (0..40).map(|_| read_secret(&app, "API_KEY"));
    let responses = futures_util::future::join_all(reads).await;
    assert!(responses.iter().all(|r| r.status() == StatusCode::OK));

    let records = app.audit("action=secret.read&limit=200").await;
    assert_eq!(records.len(), 40);
    let mut request_ids: Vec<&str> = records
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    request_ids.sort_unstable();
    request_ids.dedup();
    assert_eq!(request_ids.len(), 40, "one record per read");
}

async fn a_ciphertext_moved_or_modified_fails_for_that_secret_only(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "A", "alpha").await;
    put_secret(&app, "B", "bravo").await;
    put_secret(&app, "C", "charlie").await;
    // Swap B's stored version for A's (same environment, another name).
    sqlx::query(
        "UPDATE secret_versions SET wrapped_key = (SELECT wrapped_key FROM secret_versions WHERE name = 'A'), \
         ciphertext = (SELECT ciphertext FROM secret_versions WHERE name = 'A') WHERE name = 'B'",
    )
    .execute(app.store.pool())
    .await
    .unwrap();
    let problem = assert_problem(
        read_secret(&app, "B").await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert_eq!(
        problem["type"],
        "urn:switchboard:problem:secret-undecryptable"
    );
    assert!(problem["detail"].as_str().unwrap().contains("'B'"));
    assert!(
        !problem.to_string().contains("alpha"),
        "never someone else's value"
    );

    // A flipped byte in C's ciphertext.
    let row: (Vec<u8>,) = sqlx::query_as("SELECT ciphertext FROM secret_versions WHERE name = 'C'")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    let mut bytes = row.0;
    bytes[20] ^= 1;
    sqlx::query("UPDATE secret_versions SET ciphertext = $1 WHERE name = 'C'")
        .bind(bytes)
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_problem(
        read_secret(&app, "C").await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;

    // The others still read, and an export refuses to hand a pipeline half a set.
    let a: Value = read_secret(&app, "A").await.json().await.unwrap();
    assert_eq!(a["value"], "alpha");
    let problem = assert_problem(
        app.get(&format!("{SECRETS}/export")).await,
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be decrypted")
    );
}

async fn exports_serve_pipelines_in_every_format(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "DB_PASSWORD", "p@ss w0rd\"$HOME\nline2").await;
    put_secret(&app, "API_KEY", "sk-123").await;
    app.request(
        Method::PUT,
        "/v1/projects/shop/environments/production/config/PORT",
    )
    .json(&json!({ "value": 8080 }))
    .send()
    .await
    .unwrap();
    app.request(
        Method::PUT,
        "/v1/projects/shop/environments/production/config/API_KEY",
    )
    .json(&json!({ "value": "from-config" }))
    .send()
    .await
    .unwrap();

    let dotenv = app.get(&format!("{SECRETS}/export")).await;
    assert_eq!(dotenv.headers()["cache-control"], "no-store");
    let text = dotenv.text().await.unwrap();
    let parsed: std::collections::HashMap<String, String> =
        dotenvy::from_read_iter(text.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(parsed["DB_PASSWORD"], "p@ss w0rd\"$HOME\nline2");
    assert!(!parsed.contains_key("PORT"), "config only when asked");

    let shell = app
        .get(&format!(
            "{SECRETS}/export?format=shell&include_config=true"
        ))
        .await
        .text()
        .await
        .unwrap();
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{shell}\nprintf '%s|%s|%s' \"$DB_PASSWORD\" \"$PORT\" \"$API_KEY\""
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "p@ss w0rd\"$HOME\nline2|8080|sk-123",
        "a secret wins over config"
    );

    let json: Value = app
        .get(&format!("{SECRETS}/export?format=json"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        json,
        json!({ "API_KEY": "sk-123", "DB_PASSWORD": "p@ss w0rd\"$HOME\nline2" })
    );
    assert_problem(
        app.get(&format!("{SECRETS}/export?format=xml")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}

async fn secret_scopes_are_separate_from_config_and_flags(backend: Backend) {
    let app = shop(backend).await;
    put_secret(&app, "DB_PASSWORD", "hunter2").await;
    let (sdk, _) = app
        .issue_token(json!({ "name": "sdk", "scopes": ["flags:read", "config:read"] }))
        .await;
    let (ci, _) = app.issue_token(json!({ "name": "ci", "scopes": ["secrets:read"], "projects": ["shop"], "environments": ["production"], "ttl_seconds": 900 })).await;
    let get = |token: &str, path: &str| app.request_as(Some(token), Method::GET, path).send();
    for path in [
        SECRETS.to_owned(),
        format!("{SECRETS}/DB_PASSWORD"),
        format!("{SECRETS}/export"),
    ] {
        assert_problem(get(&sdk, &path).await.unwrap(), StatusCode::FORBIDDEN).await;
    }
    let exported = get(&ci, &format!("{SECRETS}/export")).await.unwrap();
    assert_eq!(exported.status(), StatusCode::OK);
    assert_problem(
        get(&ci, &format!("{SECRETS}/export?include_config=true"))
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let write = app
        .request_as(Some(&ci), Method::PUT, &format!("{SECRETS}/X"))
        .json(&json!({ "value": "y" }))
        .send()
        .await
        .unwrap();
    assert_problem(write, StatusCode::FORBIDDEN).await;
    let rotate = app
        .request_as(Some(&ci), Method::POST, "/v1/admin/master-key/rotate")
        .send()
        .await
        .unwrap();
    assert_problem(rotate, StatusCode::FORBIDDEN).await;
}

fn key(id: &str, byte: u8) -> String {
    format!(
        "{id}:{}",
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    )
}

async fn the_master_key_rotates_under_a_running_server(backend: Backend) {
    // Step 1 of a rotation: every instance learns the new key k2 while k1 stays active.
    let old = spawn_app_with(backend, |s| {
        s.master_key = Some(format!("{},{}", key("k1", 1), key("k2", 2)))
    })
    .await;
    prepare(&old).await;
    let names: Vec<String> = (0..25).map(|i| format!("SECRET_{i}")).collect();
    for name in &names {
        put_secret(&old, name, &format!("value of {name}")).await;
    }
    // Step 2: a rolling restart makes k2 active (first in the keyring).
    let database_url = old.settings.database_url.clone();
    let mut new = spawn_app_with(Backend::Sqlite, |s| {
        s.database_url = database_url.clone();
        s.master_key = Some(format!("{},{}", key("k2", 2), key("k1", 1)));
    })
    .await;
    new.admin_token = old.admin_token.clone();
    for name in &names {
        let secret: Value = read_secret(&new, name).await.json().await.unwrap();
        assert_eq!(
            secret["value"],
            format!("value of {name}"),
            "readable before rotation"
        );
    }

    // Step 3: rotate on one instance while another keeps serving reads.
    let reader = async {
        let mut reads = 0;
        for name in names.iter().cycle().take(60) {
            assert_eq!(read_secret(&old, name).await.status(), StatusCode::OK);
            reads += 1;
        }
        reads
    };
    let rotate = async {
        new.request(Method::POST, "/v1/admin/master-key/rotate")
            .send()
            .await
            .unwrap()
    };
    let (reads, response) = tokio::join!(reader, rotate);
    assert_eq!(reads, 60);
    assert_eq!(response.status(), StatusCode::OK);
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["active_master_key"], "k2");
    assert_eq!(report["rewrapped_secret_keys"], 25);
    assert_eq!(report["rewrapped_signing_keys"], 1);
    assert_eq!(report["retagged_secrets"], 25, "tags re-made under k2");
    assert_eq!(report["failed"], 0);

    // Step 4: the old key is retired: an instance with only the new key reads everything.
    let retired = spawn_app_with(Backend::Sqlite, |s| {
        s.database_url = database_url.clone();
        s.master_key = Some(key("k2", 2));
    })
    .await;
    let mut retired = retired;
    retired.admin_token = old.admin_token.clone();
    for name in &names {
        let secret: Value = read_secret(&retired, name).await.json().await.unwrap();
        assert_eq!(
            secret["value"],
            format!("value of {name}"),
            "readable after rotation"
        );
    }
    let events = retired.audit("action=master_key.rotate").await;
    assert_eq!(events.len(), 1);
}
