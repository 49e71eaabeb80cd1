//! Reasons, error codes, broken-flag isolation and typed access.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{boolean_flag, compile_clean, rollout, snapshot};
use serde_json::json;
use switchboard_core::{CompiledSnapshot, Context, ErrorCode, Reason, Subject, hash};

fn user(id: &str) -> Context {
    Context::with_targeting_key(id)
}

#[test]
fn a_flag_without_rules_serving_a_variant_is_static() {
    let flags = compile_clean(&snapshot(
        json!([boolean_flag(
            "f",
            json!({"enabled": true, "default_serve": {"variant": "on"}, "off_variant": "off"})
        )]),
        json!([]),
    ));
    let eval = flags.evaluate("f", &Context::new());
    assert_eq!(
        (eval.value, eval.variant, eval.reason),
        (Some(&json!(true)), Some("on"), Reason::Static)
    );
    assert_eq!(eval.error_code, None);
}

#[test]
fn a_disabled_flag_serves_its_off_variant_whatever_the_rules() {
    let flags = compile_clean(&snapshot(
        json!([boolean_flag(
            "f",
            json!({"enabled": false,
            "rules": [{"conditions": [], "serve": {"variant": "on"}}],
            "default_serve": {"variant": "on"}, "off_variant": "off"})
        )]),
        json!([]),
    ));
    let eval = flags.evaluate("f", &user("u1"));
    assert_eq!((eval.variant, eval.reason), (Some("off"), Reason::Disabled));
}

