//! Release plans: a flag ramped through steps on its own, watched by a guard against a fake
//! Prometheus (a tiny HTTP server on a free port whose answer the test sets), rolled back when
//! the guard fails, paused (never widened) when monitoring is unreachable, resumed after a
//! restart, and carried on by another instance when the one running it is killed. Durations
//! are fractions of a second (settings), so nothing waits long.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_server::settings::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    a_plan_ramps_the_flag_to_100_percent_step_by_step_while_its_guard_passes,
    a_guard_failing_mid_hold_rolls_the_flag_back_within_one_check_interval,
    a_guard_failing_with_kill_turns_the_flag_off,
    unreachable_monitoring_pauses_the_plan_and_never_widens_it,
    a_step_whose_hold_ended_while_the_server_was_down_is_checked_before_widening,
    operators_pause_resume_skip_and_abort_a_plan,
    a_second_active_plan_and_invalid_plans_are_refused,
);

pub const FLAG: &str = "/v1/projects/shop/environments/production/flags/checkout";

/// A Prometheus stand-in: answers every `/api/v1/query` with one series of the value the test
/// set, counts the queries, and can go away (its port closed) and come back on the same port.
pub struct FakePrometheus {
    pub url: String,
    port: u16,
    value: Arc<Mutex<f64>>,
    queries: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl FakePrometheus {
    pub async fn start(value: f64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut fake = Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            value: Arc::new(Mutex::new(value)),
            queries: Arc::default(),
            task: None,
        };
        fake.serve(listener);
        fake
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (value, queries) = (self.value.clone(), self.queries.clone());
        self.task = Some(tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (value, queries) = (value.clone(), queries.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    assert!(request.starts_with(b"GET /api/v1/query?query="));
                    queries.fetch_add(1, Ordering::SeqCst);
                    let sample = value.lock().unwrap().to_string();
                    let body = json!({"status": "success", "data": {"resultType": "vector",
                        "result": [{"metric": {"service": "checkout"}, "value": [1.0, sample]}]}})
                    .to_string();
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                });
            }
        }));
    }

    pub fn set(&self, value: f64) {
        *self.value.lock().unwrap() = value;
    }

    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Closes the port: connections are refused until [`come_back`](Self::come_back).
    pub async fn go_down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn come_back(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }
}

/// Fast scheduling for tests: a 20 ms tick, guards every `interval_ms`, a 1 s lease.
pub fn fast(settings: &mut Settings, prometheus: &str, interval_ms: u64) {
    settings.scheduler_tick_ms = 20;
    settings.scheduler_lease_ms = 1000;
    settings.guard_interval_ms = interval_ms;
    settings.guard_timeout_ms = 500;
    settings.prometheus_url = Some(prometheus.to_owned());
}

/// Project `shop`, environment `production`, boolean flag `checkout` (off).
pub async fn arrange(app: &TestApp) {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app.create_boolean_flag("shop", "checkout").await;
}

