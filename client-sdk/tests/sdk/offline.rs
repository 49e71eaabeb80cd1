//! Without the server: bootstrap, persistence, outages, the revision rule, config getters.

use std::time::Duration;

use serde_json::json;
use switchboard_client::{
    BuildError, Client, Context, ErrorCode, KillList, Outcome, Reason, RefreshError, Source,
};

use crate::common::{self, on, snapshot};
use crate::helpers::{client, dead_address, eventually, shop};

fn offline() -> switchboard_client::ClientBuilder {
    Client::builder("http://unused", "unused")
        .kill_list(KillList::none())
        .offline()
}

#[tokio::test]
async fn a_bootstrap_file_serves_flags_with_no_server_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    let saved = snapshot(7, json!([on("new-checkout")]), json!({}));
    std::fs::write(&path, serde_json::to_vec(&saved).unwrap()).unwrap();
    let user = Context::with_targeting_key("user-1");

    let client = Client::builder(dead_address(), "token")
        .bootstrap_file(&path)
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .kill_list(KillList::none())
        .build()
        .unwrap();

    assert!(client.bool_value("new-checkout", &user, false));
    let not_ready = client
        .wait_ready(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(not_ready.status.source, Some(Source::Bootstrap));
    assert_eq!(not_ready.status.revision, Some(7));
    eventually("the failure is reported", || {
        matches!(
            client.status().last_error,
            Some(RefreshError::Unreachable(_))
        )
    })
    .await;
    assert!(
        client.bool_value("new-checkout", &user, false),
        "still served"
    );
}

#[tokio::test]
async fn a_flag_killed_at_build_serves_the_default_with_no_server() {
    let client = Client::builder(dead_address(), "token")
        .bootstrap(snapshot(
            1,
            json!([on("new-checkout"), on("dark-mode")]),
            json!({}),
        ))
        .kill_list(KillList::parse("new-checkout"))
        .build()
        .unwrap();
    let user = Context::with_targeting_key("user-1");

    let killed = client.bool_details("new-checkout", &user, false);
    assert_eq!((killed.value, killed.reason), (false, Reason::Disabled));
    assert!(client.bool_value("dark-mode", &user, false));
}

#[tokio::test]
async fn without_any_snapshot_every_getter_answers_the_default_as_not_ready() {
    let client = Client::builder(dead_address(), "token")
        .kill_list(KillList::none())
        .build()
        .unwrap();
    let ctx = Context::new();

    let details = client.string_details("banner", &ctx, "grey");
    assert_eq!(
        (details.value.as_str(), details.reason),
        ("grey", Reason::Error)
    );
    assert_eq!(details.error_code, Some(ErrorCode::ProviderNotReady));
    assert!(client.bool_value("new-checkout", &ctx, true));
    assert_eq!(client.number_value("limit", &ctx, 2.5), 2.5);
    assert_eq!(
        client.json_value("layout", &ctx, &json!({"a": 1})),
        json!({"a": 1})
    );
    assert_eq!(client.config_i64("max_items", 20), 20);
    assert!(client.wait_ready(Duration::from_millis(100)).await.is_err());
}

#[tokio::test]
async fn the_server_stopped_and_restarted_the_client_keeps_serving_then_catches_up() {
    let (mut server, token) = shop().await;
    let client = client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let user = Context::with_targeting_key("user-1");

    server.stop().await;
    eventually("the client notices the outage", || {
        client.status().last_error.is_some()
    })
    .await;
    assert!(
        client.bool_value("new-checkout", &user, false),
        "the last good snapshot"
    );
    assert!(
        client.status().synced,
        "still ready: it was, and still serves"
    );

    server.restart().await;
    server.disable("new-checkout").await;
    eventually("the change made after the restart arrives", || {
        !client.bool_value("new-checkout", &user, true)
    })
    .await;
    eventually("the error clears", || client.status().last_error.is_none()).await;
}

