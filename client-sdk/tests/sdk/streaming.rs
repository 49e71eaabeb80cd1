//! Following the server through `/v1/sdk/stream`. The clients here poll once an hour, so every
//! change they see within the test came through the stream, except where a test takes the
//! stream away on purpose.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use switchboard_client::{Client, Context, Reason, RefreshError};

use crate::helpers::{TestServer, client_of, eventually, shop, streaming_client};

#[tokio::test]
async fn flips_and_kill_switches_arrive_through_the_stream() {
    let (server, token) = shop().await;
    let client = streaming_client(&server, &token).build().unwrap();
    let user = Context::with_targeting_key("user-1");
    ready_then_a_flip_arrives(&server, &client, "the flip arrives").await;

    server.enable("new-checkout").await;
    eventually("the flag is back", || {
        client.bool_value("new-checkout", &user, false)
    })
    .await;

    server.kill_environment().await;
    eventually("the server's kill switch arrives", || {
        client.bool_details("new-checkout", &user, true).reason == Reason::Disabled
    })
    .await;
    assert!(!client.bool_value("new-checkout", &user, true));

    server.restore_environment().await;
    eventually("the restore arrives", || {
        client.bool_value("new-checkout", &user, false)
    })
    .await;
}

#[tokio::test]
async fn listeners_hear_each_streamed_change_once() {
    let (server, token) = shop().await;
    let client = streaming_client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let revisions: Arc<Mutex<Vec<u64>>> = Arc::default();
    let sink = Arc::clone(&revisions);
    client.on_flag_change("new-checkout", move |change| {
        sink.lock().unwrap().push(change.revision)
    });

    server.rollout("new-checkout", 10.0).await;
    server.rollout("new-checkout", 50.0).await;
    let latest = server_revision(&server.address, &token).await;

    eventually("the last rollout is heard", || {
        revisions.lock().unwrap().last() == Some(&latest)
    })
    .await;
    let heard = revisions.lock().unwrap().clone();
    assert!(
        heard.windows(2).all(|w| w[0] < w[1]),
        "each revision is heard once, in order: {heard:?}"
    );
}

#[tokio::test]
async fn the_stream_reconnects_after_the_server_restarts() {
    let (mut server, token) = shop().await;
    let client = streaming_client(&server, &token).build().unwrap();
    let user = Context::with_targeting_key("user-1");
    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    server.stop().await;
    eventually("the broken stream is reported", || {
        client.status().last_error.is_some()
    })
    .await;
    assert!(
        client.bool_value("new-checkout", &user, false),
        "the last good snapshot is served while the server is down"
    );

    server.restart().await;
    eventually("the client is back in sync", || {
        client.status().last_error.is_none()
    })
    .await;
    server.disable("new-checkout").await;
    eventually(
        "a change made after the restart arrives by the new stream",
        || !client.bool_value("new-checkout", &user, true),
    )
    .await;
}

#[tokio::test]
async fn a_refused_stream_falls_back_to_polling() {
    let (server, token) = shop().await;
    let proxy = Proxy::start(&server.address, StreamMode::Refuse).await;
    let client = client_of(&proxy.address, &token)
        .poll_interval(Duration::from_millis(50))
        .build()
        .unwrap();

    ready_then_a_flip_arrives(&server, &client, "the flip arrives by polling").await;
    assert!(
        proxy.streams_attempted() > 0,
        "the client did try to stream"
    );
}

#[tokio::test]
async fn a_server_at_its_stream_limit_is_left_alone_for_its_retry_after() {
    let (server, token) = shop().await;
    let proxy = Proxy::start(&server.address, StreamMode::Overloaded).await;
    // Without the server's `Retry-After: 30`, this backoff would retry within 100 ms, then
    // 200, 400, 800…: several attempts in the window below.
    let client = client_of(&proxy.address, &token)
        .poll_interval(Duration::from_millis(50))
        .backoff(Duration::from_millis(100), Duration::from_secs(60))
        .build()
        .unwrap();

    ready_then_a_flip_arrives(&server, &client, "the flip arrives by polling").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        proxy.streams_attempted(),
        1,
        "one attempt, then Retry-After"
    );
}

#[tokio::test]
async fn a_stream_ended_by_a_reconnect_event_is_reopened_at_once_without_backoff() {
    let (server, token) = shop().await;
    let proxy = Proxy::start(&server.address, StreamMode::ReconnectOnce).await;
    // Any backoff would keep the second attempt out of the deadline below; so would polling.
    let client = client_of(&proxy.address, &token)
        .poll_interval(Duration::from_secs(3600))
        .backoff(Duration::from_secs(60), Duration::from_secs(120))
        .build()
        .unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    eventually("the stream is reopened", || proxy.streams_attempted() >= 2).await;
    let error = client.status().last_error;
    assert!(error.is_none(), "a reconnect is not an error: {error:?}");
}

/// `client` becomes ready with `new-checkout` on, then sees it turned off on the server.
async fn ready_then_a_flip_arrives(server: &TestServer, client: &Client, what: &str) {
    let user = Context::with_targeting_key("user-1");
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert!(client.bool_value("new-checkout", &user, false));
    server.disable("new-checkout").await;
    eventually(what, || !client.bool_value("new-checkout", &user, true)).await;
}

