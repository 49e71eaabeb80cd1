//! Kill switches: on the client (at once, server or no server) and on the server (next poll).

use std::time::Duration;

use switchboard_client::{Context, KillList, Reason};

use crate::helpers::{client, eventually, shop};

#[tokio::test]
async fn a_flag_killed_on_the_client_serves_the_callers_default_until_revived() {
    let (server, token) = shop().await;
    server.create_flag_on("dark-mode").await;
    let client = client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let user = Context::with_targeting_key("user-1");
    let other_clone = client.clone();

    client.kill("new-checkout");

    let killed = other_clone.bool_details("new-checkout", &user, false);
    assert_eq!(
        (killed.value, killed.reason, killed.variant),
        (false, Reason::Disabled, None)
    );
    assert_eq!(killed.error_code, None);
    assert!(
        client.bool_value("dark-mode", &user, false),
        "other flags are untouched"
    );
    assert_eq!(client.killed(), KillList::flags(["new-checkout"]));

    client.revive("new-checkout");
    assert!(client.bool_value("new-checkout", &user, false));

    client.kill_all();
    assert!(!client.bool_value("new-checkout", &user, false));
    assert!(!client.bool_value("dark-mode", &user, false));
    assert!(client.killed().is_all());
    client.revive_all();
    assert!(client.bool_value("dark-mode", &user, false));
}

#[tokio::test]
async fn a_client_side_kill_works_while_the_server_is_down() {
    let (mut server, token) = shop().await;
    let client = client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let user = Context::with_targeting_key("user-1");

    server.stop().await;
    eventually("the client notices", || {
        client.status().last_error.is_some()
    })
    .await;
    assert!(
        client.bool_value("new-checkout", &user, false),
        "still the last good snapshot"
    );
    client.kill("new-checkout");

    assert_eq!(
        client.bool_details("new-checkout", &user, false).reason,
        Reason::Disabled
    );
    assert!(!client.bool_value("new-checkout", &user, false));
}

#[tokio::test]
async fn the_environment_kill_switch_on_the_server_reaches_the_client_and_its_release_too() {
    let (server, token) = shop().await;
    server.create_flag_on("dark-mode").await;
    let client = client(&server, &token).build().unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let user = Context::with_targeting_key("user-1");

    server.kill_environment().await;
    eventually("every flag is off", || {
        !client.bool_value("new-checkout", &user, true)
            && !client.bool_value("dark-mode", &user, true)
    })
    .await;
    let details = client.bool_details("dark-mode", &user, true);
    assert_eq!(
        (details.reason, details.variant.as_deref()),
        (Reason::Disabled, Some("off"))
    );

    server.restore_environment().await;
    eventually("every flag is back on", || {
        client.bool_value("new-checkout", &user, false)
            && client.bool_value("dark-mode", &user, false)
    })
    .await;
}
