//! Every condition operator, through the public evaluator: a boolean flag serves `on` when the
//! condition matches and `off` otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use serde_json::{Value, json};
use switchboard_core::{Context, Reason};

/// Whether a single condition matches `ctx`.
fn matches(condition: Value, ctx: &Context) -> bool {
    let flags = common::compile_clean(&common::snapshot(
        json!([common::targeted(json!([condition]))]),
        json!([]),
    ));
    let eval = flags.evaluate("f", ctx);
    assert!(
        matches!(eval.reason, Reason::TargetingMatch | Reason::Default),
        "{eval:?}"
    );
    eval.reason == Reason::TargetingMatch
}

fn with(name: &str, value: Value) -> Context {
    Context::with_targeting_key("u1").with(name, value)
}

fn cond(attribute: &str, op: &str, values: Value) -> Value {
    json!({"attribute": attribute, "op": op, "values": values})
}

#[test]
fn equals_is_type_strict_equality() {
    let c = || cond("plan", "equals", json!(["pro"]));
    assert!(matches(c(), &with("plan", json!("pro"))));
    assert!(!matches(c(), &with("plan", json!("Pro"))));
    assert!(matches(
        cond("age", "equals", json!([30])),
        &with("age", json!(30.0))
    ));
    assert!(!matches(
        cond("age", "equals", json!(["30"])),
        &with("age", json!(30))
    ));
    assert!(matches(
        cond("beta", "equals", json!([true])),
        &with("beta", json!(true))
    ));
    assert!(!matches(
        cond("beta", "equals", json!([true])),
        &with("beta", json!(false))
    ));
}

#[test]
fn not_equals_negates_equals_for_present_attributes() {
    let c = || cond("plan", "not_equals", json!(["pro"]));
    assert!(matches(c(), &with("plan", json!("free"))));
    assert!(!matches(c(), &with("plan", json!("pro"))));
}

#[test]
fn in_matches_any_listed_value_small_and_large_lists() {
    assert!(matches(
        cond("country", "in", json!(["FR", "DE"])),
        &with("country", json!("DE"))
    ));
    assert!(!matches(
        cond("country", "in", json!(["FR", "DE"])),
        &with("country", json!("US"))
    ));
    let many: Vec<String> = (0..500).map(|i| format!("user-{i}")).collect();
    assert!(matches(
        cond("id", "in", json!(many)),
        &with("id", json!("user-499"))
    ));
    assert!(!matches(
        cond("id", "in", json!(many)),
        &with("id", json!("user-500"))
    ));
    assert!(matches(
        cond("n", "in", json!([1, "x", false])),
        &with("n", json!(false))
    ));
}

#[test]
fn not_in_matches_present_values_outside_the_list() {
    assert!(matches(
        cond("country", "not_in", json!(["FR"])),
        &with("country", json!("US"))
    ));
    assert!(!matches(
        cond("country", "not_in", json!(["FR"])),
        &with("country", json!("FR"))
    ));
}

#[test]
fn a_missing_attribute_matches_no_condition_not_even_a_negated_one() {
    let anonymous = Context::with_targeting_key("u1");
    let null = with("country", Value::Null);
    for c in [
        cond("country", "equals", json!(["FR"])),
        cond("country", "not_equals", json!(["FR"])),
        cond("country", "in", json!(["FR"])),
        cond("country", "not_in", json!(["FR"])),
        cond("country", "contains", json!(["F"])),
        cond("country", "lt", json!([1])),
        cond("country", "before", json!(["2030-01-01T00:00:00Z"])),
    ] {
        assert!(!matches(c.clone(), &anonymous), "{c}");
        assert!(!matches(c.clone(), &null), "{c}");
    }
}

#[test]
fn contains_tests_substrings_of_strings_and_elements_of_lists() {
    let c = || cond("email", "contains", json!(["@example.", "@test."]));
    assert!(matches(c(), &with("email", json!("a@example.com"))));
    assert!(!matches(c(), &with("email", json!("a@other.com"))));
    let groups = || cond("groups", "contains", json!(["admins", 7]));
    assert!(matches(
        groups(),
        &with("groups", json!(["users", "admins"]))
    ));
    assert!(matches(groups(), &with("groups", json!([7]))));
    assert!(!matches(
        groups(),
        &with("groups", json!(["users", "admin"]))
    ));
}

#[test]
fn starts_with_and_ends_with_test_string_affixes() {
    assert!(matches(
        cond("email", "ends_with", json!([".fr", ".de"])),
        &with("email", json!("a@b.de"))
    ));
    assert!(!matches(
        cond("email", "ends_with", json!([".fr"])),
        &with("email", json!("a@b.com"))
    ));
    assert!(matches(
        cond("path", "starts_with", json!(["/admin"])),
        &with("path", json!("/admin/x"))
    ));
    assert!(!matches(
        cond("path", "starts_with", json!(["/admin"])),
        &with("path", json!("/x/admin"))
    ));
    assert!(!matches(
        cond("n", "starts_with", json!(["1"])),
        &with("n", json!(12))
    ));
}

