//! The server evaluates exactly as a client would: for randomized flags (rollouts, rules over
//! every kind of operator, segments, multi-variant splits, every flag type) and contexts, built
//! from a fixed seed, `POST /v1/evaluate` answers what `CompiledSnapshot::evaluate_detail` gives
//! locally on the snapshot from `GET /v1/sdk/snapshot`, and so does OFREP (the third door), in
//! its own shape: bulk for every context, one flag at a time for some.

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchboard_core::{
    CompiledSnapshot, Condition, Context, EvaluationDetail, FlagDefinition, FlagState, FlagType,
    OPENFEATURE_TARGETING_KEY, Operator, Reason, Rule, Segment, Serve, Snapshot, Split, Variant,
    WeightedVariant,
};
use switchboard_server::store::{flags, segments};

use super::evaluate::evaluate;
use super::{actor, set_state};
use crate::helpers::{Backend, spawn_app};
use crate::on_both_backends;

on_both_backends!(the_server_evaluates_exactly_as_a_client_holding_its_snapshot);

const SEED: u64 = 0x5eed_f1a6;
const FLAGS: usize = 60;
const CONTEXTS: usize = 120;

const PLANS: [&str; 4] = ["free", "pro", "team", "enterprise"];
const COUNTRIES: [&str; 6] = ["FR", "DE", "IT", "US", "JP", "BR"];
const DOMAINS: [&str; 3] = ["@beta.dev", "@example.com", "@corp.io"];
const VERSIONS: [&str; 5] = ["1.9.0", "2.0.0-rc.1", "2.0.0", "2.3.1", "v3.0.0"];
const DATES: [&str; 3] = [
    "2023-01-01T00:00:00Z",
    "2024-06-15T12:00:00Z",
    "2025-03-01T00:00:00Z",
];

fn segment_list() -> Vec<Segment> {
    let segment = |name: &str, conditions| Segment {
        name: name.to_owned(),
        description: None,
        conditions,
    };
    vec![
        segment(
            "beta",
            vec![Condition::new(
                "email",
                Operator::EndsWith,
                vec![json!("@beta.dev")],
            )],
        ),
        segment(
            "adults",
            vec![Condition::new("age", Operator::Gte, vec![json!(18)])],
        ),
        segment(
            "eu",
            vec![Condition::new(
                "country",
                Operator::In,
                vec![json!("FR"), json!("DE"), json!("IT")],
            )],
        ),
    ]
}

/// `n` weights in basis points adding up to 10000 (zeros allowed).
fn weights(rng: &mut StdRng, n: usize) -> Vec<u32> {
    let mut cuts: Vec<u32> = (1..n).map(|_| rng.random_range(0..=10_000)).collect();
    cuts.sort_unstable();
    let mut previous = 0;
    let mut out = Vec::with_capacity(n);
    for cut in cuts.into_iter().chain([10_000]) {
        out.push(cut - previous);
        previous = cut;
    }
    out
}

fn serve(rng: &mut StdRng, variants: &[Variant]) -> Serve {
    if rng.random_bool(0.4) {
        return Serve::variant(
            variants
                .choose(rng)
                .map(|v| v.key.clone())
                .unwrap_or_default(),
        );
    }
    let arms = weights(rng, variants.len())
        .into_iter()
        .zip(variants)
        .map(|(weight, v)| WeightedVariant {
            variant: v.key.clone(),
            weight,
        })
        .collect();
    Serve::Split(Split {
        split: arms,
        stickiness: rng.random_bool(0.2).then(|| "company".to_owned()),
        salt: rng.random_bool(0.2).then(|| "shared-salt".to_owned()),
    })
}

