//! Statistical and property tests of percentage rollouts (design §4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use proptest::prelude::*;
use serde_json::json;
use switchboard_core::{
    BasisPoints, CompiledSnapshot, Context, ErrorCode, Reason, Serve, Split, WeightedVariant, hash,
};

const IDS: u32 = 100_000;

fn id(i: u32) -> String {
    format!("user-{i}")
}

proptest! {
    #[test]
    fn the_bucket_is_deterministic_and_in_range(salt in ".{0,40}", value in ".{0,80}") {
        let b = hash::bucket(&salt, &value);
        prop_assert!(b < 10_000);
        prop_assert_eq!(b, hash::bucket(&salt.clone(), &value.clone()));
    }

    #[test]
    fn raising_a_rollout_only_adds_callers(
        p in 0u32..=10_000, extra in 0u32..=10_000, ids in prop::collection::vec("[a-z0-9-]{0,24}", 1..50),
    ) {
        let q = (p + extra).min(10_000);
        let low = common::compile_clean(&common::snapshot(json!([common::rollout("f", p)]), json!([])));
        let high = common::compile_clean(&common::snapshot(json!([common::rollout("f", q)]), json!([])));
        for id in ids {
            let ctx = Context::with_targeting_key(id);
            if low.bool_value("f", &ctx, false) {
                prop_assert!(high.bool_value("f", &ctx, false));
            }
        }
    }

    #[test]
    fn without_a_stickiness_value_a_split_variant_is_never_served(
        weight in 0u32..=10_000, attrs in prop::collection::vec(("[a-z_]{1,12}", "[a-z]{0,8}"), 0..5),
    ) {
        let flags = common::compile_clean(&common::snapshot(json!([common::rollout("f", weight)]), json!([])));
        let ctx: Context = attrs.into_iter().filter(|(k, _)| k != "targeting_key").collect();
        let eval = flags.evaluate("f", &ctx);
        prop_assert_eq!(eval.variant, Some("off"));
        prop_assert_eq!(eval.reason, Reason::Error);
        prop_assert_eq!(eval.error_code, Some(ErrorCode::TargetingKeyMissing));
    }
}

/// Any valid split of `on`, `off` and two other variants, in any order, with any number of
/// arms (zero weights included), plus a stickiness and salt to carry over.
fn any_split() -> impl Strategy<Value = Serve> {
    prop::collection::vec((0usize..4, 0u32..=10_000), 1..7).prop_map(|mut arms| {
        let mut cuts: Vec<u32> = arms.iter().skip(1).map(|&(_, cut)| cut).collect();
        cuts.sort_unstable();
        cuts.push(10_000);
        let mut start = 0;
        for ((_, weight), end) in arms.iter_mut().zip(cuts) {
            *weight = end - start;
            start = end;
        }
        Serve::Split(Split {
            split: arms
                .into_iter()
                .map(|(v, weight)| WeightedVariant {
                    variant: ["on", "off", "a", "b"][v].to_owned(),
                    weight,
                })
                .collect(),
            stickiness: Some("account".to_owned()),
            salt: Some("salt".to_owned()),
        })
    })
}

/// The variant each bucket gets, by the walk of `ROLLOUT.md`.
fn variant_per_bucket(serve: &Serve) -> Vec<&str> {
    match serve {
        Serve::Variant(v) => vec![v.as_str(); 10_000],
        Serve::Split(split) => (0..10_000u32)
            .map(|bucket| {
                let mut cumulative = 0;
                split
                    .split
                    .iter()
                    .find(|arm| {
                        cumulative += arm.weight;
                        bucket < cumulative
                    })
                    .map_or("", |arm| arm.variant.as_str())
            })
            .collect(),
    }
}

