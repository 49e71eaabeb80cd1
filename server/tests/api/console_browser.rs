//! The console in a real browser: `tests/console/scenario.js` drives Debian's Chromium with
//! playwright-core through what an operator does during an incident (sign in, create a flag,
//! roll it out to 25 %, pull the kill switch with a reason and restore, roll back a version,
//! reveal a secret and find the audit entry, be refused outside the token's reach), while a
//! second browser sees the first one's changes without reloading; axe-core checks every page
//! (0 serious or critical violations) and any CSP violation fails the run.
//!
//! Needs `node`, `tests/console/node_modules` (`npm ci` there) and `SWITCHBOARD_TEST_CHROMIUM`
//! (CI sets it from `tests/chromium/install.sh`); without them the test is skipped with a
//! note, or fails when `SWITCHBOARD_TEST_REQUIRE` contains `browser`, as CI sets it.
//! `SWITCHBOARD_CONSOLE_SCREENSHOTS=<dir>` makes the scenario save screenshots of the main
//! pages there (`tests/console/screenshots.js` refreshes `docs/console/` that way).

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

crate::on_both_backends!(an_operator_runs_the_incident_scenario_in_a_real_browser);

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/console")
}

/// Chromium's path when everything the scenario needs is here; `None` (with a note) when
/// something is missing and the browser is not required.
fn browser() -> Option<String> {
    let chromium = std::env::var("SWITCHBOARD_TEST_CHROMIUM").unwrap_or_default();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let modules = console_dir().join("node_modules/playwright-core").exists()
        && console_dir().join("node_modules/axe-core").exists();
    let missing: Vec<&str> = [
        (
            chromium.is_empty() || !Path::new(&chromium).exists(),
            "SWITCHBOARD_TEST_CHROMIUM",
        ),
        (!node, "node"),
        (!modules, "tests/console/node_modules (npm ci)"),
    ]
    .into_iter()
    .filter_map(|(gone, what)| gone.then_some(what))
    .collect();
    if missing.is_empty() {
        return Some(chromium);
    }
    assert!(
        !switchboard_test_harness::required("browser"),
        "SWITCHBOARD_TEST_REQUIRE names browser but {} missing",
        missing.join(", ")
    );
    eprintln!(
        "skipped: the console browser test needs {}",
        missing.join(", ")
    );
    None
}

async fn an_operator_runs_the_incident_scenario_in_a_real_browser(backend: Backend) {
    let Some(chromium) = browser() else {
        return;
    };
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app.create_environment("shop", "staging", Some("production"))
        .await;
    app.call(
        Method::PUT,
        "/v1/projects/shop/environments/production/secrets/STRIPE_KEY",
        Some(json!({ "value": "sk_live_console_demo" })),
    )
    .await;
    app.call(
        Method::PUT,
        "/v1/projects/shop/environments/production/config/CHECKOUT_TIMEOUT_MS",
        Some(json!({ "value": 2500, "description": "payment provider timeout" })),
    )
    .await;
    let (staging_token, _) = app
        .issue_token(json!({
            "name": "staging-operator",
            "scopes": ["flags:read", "flags:write"],
            "projects": ["shop"],
            "environments": ["staging"],
        }))
        .await;
    let mut command = Command::new("node");
    command
        .arg(console_dir().join("scenario.js"))
        .env("SWITCHBOARD_URL", &app.address)
        .env("SWITCHBOARD_ADMIN_TOKEN", &app.admin_token)
        .env("SWITCHBOARD_STAGING_TOKEN", &staging_token)
        .env("SWITCHBOARD_TEST_CHROMIUM", &chromium);
    // The server runs on this test's runtime: wait for the browser off it.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser scenario failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("scenario passed"), "{stdout}");
}