/// Polls `path` until `done` holds for its JSON answer; panics after `limit` with the last one.
pub async fn until(
    app: &TestApp,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let answer = app.call(Method::GET, path, None).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting on {path}: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a plan (started) and returns its path.
pub async fn start_plan(app: &TestApp, body: Value) -> String {
    let mut body = body;
    body["start"] = json!(true);
    let response = app.post(&format!("{FLAG}/plans"), body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let plan: Value = response.json().await.unwrap();
    assert_eq!(plan["status"], "running");
    assert_eq!(plan["current_step"], 0);
    location
}

fn guard(threshold: f64) -> Value {
    json!([{ "name": "error-ratio", "prometheus": {
        "query": "sum(rate(http_errors_total[5m])) / sum(rate(http_requests_total[5m]))",
        "fail_when": ">", "threshold": threshold } }])
}

/// The flag's history comments, oldest first.
pub async fn history(app: &TestApp) -> Vec<String> {
    let page = app
        .call(Method::GET, &format!("{FLAG}/versions?limit=200"), None)
        .await;
    let mut comments: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["comment"].as_str().unwrap().to_owned())
        .collect();
    comments.reverse();
    comments
}

/// How many audit events have `action`.
pub async fn audited(app: &TestApp, action: &str) -> usize {
    app.audit(&format!("action={action}&limit=200")).await.len()
}

/// The share of the default serve that gets `on`, in basis points.
fn on_share(state: &Value) -> u64 {
    match &state["default_serve"] {
        serve if serve.get("variant").is_some() => {
            if serve["variant"] == "on" {
                10_000
            } else {
                0
            }
        }
        serve => serve["split"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|arm| arm["variant"] == "on")
            .map(|arm| arm["weight"].as_u64().unwrap())
            .sum(),
    }
}

async fn a_plan_ramps_the_flag_to_100_percent_step_by_step_while_its_guard_passes(
    backend: Backend,
) {
    let prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 100)).await;
    arrange(&app).await;

    let plan = start_plan(
        &app,
        json!({ "steps": [
            { "percentage": 10, "hold_seconds": 0.2 },
            { "percentage": 50, "hold_seconds": 0.2 },
            { "percentage": 100 } ],
          "guards": guard(0.02) }),
    )
    .await;
    let done = until(&app, &plan, Duration::from_secs(15), |p| {
        p["status"] == "completed"
    })
    .await;

    let state = app.call(Method::GET, FLAG, None).await;
    assert_eq!(state["enabled"], true);
    assert_eq!(on_share(&state), 10_000, "everyone gets the new variant");
    let id = done["id"].as_str().unwrap();
    assert_eq!(
        history(&app).await,
        [
            format!("release plan {id}: step 1 (10.00 %)"),
            format!("release plan {id}: step 2 (50.00 %)"),
            format!("release plan {id}: step 3 (100.00 %)"),
        ],
        "each step is one flag version"
    );
    assert!(
        prometheus.queries() >= 3,
        "the guard was checked at each boundary"
    );
    assert_eq!(done["last_check"]["results"][0]["outcome"], "pass");
    assert_eq!(audited(&app, "release_plan.started").await, 1);
    assert_eq!(audited(&app, "release_plan.advanced").await, 2);
    assert_eq!(audited(&app, "release_plan.completed").await, 1);
    let advanced = app.audit("action=release_plan.advanced").await;
    assert_eq!(advanced[0]["after"]["plan"], id, "the event names the plan");
    assert_eq!(advanced[0]["after"]["step"], 2, "and the step");
}

async fn a_guard_failing_mid_hold_rolls_the_flag_back_within_one_check_interval(backend: Backend) {
    const INTERVAL: Duration = Duration::from_millis(1000);
    let prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 1000)).await;
    arrange(&app).await;
    let before = app.call(Method::GET, FLAG, None).await;

    let plan = start_plan(
        &app,
        json!({ "steps": [{ "percentage": 10, "hold_seconds": 600 }, { "percentage": 100 }],
                "guards": guard(0.02), "on_failure": "rollback" }),
    )
    .await;
    // Let one check pass mid-hold, then the error ratio jumps.
    until(&app, &plan, Duration::from_secs(10), |p| {
        p["last_check"]["results"][0]["outcome"] == "pass"
    })
    .await;
    prometheus.set(0.5);
    let failed_at = Instant::now();
    let stopped = until(&app, &plan, Duration::from_secs(10), |p| {
        p["status"] != "running"
    })
    .await;
    let took = failed_at.elapsed();

    assert_eq!(stopped["status"], "rolled_back");
    assert!(
        took < INTERVAL + Duration::from_millis(500),
        "rolled back {took:?} after the failure; the check interval is {INTERVAL:?}"
    );
    assert_eq!(stopped["reason"]["kind"], "guard_failed");
    assert_eq!(stopped["reason"]["guard"], "error-ratio");
    assert_eq!(stopped["reason"]["observed"], 0.5);
    let after = app.call(Method::GET, FLAG, None).await;
    for field in ["enabled", "default_serve", "off_variant"] {
        assert_eq!(after[field], before[field], "{field} is as before the plan");
    }
    let id = stopped["id"].as_str().unwrap();
    assert_eq!(
        history(&app).await,
        [
            format!("release plan {id}: step 1 (10.00 %)"),
            format!("release plan {id}: back to the state before the plan"),
        ]
    );
    let failures = app.audit("action=release_plan.guard_failed").await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["after"]["reason"]["observed"], 0.5);
    assert_eq!(audited(&app, "release_plan.rolled_back").await, 1);
}

