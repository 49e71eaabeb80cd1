//! Many threads evaluating while snapshots are swapped: no torn reads, no panics, no going back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::json;
use switchboard_client::{Client, Context, KillList, Outcome};

use crate::common::{on, snapshot, string};
use crate::helpers::{client, eventually, shop};

/// Runs `evaluate` on `threads` threads until `work` returns; each call must return `true`.
/// Returns how many evaluations were made.
fn evaluating_meanwhile(
    threads: usize,
    client: &Client,
    evaluate: impl Fn(&Client) -> bool + Send + Sync + 'static,
    work: impl FnOnce(),
) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let evaluate = Arc::new(evaluate);
    let threads: Vec<_> = (0..threads)
        .map(|_| {
            let (client, stop, count, evaluate) = (
                client.clone(),
                stop.clone(),
                count.clone(),
                evaluate.clone(),
            );
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    assert!(evaluate(&client), "inconsistent evaluation");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    work();
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("no evaluating thread panicked");
    }
    count.load(Ordering::Relaxed)
}

#[test]
fn many_threads_evaluating_during_thousands_of_swaps_see_whole_snapshots_only() {
    // Revision r serves the string "r" from two flags: a view mixing two revisions would show.
    let at = |r: u64| {
        let value = r.to_string();
        snapshot(
            r,
            json!([string("a", &value), string("b", &value), on("c")]),
            json!({}),
        )
    };
    let client = Client::builder("http://unused", "unused")
        .bootstrap(at(1))
        .kill_list(KillList::none())
        .offline()
        .build()
        .unwrap();
    let ctx = Context::with_targeting_key("user-1");

    let evaluations = evaluating_meanwhile(
        8,
        &client,
        move |client| {
            let whole = client.with_view(|view| {
                let revision = view.revision().unwrap_or(0).to_string();
                view.string_value("a", &ctx, "?") == revision
                    && view.string_value("b", &ctx, "?") == revision
            });
            // Through the plain getters, one call at a time, revisions only grow.
            let first: u64 = client.string_value("a", &ctx, "0").parse().unwrap_or(0);
            let second: u64 = client.string_value("b", &ctx, "0").parse().unwrap_or(0);
            whole && second >= first && client.bool_value("c", &ctx, false)
        },
        || {
            for r in 2..=3000 {
                assert!(matches!(client.apply_snapshot(at(r)), Outcome::Applied(_)));
            }
        },
    );

    assert!(evaluations > 0);
    assert_eq!(client.with_view(|v| v.revision()), Some(3000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_threads_evaluating_while_the_server_kills_and_restores_see_flags_move_together() {
    let (server, token) = shop().await;
    server.create_flag_on("dark-mode").await;
    let client = client(&server, &token)
        .poll_interval(Duration::from_millis(10))
        .build()
        .unwrap();
    client.wait_ready(Duration::from_secs(10)).await.unwrap();
    let ctx = Context::with_targeting_key("user-1");
    let runtime = tokio::runtime::Handle::current();

    // The environment's kill switch flips both flags in one revision.
    let evaluations = tokio::task::block_in_place(|| {
        // Fewer threads than above: the server and the poller need some of the two cores too.
        evaluating_meanwhile(
            4,
            &client,
            move |client| {
                client.with_view(|view| {
                    view.bool_value("new-checkout", &ctx, false)
                        == view.bool_value("dark-mode", &ctx, true)
                })
            },
            || {
                runtime.block_on(async {
                    for _ in 0..5 {
                        server.kill_environment().await;
                        eventually("the kill arrives", || {
                            !client.bool_value("dark-mode", &Context::new(), true)
                        })
                        .await;
                        server.restore_environment().await;
                        eventually("the restore arrives", || {
                            client.bool_value("dark-mode", &Context::new(), false)
                        })
                        .await;
                    }
                });
            },
        )
    });

    assert!(evaluations > 0);
}
