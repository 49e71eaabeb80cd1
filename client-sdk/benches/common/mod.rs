//! What both client benchmarks evaluate: one snapshot, served by an offline client.

use serde_json::json;
use switchboard_client::{Client, KillList, Snapshot};

/// A 50 % rollout flag (`rollout-50`) and a flag without rules or split (`static-on`).
pub fn snapshot(revision: u64) -> Snapshot {
    let on_off = json!([{"key": "on", "value": true}, {"key": "off", "value": false}]);
    serde_json::from_value(json!({
        "format_version": 1, "project": "bench", "environment": "production", "revision": revision,
        "flags": [
            {"key": "rollout-50", "type": "boolean", "variants": on_off, "state": {
                "enabled": true, "off_variant": "off",
                "default_serve": {"split": [{"variant": "on", "weight": 5000},
                                            {"variant": "off", "weight": 5000}]}}},
            {"key": "static-on", "type": "boolean", "variants": on_off, "state": {
                "enabled": true, "off_variant": "off", "default_serve": {"variant": "on"}}}
        ]
    }))
    .unwrap()
}

/// A client serving `snapshot(1)`, with no server and nothing killed.
pub fn client() -> Client {
    Client::builder("http://unused", "unused")
        .bootstrap(snapshot(1))
        .kill_list(KillList::none())
        .offline()
        .build()
        .unwrap()
}
