//! Reads and writes during a database that stops answering. The worst outage is not a refused connection
//! (that fails fast) but a silent one: a network partition or a frozen host keeps the TCP
//! connections open and never answers, and a query in flight waits for as long as TCP takes
//! to give up. A proxy between the server and PostgreSQL plays that outage (holding every byte
//! until the partition heals): every read and write must still answer within
//! `db_timeout_secs` plus a small margin, with a 503 the client can retry, and the server must work again once the database answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{postgres, spawn_app_with};

const DB_TIMEOUT_SECS: u64 = 2;
/// What a request may take beyond `db_timeout_secs` (scheduling on a busy machine).
const MARGIN: Duration = Duration::from_millis(1_500);

switchboard_test_harness::postgres_test! {
    #[tokio::test]
    async fn reads_and_versioned_writes_answer_within_the_database_timeout_while_the_database_is_silent() {
        let proxy = SilentProxy::start().await;
        let app = spawn_app_with(postgres().expect("configured"), |settings| {
            settings.db_timeout_secs = DB_TIMEOUT_SECS;
            let url = settings.database_url.clone().unwrap();
            let (before, after) = url.split_once('@').unwrap();
            let (authority, rest) = after.split_once('/').unwrap();
            proxy.set_upstream(authority);
            settings.database_url = Some(format!("{before}@127.0.0.1:{}/{rest}", proxy.port));
        })
        .await;
        app.create_project("shop").await;
        app.create_environment("shop", "production", None).await;
        app.create_boolean_flag("shop", "checkout").await;
        let env = "/v1/projects/shop/environments/production";
        app.call(Method::PUT, &format!("{env}/config/limit"), Some(json!({ "value": 1 })))
            .await;

        // Writers keep writing; the database goes silent under them, with some of their
        // transactions half done.
        let stop = Arc::new(AtomicBool::new(false));
        let writers = (0..12).map(|writer| {
            let (app, stop) = (&app, stop.clone());
            async move {
                let (method, path, body) = match writer % 4 {
                    0 => (Method::PUT, format!("{env}/config/limit"), json!({ "value": writer })),
                    3 => (Method::GET, format!("{env}/config/limit"), json!(null)),
                    1 => (
                        Method::POST,
                        format!("{env}/flags/checkout/rollout"),
                        json!({ "basis_points": writer }),
                    ),
                    _ => (Method::PUT, format!("{env}/secrets/API_KEY"), json!({ "value": "s" })),
                };
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let mut request = app.request(method.clone(), &path);
                    if method != Method::GET {
                        request = request.json(&body);
                    }
                    let response = request
                        .timeout(Duration::from_secs(30))
                        .send()
                        .await;
                    let status = response.map(|r| r.status()).ok();
                    answers.push((method.clone(), path.clone(), status, started.elapsed()));
                }
                answers
            }
        });
        let outage = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            proxy.go_silent();
            tokio::time::sleep(Duration::from_secs(DB_TIMEOUT_SECS) * 2).await;
            stop.store(true, Ordering::SeqCst);
        };
        let (answers, ()) = tokio::join!(futures_util::future::join_all(writers), outage);

        let answers: Vec<_> = answers.into_iter().flatten().collect();
        for (method, path, status, took) in &answers {
            // Reads and writes alike: a write that committed just before the silence answers
            // from what it wrote, its snapshot refresh going on in the background.
            let bound = Duration::from_secs(DB_TIMEOUT_SECS) + MARGIN;
            assert!(took <= &bound, "{method} {path} took {took:?} ({status:?})");
            assert!(
                [Some(StatusCode::OK), Some(StatusCode::SERVICE_UNAVAILABLE)].contains(status),
                "{method} {path} answered {status:?}"
            );
        }
        assert!(
            answers
                .iter()
                .any(|a| a.2 == Some(StatusCode::SERVICE_UNAVAILABLE)),
            "the outage was seen"
        );

        // The partition heals: what was held is delivered, the half-done transactions end.
        proxy.speak_again();
        let recovered = Instant::now() + Duration::from_secs(20);
        loop {
            let response = app
                .request(Method::PUT, &format!("{env}/config/limit"))
                .json(&json!({ "value": 3 }))
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .unwrap();
            if response.status() == StatusCode::OK {
                break;
            }
            assert!(Instant::now() < recovered, "the server does not recover");
        }
    }
}

/// A TCP proxy that forwards until told to go silent; silent, it holds every connection open
/// (old and new) and delivers nothing until it speaks again, as a partitioned network does.
pub struct SilentProxy {
    pub port: u16,
    silent: Arc<AtomicBool>,
    upstream: Arc<std::sync::Mutex<String>>,
}

impl SilentProxy {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = Arc::new(AtomicBool::new(false));
        let upstream = Arc::new(std::sync::Mutex::new(String::new()));
        let (flag, target) = (silent.clone(), upstream.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (flag, target) = (flag.clone(), target.clone());
                tokio::spawn(async move {
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let address = target.lock().unwrap().clone();
                    let Ok(server) = TcpStream::connect(address).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(forward(client_read, server_write, flag.clone()));
                    forward(server_read, client_write, flag).await;
                });
            }
        });
        Self {
            port,
            silent,
            upstream,
        }
    }

    pub fn set_upstream(&self, address: &str) {
        *self.upstream.lock().unwrap() = address.to_owned();
    }

    pub fn go_silent(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }

    pub fn speak_again(&self) {
        self.silent.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`, holding what arrives while silent until the proxy speaks again
/// (as TCP does across a partition: delayed, not lost).
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    silent: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while silent.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