fn condition(rng: &mut StdRng) -> Condition {
    let pick =
        |rng: &mut StdRng, list: &[&str]| json!(list.choose(rng).copied().unwrap_or_default());
    match rng.random_range(0..12) {
        0 => Condition::new("plan", Operator::Equals, vec![pick(rng, &PLANS)]),
        1 => Condition::new("plan", Operator::NotEquals, vec![pick(rng, &PLANS)]),
        2 => Condition::new(
            "country",
            Operator::In,
            vec![pick(rng, &COUNTRIES), pick(rng, &COUNTRIES)],
        ),
        3 => Condition::new("country", Operator::NotIn, vec![pick(rng, &COUNTRIES)]),
        4 => Condition::new("email", Operator::Contains, vec![json!("user-1")]),
        5 => Condition::new("email", Operator::EndsWith, vec![pick(rng, &DOMAINS)]),
        6 => Condition::new("targeting_key", Operator::StartsWith, vec![json!("user-1")]),
        7 => {
            let op = *[Operator::Lt, Operator::Lte, Operator::Gt, Operator::Gte]
                .choose(rng)
                .unwrap_or(&Operator::Lt);
            Condition::new("age", op, vec![json!(rng.random_range(10..70))])
        }
        8 => {
            let op = *[Operator::SemverLt, Operator::SemverGte, Operator::SemverEq]
                .choose(rng)
                .unwrap_or(&Operator::SemverEq);
            Condition::new("app_version", op, vec![pick(rng, &VERSIONS)])
        }
        9 => {
            let op = *[Operator::Before, Operator::After]
                .choose(rng)
                .unwrap_or(&Operator::Before);
            Condition::new("signup", op, vec![pick(rng, &DATES)])
        }
        10 => Condition::in_segment(&[["beta", "adults", "eu"]
            .choose(rng)
            .copied()
            .unwrap_or("beta")]),
        _ => Condition {
            attribute: None,
            op: Operator::NotInSegment,
            values: vec![pick(rng, &["beta", "adults", "eu"])],
        },
    }
}

fn flag(rng: &mut StdRng, i: usize) -> (FlagDefinition, FlagState) {
    let flag_type = *[
        FlagType::Boolean,
        FlagType::Boolean,
        FlagType::String,
        FlagType::Number,
        FlagType::Json,
    ]
    .choose(rng)
    .unwrap_or(&FlagType::Boolean);
    let mut definition = FlagDefinition::boolean(format!("flag-{i:03}"));
    definition.flag_type = flag_type;
    let count = rng.random_range(2..=4);
    definition.variants = match flag_type {
        FlagType::Boolean => definition.variants,
        FlagType::String => (0..count)
            .map(|v| Variant::new(format!("v{v}"), format!("value-{v}")))
            .collect(),
        FlagType::Number => (0..count)
            .map(|v| Variant::new(format!("v{v}"), json!(v as f64 * 1.5)))
            .collect(),
        FlagType::Json => (0..count)
            .map(|v| Variant::new(format!("v{v}"), json!({"tier": v, "tags": ["a", v]})))
            .collect(),
    };
    let variants = definition.variants.clone();
    let rules = (0..rng.random_range(0..=3))
        .map(|_| Rule {
            id: None,
            description: None,
            conditions: (0..rng.random_range(0..=2))
                .map(|_| condition(rng))
                .collect(),
            serve: serve(rng, &variants),
        })
        .collect();
    let state = FlagState {
        enabled: rng.random_bool(0.85),
        rules,
        default_serve: serve(rng, &variants),
        off_variant: variants
            .choose(rng)
            .map(|v| v.key.clone())
            .unwrap_or_default(),
    };
    (definition, state)
}

fn context(rng: &mut StdRng, i: usize) -> Context {
    let mut ctx = if rng.random_bool(0.93) {
        Context::with_targeting_key(format!("user-{i}"))
    } else {
        Context::new()
    };
    let mut maybe = |rng: &mut StdRng, name: &str, value: Value| {
        if rng.random_bool(0.8) {
            ctx.set(name, value);
        }
    };
    let plan = json!(PLANS.choose(rng).copied().unwrap_or_default());
    maybe(rng, "plan", plan);
    let country = json!(COUNTRIES.choose(rng).copied().unwrap_or_default());
    maybe(rng, "country", country);
    let email = json!(format!(
        "user-{i}{}",
        DOMAINS.choose(rng).copied().unwrap_or_default()
    ));
    maybe(rng, "email", email);
    let age = rng.random_range(8..80);
    let age = if rng.random_bool(0.2) {
        json!(age.to_string())
    } else {
        json!(age)
    };
    maybe(rng, "age", age);
    let version = json!(VERSIONS.choose(rng).copied().unwrap_or_default());
    maybe(rng, "app_version", version);
    let signup = if rng.random_bool(0.5) {
        json!(DATES.choose(rng).copied().unwrap_or_default())
    } else {
        json!(rng.random_range(1_600_000_000_i64..1_800_000_000))
    };
    maybe(rng, "signup", signup);
    let company = json!(format!("company-{}", rng.random_range(0..20)));
    maybe(rng, "company", company);
    ctx
}

/// The context as OpenFeature SDKs send it: flat, `targetingKey` beside the attributes.
fn flat_context(ctx: &Context) -> Value {
    let mut flat: serde_json::Map<String, Value> = ctx
        .attributes()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(key) = ctx.targeting_key() {
        flat.insert(OPENFEATURE_TARGETING_KEY.to_owned(), json!(key));
    }
    Value::Object(flat)
}