#[test]
fn rules_are_tried_in_order_and_the_default_applies_when_none_matches() {
    let state = json!({"enabled": true, "rules": [
        {"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}], "serve": {"variant": "on"}},
        {"conditions": [{"attribute": "plan", "op": "in", "values": ["pro", "free"]}], "serve": {"variant": "off"}},
    ], "default_serve": {"variant": "on"}, "off_variant": "off"});
    let flags = compile_clean(&snapshot(json!([boolean_flag("f", state)]), json!([])));
    let pro = flags.evaluate("f", &user("u").with("plan", "pro"));
    assert_eq!(
        (pro.variant, pro.reason),
        (Some("on"), Reason::TargetingMatch)
    );
    let free = flags.evaluate("f", &user("u").with("plan", "free"));
    assert_eq!(
        (free.variant, free.reason),
        (Some("off"), Reason::TargetingMatch)
    );
    let other = flags.evaluate("f", &user("u").with("plan", "team"));
    assert_eq!((other.variant, other.reason), (Some("on"), Reason::Default));
}

#[test]
fn a_split_reports_split_whether_reached_by_default_or_by_a_rule() {
    let state = json!({"enabled": true, "rules": [
        {"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}],
         "serve": {"split": [{"variant": "on", "weight": 10000}, {"variant": "off", "weight": 0}]}},
    ], "default_serve": {"split": [{"variant": "on", "weight": 0}, {"variant": "off", "weight": 10000}]},
       "off_variant": "off"});
    let flags = compile_clean(&snapshot(json!([boolean_flag("f", state)]), json!([])));
    let pro = flags.evaluate("f", &user("u").with("plan", "pro"));
    assert_eq!((pro.variant, pro.reason), (Some("on"), Reason::Split));
    let other = flags.evaluate("f", &user("u"));
    assert_eq!((other.variant, other.reason), (Some("off"), Reason::Split));
}

#[test]
fn a_split_serves_the_first_variant_whose_cumulative_weight_exceeds_the_bucket() {
    let id = "user-1";
    let bucket = u32::from(hash::bucket("f", id));
    let served = |weight| {
        let flags = compile_clean(&snapshot(json!([rollout("f", weight)]), json!([])));
        flags.evaluate("f", &user(id)).variant.unwrap().to_owned()
    };
    assert_eq!(served(bucket + 1), "on");
    assert_eq!(served(bucket), "off");
}

#[test]
fn a_split_without_its_stickiness_value_serves_off_with_targeting_key_missing() {
    let flags = compile_clean(&snapshot(json!([rollout("f", 10000)]), json!([])));
    let eval = flags.evaluate("f", &Context::new().with("user_id", "u1"));
    assert_eq!((eval.variant, eval.reason), (Some("off"), Reason::Error));
    assert_eq!(eval.error_code, Some(ErrorCode::TargetingKeyMissing));
    // A value was served, so typed access returns it rather than the caller's default.
    assert!(!flags.bool_value("f", &Context::new(), true));
}

#[test]
fn a_custom_stickiness_attribute_is_hashed_in_its_canonical_form() {
    let state = json!({"enabled": true, "off_variant": "off", "default_serve": {
        "split": [{"variant": "on", "weight": 5000}, {"variant": "off", "weight": 5000}],
        "stickiness": "account_id", "salt": "accounts"}});
    let flags = compile_clean(&snapshot(json!([boolean_flag("f", state)]), json!([])));
    let expected = |id: &str| {
        if hash::bucket("accounts", id) < 5000 {
            "on"
        } else {
            "off"
        }
    };
    for n in 0..50 {
        let numeric = flags.evaluate("f", &user("ignored").with("account_id", n));
        assert_eq!(numeric.variant, Some(expected(&n.to_string())));
        let text = flags.evaluate("f", &Context::new().with("account_id", n.to_string()));
        assert_eq!(text.variant, numeric.variant);
    }
    for unusable in [json!(null), json!([1]), json!({"id": 1})] {
        let eval = flags.evaluate("f", &user("u1").with("account_id", unusable));
        assert_eq!(eval.error_code, Some(ErrorCode::TargetingKeyMissing));
    }
}

#[test]
fn an_unknown_flag_is_flag_not_found_and_the_callers_default() {
    let flags = compile_clean(&snapshot(json!([]), json!([])));
    let eval = flags.evaluate("nope", &Context::new());
    assert_eq!(
        (eval.value, eval.reason, eval.error_code),
        (None, Reason::Error, Some(ErrorCode::FlagNotFound))
    );
    assert!(flags.bool_value("nope", &Context::new(), true));
    assert_eq!(flags.string_value("nope", &Context::new(), "dflt"), "dflt");
}

#[test]
fn asking_for_another_type_is_a_type_mismatch_and_the_callers_default() {
    let flags = compile_clean(&snapshot(json!([rollout("f", 10000)]), json!([])));
    let details = flags.string_details("f", &user("u"), "dflt");
    assert_eq!((details.value, details.reason), ("dflt", Reason::Error));
    assert_eq!(details.error_code, Some(ErrorCode::TypeMismatch));
    assert_eq!(flags.number_value("f", &user("u"), 1.5), 1.5);
    assert_eq!(flags.json_value("f", &user("u"), &json!("d")), &json!("d"));
}

#[test]
fn typed_accessors_return_the_served_value() {
    let flags = compile_clean(&snapshot(
        json!([
            {"key": "s", "type": "string", "variants": [{"key": "a", "value": "blue"}],
             "state": {"enabled": true, "default_serve": {"variant": "a"}, "off_variant": "a"}},
            {"key": "n", "type": "number", "variants": [{"key": "a", "value": 3}, {"key": "b", "value": 2.5}],
             "state": {"enabled": true, "default_serve": {"variant": "a"}, "off_variant": "b"}},
            {"key": "j", "type": "json", "variants": [{"key": "a", "value": {"limit": 5}}],
             "state": {"enabled": true, "default_serve": {"variant": "a"}, "off_variant": "a"}},
            rollout("b", 10000),
        ]),
        json!([]),
    ));
    let ctx = user("u");
    assert_eq!(flags.string_value("s", &ctx, "x"), "blue");
    assert_eq!(flags.number_value("n", &ctx, 0.0), 3.0);
    assert_eq!(flags.integer_value("n", &ctx, 0), 3);
    assert_eq!(flags.json_value("j", &ctx, &json!(null))["limit"], 5);
    assert!(flags.bool_value("b", &ctx, false));
    let details = flags.bool_details("b", &ctx, false);
    assert_eq!(
        (details.variant, details.reason, details.error_code),
        (Some("on"), Reason::Split, None)
    );
}

#[test]
fn a_fractional_number_read_as_an_integer_is_a_type_mismatch() {
    let flags = compile_clean(&snapshot(
        json!([{"key": "n", "type": "number", "variants": [{"key": "a", "value": 2.5}],
                "state": {"enabled": true, "default_serve": {"variant": "a"}, "off_variant": "a"}}]),
        json!([]),
    ));
    let details = flags.integer_details("n", &Context::new(), 7);
    assert_eq!(
        (details.value, details.error_code),
        (7, Some(ErrorCode::TypeMismatch))
    );
}

fn broken_snapshot() -> CompiledSnapshot {
    let bad_date = boolean_flag(
        "bad-date",
        json!({"enabled": true, "off_variant": "off",
        "rules": [{"conditions": [{"attribute": "t", "op": "before", "values": ["tomorrow"]}],
                   "serve": {"variant": "on"}}],
        "default_serve": {"variant": "off"}}),
    );
    let bad_weights = boolean_flag(
        "bad-weights",
        json!({"enabled": true, "off_variant": "off",
        "default_serve": {"split": [{"variant": "on", "weight": 5000}, {"variant": "off", "weight": 4000}]}}),
    );
    let bad_segment = boolean_flag(
        "bad-segment",
        json!({"enabled": true, "off_variant": "off",
        "rules": [{"conditions": [{"op": "in_segment", "values": ["broken"]}], "serve": {"variant": "on"}}],
        "default_serve": {"variant": "off"}}),
    );
    let segments = json!([{"name": "broken", "conditions": [{"attribute": "v", "op": "semver_gt", "values": ["one"]}]}]);
    CompiledSnapshot::compile(&snapshot(
        json!([
            bad_date,
            rollout("healthy", 10000),
            bad_weights,
            bad_segment
        ]),
        segments,
    ))
}

#[test]
fn a_flag_that_does_not_compile_is_an_error_and_spares_the_others() {
    let flags = broken_snapshot();
    let ctx = user("u1").with("t", "2026-01-01T00:00:00Z");
    let bad_date = flags.evaluate("bad-date", &ctx);
    assert_eq!(
        (bad_date.value, bad_date.error_code),
        (None, Some(ErrorCode::ParseError))
    );
    assert!(
        bad_date
            .error_message
            .unwrap()
            .contains("state.rules[0].conditions[0].values[0]")
    );
    let bad_weights = flags.evaluate("bad-weights", &ctx);
    assert_eq!(bad_weights.error_code, Some(ErrorCode::General));
    assert!(flags.bool_value("bad-weights", &ctx, true));
    assert_eq!(flags.evaluate("healthy", &ctx).reason, Reason::Split);
}

#[test]
fn compile_warnings_name_each_broken_flag_and_segment() {
    let flags = broken_snapshot();
    let subjects: Vec<String> = flags.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(subjects.len(), 4, "{subjects:#?}");
    assert!(subjects[0].starts_with("segment \"broken\": "));
    assert!(subjects[1].starts_with("flag \"bad-date\": "));
    assert!(subjects[2].contains("weights add up to 9000"));
    assert_eq!(
        flags.warnings()[3].subject,
        Subject::Flag("bad-segment".into())
    );
    assert!(subjects[3].contains("segment \"broken\" is invalid"));
    assert_eq!(
        flags.evaluate("bad-segment", &Context::new()).error_code,
        Some(ErrorCode::General)
    );
}

#[test]
fn a_duplicate_flag_key_keeps_the_first_and_warns() {
    let flags = CompiledSnapshot::compile(&snapshot(
        json!([rollout("f", 10000), rollout("f", 0)]),
        json!([]),
    ));
    assert!(flags.bool_value("f", &user("u"), false));
    assert_eq!(flags.warnings().len(), 1);
    assert_eq!(flags.flag_keys().count(), 1);
}

#[test]
fn evaluate_all_answers_every_flag_in_snapshot_order() {
    let flags = broken_snapshot();
    let details = flags.evaluate_all(&user("u1"));
    let keys: Vec<&str> = details.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["bad-date", "healthy", "bad-weights", "bad-segment"]);
    assert_eq!(
        serde_json::to_value(&details[1]).unwrap(),
        json!({"key": "healthy", "value": true, "variant": "on", "reason": "SPLIT"})
    );
    assert_eq!(
        serde_json::to_value(&details[0]).unwrap()["error_code"],
        "PARSE_ERROR"
    );
}

