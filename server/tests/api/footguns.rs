//! Careless hands: what a hurried user types (an unset variable piped into a write, a key with
//! a dash, a typo in JSON, a bare `switchboard`, a busy port on the first start) must be refused
//! or named, never stored silently, dropped silently or lost. Each test here failed before the
//! fix it guards.

use std::path::Path;
use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_server::settings::Settings;
use switchboard_server::startup::Application;
use switchboard_server::store::WriteIntent;
use switchboard_server::store::audit::Actor;
use switchboard_server::store::config::{self, KeyChange};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};

crate::on_both_backends!(
    an_empty_secret_is_refused_unless_explicitly_allowed,
    a_key_that_cannot_be_an_environment_variable_is_refused_when_written,
    a_value_holding_nul_is_refused_when_written,
    a_token_for_a_project_that_does_not_exist_is_refused_naming_the_field,
);

const ENV: &str = "/v1/projects/shop/environments/production";

async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app
}

async fn put(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    app.request(Method::PUT, &format!("{ENV}/{path}"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn secret_value(app: &TestApp, name: &str) -> Value {
    let response = app.get(&format!("{ENV}/secrets/{name}")).await;
    response.json::<Value>().await.unwrap()["value"].clone()
}

/// Stores a config entry through the store, as a server from before the write-time rules
/// did: how older data that breaks those rules is arranged.
pub async fn store_legacy_config_key(app: &TestApp, env: &str, key: &str, value: Value) {
    // The follow-up a handler would run (publishing) is the reload below.
    let _committed = config::change(
        &app.store,
        &Actor::host("tests"),
        "shop",
        env,
        KeyChange {
            key: key.to_owned(),
            value: Some(value),
            description: None,
        },
        WriteIntent {
            expected: None,
            action: "config.set",
            comment: "",
        },
    )
    .await
    .unwrap();
    app.snapshots.reload_environment("shop", env).await;
}

async fn an_empty_secret_is_refused_unless_explicitly_allowed(backend: Backend) {
    let app = shop(backend).await;
    put(&app, "secrets/DB_PASSWORD", json!({ "value": "hunter2" })).await;

    let problem = assert_problem(
        put(&app, "secrets/DB_PASSWORD", json!({ "value": "" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.value");
    assert!(problem["detail"].as_str().unwrap().contains("allow_empty"));
    assert_eq!(
        secret_value(&app, "DB_PASSWORD").await,
        "hunter2",
        "the password is not blanked"
    );

    let allowed = put(
        &app,
        "secrets/DB_PASSWORD",
        json!({ "value": "", "allow_empty": true }),
    )
    .await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(secret_value(&app, "DB_PASSWORD").await, "");
}

async fn a_key_that_cannot_be_an_environment_variable_is_refused_when_written(backend: Backend) {
    let app = shop(backend).await;
    for (path, field) in [
        ("config/my-key", "path.key"),
        ("config/feature.limit", "path.key"),
        ("secrets/db-pass", "path.name"),
    ] {
        let problem = assert_problem(
            put(&app, path, json!({ "value": "x" })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{path}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("environment variable name"),
            "{path}: {problem}"
        );
    }
    put(&app, "config/MY_KEY", json!({ "value": "x" })).await;

    // So every export keeps working for everyone.
    for format in ["dotenv", "shell"] {
        for path in [
            format!("{ENV}/config?format={format}"),
            format!("{ENV}/secrets/export?format={format}&include_config=true"),
        ] {
            assert_eq!(app.get(&path).await.status(), StatusCode::OK, "{path}");
        }
    }
}

async fn a_value_holding_nul_is_refused_when_written(backend: Backend) {
    let app = shop(backend).await;
    for path in ["secrets/WITH_NUL", "config/WITH_NUL"] {
        let problem = assert_problem(
            put(&app, path, json!({ "value": "a\u{0}b" })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "body.value", "{path}");
        assert!(problem["detail"].as_str().unwrap().contains("NUL"));
    }
    let export = app
        .get(&format!(
            "{ENV}/secrets/export?format=shell&include_config=true"
        ))
        .await;
    assert_eq!(
        export.status(),
        StatusCode::OK,
        "nothing unexportable was stored"
    );
}

async fn a_token_for_a_project_that_does_not_exist_is_refused_naming_the_field(backend: Backend) {
    let app = shop(backend).await;
    for (body, field) in [(
        json!({ "name": "ci", "scopes": ["secrets:read"], "projects": ["shop", "shpo"] }),
        "body.projects[1]",
    )] {
        let response = app.post("/v1/tokens", body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field);
        let text = problem.to_string();
        assert!(!text.contains("shpo"), "the input is not echoed: {text}");
    }
    let issued = app
        .post(
            "/v1/tokens",
            json!({ "name": "ci", "scopes": ["secrets:read"], "projects": ["shop"], "environments": ["production"] }),
        )
        .await;
    assert_eq!(issued.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn head_answers_wherever_get_does_with_the_headers_and_no_body() {
    let app = shop(Backend::Sqlite).await;
    for path in ["/healthz", "/readyz", "/openapi.yaml"] {
        let response = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "HEAD {path}");
    }
    let head = app
        .request(Method::HEAD, "/v1/projects/shop")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("content-type"));
    assert!(head.bytes().await.unwrap().is_empty());
    let missing = app
        .request(Method::HEAD, "/v1/projects/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(
        missing.status(),
        StatusCode::NOT_FOUND,
        "the same answer as GET"
    );
}

#[tokio::test]
async fn the_first_admin_token_survives_a_first_start_that_cannot_bind() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings = Settings::for_tests(dir.path());
    settings.listen = busy.local_addr().unwrap();
    assert!(
        Application::build(settings.clone()).await.is_err(),
        "the port is taken"
    );

    settings.listen = "127.0.0.1:0".parse().unwrap();
    let mut app = Application::build(settings).await.unwrap();
    assert!(
        app.take_initial_admin_token().is_some(),
        "the start that serves shows the first admin token"
    );
}

/// The binary with a clean environment, pointed at `app` with the admin token.
fn switchboard(app: &TestApp, home: &Path) -> std::process::Command {
    let mut command = crate::cli::switchboard(app.data_dir.path());
    command
        .env("SWITCHBOARD_URL", &app.address)
        .env("SWITCHBOARD_TOKEN", &app.admin_token)
        .env("SWITCHBOARD_PROJECT", "shop")
        .env("SWITCHBOARD_ENVIRONMENT", "production")
        .env("XDG_CONFIG_HOME", home)
        .env_remove("HOME")
        .current_dir(home);
    command
}

async fn run(mut command: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_bare_switchboard_prints_help_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("switchboard-data");
    let mut command = crate::cli::switchboard(&data_dir);
    command.current_dir(dir.path());
    let output = run(command).await;

    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("serve"), "{}", stderr(&output));
    assert!(!data_dir.exists(), "no data directory is created");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn the_cli_refuses_an_empty_secret_unless_allow_empty() {
    let app = shop(Backend::Sqlite).await;
    put(&app, "secrets/DB_PASSWORD", json!({ "value": "hunter2" })).await;
    let home = tempfile::tempdir().unwrap();
    let set = |extra: &[&str]| {
        let mut command = switchboard(&app, home.path());
        command
            .args(["secrets", "set", "DB_PASSWORD"])
            .args(extra)
            .stdin(std::fs::File::open("/dev/null").unwrap());
        command
    };

    let refused = run(set(&[])).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--allow-empty"));
    assert_eq!(secret_value(&app, "DB_PASSWORD").await, "hunter2");

    let allowed = run(set(&["--allow-empty"])).await;
    assert!(allowed.status.success(), "{}", stderr(&allowed));
    assert_eq!(secret_value(&app, "DB_PASSWORD").await, "");
}

#[tokio::test]
async fn the_cli_refuses_broken_json_unless_string() {
    let app = shop(Backend::Sqlite).await;
    let home = tempfile::tempdir().unwrap();
    let set = |extra: &[&str]| {
        let mut command = switchboard(&app, home.path());
        command
            .args(["config", "set", "LIST", r#"["a","#])
            .args(extra);
        command
    };

    let refused = run(set(&[])).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("--string"));
    assert_eq!(
        app.get(&format!("{ENV}/config/LIST")).await.status(),
        StatusCode::NOT_FOUND,
        "nothing was stored"
    );

    let stored = run(set(&["--string"])).await;
    assert!(stored.status.success(), "{}", stderr(&stored));
    let entry: Value = app
        .get(&format!("{ENV}/config/LIST"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(entry["value"], r#"["a","#);
}

#[tokio::test]
async fn run_keeps_the_clis_own_token_from_the_command_unless_pass_token() {
    let app = shop(Backend::Sqlite).await;
    put(&app, "secrets/DB_PASSWORD", json!({ "value": "hunter2" })).await;
    let home = tempfile::tempdir().unwrap();
    let child = "printf '%s|%s' \"${SWITCHBOARD_TOKEN:-none}\" \"$DB_PASSWORD\"";

    let mut command = switchboard(&app, home.path());
    command.args(["run", "--", "sh", "-c", child]);
    let output = run(command).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "none|hunter2");

    let mut command = switchboard(&app, home.path());
    command.args(["run", "--pass-token", "--", "sh", "-c", child]);
    let output = run(command).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{}|hunter2", app.admin_token)
    );
}

#[tokio::test]
async fn run_names_stored_keys_no_environment_variable_can_carry_and_runs_nothing() {
    for (key, value) in [
        ("feature.limit", json!(3)),
        ("WITH_NUL", json!("a\u{0}s3cr3t")),
    ] {
        let app = shop(Backend::Sqlite).await;
        store_legacy_config_key(&app, "production", key, value).await;
        let home = tempfile::tempdir().unwrap();
        let marker = home.path().join("ran");
        let mut command = switchboard(&app, home.path());
        command.args(["run", "--", "touch"]).arg(&marker);
        let output = run(command).await;

        assert_eq!(output.status.code(), Some(2), "{key}: {}", stderr(&output));
        assert!(stderr(&output).contains(key), "{}", stderr(&output));
        assert!(
            !stderr(&output).contains("s3cr3t"),
            "values are never shown"
        );
        assert!(!marker.exists(), "{key}: the command did not run");
    }
}
