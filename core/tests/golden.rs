//! The rollout hash against checked-in golden vectors (computed with an independent murmur3
//! implementation). If this fails, the hash changed and users would move between variants in
//! every deployed application: fix the code, never the vectors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde::Deserialize;
use serde_json::json;
use switchboard_core::{Context, Reason, hash};

#[derive(Deserialize)]
struct Golden {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    salt: String,
    id: String,
    murmur3: u32,
    bucket: u16,
}

fn vectors() -> Vec<Vector> {
    let text = include_str!("golden/buckets.json");
    serde_json::from_str::<Golden>(text).unwrap().vectors
}

#[test]
fn buckets_match_the_golden_vectors() {
    let vectors = vectors();
    assert!(vectors.len() >= 30);
    assert!(vectors.iter().any(|v| v.id.is_empty()));
    assert!(vectors.iter().any(|v| !v.id.is_ascii()));
    assert!(vectors.iter().any(|v| v.id.len() >= 500));
    for v in &vectors {
        assert_eq!(
            u32::from(v.bucket),
            v.murmur3 % 10_000,
            "inconsistent vector {:?}",
            v.id
        );
        assert_eq!(
            hash::bucket(&v.salt, &v.id),
            v.bucket,
            "salt {:?} id {:?}",
            v.salt,
            v.id
        );
    }
}

/// The evaluator uses the same bucket, and a split's boundary is exclusive: bucket `b` is served
/// by the arm whose cumulative weight is `b + 1`, not `b`.
#[test]
fn the_evaluator_buckets_like_the_golden_vectors() {
    for v in vectors() {
        let b = u32::from(v.bucket);
        let served = |on_weight: u32| {
            let state = json!({"enabled": true, "off_variant": "off", "default_serve": {
                "split": [{"variant": "on", "weight": on_weight}, {"variant": "off", "weight": 10000 - on_weight}],
                "salt": v.salt}});
            let flags = common::compile_clean(&common::snapshot(
                json!([common::boolean_flag("f", state)]),
                json!([]),
            ));
            flags
                .evaluate("f", &Context::with_targeting_key(v.id.as_str()))
                .variant
                .map(str::to_owned)
        };
        assert_eq!(served(b + 1).as_deref(), Some("on"), "{:?}", v.id);
        assert_eq!(served(b).as_deref(), Some("off"), "{:?}", v.id);
    }
}

#[derive(Deserialize)]
struct NumberVector {
    literal: String,
    text: Option<String>,
    bucket: Option<u16>,
}

/// Numeric stickiness values, read from JSON as an SDK receives them: the literal decides
/// (`ROLLOUT.md`), not the float it rounds to, so `-9223372036854775809` and
/// `9223372036854775808.5` are not bucketed although their floats are integers in range.
#[test]
fn number_literals_bucket_by_their_canonical_text() {
    #[derive(Deserialize)]
    struct Numbers {
        vectors: Vec<NumberVector>,
    }
    let text = include_str!("golden/numbers.json");
    let vectors = serde_json::from_str::<Numbers>(text).unwrap().vectors;
    assert!(vectors.len() >= 30);
    for v in vectors {
        let context = format!(
            r#"{{"targeting_key": "ignored", "attributes": {{"n": {}}}}}"#,
            v.literal
        );
        let context: Context = serde_json::from_str(&context).unwrap();
        let served = |on_weight: u32| {
            let state = json!({"enabled": true, "off_variant": "off", "default_serve": {
                "split": [{"variant": "on", "weight": on_weight}, {"variant": "off", "weight": 10000 - on_weight}],
                "stickiness": "n", "salt": "numbers"}});
            let flags = common::compile_clean(&common::snapshot(
                json!([common::boolean_flag("f", state)]),
                json!([]),
            ));
            let eval = flags.evaluate("f", &context);
            (eval.variant.map(str::to_owned), eval.reason)
        };
        match (&v.text, v.bucket) {
            (Some(text), Some(b)) => {
                assert_eq!(hash::bucket("numbers", text), b, "{}", v.literal);
                let b = u32::from(b);
                assert_eq!(
                    served(b + 1),
                    (Some("on".to_owned()), Reason::Split),
                    "{}",
                    v.literal
                );
                assert_eq!(
                    served(b),
                    (Some("off".to_owned()), Reason::Split),
                    "{}",
                    v.literal
                );
            }
            _ => assert_eq!(
                served(10_000),
                (Some("off".to_owned()), Reason::Error),
                "{}",
                v.literal
            ),
        }
    }
}
