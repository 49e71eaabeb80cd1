//! Instructions per call, counted by callgrind: a measure that does not move with the load of a
//! shared machine (criterion's nanoseconds do). `bench/client-instructions.sh` runs this loop
//! under `valgrind --tool=callgrind` at two iteration counts and divides the difference.
//!
//! `instructions <case> <iterations>`; cases: `core` (the evaluator alone), `client`,
//! `with-view`, `static`, `unknown`, `killed-other` (another flag killed on the client).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use switchboard_client::Context;

mod common;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` runs every bench target with `--bench` and criterion's options: then this
    // is only a smoke run of every case. The script calls the binary with a case and a count.
    if args.iter().any(|a| a == "--bench") {
        for case in CASES {
            run(case, 1000);
        }
        return;
    }
    let case = args.first().map_or("client", String::as_str);
    let iterations = args.get(1).map_or(1_000_000, |n| n.parse().unwrap());
    run(case, iterations);
}

const CASES: [&str; 6] = [
    "core",
    "client",
    "with-view",
    "static",
    "unknown",
    "killed-other",
];

fn run(case: &str, iterations: u64) {
    let client = common::client();
    let compiled = switchboard_core::CompiledSnapshot::compile(&common::snapshot(1));
    let ctx = Context::with_targeting_key("user-12345");
    let (rollout, static_on, unknown) = black_box(("rollout-50", "static-on", "no-such-flag"));
    if case == "killed-other" {
        client.kill(static_on);
    }

    let served = match case {
        "core" => repeat(iterations, || {
            compiled.bool_value(rollout, black_box(&ctx), false)
        }),
        "client" | "killed-other" => repeat(iterations, || {
            client.bool_value(rollout, black_box(&ctx), false)
        }),
        "with-view" => repeat(iterations, || {
            client.with_view(|v| v.bool_value(rollout, black_box(&ctx), false))
        }),
        "static" => repeat(iterations, || {
            client.bool_value(static_on, black_box(&ctx), false)
        }),
        "unknown" => repeat(iterations, || {
            client.bool_value(unknown, black_box(&ctx), false)
        }),
        other => panic!("unknown case {other:?}; one of {CASES:?}"),
    };
    println!("{case}: {served} of {iterations} served true");
}

/// Calls `evaluate` `iterations` times; how many answers were `true` (so that none is unused).
#[inline(never)]
fn repeat(iterations: u64, evaluate: impl Fn() -> bool) -> u64 {
    (0..iterations).map(|_| u64::from(evaluate())).sum()
}
