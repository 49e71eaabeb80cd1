//! Real OpenFeature SDKs against the OFREP endpoints: not our reading of the protocol, theirs.
//!
//! Each SDK (the Node server SDK, the Python SDK, the web SDK in headless Chromium with a
//! client-side key through CORS; pinned and installed by `tests/openfeature/install.sh`) evaluates
//! boolean, string, number and object flags with rules, a percentage rollout, a static and a
//! disabled flag for 1,000 contexts, and must get exactly the value, variant and reason
//! `/v1/evaluate` gives (and, for a context without a targeting key on a rollout, the caller's
//! default with `TARGETING_KEY_MISSING`). Then a flag disabled on the server, and the kill switch,
//! must reach the SDK through its own refresh: a new request for the server SDKs, polling with
//! `If-None-Match` for the web SDK. The drivers and their line protocol are in
//! `tests/openfeature/`.
//!
//! A missing SDK is skipped with a note, or fails the test when `SWITCHBOARD_TEST_REQUIRE` has
//! `sdks` (as CI sets it). SQLite only: the backend is the equivalence test's business, and
//! this one's cost is the SDKs' own.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::helpers::{Backend, TestApp, free_port, spawn_app_with};
use crate::sdk::token;

const CONTEXTS: usize = 1_000;
const SEED: u64 = 0x0f2e_9000;
const STATES: &str = "/v1/projects/shop/environments/production";

#[tokio::test]
async fn the_node_server_sdk_evaluates_as_v1_evaluate_and_sees_flips_and_the_kill_switch() {
    interoperates(Sdk::Node).await;
}

#[tokio::test]
async fn the_python_sdk_evaluates_as_v1_evaluate_and_sees_flips_and_the_kill_switch() {
    interoperates(Sdk::Python).await;
}

