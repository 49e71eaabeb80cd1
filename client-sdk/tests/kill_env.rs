//! `SWITCHBOARD_KILL`, read by `build()`. Its own test binary with a single test: environment
//! variables are process-wide, and setting one while another thread reads the environment is
//! undefined behaviour on some platforms. Parsing is tested in `src/kill.rs`.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::json;
use switchboard_client::{Client, Context, KILL_ENV_VAR, KillList, Reason};

#[test]
fn switchboard_kill_is_read_at_build_unless_the_builder_names_a_kill_list() {
    // SAFETY: the only test of this binary, run before any other thread of ours exists (the
    // harness's main thread waits for this one; nothing else reads the environment meanwhile).
    unsafe { std::env::set_var(KILL_ENV_VAR, " new-checkout , dark-mode") };
    let bootstrap = || {
        common::snapshot(
            1,
            json!([
                common::on("new-checkout"),
                common::on("dark-mode"),
                common::on("search")
            ]),
            json!({}),
        )
    };
    let user = Context::with_targeting_key("user-1");

    let from_env = Client::builder("http://unused", "t")
        .bootstrap(bootstrap())
        .offline()
        .build()
        .unwrap();
    let overridden = Client::builder("http://unused", "t")
        .bootstrap(bootstrap())
        .kill_list(KillList::none())
        .offline()
        .build()
        .unwrap();
    // SAFETY: as above.
    unsafe { std::env::set_var(KILL_ENV_VAR, "*") };
    let everything = Client::builder("http://unused", "t")
        .bootstrap(bootstrap())
        .offline()
        .build()
        .unwrap();
    // SAFETY: as above.
    unsafe { std::env::remove_var(KILL_ENV_VAR) };

    let killed = from_env.bool_details("new-checkout", &user, false);
    assert_eq!((killed.value, killed.reason), (false, Reason::Disabled));
    assert!(!from_env.bool_value("dark-mode", &user, false));
    assert!(from_env.bool_value("search", &user, false));
    assert_eq!(
        from_env.killed(),
        KillList::flags(["dark-mode", "new-checkout"])
    );

    assert!(
        overridden.bool_value("new-checkout", &user, false),
        "the builder's list wins"
    );

    assert!(!everything.bool_value("search", &user, false));
    assert!(everything.killed().is_all());
    everything.revive_all();
    assert!(everything.bool_value("search", &user, false));
}