async fn a_guard_failing_with_kill_turns_the_flag_off(backend: Backend) {
    let prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 50)).await;
    arrange(&app).await;
    let plan = start_plan(
        &app,
        json!({ "steps": [{ "percentage": 10, "hold_seconds": 600 }, { "percentage": 100 }],
                "guards": guard(0.02), "on_failure": "kill", "failure_threshold": 3 }),
    )
    .await;
    prometheus.set(0.3);
    let stopped = until(&app, &plan, Duration::from_secs(10), |p| {
        p["status"] != "running"
    })
    .await;
    assert_eq!(stopped["status"], "killed");
    assert_eq!(
        stopped["reason"]["consecutive_failures"], 3,
        "three failures in a row"
    );
    let state = app.call(Method::GET, FLAG, None).await;
    assert_eq!(state["enabled"], false);
    assert_eq!(audited(&app, "release_plan.guard_failed").await, 3);
    assert_eq!(audited(&app, "release_plan.killed").await, 1);
}

async fn unreachable_monitoring_pauses_the_plan_and_never_widens_it(backend: Backend) {
    let mut prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 100)).await;
    arrange(&app).await;
    let plan = start_plan(
        &app,
        json!({ "steps": [{ "percentage": 10, "hold_seconds": 0.3 }, { "percentage": 100 }],
                "guards": guard(0.02) }),
    )
    .await;
    prometheus.go_down().await;

    let paused = until(&app, &plan, Duration::from_secs(10), |p| {
        p["status"] == "paused"
    })
    .await;
    assert_eq!(paused["reason"]["kind"], "guard_unavailable");
    assert_eq!(paused["reason"]["guard"], "error-ratio");
    assert_eq!(paused["current_step"], 0);
    // Well past the hold: still at the first step.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let state = app.call(Method::GET, FLAG, None).await;
    assert_eq!(on_share(&state), 1_000, "still 10 %");
    assert_eq!(history(&app).await.len(), 1, "no step was applied blind");

    prometheus.come_back().await;
    let response = app.post(&format!("{plan}/resume"), json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    until(&app, &plan, Duration::from_secs(10), |p| {
        p["status"] == "completed"
    })
    .await;
    let state = app.call(Method::GET, FLAG, None).await;
    assert_eq!(on_share(&state), 10_000);
}

async fn a_step_whose_hold_ended_while_the_server_was_down_is_checked_before_widening(
    backend: Backend,
) {
    let prometheus = FakePrometheus::start(0.001).await;
    let mut app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 100)).await;
    arrange(&app).await;
    let plan = start_plan(
        &app,
        json!({ "steps": [{ "percentage": 10, "hold_seconds": 0.5 }, { "percentage": 100 }],
                "guards": guard(0.02) }),
    )
    .await;
    app.stop().await;
    // While no instance runs, the hold ends and the service starts failing.
    prometheus.set(0.9);
    tokio::time::sleep(Duration::from_millis(700)).await;
    app.restart().await;

    let stopped = until(&app, &plan, Duration::from_secs(10), |p| {
        p["status"] != "running"
    })
    .await;
    assert_eq!(
        stopped["status"], "rolled_back",
        "checked on start, not widened"
    );
    let id = stopped["id"].as_str().unwrap();
    assert!(
        !history(&app)
            .await
            .contains(&format!("release plan {id}: step 2 (100.00 %)")),
        "the second step was never applied"
    );
}

