//! Proves that `Client::bool_value` does not touch the heap: a counting global allocator (its own
//! test binary, so it sees only this file's allocations) wraps the system allocator.
#![allow(unsafe_code, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use serde_json::json;
use switchboard_client::{Client, Context, KillList};

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
fn bool_value_through_the_client_does_not_allocate() {
    let snapshot = common::snapshot(1, json!([common::rollout("rollout-50", 5000)]), json!({}));
    let client = Client::builder("http://unused", "t")
        .bootstrap(snapshot)
        .kill_list(KillList::none())
        .offline()
        .build()
        .unwrap();
    let not_ready = Client::builder("http://unused", "t")
        .kill_list(KillList::none())
        .offline()
        .build()
        .unwrap();
    let contexts: Vec<Context> = (0..100)
        .map(|i| Context::with_targeting_key(format!("user-{i}")))
        .collect();
    // The first load on a thread may register it with arc-swap (a one-time allocation).
    black_box(client.bool_value("rollout-50", &contexts[0], false));
    black_box(not_ready.bool_value("rollout-50", &contexts[0], false));

    let served = allocations_during(|| {
        for ctx in &contexts {
            black_box(client.bool_value(black_box("rollout-50"), ctx, false));
            black_box(client.bool_value(black_box("no-such-flag"), ctx, false));
            black_box(not_ready.bool_value(black_box("rollout-50"), ctx, false));
        }
    });
    client.kill("rollout-50");
    let killed = allocations_during(|| {
        for ctx in &contexts {
            black_box(client.bool_value(black_box("rollout-50"), ctx, true));
        }
    });

    assert_eq!((served, killed), (0, 0), "bool_value allocated");
    // The counter does count: an owned answer allocates.
    assert!(
        allocations_during(|| drop(black_box(client.string_details(
            "rollout-50",
            &contexts[0],
            "x"
        )))) > 0
    );
}