proptest! {
    #[test]
    fn rolling_out_from_any_split_keeps_the_on_callers(
        previous in prop_oneof![any_split(), Just(Serve::variant("on")), Just(Serve::variant("a"))],
        share in 0u32..=10_000,
    ) {
        let next = previous.rolled_out("on", "off", BasisPoints::try_from(share).unwrap());
        let (before, after) = (variant_per_bucket(&previous), variant_per_bucket(&next));
        let on_before = before.iter().filter(|v| **v == "on").count();
        let on_after = after.iter().filter(|v| **v == "on").count();
        prop_assert_eq!(on_after, share as usize);
        prop_assert!(after.iter().all(|v| *v == "on" || *v == "off"));
        for (b, a) in before.iter().zip(&after) {
            if on_after >= on_before && *b == "on" {
                prop_assert_eq!(*a, "on", "widening took `on` from a bucket");
            }
            if on_after <= on_before && *a == "on" {
                prop_assert_eq!(*b, "on", "narrowing gave `on` to a new bucket");
            }
        }
        let Serve::Split(split) = &next else { panic!("a rollout is a split") };
        prop_assert!(split.split.iter().any(|arm| arm.variant == "on"));
        prop_assert!(split.split.iter().any(|arm| arm.variant == "off"));
        if let Serve::Split(old) = &previous {
            prop_assert_eq!(&split.stickiness, &old.stickiness);
            prop_assert_eq!(&split.salt, &old.salt);
        }
    }
}

#[test]
fn monotonic_over_every_step_for_a_fixed_population() {
    // Each id's smallest enabling weight is its bucket + 1, so "enabled at p" is exactly
    // "bucket < p": check that against the evaluator at a ladder of percentages.
    let ladder = [0, 1, 500, 1000, 2500, 5000, 7500, 9999, 10_000];
    let compiled: Vec<CompiledSnapshot> = ladder
        .iter()
        .map(|&p| {
            common::compile_clean(&common::snapshot(
                json!([common::rollout("f", p)]),
                json!([]),
            ))
        })
        .collect();
    for i in 0..2_000 {
        let ctx = Context::with_targeting_key(id(i));
        let enabled: Vec<bool> = compiled
            .iter()
            .map(|c| c.bool_value("f", &ctx, false))
            .collect();
        assert!(
            enabled.windows(2).all(|w| !w[0] || w[1]),
            "{i}: {enabled:?}"
        );
        let bucket = u32::from(hash::bucket("f", &id(i)));
        for (p, on) in ladder.iter().zip(&enabled) {
            assert_eq!(*on, bucket < *p);
        }
    }
}

#[test]
fn buckets_are_uniform_over_ten_ranges() {
    let mut counts = [0u32; 10];
    for i in 0..IDS {
        counts[usize::from(hash::bucket("new-checkout", &id(i)) / 1000)] += 1;
    }
    for (range, &count) in counts.iter().enumerate() {
        let share = f64::from(count) / f64::from(IDS);
        assert!(
            (share - 0.10).abs() <= 0.005,
            "range {range}: {share:.4} ({counts:?})"
        );
    }
}

#[test]
fn a_fifty_percent_rollout_enables_half_of_the_callers() {
    let flags = common::compile_clean(&common::snapshot(
        json!([common::rollout("f", 5000)]),
        json!([]),
    ));
    let on = (0..IDS)
        .filter(|&i| flags.bool_value("f", &Context::with_targeting_key(id(i)), false))
        .count();
    let share = on as f64 / f64::from(IDS);
    assert!((share - 0.5).abs() <= 0.005, "{share}");
}

#[test]
fn flags_with_different_salts_are_independent() {
    let mut both = 0u32;
    let mut first = 0u32;
    for i in 0..IDS {
        let a = hash::bucket("flag-a", &id(i)) < 5000;
        let b = hash::bucket("flag-b", &id(i)) < 5000;
        first += u32::from(a);
        both += u32::from(a && b);
    }
    let share = f64::from(both) / f64::from(IDS);
    assert!(
        (share - 0.25).abs() <= 0.01,
        "in the first half of both: {share}"
    );
    // Conditional share: among callers enabled for flag-a, half are enabled for flag-b.
    let conditional = f64::from(both) / f64::from(first);
    assert!((conditional - 0.5).abs() <= 0.01, "{conditional}");
}
