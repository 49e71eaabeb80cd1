//! Validation reports every problem, each with a field pointer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use switchboard_core::{
    FlagDefinition, FlagState, Segment, ValidationErrors, validate_definition, validate_flag,
    validate_segment, validate_state,
};

fn definition(v: Value) -> FlagDefinition {
    serde_json::from_value(v).unwrap()
}

fn state(v: Value) -> FlagState {
    serde_json::from_value(v).unwrap()
}

fn fields(errors: &ValidationErrors) -> Vec<&str> {
    errors.0.iter().map(|e| e.field.as_str()).collect()
}

fn known(name: &str) -> bool {
    name == "beta-testers"
}

#[test]
fn a_well_formed_flag_is_valid() {
    let def = FlagDefinition::boolean("new-checkout");
    let st = state(json!({"enabled": true, "off_variant": "off",
        "rules": [{"id": "r1", "conditions": [{"op": "in_segment", "values": ["beta-testers"]},
                                             {"attribute": "v", "op": "semver_gte", "values": ["1.2.0"]}],
                   "serve": {"variant": "on"}}],
        "default_serve": {"split": [{"variant": "on", "weight": 1234}, {"variant": "off", "weight": 8766}]}}));
    assert_eq!(validate_flag(&def, &st, known), Ok(()));
}

#[test]
fn every_problem_of_a_state_is_reported_with_its_field() {
    let def = FlagDefinition::boolean("f");
    let st = state(json!({
        "enabled": true,
        "off_variant": "of",
        "rules": [
            {"conditions": [{"attribute": "", "op": "equals", "values": ["a", "b"]}], "serve": {"variant": "maybe"}},
            {"conditions": [{"attribute": "n", "op": "lt", "values": ["ten"]},
                            {"attribute": "d", "op": "after", "values": ["2026-13-01"]},
                            {"attribute": "v", "op": "semver_eq", "values": ["1.2"]},
                            {"attribute": "x", "op": "in", "values": []},
                            {"attribute": "x", "op": "in", "values": [{"a": 1}]},
                            {"op": "equals", "values": ["a"]}],
             "serve": {"variant": "on"}},
            {"conditions": [{"attribute": "a", "op": "in_segment", "values": ["nope", 3]}],
             "serve": {"split": [{"variant": "on", "weight": 5000}, {"variant": "on", "weight": 20000}],
                       "stickiness": ""}},
        ],
        "default_serve": {"split": []},
    }));
    let errors = validate_state(&def, &st, known).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "rules[0].conditions[0].values",
            "rules[0].conditions[0].attribute",
            "rules[0].serve.variant",
            "rules[1].conditions[0].values[0]",
            "rules[1].conditions[1].values[0]",
            "rules[1].conditions[2].values[0]",
            "rules[1].conditions[3].values",
            "rules[1].conditions[4].values[0]",
            "rules[1].conditions[5].attribute",
            "rules[2].conditions[0].attribute",
            "rules[2].conditions[0].values[0]",
            "rules[2].conditions[0].values[1]",
            "rules[2].serve.split[1].variant",
            "rules[2].serve.split[1].weight",
            "rules[2].serve.split",
            "rules[2].serve.stickiness",
            "default_serve.split",
            "off_variant",
        ],
        "{errors}"
    );
    let message = errors.to_string();
    assert!(
        message.contains("weights add up to 25000, expected exactly 10000"),
        "{message}"
    );
    assert!(message.contains("unknown segment \"nope\""), "{message}");
}

#[test]
fn validate_flag_points_into_the_state_with_a_prefix() {
    let def = FlagDefinition::boolean("f");
    let st = state(
        json!({"enabled": true, "off_variant": "off", "rules": [{"conditions": [], "serve":
        {"split": [{"variant": "on", "weight": 1}, {"variant": "off", "weight": 1}]}}],
        "default_serve": {"variant": "on"}}),
    );
    let errors = validate_flag(&def, &st, known).unwrap_err();
    assert_eq!(fields(&errors), ["state.rules[0].serve.split"]);
}

#[test]
fn definitions_need_valid_unique_keys_and_values_of_their_type() {
    let def = definition(
        json!({"key": "bad key", "type": "number", "tags": ["ok", "not ok"],
        "variants": [{"key": "a", "value": 1}, {"key": "a", "value": "two"}, {"key": "-b", "value": 3}]}),
    );
    let errors = validate_definition(&def).unwrap_err();
    assert_eq!(
        fields(&errors),
        [
            "key",
            "tags[1]",
            "variants[1].key",
            "variants[1].value",
            "variants[2].key"
        ]
    );
    let empty = definition(json!({"key": "k", "type": "json", "variants": []}));
    assert_eq!(
        fields(&validate_definition(&empty).unwrap_err()),
        ["variants"]
    );
}

#[test]
fn size_limits_are_enforced() {
    let variants: Vec<Value> = (0..101)
        .map(|i| json!({"key": format!("v{i}"), "value": i}))
        .collect();
    let def = definition(json!({"key": "k", "type": "number", "variants": variants}));
    assert_eq!(
        fields(&validate_definition(&def).unwrap_err()),
        ["variants"]
    );

    let def = FlagDefinition::boolean("f");
    let rule = json!({"conditions": [{"attribute": "a".repeat(129), "op": "in",
                                      "values": (0..1001).collect::<Vec<_>>()}],
                      "serve": {"variant": "on"}});
    let mut rules = vec![rule];
    rules.extend((0..100).map(|_| json!({"serve": {"variant": "on"}})));
    let st = state(
        json!({"enabled": true, "off_variant": "off", "rules": rules, "default_serve": {"variant": "on"}}),
    );
    assert_eq!(
        fields(&validate_state(&def, &st, known).unwrap_err()),
        [
            "rules",
            "rules[0].conditions[0].values",
            "rules[0].conditions[0].attribute"
        ]
    );
}

#[test]
fn segments_cannot_refer_to_segments() {
    let seg: Segment = serde_json::from_value(json!({"name": "s 1", "conditions": [
        {"op": "in_segment", "values": ["other"]},
        {"attribute": "country", "op": "in", "values": ["FR"]}]}))
    .unwrap();
    let errors = validate_segment(&seg).unwrap_err();
    assert_eq!(fields(&errors), ["name", "conditions[0].op"]);
}

#[test]
fn validation_errors_serialize_as_a_list_of_field_and_message() {
    let def =
        definition(json!({"key": "k", "type": "boolean", "variants": [{"key": "on", "value": 1}]}));
    let errors = validate_definition(&def).unwrap_err();
    assert_eq!(
        serde_json::to_value(&errors).unwrap(),
        json!([{"field": "variants[0].value", "message": "a boolean flag cannot have the value 1"}])
    );
    assert_eq!(
        errors.prefixed("definition").0[0].field,
        "definition.variants[0].value"
    );
}