#[tokio::test]
async fn the_last_good_snapshot_is_persisted_and_served_at_the_next_start_without_a_server() {
    let (mut server, token) = shop().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.json");
    let first = client(&server, &token).persist_to(&path).build().unwrap();
    first.wait_ready(Duration::from_secs(10)).await.unwrap();
    let revision = first.status().revision;
    eventually("the snapshot is on disk", || path.exists()).await;
    drop(first);
    server.stop().await;

    let next = client(&server, &token).persist_to(&path).build().unwrap();

    assert_eq!(next.status().source, Some(Source::Persisted));
    assert_eq!(next.status().revision, revision);
    assert!(next.bool_value("new-checkout", &Context::with_targeting_key("u"), false));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_bootstrap_snapshot_is_replaced_by_the_servers_newer_one() {
    let (server, token) = shop().await;
    let stale = snapshot(
        0,
        json!([common::boolean(
            "new-checkout",
            json!({
        "enabled": false, "default_serve": {"variant": "on"}, "off_variant": "off"})
        )]),
        json!({}),
    );
    let client = client(&server, &token).bootstrap(stale).build().unwrap();

    client.wait_ready(Duration::from_secs(10)).await.unwrap();

    assert_eq!(client.status().source, Some(Source::Server));
    assert!(client.bool_value("new-checkout", &Context::with_targeting_key("u"), false));
}

#[test]
fn an_older_snapshot_is_ignored_and_a_newer_one_replaces_the_current() {
    let client = offline()
        .bootstrap(snapshot(5, json!([on("a")]), json!({})))
        .build()
        .unwrap();

    assert_eq!(
        client.apply_snapshot(snapshot(3, json!([]), json!({}))),
        Outcome::Stale { current: 5 }
    );
    assert_eq!(
        client.apply_snapshot(snapshot(5, json!([]), json!({}))),
        Outcome::Unchanged
    );
    assert!(client.bool_value("a", &Context::new(), false));

    let Outcome::Applied(change) = client.apply_snapshot(snapshot(6, json!([]), json!({}))) else {
        panic!("a newer revision applies");
    };
    assert_eq!(
        (change.flags.as_slice(), change.previous_revision),
        (&["a".to_owned()][..], Some(5))
    );
    assert_eq!(
        client.bool_details("a", &Context::new(), false).error_code,
        Some(ErrorCode::FlagNotFound)
    );
    assert_eq!(client.status().source, Some(Source::Application));
}

#[test]
fn a_bootstrap_for_another_environment_or_an_unreadable_file_stops_build() {
    let wrong = offline()
        .environment("staging")
        .bootstrap(snapshot(1, json!([]), json!({})))
        .build()
        .unwrap_err();
    assert!(
        matches!(wrong, BuildError::WrongEnvironment { .. }),
        "{wrong}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(&path, "{not json").unwrap();
    let broken = offline().bootstrap_file(&path).build().unwrap_err();
    assert!(matches!(broken, BuildError::Bootstrap { .. }), "{broken}");
    assert!(broken.to_string().contains("flags.json"));
}

#[test]
fn a_client_that_is_not_offline_needs_a_runtime() {
    let error = Client::builder("http://127.0.0.1:1", "t")
        .kill_list(KillList::none())
        .build()
        .unwrap_err();
    assert!(matches!(error, BuildError::NoRuntime));
}

#[test]
fn config_getters_read_the_snapshot_config_with_types() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Limits {
        max_items: u32,
        burst: u32,
    }
    let config = json!({"banner": "Spring sale", "max_items": 50, "ratio": 0.25, "beta": true,
                        "limits": {"max_items": 10, "burst": 20}});
    let client = offline()
        .bootstrap(snapshot(1, json!([]), config))
        .build()
        .unwrap();

    assert_eq!(client.config_str("banner", "none"), "Spring sale");
    assert_eq!(
        client.config_str("max_items", "none"),
        "none",
        "wrong type: the default"
    );
    assert_eq!(client.config_i64("max_items", 0), 50);
    assert_eq!(client.config_f64("ratio", 1.0), 0.25);
    assert!(client.config_bool("beta", false));
    assert_eq!(client.config_i64("missing", 7), 7);
    assert_eq!(client.config_value("banner"), Some(json!("Spring sale")));
    assert_eq!(
        client.config::<Limits>("limits").unwrap(),
        Some(Limits {
            max_items: 10,
            burst: 20
        })
    );
    assert_eq!(client.config::<Limits>("missing").unwrap(), None);
    let error = client.config::<Limits>("banner").unwrap_err();
    assert_eq!(error.key, "banner");
}