#[test]
fn snapshot_metadata_and_config_are_exposed() {
    let mut s = snapshot(json!([rollout("f", 1)]), json!([]));
    s.config.insert("max_items".into(), json!(20));
    let flags = compile_clean(&s);
    assert_eq!(
        (flags.project(), flags.environment(), flags.revision()),
        ("test", "test", 1)
    );
    assert_eq!(flags.config()["max_items"], 20);
    assert_eq!(
        flags.flag_type("f"),
        Some(switchboard_core::FlagType::Boolean)
    );
}

#[test]
fn a_duplicate_segment_name_keeps_the_first_and_warns() {
    let segments = json!([
        {"name": "s", "conditions": [{"attribute": "beta", "op": "equals", "values": [true]}]},
        {"name": "s", "conditions": []},
    ]);
    let flag = common::targeted(json!([{"op": "in_segment", "values": ["s"]}]));
    let flags = CompiledSnapshot::compile(&snapshot(json!([flag]), segments));
    assert_eq!(flags.warnings()[0].subject, Subject::Segment("s".into()));
    assert_eq!(flags.evaluate("f", &user("u")).reason, Reason::Default);
    assert_eq!(
        flags.evaluate("f", &user("u").with("beta", true)).reason,
        Reason::TargetingMatch
    );
}

#[test]
fn a_snapshot_entry_is_built_from_a_definition_and_a_state() {
    let definition = switchboard_core::FlagDefinition::boolean("dark-mode");
    let state = switchboard_core::FlagState::new(
        true,
        switchboard_core::Serve::rollout("on", "off", switchboard_core::BasisPoints::ALL),
        "off",
    );
    let mut s = snapshot(json!([]), json!([]));
    s.flags
        .push(switchboard_core::SnapshotFlag::new(&definition, state));
    assert!(compile_clean(&s).bool_value("dark-mode", &user("u"), false));
}

#[test]
fn a_compiled_snapshot_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledSnapshot>();
}
