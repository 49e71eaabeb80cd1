//! A webhook receiver for the tests: a minimal HTTP/1.1 server on a port reserved up front, so
//! that it can be down (nothing listens) and come up later on the same port. It records every
//! request it answered, and answers with the status it is told, or not at all (`hang`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// One request the receiver answered.
#[derive(Clone, Debug)]
pub struct Received {
    /// Header names in lowercase.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Status(u16),
    /// Reads the request and never answers.
    Hang,
}

#[derive(Debug)]
pub struct Receiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    /// A receiver that is down: its port is chosen but nothing listens yet.
    pub fn down() -> Self {
        Self {
            port: crate::helpers::free_port(),
            received: Arc::default(),
            answer: Arc::new(Mutex::new(Answer::Status(200))),
            server: None,
        }
    }

    /// A receiver that is up and answers 200.
    pub async fn up() -> Self {
        let mut receiver = Self::down();
        receiver.start().await;
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Starts listening on the reserved port.
    pub async fn start(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let received = self.received.clone();
        let answer = self.answer.clone();
        self.server = Some(tokio::spawn(async move {
            // Owned by this task: stopping it closes every connection too.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, received.clone(), answer.clone()));
            }
        }));
    }

    /// What has been answered so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests were answered (at most `limit`).
    pub async fn wait_for(&self, count: usize, limit: Duration) -> Vec<Received> {
        let deadline = Instant::now() + limit;
        loop {
            let received = self.received();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Serves the requests of one connection (keep-alive) until the client closes it.
async fn serve(stream: TcpStream, received: Arc<Mutex<Vec<Received>>>, answer: Arc<Mutex<Answer>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut headers = HashMap::new();
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let answer = *answer.lock().unwrap();
        let Answer::Status(status) = answer else {
            // Hold the connection open, answering nothing.
            std::future::pending::<()>().await;
            return;
        };
        received.lock().unwrap().push(Received {
            headers,
            body: String::from_utf8(body).unwrap(),
        });
        let response = format!("HTTP/1.1 {status} Test\r\ncontent-length: 8\r\n\r\nreceived");
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}