async fn operators_pause_resume_skip_and_abort_a_plan(backend: Backend) {
    let prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 100)).await;
    arrange(&app).await;
    let before = app.call(Method::GET, FLAG, None).await;
    let plan = start_plan(
        &app,
        json!({ "steps": [{ "percentage": 5, "hold_seconds": 600 },
                          { "percentage": 25, "hold_seconds": 600 },
                          { "percentage": 100 }] }),
    )
    .await;

    let paused = app.call(Method::POST, &format!("{plan}/pause"), None).await;
    assert_eq!(paused["status"], "paused");
    let again = app.post(&format!("{plan}/pause"), json!({})).await;
    assert_problem(again, StatusCode::CONFLICT).await;
    let resumed = app
        .call(Method::POST, &format!("{plan}/resume"), None)
        .await;
    assert_eq!(resumed["status"], "running");
    let skipped = app.call(Method::POST, &format!("{plan}/skip"), None).await;
    assert_eq!(skipped["current_step"], 1);
    assert_eq!(on_share(&app.call(Method::GET, FLAG, None).await), 2_500);

    let aborted = app.call(Method::POST, &format!("{plan}/abort"), None).await;
    assert_eq!(aborted["status"], "aborted");
    let after = app.call(Method::GET, FLAG, None).await;
    for field in ["enabled", "default_serve"] {
        assert_eq!(after[field], before[field], "abort restores {field}");
    }
    let id = aborted["id"].as_str().unwrap();
    assert_eq!(
        history(&app).await,
        [
            format!("release plan {id}: step 1 (5.00 %)"),
            format!("release plan {id}: step 2 (25.00 %)"),
            format!("release plan {id}: back to the state before the plan"),
        ]
    );
    for action in ["paused", "resumed", "skipped", "aborted"] {
        assert_eq!(
            audited(&app, &format!("release_plan.{action}")).await,
            1,
            "{action}"
        );
    }
    // A finished plan frees the flag for the next one.
    let next = app
        .post(
            &format!("{FLAG}/plans"),
            json!({ "steps": [{ "percentage": 1 }] }),
        )
        .await;
    assert_eq!(next.status(), StatusCode::CREATED);
    let listed = app.call(Method::GET, &format!("{FLAG}/plans"), None).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
}

async fn a_second_active_plan_and_invalid_plans_are_refused(backend: Backend) {
    let prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(backend, |s| fast(s, &prometheus.url, 100)).await;
    arrange(&app).await;
    let body = json!({ "steps": [{ "percentage": 5, "hold_seconds": 60 }] });
    let first = app.post(&format!("{FLAG}/plans"), body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let second = app.post(&format!("{FLAG}/plans"), body).await;
    let problem = assert_problem(second, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("active release plan")
    );

    let cases = [
        (json!({ "steps": [] }), "body.steps"),
        (
            json!({ "steps": [{ "percentage": 5, "enabled": true }] }),
            "body.steps[0]",
        ),
        (
            json!({ "steps": [{ "percentage": 5, "hold_seconds": -1 }] }),
            "body.steps[0].hold_seconds",
        ),
        (
            json!({ "steps": [{ "percentage": 5 }], "variant": "nope" }),
            "body.steps[0].default_serve",
        ),
        (
            json!({ "steps": [{ "percentage": 5 }],
                    "guards": [{ "name": "smoke", "http": { "url": "http://10.0.0.1/secret-token-123" } }] }),
            "body.guards[0].http.url",
        ),
    ];
    for (body, field) in cases {
        let response = app.post(&format!("{FLAG}/plans"), body.clone()).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{body}: {fields:?}"
        );
        assert!(
            !problem.to_string().contains("secret-token-123"),
            "never echoed"
        );
    }
}

