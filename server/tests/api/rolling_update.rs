//! A rolling update as an orchestrator runs one: two real `switchboard serve` processes on one
//! database and one Redis behind a load balancer, SDK clients streaming through it, and one
//! instance sent SIGTERM. The instance drains (its streams told to reconnect) and exits well
//! within its shutdown timeout, and every client receives every change made meanwhile and
//! afterwards, through the stream: the clients poll once an hour and back off for half a
//! minute, so a change that arrives within seconds came by a stream reopened at once.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard_client::{Client, KillList};
use switchboard_test_harness::{Backend, TestDatabase, free_port, postgres, redis_url};
use tokio::net::{TcpListener, TcpStream};

use crate::cli::switchboard;

/// How long any "eventually" may take: far below the clients' backoff and poll interval.
const DEADLINE: Duration = Duration::from_secs(10);
const CLIENTS: usize = 6;

/// A `switchboard serve` process of the deployment; killed if the test ends early.
struct Instance {
    child: Child,
    port: u16,
    data_dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- log of the instance on port {}:\n{}",
                self.port,
                self.log()
            );
        }
    }
}

/// What every instance of the deployment shares.
struct Deployment {
    database_url: String,
    redis_url: String,
    redis_prefix: String,
    master_key: String,
}

impl Deployment {
    /// Starts an instance and waits until its `/readyz` answers 200.
    async fn start(&self) -> Instance {
        let data_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = std::fs::File::create(data_dir.path().join("serve.log")).unwrap();
        let child = switchboard(data_dir.path())
            .arg("serve")
            .env("SWITCHBOARD_LISTEN", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &self.database_url)
            .env("REDIS_URL", &self.redis_url)
            .env("SWITCHBOARD_REDIS_PREFIX", &self.redis_prefix)
            .env("SWITCHBOARD_MASTER_KEY", &self.master_key)
            .env("SWITCHBOARD_WORKERS", "2")
            .env(
                "SWITCHBOARD_LOG",
                std::env::var("ROLLING_UPDATE_LOG").unwrap_or("info".into()),
            )
            // Far longer than the drain may take: streams must not hold it open.
            .env("SWITCHBOARD_SHUTDOWN_TIMEOUT_SECS", "60")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let instance = Instance {
            child,
            port,
            data_dir,
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = http.get(instance.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return instance;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the instance did not become ready: {}",
                instance.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Instance {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.path().join("serve.log")).unwrap_or_default()
    }

    /// The number of SDK streams this instance holds open, from its `/metrics`.
    async fn open_streams(&self) -> u64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("switchboard_sdk_streams_open "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A TCP load balancer: each connection goes to the next backend in turn, or to the one after
/// when that one refuses (as a proxy skips an instance that stopped listening).
async fn load_balancer(backends: Vec<SocketAddr>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let turn = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let first = turn.fetch_add(1, Ordering::Relaxed);
            let backends = backends.clone();
            tokio::spawn(async move {
                for offset in 0..backends.len() {
                    let backend = backends[(first + offset) % backends.len()];
                    if let Ok(mut outbound) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    address
}

/// An admin request to `instance`.
async fn admin(instance: &Instance, token: &str, method: reqwest::Method, path: &str, body: Value) {
    let response = reqwest::Client::new()
        .request(method, instance.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.text().await.unwrap()
    );
}

const ROUND: &str = "/v1/projects/shop/environments/production/config/ROUND";

async fn set_round(instance: &Instance, token: &str, round: i64) {
    let body = json!({ "value": round });
    admin(instance, token, reqwest::Method::PUT, ROUND, body).await;
}

fn round_of(client: &Client) -> Option<i64> {
    client.with_view(|view| view.config("ROUND").and_then(Value::as_i64))
}

/// Waits until every client holds `round`.
async fn every_client_sees(clients: &[Client], round: i64) {
    let started = Instant::now();
    while !clients.iter().all(|client| round_of(client) == Some(round)) {
        let seen: Vec<_> = clients
            .iter()
            .map(|c| (round_of(c), c.status().last_error.map(|e| e.to_string())))
            .collect();
        assert!(
            started.elapsed() < DEADLINE,
            "round {round} did not reach every client: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A keyring of one random key, given to every instance (as a secret store would).
fn random_master_key() -> String {
    let key: [u8; 32] = rand::random();
    format!(
        "k1:{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn initial_admin_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("initial-admin-token"))
        .unwrap()
        .trim()
        .to_owned()
}

// Fails as of this commit: after SIGTERM to one instance, some clients (2 to 5 of 6) stay
// at the old round without an error, although the drained instance had no open connection
// left when its workers stopped (its log says "shutting down idle worker"). Not diagnosed
// yet; run it with `--ignored` (it needs SWITCHBOARD_TEST_REDIS_URL) (ROLLING_UPDATE_LOG=debug gives the instances' logs).
#[ignore = "rolling update: some streaming clients miss the change after SIGTERM (open)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_an_instance_and_every_streaming_client_receives_every_later_change() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(&postgres().unwrap_or(Backend::Sqlite), dir.path()).await;
    let deployment = Deployment {
        database_url: database.url.clone(),
        redis_url: redis_url().unwrap(),
        redis_prefix: format!("swbt-{}", uuid::Uuid::new_v4().simple()),
        master_key: random_master_key(),
    };
    let mut leaving = deployment.start().await;
    let staying = deployment.start().await;
    let token = initial_admin_token(leaving.data_dir.path());
    admin(
        &leaving,
        &token,
        reqwest::Method::POST,
        "/v1/projects",
        json!({"name": "shop"}),
    )
    .await;
    let environments = "/v1/projects/shop/environments";
    admin(
        &leaving,
        &token,
        reqwest::Method::POST,
        environments,
        json!({"name": "production"}),
    )
    .await;
    set_round(&leaving, &token, 0).await;
    let sdk_token = {
        let body = json!({"name": "sdk", "scopes": ["flags:read"], "projects": ["shop"],
                          "environments": ["production"]});
        let issued: Value = reqwest::Client::new()
            .post(leaving.url("/v1/tokens"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        issued["token"].as_str().unwrap().to_owned()
    };

    let balancer = load_balancer(vec![leaving.address(), staying.address()]).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let client = Client::builder(&balancer, &sdk_token)
            // Neither polling nor a backoff can deliver a change within the deadline.
            .poll_interval(Duration::from_secs(3600))
            .backoff(Duration::from_secs(30), Duration::from_secs(60))
            .kill_list(KillList::none())
            .build()
            .unwrap();
        client.wait_ready(DEADLINE).await.unwrap();
        clients.push(client);
    }
    every_client_sees(&clients, 0).await;
    let (first, second) = (&leaving, &staying);
    eventually(
        "every client streams, some from the leaving instance",
        || async move {
            let (on_leaving, on_staying) =
                (first.open_streams().await, second.open_streams().await);
            on_leaving > 0 && on_leaving + on_staying == CLIENTS as u64
        },
    )
    .await;

    let sigterm = Instant::now();
    kill(Pid::from_raw(leaving.child.id() as i32), Signal::SIGTERM).unwrap();
    // A change during the drain, then more once the instance is gone.
    set_round(&staying, &token, 1).await;
    every_client_sees(&clients, 1).await;
    let exit = loop {
        if let Some(status) = leaving.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            sigterm.elapsed() < Duration::from_secs(15),
            "the instance still runs {:?} after SIGTERM: {}",
            sigterm.elapsed(),
            leaving.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        exit.success(),
        "drained instance exit: {exit:?}\n{}",
        leaving.log()
    );

    for round in 2..=4 {
        set_round(&staying, &token, round).await;
        every_client_sees(&clients, round).await;
    }
    assert_eq!(
        staying.open_streams().await,
        CLIENTS as u64,
        "every stream reopened on the instance that stayed"
    );
}
