//! Snapshots built in memory, shared by the test binaries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use switchboard_client::Snapshot;

/// A `shop/production` snapshot at `revision` with these flags and config entries.
pub fn snapshot(revision: u64, flags: Value, config: Value) -> Snapshot {
    serde_json::from_value(json!({
        "format_version": 1, "project": "shop", "environment": "production",
        "revision": revision, "flags": flags, "config": config,
    }))
    .expect("a valid snapshot")
}

/// A boolean flag (`on`/`off`) in `state`.
pub fn boolean(key: &str, state: Value) -> Value {
    json!({"key": key, "type": "boolean",
           "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
           "state": state})
}

/// A boolean flag serving `on` to everyone.
pub fn on(key: &str) -> Value {
    boolean(
        key,
        json!({"enabled": true, "default_serve": {"variant": "on"}, "off_variant": "off"}),
    )
}

/// A boolean flag serving `on` to `basis_points` / 10000 of the targeting keys.
pub fn rollout(key: &str, basis_points: u32) -> Value {
    boolean(
        key,
        json!({"enabled": true, "off_variant": "off", "default_serve": {"split": [
            {"variant": "on", "weight": basis_points},
            {"variant": "off", "weight": 10000 - basis_points}]}}),
    )
}

/// A string flag serving `value` to everyone.
pub fn string(key: &str, value: &str) -> Value {
    json!({"key": key, "type": "string",
           "variants": [{"key": "only", "value": value}, {"key": "off", "value": ""}],
           "state": {"enabled": true, "default_serve": {"variant": "only"}, "off_variant": "off"}})
}
