//! `Client::bool_value` on a 50 % rollout flag, through the public API: alone, and while another
//! thread keeps swapping snapshots in.
//!
//! `cargo bench -p switchboard-client -- --warm-up-time 1 --measurement-time 3`
//!
//! Flag keys go through `black_box` once, before the timed loops (see `core/benches/evaluate.rs`
//! for why: inside the loop it adds a store-forwarding stall that no application pays); the
//! context goes through it on every iteration, so no call can be hoisted out of its loop.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use switchboard_client::{Client, Context, Outcome};

mod common;
use common::{client, snapshot};

fn bench(c: &mut Criterion) {
    let client = client();
    let ctx = Context::with_targeting_key("user-12345");
    let (rollout, static_on, unknown) = black_box(("rollout-50", "static-on", "no-such-flag"));

    // The evaluator alone, for reference: the difference is the client's own cost (kill switch
    // check, finding the current snapshot).
    let compiled = switchboard_core::CompiledSnapshot::compile(&snapshot(1));
    c.bench_function("core/bool_value/rollout-50%", |b| {
        b.iter(|| compiled.bool_value(rollout, black_box(&ctx), false))
    });
    c.bench_function("client/bool_value/rollout-50%", |b| {
        b.iter(|| client.bool_value(rollout, black_box(&ctx), false))
    });
    c.bench_function("client/with_view/bool_value/rollout-50%", |b| {
        b.iter(|| client.with_view(|v| v.bool_value(rollout, black_box(&ctx), false)))
    });
    c.bench_function("client/bool_value/static", |b| {
        b.iter(|| client.bool_value(static_on, black_box(&ctx), false))
    });
    c.bench_function("client/bool_value/unknown-flag", |b| {
        b.iter(|| client.bool_value(unknown, black_box(&ctx), false))
    });
    client.kill("static-on");
    c.bench_function("client/bool_value/rollout-50%/another-flag-killed", |b| {
        b.iter(|| client.bool_value(rollout, black_box(&ctx), false))
    });
    client.revive_all();

    // Another thread applies new revisions (each one compiled, diffed and swapped) every
    // millisecond (far beyond any real update rate), then as fast as it can (a torture test).
    for (name, pause) in [
        ("while-swapping-1000/s", Some(Duration::from_millis(1))),
        ("while-swapping-flat-out", None),
    ] {
        let (stop, writer) = swapping(&client, pause);
        c.bench_function(&format!("client/bool_value/rollout-50%/{name}"), |b| {
            b.iter(|| client.bool_value(rollout, black_box(&ctx), false))
        });
        stop.store(true, Ordering::Relaxed);
        let swaps = writer.join().unwrap();
        eprintln!("(the writer thread swapped {swaps} snapshots meanwhile)");
    }
}

/// Starts a thread applying ever newer snapshots until told to stop; it returns how many.
fn swapping(client: &Client, pause: Option<Duration>) -> (Arc<AtomicBool>, JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (client, flag) = (client.clone(), Arc::clone(&stop));
    let writer = thread::spawn(move || {
        let mut swaps = 0u64;
        let mut revision = client.with_view(|v| v.revision()).unwrap_or(0);
        while !flag.load(Ordering::Relaxed) {
            revision += 1;
            if let Outcome::Applied(_) = client.apply_snapshot(snapshot(revision)) {
                swaps += 1;
            }
            if let Some(pause) = pause {
                thread::sleep(pause);
            }
        }
        swaps
    });
    (stop, writer)
}

criterion_group!(benches, bench);
criterion_main!(benches);
