//! Starting while the database is down: the process stays up, alive and not ready, retrying
//! with backoff until the database comes or the start timeout passes, instead of exiting at
//! once and being restarted by the orchestrator with the rest of the fleet (issue 13, defect 8).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use switchboard_server::settings::Settings;
use switchboard_server::startup::Application;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{NOT_CONFIGURED, TestDatabase, free_port, postgres};

/// Settings of a server on a port of the test's choosing (probed before the server is built).
fn settings(dir: &std::path::Path, database_url: String, start_timeout_secs: u64) -> Settings {
    let mut settings = Settings::for_tests(dir);
    settings.database_url = Some(database_url);
    settings.listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    settings.db_timeout_secs = 1;
    settings.start_timeout_secs = start_timeout_secs;
    settings
}

/// `url` with its host and port replaced by `127.0.0.1:port`, and the host and port it had.
fn through(url: &str, port: u16) -> (String, String) {
    let (head, rest) = url.split_once('@').expect("a URL with a user");
    let (upstream, tail) = rest.split_once('/').expect("a URL with a database");
    (
        format!("{head}@127.0.0.1:{port}/{tail}"),
        upstream.to_owned(),
    )
}

/// The database "comes up": a TCP relay to it on the port the server was pointed at.
async fn relay(port: u16, upstream: String) {
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
}

async fn probe(client: &reqwest::Client, listen: SocketAddr, path: &str) -> (StatusCode, Value) {
    let response = client
        .get(format!("http://{listen}{path}"))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

switchboard_test_harness::postgres_test! {
    #[tokio::test]
    async fn a_server_started_before_its_database_is_alive_not_ready_and_starts_once_it_comes() {
        let backend = postgres().expect(NOT_CONFIGURED);
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::create(&backend, dir.path()).await;
        let database_port = free_port();
        let (url, upstream) = through(&database.url, database_port);
        let settings = settings(dir.path(), url, 60);
        let listen = settings.listen;
        let client = reqwest::Client::new();

        let probes = async {
            // The socket listens from the start: these wait for the answer, not a retry loop.
            let (status, _) = probe(&client, listen, "/healthz").await;
            assert_eq!(status, StatusCode::OK, "alive while the database is down");
            let (status, body) = probe(&client, listen, "/readyz").await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "not ready: {body}");
            assert_eq!(body["checks"]["database"], "unavailable");
            relay(database_port, upstream).await;
        };
        let (built, ()) = tokio::join!(Application::build(settings), probes);
        let app = built.expect("started once the database came");
        let handle = app.handle();
        let running = tokio::spawn(app.run_until_stopped());

        let (status, body) = probe(&client, listen, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["checks"]["database"], "ok");
        handle.stop(false).await;
        let _ = running.await;
    }
}

#[tokio::test]
async fn a_server_whose_database_never_comes_gives_up_after_the_start_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("postgres://postgres@127.0.0.1:{}/test", free_port());
    let started = Instant::now();
    let error = Application::build(settings(dir.path(), nowhere, 2))
        .await
        .expect_err("no database, no server");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2), "gave up after {waited:?}");
    assert!(
        waited < Duration::from_secs(8),
        "gave up only after {waited:?}"
    );
    assert!(
        format!("{error:#}").contains("SWITCHBOARD_START_TIMEOUT_SECS"),
        "{error:#}"
    );
}
