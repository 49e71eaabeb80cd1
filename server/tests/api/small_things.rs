//! The small things of a first hour (issue 20, item 10): the CLI names each problem once, its
//! help says which options may come from the environment, revoking a token says which tokens
//! went with it, and token events are found in the audit log of the projects they concern,
//! within the reader's reach.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

crate::on_both_backends!(token_events_are_in_the_audit_log_of_their_projects_within_reach);

fn cli(app: &TestApp, home: &std::path::Path) -> std::process::Command {
    let mut command = crate::cli::switchboard(app.data_dir.path());
    command
        .env("SWITCHBOARD_URL", &app.address)
        .env("SWITCHBOARD_TOKEN", &app.admin_token)
        .env("XDG_CONFIG_HOME", home)
        .env_remove("HOME")
        .current_dir(home);
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn run(command: &mut std::process::Command) -> Output {
    command.output().expect("the switchboard binary runs")
}

async fn shop() -> TestApp {
    let app = spawn_app(Backend::Sqlite).await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", None).await;
    app
}

#[tokio::test]
async fn a_refusal_names_each_problem_once() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let refused = run(cli(&app, home.path()).args([
        "config",
        "set",
        "-p",
        "shop",
        "-e",
        "production",
        "my-key",
        "1",
    ]));
    assert_eq!(refused.status.code(), Some(4));
    let stderr = text(&refused.stderr);
    assert_eq!(stderr.matches("path.key").count(), 1, "{stderr}");
    assert!(
        stderr.contains("must be an environment variable name"),
        "{stderr}"
    );
}

#[tokio::test]
async fn run_help_shows_options_from_the_environment_as_optional() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let help = run(cli(&app, home.path()).args(["run", "--help"]));
    assert!(help.status.success());
    let help = text(&help.stdout);
    let usage = help.lines().find(|l| l.starts_with("Usage:")).unwrap();
    // Only the command is required; everything else may come from the environment.
    assert_eq!(
        usage, "Usage: switchboard run [OPTIONS] <COMMAND>...",
        "{help}"
    );
    for variable in [
        "SWITCHBOARD_URL",
        "SWITCHBOARD_TOKEN",
        "SWITCHBOARD_PROJECT",
        "SWITCHBOARD_ENVIRONMENT",
    ] {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable}: {help}"
        );
    }
    assert!(!help.contains("[required]"), "{help}");
    assert!(
        !help.contains(&app.admin_token),
        "the token's value is never shown"
    );
}

#[tokio::test]
async fn revoking_a_token_names_the_tokens_revoked_with_it() {
    let app = shop().await;
    let home = tempfile::tempdir().unwrap();
    let (issuer, issuer_id) = app
        .issue_token(json!({ "name": "ci", "scopes": ["admin"], "projects": ["shop"] }))
        .await;
    let issued = app
        .request_as(Some(&issuer), reqwest::Method::POST, "/v1/tokens")
        .json(&json!({ "name": "job", "scopes": ["flags:read"], "projects": ["shop"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::CREATED);
    let child_id = issued.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let revoked = run(cli(&app, home.path()).args(["tokens", "revoke", &issuer_id]));
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let stdout = text(&revoked.stdout);
    assert!(
        stdout.contains(&format!("revoked token ci ({issuer_id})")),
        "{stdout}"
    );
    assert!(stdout.contains("1 token(s) it issued"), "{stdout}");
    assert!(stdout.contains(&child_id), "{stdout}");
}

async fn token_events_are_in_the_audit_log_of_their_projects_within_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    for project in ["shop", "blog"] {
        app.create_project(project).await;
        app.create_environment(project, "staging", None).await;
        app.create_environment(project, "production", None).await;
    }
    let (_, everywhere) = app
        .issue_token(json!({ "name": "two projects", "scopes": ["flags:read"], "projects": ["shop", "blog"] }))
        .await;
    let (_, production) = app
        .issue_token(json!({ "name": "production", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] }))
        .await;
    assert_eq!(
        app.delete(&format!("/v1/tokens/{everywhere}"))
            .await
            .status(),
        StatusCode::OK
    );
    let targets = |events: &[Value], action: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["action"] == action)
            .map(|e| e["target"].as_str().unwrap().to_owned())
            .collect()
    };

    // Each project's log has the events of the tokens that name it.
    let shop = app.audit("project=shop&action=token.*").await;
    let issued = targets(&shop, "token.issue");
    assert!(issued.contains(&format!("token/{everywhere}")), "{shop:?}");
    assert!(issued.contains(&format!("token/{production}")), "{shop:?}");
    assert_eq!(
        targets(&shop, "token.revoke"),
        [format!("token/{everywhere}")]
    );
    let blog = app.audit("project=blog&action=token.*").await;
    assert_eq!(
        targets(&blog, "token.issue"),
        [format!("token/{everywhere}")]
    );

    // A reader of shop's staging sees the project-wide token, not production's.
    let (staging_admin, _) = app
        .issue_token(json!({ "name": "staging admin", "scopes": ["admin"], "projects": ["shop"], "environments": ["staging"] }))
        .await;
    let response = app
        .request_as(
            Some(&staging_admin),
            reqwest::Method::GET,
            "/v1/audit?project=shop&action=token.issue",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.unwrap();
    let seen = targets(page["items"].as_array().unwrap(), "token.issue");
    assert!(seen.contains(&format!("token/{everywhere}")), "{seen:?}");
    assert!(!seen.contains(&format!("token/{production}")), "{seen:?}");
}
