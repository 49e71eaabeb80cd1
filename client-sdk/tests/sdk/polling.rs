//! Following the server by polling: flips, rollouts, listeners, readiness.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_client::{Change, Context, Reason, RefreshError, Source};

use crate::helpers::{client, eventually, shop};

#[tokio::test]
async fn a_flag_flipped_on_the_server_is_seen_by_polling() {
    let (server, token) = shop().await;
    let client = client(&server, &token).build().unwrap();
    let user = Context::with_targeting_key("user-1");

    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    assert!(client.bool_value("new-checkout", &user, false));
    assert_eq!(client.status().source, Some(Source::Server));

    server.disable("new-checkout").await;
    eventually("the flag is off", || {
        !client.bool_value("new-checkout", &user, true)
    })
    .await;
    let details = client.bool_details("new-checkout", &user, true);
    assert_eq!(
        (details.reason, details.variant.as_deref()),
        (Reason::Disabled, Some("off"))
    );

    server.enable("new-checkout").await;
    eventually("the flag is on again", || {
        client.bool_value("new-checkout", &user, false)
    })
    .await;
}

#[tokio::test]
async fn a_rollout_reaches_the_client_and_tells_the_listeners_of_that_flag_only() {
    let (server, token) = shop().await;
    server.create_boolean_flag("dark-mode").await;
    let client = client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let heard: Arc<Mutex<Vec<Change>>> = Arc::default();
    let dark_mode_heard = Arc::new(Mutex::new(0));
    let sink = Arc::clone(&heard);
    client.on_flag_change("new-checkout", move |change| {
        sink.lock().unwrap().push(change.clone())
    });
    let count = Arc::clone(&dark_mode_heard);
    client.on_flag_change("dark-mode", move |_| *count.lock().unwrap() += 1);

    server.rollout("new-checkout", 50.0).await;

    eventually("the listener is called", || {
        !heard.lock().unwrap().is_empty()
    })
    .await;
    let change = heard.lock().unwrap()[0].clone();
    assert_eq!(change.flags, ["new-checkout"]);
    assert!(change.previous_revision < Some(change.revision));
    assert_eq!(*dark_mode_heard.lock().unwrap(), 0);
    let reasons: Vec<Reason> = (0..20)
        .map(|i| {
            client
                .bool_details(
                    "new-checkout",
                    &Context::with_targeting_key(format!("u{i}")),
                    false,
                )
                .reason
        })
        .collect();
    assert!(reasons.iter().all(|r| *r == Reason::Split), "{reasons:?}");
}

#[tokio::test]
async fn wait_ready_gives_up_early_on_a_refused_token_and_says_why() {
    let (server, _token) = shop().await;
    let client = client(&server, "not-a-token").build().unwrap();

    let started = Instant::now();
    let not_ready = client
        .wait_ready(Duration::from_secs(30))
        .await
        .unwrap_err();

    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        not_ready.status.last_error,
        Some(RefreshError::Unauthorized { status: 401, .. })
    ));
    assert!(!not_ready.to_string().contains("not-a-token"));
    let details = client.bool_details("new-checkout", &Context::new(), true);
    assert!(details.value);
    assert_eq!(
        details.error_code,
        Some(switchboard_client::ErrorCode::ProviderNotReady)
    );
}

#[tokio::test]
async fn a_token_for_several_environments_reads_the_one_the_builder_names() {
    let (server, _token) = shop().await;
    server
        .post(
            "/v1/projects/shop/environments",
            serde_json::json!({"name": "staging"}),
        )
        .await;
    let token = server.sdk_token(&["staging", "production"]).await;

    let unnamed = client(&server, &token).build().unwrap();
    let named = client(&server, &token)
        .project("shop")
        .environment("staging")
        .build()
        .unwrap();

    assert!(matches!(
        unnamed
            .wait_ready(Duration::from_secs(10))
            .await
            .unwrap_err()
            .status
            .last_error,
        Some(RefreshError::Status { status: 400, .. })
    ));
    named.wait_ready(Duration::from_secs(10)).await.unwrap();
    // The flag exists in staging too, but is off there (never enabled).
    assert!(!named.bool_value("new-checkout", &Context::with_targeting_key("u"), true));
    assert_eq!(named.with_view(|v| v.revision()), named.status().revision);
}