#[test]
fn numeric_comparisons_accept_numbers_and_numeric_strings() {
    let age = |v: Value| with("age", v);
    assert!(matches(cond("age", "lt", json!([18])), &age(json!(17))));
    assert!(!matches(cond("age", "lt", json!([18])), &age(json!(18))));
    assert!(matches(cond("age", "lte", json!([18])), &age(json!(18))));
    assert!(!matches(cond("age", "lte", json!([18])), &age(json!(18.5))));
    assert!(matches(cond("age", "gt", json!([18])), &age(json!("18.5"))));
    assert!(!matches(cond("age", "gt", json!([18])), &age(json!(18))));
    assert!(matches(cond("age", "gte", json!(["18"])), &age(json!(18))));
    assert!(!matches(
        cond("age", "gte", json!([18])),
        &age(json!(17.99))
    ));
    assert!(!matches(
        cond("age", "gte", json!([18])),
        &age(json!("adult"))
    ));
}

#[test]
fn semver_comparisons_follow_semver_precedence() {
    let v = |s: &str| with("app_version", json!(s));
    let c = |op: &str, value: &str| cond("app_version", op, json!([value]));
    assert!(matches(c("semver_eq", "1.2.3"), &v("v1.2.3")));
    assert!(!matches(c("semver_eq", "1.2.3"), &v("1.2.4")));
    assert!(matches(c("semver_lt", "1.10.0"), &v("1.9.9")));
    assert!(matches(c("semver_lt", "2.0.0"), &v("2.0.0-rc.1")));
    assert!(!matches(c("semver_lt", "1.10.0"), &v("1.10.0")));
    assert!(matches(c("semver_lte", "1.10.0"), &v("1.10.0")));
    assert!(matches(c("semver_gt", "1.9.0"), &v("1.10.0")));
    assert!(!matches(c("semver_gt", "1.9.0"), &v("1.9.0")));
    assert!(matches(c("semver_gte", "v1.9.0"), &v("1.9.0")));
    assert!(!matches(c("semver_gte", "1.9.0"), &v("1.8")));
}

#[test]
fn date_comparisons_take_rfc3339_or_unix_seconds() {
    let c = |op: &str| cond("signed_up", op, json!(["2026-03-01T00:00:00Z"]));
    let at = |v: Value| with("signed_up", v);
    assert!(matches(c("before"), &at(json!("2026-02-28T23:59:59Z"))));
    assert!(!matches(c("before"), &at(json!("2026-03-01T00:00:00Z"))));
    assert!(matches(c("after"), &at(json!("2026-03-01T01:00:00+00:30"))));
    assert!(!matches(c("after"), &at(json!("2026-03-01T00:00:00Z"))));
    // 2026-03-01T00:00:00Z is 1772323200.
    assert!(matches(c("before"), &at(json!(1_772_323_199))));
    assert!(matches(c("after"), &at(json!(1_772_323_200.5))));
    assert!(!matches(c("after"), &at(json!("March 2026"))));
}

#[test]
fn the_targeting_key_is_an_attribute_named_targeting_key() {
    let c = || cond("targeting_key", "in", json!(["u1", "u2"]));
    assert!(matches(c(), &Context::with_targeting_key("u2")));
    assert!(!matches(c(), &Context::with_targeting_key("u3")));
    assert!(!matches(c(), &Context::new().with("targeting_key", "u1")));
}

fn segmented(op: &str) -> switchboard_core::CompiledSnapshot {
    let segments = json!([
        {"name": "beta-testers", "conditions": [{"attribute": "beta", "op": "equals", "values": [true]}]},
        {"name": "staff", "conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]},
                                         {"attribute": "active", "op": "equals", "values": [true]}]},
    ]);
    let flag = common::targeted(json!([{"op": op, "values": ["beta-testers", "staff"]}]));
    common::compile_clean(&common::snapshot(json!([flag]), segments))
}

#[test]
fn in_segment_matches_members_of_any_listed_segment() {
    let flags = segmented("in_segment");
    let on = |ctx: &Context| flags.evaluate("f", ctx).reason == Reason::TargetingMatch;
    assert!(on(&with("beta", json!(true))));
    assert!(on(&with("email", json!("a@corp.com")).with("active", true)));
    assert!(!on(
        &with("email", json!("a@corp.com")).with("active", false)
    ));
    assert!(!on(&Context::with_targeting_key("u1")));
}

#[test]
fn not_in_segment_matches_non_members_including_callers_without_the_attributes() {
    let flags = segmented("not_in_segment");
    let on = |ctx: &Context| flags.evaluate("f", ctx).reason == Reason::TargetingMatch;
    assert!(!on(&with("beta", json!(true))));
    assert!(on(&with("beta", json!(false))));
    assert!(on(&Context::with_targeting_key("u1")));
}

#[test]
fn conditions_of_a_rule_are_anded_and_an_empty_rule_matches_everyone() {
    let both = json!([
        cond("plan", "equals", json!(["pro"])),
        cond("country", "in", json!(["FR"]))
    ]);
    let flags = common::compile_clean(&common::snapshot(
        json!([common::targeted(both)]),
        json!([]),
    ));
    let ctx = with("plan", json!("pro"));
    assert_eq!(flags.evaluate("f", &ctx).reason, Reason::Default);
    assert_eq!(
        flags.evaluate("f", &ctx.with("country", "FR")).reason,
        Reason::TargetingMatch
    );
    let everyone = common::compile_clean(&common::snapshot(
        json!([common::targeted(json!([]))]),
        json!([]),
    ));
    assert_eq!(
        everyone.evaluate("f", &Context::new()).reason,
        Reason::TargetingMatch
    );
}
