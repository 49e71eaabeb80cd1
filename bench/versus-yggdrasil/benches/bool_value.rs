//! The client's `bool_value` against yggdrasil's `is_enabled` on a 50 % rollout flag, both
//! holding 200 flags.
//!
//! ```text
//! python3 ../shared/peers/gen_features.py /tmp/features.json
//! FEATURES=/tmp/features.json CARGO_TARGET_DIR=target taskset -c 0 \
//!     cargo bench --manifest-path bench/versus-yggdrasil/Cargo.toml -- \
//!     --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Unleash's side reads `FEATURES`, the file `shared/peers/gen_features.py` writes (the one Edge
//! serves in `bench/versus-edge.sh`; flag-004 is a 50 % `flexibleRollout` on `userId`). Ours is
//! the same shape in our snapshot format, built here: 200 boolean flags, flag-004 a 50 % split
//! on the targeting key. Both evaluate flag-004 for the same user id.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use switchboard_client::{Client, Context, KillList, Snapshot};
use unleash_types::client_features::ClientFeatures;
use unleash_yggdrasil::{EngineState, UpdateMessage};

/// gen_features.py's rollouts, by index modulo 7.
const ROLLOUTS: [u16; 7] = [0, 5, 10, 25, 50, 75, 100];

fn snapshot() -> Snapshot {
    let flags: Vec<Value> = (0..200)
        .map(|i| {
            let on = ROLLOUTS[i % 7] * 100;
            json!({"key": format!("flag-{i:03}"), "type": "boolean",
                   "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                   "state": {"enabled": true, "off_variant": "off", "default_serve": {"split": [
                       {"variant": "on", "weight": on}, {"variant": "off", "weight": 10_000 - on}]}}})
        })
        .collect();
    serde_json::from_value(json!({"format_version": 1, "project": "bench",
        "environment": "production", "revision": 1, "flags": flags}))
    .unwrap()
}

fn engine() -> EngineState {
    let path =
        std::env::var("FEATURES").expect("FEATURES: the file shared/peers/gen_features.py writes");
    let features: ClientFeatures = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut engine = EngineState::default();
    engine.take_state(UpdateMessage::FullResponse(features));
    engine
}

fn bench(c: &mut Criterion) {
    let client = Client::builder("http://unused", "unused")
        .bootstrap(snapshot())
        .kill_list(KillList::none())
        .offline()
        .build()
        .unwrap();
    let engine = engine();
    let user = "user-12345";
    let ctx = Context::with_targeting_key(user);
    let unleash_ctx = unleash_yggdrasil::Context {
        user_id: Some(user.into()),
        session_id: None,
        environment: None,
        app_name: None,
        current_time: None,
        remote_address: None,
        properties: None,
    };
    let flag = black_box("flag-004");
    // Both sides answer, and for this user the same way (murmur3 buckets alike in both).
    let ours = client.bool_value(flag, &ctx, false);
    let theirs = engine.is_enabled(flag, &unleash_ctx, &None);
    eprintln!("flag-004 for {user}: switchboard {ours}, yggdrasil {theirs}");

    c.bench_function("switchboard/client/bool_value/flag-004 (50%)", |b| {
        b.iter(|| client.bool_value(flag, black_box(&ctx), false))
    });
    c.bench_function("yggdrasil/is_enabled/flag-004 (50%)", |b| {
        b.iter(|| engine.is_enabled(flag, black_box(&unleash_ctx), &None))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