#[tokio::test]
async fn a_stream_that_goes_silent_is_dropped_and_reopened() {
    let (server, token) = shop().await;
    let proxy = Proxy::start(&server.address, StreamMode::GoSilent).await;
    let client = client_of(&proxy.address, &token)
        .poll_interval(Duration::from_secs(3600))
        .stream_idle_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    // Nothing closes these connections: only the client's idle timeout can end them.
    eventually("the silent stream is given up and reopened, twice", || {
        proxy.streams_attempted() >= 3
    })
    .await;
}

#[tokio::test]
async fn a_revoked_token_ends_the_stream_with_an_error_that_needs_attention() {
    let (server, token) = shop().await;
    let client = streaming_client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    let tokens = server.call(reqwest::Method::GET, "/v1/tokens", None).await;
    let id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sdk")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server
        .call(reqwest::Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    // The stream stays open until something happens in the environment: make it happen.
    server.disable("new-checkout").await;

    eventually("the refusal is reported", || {
        matches!(
            client.status().last_error,
            Some(RefreshError::Unauthorized { status: 401, .. })
        )
    })
    .await;
}

/// The revision the server holds for the token's environment.
async fn server_revision(address: &str, token: &str) -> u64 {
    let snapshot: serde_json::Value = reqwest::Client::new()
        .get(format!("{address}/v1/sdk/snapshot"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    snapshot["revision"].as_u64().unwrap()
}

/// What the proxy does with `/v1/sdk/stream`.
#[derive(Clone, Copy)]
enum StreamMode {
    /// `404`, as from a server or proxy that does not route it: readiness must not suffer.
    Refuse,
    /// Opens the stream, sends one event, then nothing ever again (no heartbeat either): a
    /// connection that died without a FIN, as seen from the client.
    GoSilent,
    Overloaded,
    /// The first stream gets one change event, then `event: reconnect` and the end, as from
    /// an instance that is shutting down; later streams get one event, then silence.
    ReconnectOnce,
}

/// A reverse proxy in front of the server that forwards `/v1/sdk/snapshot` and handles
/// `/v1/sdk/stream` itself, counting the attempts.
struct Proxy {
    address: String,
    streams: Arc<Mutex<usize>>,
    _server: actix_web::dev::ServerHandle,
}

impl Proxy {
    async fn start(upstream: &str, mode: StreamMode) -> Self {
        let streams: Arc<Mutex<usize>> = Arc::default();
        let counter = Arc::clone(&streams);
        let upstream = upstream.to_owned();
        let server = HttpServer::new(move || {
            let counter = Arc::clone(&counter);
            App::new()
                .app_data(web::Data::new(upstream.clone()))
                .route(
                    "/v1/sdk/stream",
                    web::get().to(move || {
                        let attempt = {
                            let mut count = counter.lock().unwrap();
                            *count += 1;
                            *count
                        };
                        async move {
                            match mode {
                                StreamMode::Refuse => HttpResponse::NotFound().finish(),
                                // What a server at `SWITCHBOARD_MAX_STREAMS` answers.
                                StreamMode::Overloaded => HttpResponse::ServiceUnavailable()
                                    .insert_header(("retry-after", "30"))
                                    .content_type("application/problem+json")
                                    .body(r#"{"type":"urn:switchboard:problem:overloaded","status":503,"detail":"full"}"#),
                                StreamMode::ReconnectOnce if attempt == 1 => HttpResponse::Ok()
                                    .content_type("text/event-stream")
                                    .body(concat!(
                                        "id: 1\nevent: change\ndata: {\"revision\": 1}\n\n",
                                        "event: reconnect\ndata: {\"reason\":\"shutting-down\"}\n\n",
                                    )),
                                StreamMode::GoSilent | StreamMode::ReconnectOnce => HttpResponse::Ok()
                                    .content_type("text/event-stream")
                                    .streaming(OneEventThenSilence(false)),
                            }
                        }
                    }),
                )
                .route("/v1/sdk/snapshot", web::get().to(forward))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            address: format!("http://127.0.0.1:{port}"),
            streams,
            _server: handle,
        }
    }

    fn streams_attempted(&self) -> usize {
        *self.streams.lock().unwrap()
    }
}

/// A response body: one change event, then pending forever.
struct OneEventThenSilence(bool);

impl futures_core::Stream for OneEventThenSilence {
    type Item = Result<web::Bytes, actix_web::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.0 {
            return std::task::Poll::Pending;
        }
        self.0 = true;
        std::task::Poll::Ready(Some(Ok(web::Bytes::from_static(
            b"id: 1\nevent: change\ndata: {\"revision\": 1}\n\n",
        ))))
    }
}

async fn forward(request: HttpRequest, upstream: web::Data<String>) -> HttpResponse {
    let mut outbound =
        reqwest::Client::new().get(format!("{}{}", upstream.as_str(), request.uri()));
    for name in ["authorization", "if-none-match"] {
        if let Some(value) = request.headers().get(name) {
            outbound = outbound.header(name, value.as_bytes());
        }
    }
    let response = outbound.send().await.unwrap();
    let mut answer = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(response.status().as_u16()).unwrap(),
    );
    if let Some(etag) = response.headers().get("etag") {
        answer.insert_header(("etag", etag.as_bytes()));
    }
    answer.body(response.bytes().await.unwrap())
}