switchboard_test_harness::postgres_test! {
    #[tokio::test]
    async fn an_instance_killed_mid_plan_is_replaced_and_no_step_is_applied_twice() {
        use crate::cli::ServerProcess;
        use crate::helpers::{TestDatabase, postgres};

        let prometheus = FakePrometheus::start(0.001).await;
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(&postgres().unwrap(), dir.path()).await;
        // The instance that will die: a process of its own, started first so that it holds the
        // scheduler's lease.
        let doomed = ServerProcess::start(
            dir.path(),
            &[
                ("DATABASE_URL", database.url.clone()),
                ("SWITCHBOARD_SCHEDULER_TICK_MS", "20".into()),
                ("SWITCHBOARD_SCHEDULER_LEASE_MS", "1000".into()),
                ("SWITCHBOARD_GUARD_INTERVAL_MS", "100".into()),
                ("SWITCHBOARD_PROMETHEUS_URL", prometheus.url.clone()),
            ],
        )
        .await;
        let mut survivor = spawn_app_with(Backend::Sqlite, |s| {
            fast(s, &prometheus.url, 100);
            s.database_url = Some(database.url.clone());
            s.master_key_file = Some(dir.path().join("master.key"));
        })
        .await;
        survivor.admin_token = doomed.admin_token.clone();
        arrange(&survivor).await;

        let plan = start_plan(
            &survivor,
            json!({ "steps": [
                { "percentage": 10, "hold_seconds": 0.3 },
                { "percentage": 30, "hold_seconds": 0.3 },
                { "percentage": 60, "hold_seconds": 0.3 },
                { "percentage": 100 } ],
              "guards": guard(0.02) }),
        )
        .await;
        until(&survivor, &plan, Duration::from_secs(10), |p| p["current_step"] == 1).await;
        let mut doomed = doomed;
        doomed.child.kill().unwrap();
        doomed.child.wait().unwrap();

        let done = until(&survivor, &plan, Duration::from_secs(15), |p| {
            p["status"] == "completed"
        })
        .await;
        let id = done["id"].as_str().unwrap();
        assert_eq!(
            history(&survivor).await,
            [
                format!("release plan {id}: step 1 (10.00 %)"),
                format!("release plan {id}: step 2 (30.00 %)"),
                format!("release plan {id}: step 3 (60.00 %)"),
                format!("release plan {id}: step 4 (100.00 %)"),
            ],
            "every step once, in order"
        );
        assert_eq!(audited(&survivor, "release_plan.advanced").await, 3);
        assert_eq!(audited(&survivor, "release_plan.completed").await, 1);
    }
}

/// `switchboard flags plan …` and `flags schedule …`, the built binary against a real server.
#[tokio::test]
async fn the_cli_creates_lists_and_aborts_a_plan_and_schedules_a_change() {
    let prometheus = FakePrometheus::start(0.001).await;
    let app = spawn_app_with(Backend::Sqlite, |s| fast(s, &prometheus.url, 100)).await;
    arrange(&app).await;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut command = crate::cli::switchboard(app.data_dir.path());
        command
            .env("SWITCHBOARD_URL", &app.address)
            .env("SWITCHBOARD_TOKEN", &app.admin_token)
            .env("XDG_CONFIG_HOME", home.path())
            .env_remove("HOME")
            .arg("flags")
            .args(args)
            .args(["-p", "shop", "-e", "production"]);
        let what = format!("{args:?}");
        async move {
            let output = tokio::process::Command::from(command)
                .output()
                .await
                .unwrap();
            let stdout = String::from_utf8(output.stdout).unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            assert!(output.status.success(), "{what}: {stdout} {stderr}");
            stdout
        }
    };

    let created = run(&[
        "plan",
        "create",
        "checkout",
        "--step",
        "10:10m",
        "--step",
        "100",
        "--prometheus-guard",
        "error-ratio",
        "--query",
        "up",
        "--fail-when",
        ">",
        "--threshold",
        "0.02",
        "--start",
        "-o",
        "json",
    ])
    .await;
    let plan: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(plan["status"], "running");
    assert_eq!(plan["steps"][0]["hold_seconds"], 600.0);
    assert_eq!(plan["guards"][0]["prometheus"]["threshold"], 0.02);
    let id = plan["id"].as_str().unwrap();

    let listed = run(&["plan", "list", "checkout"]).await;
    assert!(
        listed.contains(id) && listed.contains("running"),
        "{listed}"
    );
    assert!(listed.contains("1/2 (10%)"), "{listed}");
    let aborted = run(&["plan", "abort", "checkout", id]).await;
    assert!(aborted.contains("aborted"), "{aborted}");

    let scheduled = run(&[
        "schedule",
        "create",
        "checkout",
        "--at",
        "2099-01-01T00:00:00Z",
        "--enable",
    ])
    .await;
    assert!(scheduled.starts_with("scheduled change "), "{scheduled}");
    let schedules = run(&["schedule", "list"]).await;
    assert!(schedules.contains("pending"), "{schedules}");
}