#[tokio::test]
async fn the_web_sdk_in_chromium_evaluates_as_v1_evaluate_and_sees_flips_and_the_kill_switch() {
    interoperates(Sdk::Web).await;
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sdk {
    Node,
    Python,
    Web,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/openfeature")
}

impl Sdk {
    /// The command that runs the driver, or why it cannot run here.
    fn command(self) -> Result<Command, String> {
        let dir = dir();
        let installed = |path: &str| dir.join(path).exists();
        let (program, script, needs) = match self {
            Sdk::Node => (
                PathBuf::from("node"),
                dir.join("node/driver.mjs"),
                "node/node_modules/@openfeature/ofrep-provider",
            ),
            Sdk::Python => (
                dir.join("python/.venv/bin/python"),
                dir.join("python/driver.py"),
                "python/.venv/bin/python",
            ),
            Sdk::Web => (
                PathBuf::from("node"),
                dir.join("web/driver.mjs"),
                "web/node_modules/@openfeature/ofrep-web-provider",
            ),
        };
        if !installed(needs) {
            return Err(format!(
                "{needs} is not installed (tests/openfeature/install.sh)"
            ));
        }
        if program == Path::new("node")
            && std::process::Command::new("node")
                .arg("--version")
                .output()
                .is_err()
        {
            return Err("node is not on PATH".into());
        }
        let mut command = Command::new(program);
        command.arg(script);
        if self == Sdk::Web {
            let chromium = std::env::var("SWITCHBOARD_TEST_CHROMIUM").map_err(|_| {
                "SWITCHBOARD_TEST_CHROMIUM is not set (tests/chromium/install.sh)".to_owned()
            })?;
            command.env("SWITCHBOARD_TEST_CHROMIUM", chromium);
        }
        Ok(command)
    }
}

/// The flags, in the order the drivers evaluate them: the first is the one flipped.
fn flags() -> Value {
    json!([
        {"key": "banner", "type": "boolean", "default": false},
        {"key": "theme", "type": "string", "default": "none"},
        {"key": "limit", "type": "number", "default": -1},
        {"key": "layout", "type": "object", "default": {}},
        {"key": "motd", "type": "string", "default": "none"},
        {"key": "legacy", "type": "boolean", "default": true},
    ])
}

/// `shop/production` with those flags, all client-visible: rules, a 10/90 rollout inside a rule,
/// a three-way rollout, a static flag and a disabled one.
async fn fixture(app: &TestApp) {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    let boolean = json!([{"key": "on", "value": true}, {"key": "off", "value": false}]);
    let definitions = [
        (
            json!({"key": "banner", "type": "boolean", "variants": boolean}),
            json!({"enabled": true, "off_variant": "off", "default_serve": {"variant": "off"}, "rules": [
                {"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}], "serve": {"variant": "on"}},
                {"conditions": [{"attribute": "country", "op": "in", "values": ["FR", "DE"]}],
                 "serve": {"split": [{"variant": "on", "weight": 1000}, {"variant": "off", "weight": 9000}]}}]}),
        ),
        (
            json!({"key": "theme", "type": "string", "variants": [
                {"key": "light", "value": "#ffffff"}, {"key": "dark", "value": "#000000"},
                {"key": "auto", "value": "system"}]}),
            json!({"enabled": true, "off_variant": "light", "rules": [
                {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@beta.dev"]}], "serve": {"variant": "auto"}}],
                "default_serve": {"split": [{"variant": "light", "weight": 3334},
                    {"variant": "dark", "weight": 3333}, {"variant": "auto", "weight": 3333}]}}),
        ),
        (
            json!({"key": "limit", "type": "number", "variants": [
                {"key": "small", "value": 10}, {"key": "medium", "value": 25}, {"key": "large", "value": 100}]}),
            json!({"enabled": true, "off_variant": "small", "default_serve": {"variant": "small"}, "rules": [
                {"conditions": [{"attribute": "plan", "op": "in", "values": ["team", "enterprise"]}], "serve": {"variant": "large"}},
                {"conditions": [{"attribute": "age", "op": "gte", "values": [18]}], "serve": {"variant": "medium"}}]}),
        ),
        (
            json!({"key": "layout", "type": "json", "variants": [
                {"key": "grid", "value": {"columns": 3, "dense": true, "tags": ["a", "b"]}},
                {"key": "list", "value": {"columns": 1}}]}),
            json!({"enabled": true, "off_variant": "list", "default_serve": {"variant": "list"}, "rules": [
                {"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}], "serve": {"variant": "grid"}}]}),
        ),
        (
            json!({"key": "motd", "type": "string", "variants": [{"key": "hello", "value": "Hello!"}]}),
            json!({"enabled": true, "off_variant": "hello", "default_serve": {"variant": "hello"}}),
        ),
        (
            json!({"key": "legacy", "type": "boolean", "variants": boolean}),
            json!({"enabled": false, "off_variant": "off", "default_serve": {"variant": "on"}}),
        ),
    ];
    for (mut definition, state) in definitions {
        definition["client_visible"] = json!(true);
        let key = definition["key"].as_str().unwrap().to_owned();
        app.call(Method::POST, "/v1/projects/shop/flags", Some(definition))
            .await;
        app.call(Method::PUT, &format!("{STATES}/flags/{key}"), Some(state))
            .await;
    }
}

/// 1,000 flat contexts from a fixed seed; about one in twenty without a targeting key.
fn contexts() -> Vec<Value> {
    let mut rng = StdRng::seed_from_u64(SEED);
    (0..CONTEXTS)
        .map(|i| {
            let plan = ["free", "pro", "team", "enterprise"]
                .choose(&mut rng)
                .copied();
            let country = ["FR", "DE", "US", "JP"].choose(&mut rng).copied();
            let domain = ["@beta.dev", "@example.com"].choose(&mut rng).copied();
            let age: i64 = rng.random_range(10..70);
            let email = format!("user-{i}{}", domain.unwrap_or_default());
            let mut context = json!({"plan": plan, "country": country, "email": email, "age": age});
            if rng.random_bool(0.95) {
                context["targetingKey"] = json!(format!("user-{i}"));
            }
            context
        })
        .collect()
}

/// What the SDK must report for a `/v1/evaluate` result: the served value, variant and reason,
/// or the caller's default with the error code.
fn expected(result: &Value, flag: &Value) -> Value {
    match result.get("error_code") {
        None => json!({"value": result["value"], "variant": result["variant"],
                       "reason": result["reason"], "errorCode": null}),
        Some(code) => json!({"value": flag["default"], "variant": null, "reason": "ERROR",
                             "errorCode": code}),
    }
}

async fn expected_for(app: &TestApp, key: &str, context: &Value) -> Vec<Value> {
    let mut native = json!({"attributes": context});
    if let Some(id) = context.get("targetingKey") {
        native["targeting_key"] = id.clone();
        native["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("targetingKey");
    }
    let keys: Vec<Value> = flags()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].clone())
        .collect();
    let answer: Value = app
        .request_as(Some(key), Method::POST, "/v1/evaluate")
        .json(&json!({"context": native, "flags": keys}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flags = flags();
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .zip(flags.as_array().unwrap())
        .map(|(result, flag)| expected(result, flag))
        .collect()
}

async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, sdk: Sdk) -> String {
    tokio::time::timeout(Duration::from_secs(300), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{sdk:?}: the driver said nothing for 5 minutes"))
        .unwrap()
        .unwrap_or_else(|| panic!("{sdk:?}: the driver ended early (its stderr is above)"))
}

async fn interoperates(sdk: Sdk) {
    let mut command = match sdk.command() {
        Ok(command) => command,
        Err(why) if switchboard_test_harness::required("sdks") => {
            panic!("{sdk:?}: {why}, and SWITCHBOARD_TEST_REQUIRE has 'sdks'")
        }
        Err(why) => {
            eprintln!("openfeature_sdks: skipped {sdk:?}: {why}");
            return;
        }
    };
    let static_port = free_port();
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.cors_origins = vec![format!("http://127.0.0.1:{static_port}")];
    })
    .await;
    fixture(&app).await;
    let server_key = token(&app, &["flags:read"], &["shop"], &["production"]).await;
    // The browser holds a client-side key: evaluation of client-visible flags, nothing else.
    let key = match sdk {
        Sdk::Web => token(&app, &["flags:evaluate"], &["shop"], &["production"]).await,
        Sdk::Node | Sdk::Python => server_key.clone(),
    };
    let contexts = contexts();
    let work = tempfile::tempdir().unwrap();
    let (cases, results) = (
        work.path().join("cases.json"),
        work.path().join("results.json"),
    );
    let probe = json!({"targetingKey": "probe", "plan": "pro", "country": "FR"});
    let body = json!({"flags": flags(), "contexts": contexts, "probe": probe});
    std::fs::write(&cases, body.to_string()).unwrap();

    let mut child: Child = command
        .arg(&app.address)
        .arg(&cases)
        .arg(&results)
        .env("OFREP_KEY", &key)
        .env("STATIC_PORT", static_port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut lines, sdk).await, "evaluated");

    let got: Vec<Vec<Value>> =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert_eq!(got.len(), CONTEXTS);
    let mut reasons = std::collections::BTreeSet::new();
    let mut mismatches = Vec::new();
    for (context, answers) in contexts.iter().zip(&got) {
        let expected = expected_for(&app, &server_key, context).await;
        for ((answer, expected), flag) in answers
            .iter()
            .zip(&expected)
            .zip(flags().as_array().unwrap())
        {
            reasons.insert(answer["reason"].as_str().unwrap_or_default().to_owned());
            if answer != expected {
                mismatches.push(format!(
                    "{} {context}: got {answer}, expected {expected}",
                    flag["key"]
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{sdk:?}: {} mismatches, first: {:#?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    for reason in [
        "STATIC",
        "TARGETING_MATCH",
        "SPLIT",
        "DEFAULT",
        "DISABLED",
        "ERROR",
    ] {
        assert!(
            reasons.contains(reason),
            "{sdk:?}: no {reason} among {reasons:?}"
        );
    }

    // A flag disabled on the server reaches the SDK by its own refresh.
    app.call(
        Method::POST,
        &format!("{STATES}/flags/banner/disable"),
        None,
    )
    .await;
    stdin.write_all(b"flipped\n").await.unwrap();
    let flip: Value = serde_json::from_str(&next_line(&mut lines, sdk).await).unwrap();
    assert_eq!(
        flip["flip"],
        json!({"value": false, "variant": "off", "reason": "DISABLED", "errorCode": null}),
        "{sdk:?}"
    );
    eprintln!(
        "openfeature_sdks: {sdk:?} saw the flip after {} ms",
        flip["ms"]
    );

    // And so does the kill switch, for every flag.
    app.call(Method::POST, &format!("{STATES}/kill"), None)
        .await;
    stdin.write_all(b"killed\n").await.unwrap();
    let kill: Value = serde_json::from_str(&next_line(&mut lines, sdk).await).unwrap();
    let reasons: Vec<&Value> = kill["kill"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| &d["reason"])
        .collect();
    assert!(reasons.iter().all(|r| *r == "DISABLED"), "{sdk:?}: {kill}");
    assert_eq!(
        kill["kill"][2]["value"], 10,
        "{sdk:?}: the number flag's off variant"
    );
    if let Some(errors) = kill.get("pageErrors") {
        assert_eq!(errors, &json!([]), "{sdk:?}: errors in the page");
    }
    eprintln!(
        "openfeature_sdks: {sdk:?} saw the kill switch after {} ms",
        kill["ms"]
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{sdk:?}: the driver exited with {status}");
}
