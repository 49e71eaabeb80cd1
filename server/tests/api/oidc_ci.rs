//! Keyless pipelines from the pipeline's side: the `switchboard` binary inside a (simulated)
//! GitHub Actions job obtains its own token by asking the test issuer's job-token endpoint
//! (`ACTIONS_ID_TOKEN_REQUEST_URL`) and exchanging the answer; and `examples/ci/` is what the
//! README shows and what the server accepts.

use std::process::Output;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::oidc::{TestIssuer, app_trusting, create_policy, github_policy};

crate::on_both_backends!(
    a_github_job_runs_commands_with_a_token_it_obtained_itself,
    the_example_policies_are_accepted_as_they_are,
);

/// The binary inside a GitHub Actions job of `org/app`: the job-token endpoint's variables,
/// no stored token.
fn job(app: &TestApp, issuer: &TestIssuer, home: &std::path::Path) -> tokio::process::Command {
    let mut command = crate::cli::switchboard(app.data_dir.path());
    command
        .env("SWITCHBOARD_URL", &app.address)
        .env("SWITCHBOARD_OIDC_POLICY", "shop/deploy-production")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &issuer.actions_url)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            &issuer.actions_request_token,
        )
        .env("XDG_CONFIG_HOME", home)
        .env_remove("HOME")
        .env_remove("SWITCHBOARD_ID_TOKEN")
        .current_dir(home);
    tokio::process::Command::from(command)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn run(command: &mut tokio::process::Command) -> Output {
    command.output().await.expect("the switchboard binary runs")
}

async fn a_github_job_runs_commands_with_a_token_it_obtained_itself(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 10).await;
    // The CLI asks GitHub for a token meant for the server's URL unless told otherwise.
    let mut policy = github_policy(&issuer);
    policy["audiences"] = json!([app.address]);
    create_policy(&app, policy).await;
    app.call(
        Method::PUT,
        "/v1/projects/shop/environments/production/secrets/DB_PASSWORD",
        Some(json!({ "value": "s3cr3t" })),
    )
    .await;
    issuer.set_actions_claims(issuer.github_claims("org/app", "123456", "production"));
    let home = tempfile::tempdir().unwrap();

    let read = run(job(&app, &issuer, home.path()).args([
        "secrets",
        "get",
        "DB_PASSWORD",
        "-p",
        "shop",
        "-e",
        "production",
    ]))
    .await;

    assert!(read.status.success(), "{}", text(&read.stderr));
    assert_eq!(text(&read.stdout).trim_end(), "s3cr3t");
    let exchanges = app.audit("action=token.exchange").await;
    assert_eq!(
        exchanges.len(),
        1,
        "the command exchanged the job's token once"
    );

    // `login --oidc` prints a token other tools can use.
    let login = run(job(&app, &issuer, home.path()).args(["login", "--oidc"])).await;
    assert!(login.status.success(), "{}", text(&login.stderr));
    let token = text(&login.stdout).trim().to_owned();
    let current: Value = app
        .request_as(Some(&token), Method::GET, "/v1/tokens/current")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["federation"]["policy"], "shop/deploy-production");

    // A job without `id-token: write` gets a usage error that says what to add.
    let mut no_permission = job(&app, &issuer, home.path());
    no_permission.env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    let refused = run(no_permission.args(["login", "--oidc"])).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("id-token: write"),
        "{}",
        text(&refused.stderr)
    );

    // A job of another environment is refused by the server: exit 4, the reason shown.
    issuer.set_actions_claims(issuer.github_claims("org/app", "123456", "staging"));
    let refused = run(job(&app, &issuer, home.path()).args(["login", "--oidc"])).await;
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("claim 'environment' does not match"));
}

async fn the_example_policies_are_accepted_as_they_are(backend: Backend) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let read = |path: &str| std::fs::read_to_string(format!("{root}/{path}")).unwrap();
    let readme = read("README.md");
    for example in [
        "examples/ci/github-actions.yml",
        "examples/ci/github-policy.json",
        "examples/ci/gitlab-ci.yml",
        "examples/ci/gitlab-policy.json",
    ] {
        let file = read(example);
        let language = if example.ends_with(".json") {
            "json"
        } else {
            "yaml"
        };
        assert!(
            readme.contains(&format!("```{language}\n{file}```")),
            "the README shows {example} as it is"
        );
        assert!(
            !file.contains("./examples/"),
            "{example} must work in another repository"
        );
        assert!(
            !file.contains("SWITCHBOARD_TOKEN"),
            "{example} stores no token"
        );
    }

    let app = spawn_app(backend).await;
    app.create_project("store").await;
    app.create_environment("store", "production", None).await;
    for policy in [
        "examples/ci/github-policy.json",
        "examples/ci/gitlab-policy.json",
    ] {
        let body: Value = serde_json::from_str(&read(policy)).unwrap();
        let response = app.post("/v1/projects/store/oidc-policies", body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{policy}");
    }
}