/// What OFREP answers for a local evaluation: the served value, or the failure's code.
fn as_ofrep(local: &EvaluationDetail) -> Value {
    match local.error_code {
        None => json!({"key": local.key, "value": local.value, "variant": local.variant,
                       "reason": local.reason}),
        Some(code) => json!({"key": local.key, "errorCode": code,
                             "errorDetails": ofrep_details(code, local)}),
    }
}

fn ofrep_details(code: switchboard_core::ErrorCode, local: &EvaluationDetail) -> Value {
    use switchboard_core::ErrorCode;
    match code {
        ErrorCode::FlagNotFound => json!("flag not found"),
        ErrorCode::TargetingKeyMissing => json!(
            "the flag splits on an attribute the context does not have (targetingKey by default)"
        ),
        _ => json!(local.error_message),
    }
}

async fn the_server_evaluates_exactly_as_a_client_holding_its_snapshot(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("lab").await;
    app.create_environment("lab", "production", None).await;
    let mut rng = StdRng::seed_from_u64(SEED);
    for segment in segment_list() {
        segments::create(&app.store, &actor(), "lab", segment)
            .await
            .unwrap()
            .without_follow_up();
    }
    for i in 0..FLAGS {
        let (definition, state) = flag(&mut rng, i);
        let key = definition.key.clone();
        flags::create(&app.store, &actor(), "lab", definition)
            .await
            .unwrap()
            .without_follow_up();
        set_state("lab", "production", &key, state, &app).await;
    }
    app.snapshots.reload_project("lab").await;
    let admin = app.admin_token.clone();
    let query = "?project=lab&environment=production";

    let response = app.get(&format!("/v1/sdk/snapshot{query}")).await;
    let snapshot: Snapshot = response.json().await.unwrap();
    let local = CompiledSnapshot::compile(&snapshot);
    assert!(local.warnings().is_empty(), "{:?}", local.warnings());
    assert_eq!(snapshot.flags.len(), FLAGS);

    let mut reasons = HashSet::new();
    for i in 0..CONTEXTS {
        let ctx = context(&mut rng, i);
        let answer = evaluate(&app, &admin, query, json!({ "context": ctx })).await;
        assert_eq!(answer["revision"], snapshot.revision);
        let remote: Vec<EvaluationDetail> =
            serde_json::from_value(answer["results"].clone()).unwrap();
        let expected: Vec<EvaluationDetail> = local
            .flag_keys()
            .map(|k| local.evaluate_detail(k, &ctx))
            .collect();
        assert_eq!(remote, expected, "context {ctx:?}");
        reasons.extend(remote.iter().map(|d| d.reason));

        let flat = flat_context(&ctx);
        let bulk = app
            .request(Method::POST, &format!("/ofrep/v1/evaluate/flags{query}"))
            .json(&json!({ "context": flat }))
            .send()
            .await
            .unwrap();
        assert_eq!(bulk.status(), StatusCode::OK);
        let bulk: Value = bulk.json().await.unwrap();
        let bulk = bulk["flags"].as_array().unwrap();
        assert_eq!(bulk.len(), expected.len());
        for (answer, local) in bulk.iter().zip(&expected) {
            assert_eq!(answer, &as_ofrep(local), "context {ctx:?}");
        }
        if i % 10 == 0 {
            for local in expected.iter().step_by(7) {
                let single = app
                    .request(
                        Method::POST,
                        &format!("/ofrep/v1/evaluate/flags/{}{query}", local.key),
                    )
                    .json(&json!({ "context": flat }))
                    .send()
                    .await
                    .unwrap();
                let status = single.status();
                let answer: Value = single.json().await.unwrap();
                assert_eq!(answer, as_ofrep(local), "context {ctx:?}");
                let served = local.error_code.is_none();
                assert_eq!(status.is_success(), served, "{answer}");
            }
        }
    }
    // The sample exercised every path of the evaluator, not just one.
    for reason in [
        Reason::Static,
        Reason::TargetingMatch,
        Reason::Split,
        Reason::Disabled,
        Reason::Default,
        Reason::Error,
    ] {
        assert!(reasons.contains(&reason), "no {reason:?} among the results");
    }

    let ctx = context(&mut rng, CONTEXTS);
    let keys = ["flag-007", "missing", "flag-003"];
    let answer = evaluate(&app, &admin, query, json!({"context": ctx, "flags": keys})).await;
    let remote: Vec<EvaluationDetail> = serde_json::from_value(answer["results"].clone()).unwrap();
    let expected: Vec<EvaluationDetail> = keys
        .iter()
        .map(|k| local.evaluate_detail(k, &ctx))
        .collect();
    assert_eq!(remote, expected);
}
