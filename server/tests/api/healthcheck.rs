//! `switchboard healthcheck`, the probe a `FROM scratch` image runs instead of curl: exit 0
//! when the local server's `/healthz` (or, with `--ready`, `/readyz`) answers 200, 1 otherwise;
//! it probes wherever `SWITCHBOARD_LISTEN` says the server listens.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use switchboard_test_harness::{Backend, free_port, spawn_app};

use crate::cli::switchboard;

/// `switchboard healthcheck ARGS` against a server listening on `listen`.
fn healthcheck_command(listen: &str, args: &[&str]) -> std::process::Command {
    let mut command = switchboard(Path::new("/nonexistent"));
    command
        .arg("healthcheck")
        .args(args)
        .env("SWITCHBOARD_LISTEN", listen);
    command
}

fn healthcheck(listen: &str, args: &[&str]) -> Output {
    healthcheck_command(listen, args).output().unwrap()
}

/// The same, without blocking the runtime an in-process server runs on.
async fn healthcheck_async(listen: &str, args: &[&str]) -> Output {
    tokio::process::Command::from(healthcheck_command(listen, args))
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn healthcheck_exits_zero_while_the_server_answers_and_one_once_it_is_gone() {
    let mut app = spawn_app(Backend::Sqlite).await;
    let listen = app.address.trim_start_matches("http://").to_owned();

    let alive = healthcheck_async(&listen, &[]).await;
    assert!(
        alive.status.success(),
        "{}",
        String::from_utf8_lossy(&alive.stderr)
    );
    assert!(
        alive.stdout.is_empty(),
        "a probe prints nothing when all is well"
    );
    let ready = healthcheck_async(&listen, &["--ready"]).await;
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );

    app.stop().await;
    let gone = healthcheck_async(&listen, &[]).await;
    assert_eq!(gone.status.code(), Some(1));
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(said.contains("/healthz"), "says what it probed: {said}");
}

/// A `switchboard serve` whose database is not reachable: it listens, alive and not ready,
/// while it retries.
struct Starting(Child);

impl Drop for Starting {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn healthcheck_ready_fails_while_the_server_waits_for_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Listening on every interface, as in a container: the probe goes to loopback.
    let listen = format!("0.0.0.0:{port}");
    let unreachable = format!("postgres://postgres@127.0.0.1:{}/none", free_port());
    let _server = Starting(
        switchboard(dir.path())
            .arg("serve")
            .env("SWITCHBOARD_LISTEN", &listen)
            .env("DATABASE_URL", unreachable)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let started = Instant::now();
    while !healthcheck(&listen, &[]).status.success() {
        assert!(started.elapsed() < Duration::from_secs(30), "never alive");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ready = healthcheck(&listen, &["--ready"]);
    assert_eq!(
        ready.status.code(),
        Some(1),
        "not ready without its database"
    );
    let said = String::from_utf8_lossy(&ready.stderr);
    assert!(said.contains("/readyz") && said.contains("503"), "{said}");
}
