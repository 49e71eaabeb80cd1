//! Builders shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use switchboard_core::{CompiledSnapshot, Snapshot};

/// A snapshot from a JSON literal of its flags and segments.
pub fn snapshot(flags: Value, segments: Value) -> Snapshot {
    serde_json::from_value(json!({
        "format_version": 1, "project": "test", "environment": "test", "revision": 1,
        "flags": flags, "segments": segments,
    }))
    .unwrap()
}

/// A boolean flag (`on` = true, `off` = false) with the given state.
pub fn boolean_flag(key: &str, state: Value) -> Value {
    json!({
        "key": key, "type": "boolean",
        "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
        "state": state,
    })
}

/// A boolean flag that serves `on` to callers matching `conditions` and `off` to others.
pub fn targeted(conditions: Value) -> Value {
    boolean_flag(
        "f",
        json!({
            "enabled": true,
            "rules": [{"conditions": conditions, "serve": {"variant": "on"}}],
            "default_serve": {"variant": "off"},
            "off_variant": "off",
        }),
    )
}

/// A boolean flag with a two-way rollout of `on` at `weight` basis points.
pub fn rollout(key: &str, weight: u32) -> Value {
    boolean_flag(
        key,
        json!({
            "enabled": true,
            "default_serve": {"split": [{"variant": "on", "weight": weight},
                                        {"variant": "off", "weight": 10000 - weight}]},
            "off_variant": "off",
        }),
    )
}

/// Compiles, asserting that nothing is broken.
pub fn compile_clean(snapshot: &Snapshot) -> CompiledSnapshot {
    let compiled = CompiledSnapshot::compile(snapshot);
    assert!(compiled.warnings().is_empty(), "{:?}", compiled.warnings());
    compiled
}
