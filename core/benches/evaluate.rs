//! Evaluation hot path: flag lookup by key plus evaluation, with a context built once.
//!
//! `cargo bench -p switchboard-core -- --warm-up-time 1 --measurement-time 3`
//!
//! Flag keys go through `black_box` once, before the timed loop, not on every iteration:
//! `black_box("key")` inside the loop makes the compiler store the `&str` as two 8-byte halves
//! and reload it as one 16-byte load, which stalls store-to-load forwarding on every call
//! (`perf annotate` put 80 % of the loop's samples on that reload; up to ~17 ns per call on this
//! machine). An application calling `bool_value("my-flag", …)` passes the key in registers and
//! never pays it. The context still goes through `black_box` on every iteration, so the call
//! cannot be hoisted out of the loop, and the key stays opaque to the compiler.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use switchboard_core::{CompiledSnapshot, Context, Reason, Snapshot};

fn snapshot() -> Snapshot {
    let on_off = json!([{"key": "on", "value": true}, {"key": "off", "value": false}]);
    serde_json::from_value(json!({
        "format_version": 1, "project": "bench", "environment": "production", "revision": 1,
        "flags": [
            {"key": "rollout-50", "type": "boolean", "variants": on_off, "state": {
                "enabled": true, "off_variant": "off",
                "default_serve": {"split": [{"variant": "on", "weight": 5000}, {"variant": "off", "weight": 5000}]}}},
            {"key": "three-rules", "type": "boolean", "variants": on_off, "state": {
                "enabled": true, "off_variant": "off", "default_serve": {"variant": "off"},
                "rules": [
                    {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@switchboard.dev"]}],
                     "serve": {"variant": "on"}},
                    {"conditions": [{"attribute": "country", "op": "in", "values": ["FR", "DE", "IT", "ES"]},
                                    {"attribute": "age", "op": "gte", "values": [18]}],
                     "serve": {"variant": "on"}},
                    {"conditions": [{"attribute": "plan", "op": "in", "values": ["pro", "team"]},
                                    {"attribute": "app_version", "op": "semver_gte", "values": ["2.3.0"]}],
                     "serve": {"variant": "on"}}]}},
            {"key": "three-way", "type": "string",
             "variants": [{"key": "a", "value": "green"}, {"key": "b", "value": "orange"}, {"key": "c", "value": "purple"}],
             "state": {"enabled": true, "off_variant": "a", "default_serve": {"split": [
                 {"variant": "a", "weight": 3334}, {"variant": "b", "weight": 3333}, {"variant": "c", "weight": 3333}]}}}
        ]
    }))
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let flags = CompiledSnapshot::compile(&snapshot());
    assert!(flags.warnings().is_empty());
    let ctx = Context::with_targeting_key("user-12345")
        .with("email", "ada@example.com")
        .with("country", "US")
        .with("age", 30)
        .with("plan", "pro")
        .with("app_version", "2.4.1");
    assert_eq!(
        flags.evaluate("three-rules", &ctx).reason,
        Reason::TargetingMatch
    );

    let (rollout, three_rules, three_way) = black_box(("rollout-50", "three-rules", "three-way"));
    c.bench_function("bool_value/rollout-50%", |b| {
        b.iter(|| flags.bool_value(rollout, black_box(&ctx), false))
    });
    let uuid = Context::with_targeting_key("550e8400-e29b-41d4-a716-446655440000");
    c.bench_function("bool_value/rollout-50%/uuid-key", |b| {
        b.iter(|| flags.bool_value(rollout, black_box(&uuid), false))
    });
    c.bench_function("evaluate/three-rules-third-matches", |b| {
        b.iter(|| flags.evaluate(three_rules, black_box(&ctx)))
    });
    c.bench_function("string_value/three-way-split", |b| {
        b.iter(|| flags.string_value(three_way, black_box(&ctx), "a"))
    });
    c.bench_function("hash/bucket", |b| {
        let user = black_box("user-12345");
        b.iter(|| switchboard_core::hash::bucket(rollout, black_box(user)))
    });
    c.bench_function("compile/3-flags", |b| {
        let s = snapshot();
        b.iter(|| CompiledSnapshot::compile(black_box(&s)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
