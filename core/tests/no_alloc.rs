//! Proves that evaluation does not touch the heap: a counting global allocator (its own test
//! binary, so it sees only this file's allocations) wraps the system allocator.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use serde_json::json;
use switchboard_core::{Context, Reason};

struct Counting;

thread_local! {
    // `const` initialisation and no destructor: reading it never allocates, so the allocator
    // can use it without recursing. Per thread, so the test harness's own threads do not count.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn evaluating_flags_does_not_allocate() {
    let three_rules = common::boolean_flag(
        "three-rules",
        json!({"enabled": true, "off_variant": "off",
        "rules": [
            {"conditions": [{"attribute": "plan", "op": "in", "values": ["enterprise", "team"]}], "serve": {"variant": "on"}},
            {"conditions": [{"attribute": "age", "op": "lt", "values": [18]}], "serve": {"variant": "on"}},
            {"conditions": [{"attribute": "signed_up", "op": "after", "values": ["2020-01-01T00:00:00Z"]},
                            {"op": "in_segment", "values": ["beta"]}], "serve": {"variant": "on"}}],
        "default_serve": {"variant": "off"}}),
    );
    let by_account = common::boolean_flag(
        "by-account",
        json!({"enabled": true, "off_variant": "off",
        "default_serve": {"split": [{"variant": "on", "weight": 5000}, {"variant": "off", "weight": 5000}],
                          "stickiness": "account_id"}}),
    );
    let segments = json!([{"name": "beta", "conditions": [{"attribute": "beta", "op": "equals", "values": [true]}]}]);
    let flags = common::compile_clean(&common::snapshot(
        json!([common::rollout("rollout-50", 5000), three_rules, by_account]),
        segments,
    ));
    let contexts: Vec<Context> = (0..100)
        .map(|i| {
            Context::with_targeting_key(format!("user-{i}"))
                .with("plan", "free")
                .with("age", 30)
                .with("signed_up", "2024-05-01T10:00:00Z")
                .with("beta", true)
                .with("account_id", i)
        })
        .collect();
    let anonymous = Context::new();

    let count = allocations_during(|| {
        for ctx in &contexts {
            black_box(flags.evaluate(black_box("rollout-50"), ctx));
            black_box(flags.bool_value(black_box("rollout-50"), ctx, false));
            assert_eq!(
                flags.evaluate("three-rules", ctx).reason,
                Reason::TargetingMatch
            );
            assert_eq!(
                flags.bool_details("by-account", ctx, false).reason,
                Reason::Split
            );
            black_box(flags.evaluate("no-such-flag", ctx));
            black_box(flags.string_value("rollout-50", ctx, "type mismatch"));
        }
        black_box(flags.evaluate("rollout-50", &anonymous));
    });
    assert_eq!(count, 0, "evaluation allocated {count} times");

    // The counter does count: building an owned answer allocates.
    assert!(
        allocations_during(|| drop(black_box(flags.evaluate_detail("rollout-50", &contexts[0]))))
            > 0
    );
}
