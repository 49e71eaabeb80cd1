//! The checks themselves: one method per part of the document, each appending to the list.

use std::collections::HashSet;

use serde_json::Value;

use super::{
    FieldError, Kind, MAX_ATTRIBUTE_LEN, MAX_CONDITIONS, MAX_RULES, MAX_VALUES, MAX_VARIANTS,
    ValidationErrors, join,
};
use crate::key::{MAX_KEY_LEN, TOTAL_WEIGHT, is_valid_key};
use crate::model::{Condition, FlagDefinition, FlagState, FlagType, Operator, Serve, Variant};
use crate::ops;

pub(super) struct Validator {
    pub(super) errors: Vec<FieldError>,
    /// Whether to enforce the API's size limits and key grammar.
    pub(super) limits: bool,
}

impl Validator {
    pub(super) fn api() -> Self {
        Self {
            errors: Vec::new(),
            limits: true,
        }
    }

    pub(super) fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }

    fn error(&mut self, field: String, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            message: message.into(),
            kind: Kind::Invalid,
        });
    }

    fn parse_error(&mut self, field: String, message: String) {
        self.errors.push(FieldError {
            field,
            message,
            kind: Kind::Parse,
        });
    }

    pub(super) fn key(&mut self, field: &str, key: &str) {
        if self.limits && !is_valid_key(key) {
            self.error(
                field.to_owned(),
                format!(
                    "{key:?} is not a valid key: 1 to {MAX_KEY_LEN} characters from A-Z a-z 0-9 _ . -, \
                     starting with a letter or digit"
                ),
            );
        }
    }

    fn max(&mut self, field: String, what: &str, len: usize, max: usize) {
        if self.limits && len > max {
            self.error(
                field,
                format!("at most {max} {what} are allowed, got {len}"),
            );
        }
    }

    pub(super) fn definition(&mut self, d: &FlagDefinition) {
        self.key("key", &d.key);
        for (i, tag) in d.tags.iter().enumerate() {
            self.key(&format!("tags[{i}]"), tag);
        }
        self.variants(d.flag_type, &d.variants);
    }

    pub(super) fn variants(&mut self, flag_type: FlagType, variants: &[Variant]) {
        if variants.is_empty() {
            self.error("variants".into(), "a flag needs at least one variant");
        }
        self.max("variants".into(), "variants", variants.len(), MAX_VARIANTS);
        let mut seen = HashSet::new();
        for (i, variant) in variants.iter().enumerate() {
            self.key(&format!("variants[{i}].key"), &variant.key);
            if !seen.insert(variant.key.as_str()) {
                self.error(
                    format!("variants[{i}].key"),
                    format!("duplicate variant key {:?}", variant.key),
                );
            }
            if !flag_type.accepts(&variant.value) {
                self.parse_error(
                    format!("variants[{i}].value"),
                    format!(
                        "a {} flag cannot have the value {}",
                        flag_type.as_str(),
                        variant.value
                    ),
                );
            }
        }
    }

    pub(super) fn state(
        &mut self,
        path: &str,
        variants: &[Variant],
        state: &FlagState,
        segment_exists: &dyn Fn(&str) -> bool,
    ) {
        let known = |key: &str| variants.iter().any(|v| v.key == key);
        self.max(join(path, "rules"), "rules", state.rules.len(), MAX_RULES);
        for (i, rule) in state.rules.iter().enumerate() {
            let rule_path = join(path, &format!("rules[{i}]"));
            self.conditions(&rule_path, &rule.conditions, Some(segment_exists));
            self.serve(&join(&rule_path, "serve"), &rule.serve, &known);
        }
        self.serve(&join(path, "default_serve"), &state.default_serve, &known);
        if !known(&state.off_variant) {
            self.error(
                join(path, "off_variant"),
                format!("unknown variant {:?}", state.off_variant),
            );
        }
    }

    fn serve(&mut self, path: &str, serve: &Serve, known: &dyn Fn(&str) -> bool) {
        let split = match serve {
            Serve::Variant(key) => {
                if !known(key) {
                    self.error(join(path, "variant"), format!("unknown variant {key:?}"));
                }
                return;
            }
            Serve::Split(split) => split,
        };
        let split_path = join(path, "split");
        if split.split.is_empty() {
            self.error(split_path.clone(), "a split needs at least one variant");
        }
        let mut seen = HashSet::new();
        let mut total: u64 = 0;
        for (i, arm) in split.split.iter().enumerate() {
            let arm_path = join(&split_path, &format!("[{i}]"));
            if !known(&arm.variant) {
                self.error(
                    join(&arm_path, "variant"),
                    format!("unknown variant {:?}", arm.variant),
                );
            } else if !seen.insert(arm.variant.as_str()) {
                self.error(
                    join(&arm_path, "variant"),
                    format!("variant {:?} appears twice", arm.variant),
                );
            }
            if arm.weight > TOTAL_WEIGHT {
                self.error(
                    join(&arm_path, "weight"),
                    format!(
                        "a weight is at most {TOTAL_WEIGHT} basis points, got {}",
                        arm.weight
                    ),
                );
            }
            total += u64::from(arm.weight);
        }
        if !split.split.is_empty() && total != u64::from(TOTAL_WEIGHT) {
            self.error(
                split_path,
                format!(
                    "weights add up to {total}, expected exactly {TOTAL_WEIGHT} (basis points)"
                ),
            );
        }
        if let Some(stickiness) = &split.stickiness {
            self.attribute_name(&join(path, "stickiness"), stickiness);
        }
        if let Some(salt) = &split.salt {
            // Characters, as openapi.yaml's `maxLength` counts them.
            let length = salt.chars().count();
            self.max(join(path, "salt"), "characters", length, MAX_KEY_LEN);
        }
    }

    fn attribute_name(&mut self, field: &str, name: &str) {
        if name.is_empty() {
            self.error(field.to_owned(), "an attribute name cannot be empty");
        }
        // Characters, as openapi.yaml's `maxLength` counts them.
        let length = name.chars().count();
        self.max(field.to_owned(), "characters", length, MAX_ATTRIBUTE_LEN);
    }

    /// `segment_exists` is `None` inside a segment, where segment operators are not allowed.
    pub(super) fn conditions(
        &mut self,
        path: &str,
        conditions: &[Condition],
        segment_exists: Option<&dyn Fn(&str) -> bool>,
    ) {
        self.max(
            join(path, "conditions"),
            "conditions",
            conditions.len(),
            MAX_CONDITIONS,
        );
        for (j, c) in conditions.iter().enumerate() {
            let cpath = join(path, &format!("conditions[{j}]"));
            self.condition(&cpath, c, segment_exists);
        }
    }

    fn condition(
        &mut self,
        path: &str,
        c: &Condition,
        segment_exists: Option<&dyn Fn(&str) -> bool>,
    ) {
        let op = ops::op_name(c.op);
        let values_path = join(path, "values");
        self.max(values_path.clone(), "values", c.values.len(), MAX_VALUES);
        if c.values.is_empty() {
            self.error(
                values_path.clone(),
                format!("`{op}` needs at least one value"),
            );
        } else if c.op.takes_single_value() && c.values.len() != 1 {
            self.error(
                values_path.clone(),
                format!("`{op}` takes exactly one value, got {}", c.values.len()),
            );
        }
        if c.op.is_segment() {
            if c.attribute.is_some() {
                self.error(
                    join(path, "attribute"),
                    format!("`{op}` takes segment names, not an attribute"),
                );
            }
            let Some(segment_exists) = segment_exists else {
                self.error(
                    join(path, "op"),
                    "a segment cannot refer to another segment",
                );
                return;
            };
            for (k, value) in c.values.iter().enumerate() {
                match value.as_str() {
                    Some(name) if segment_exists(name) => {}
                    Some(name) => self.error(
                        format!("{values_path}[{k}]"),
                        format!("unknown segment {name:?}"),
                    ),
                    None => self.error(
                        format!("{values_path}[{k}]"),
                        format!("expected a segment name, got {value}"),
                    ),
                }
            }
            return;
        }
        match &c.attribute {
            Some(name) => self.attribute_name(&join(path, "attribute"), name),
            None => self.error(
                join(path, "attribute"),
                format!("`{op}` needs an attribute"),
            ),
        }
        for (k, value) in c.values.iter().enumerate() {
            if let Err((kind, message)) = check_value(c.op, value) {
                let field = format!("{values_path}[{k}]");
                match kind {
                    Kind::Parse => self.parse_error(field, message),
                    Kind::Invalid => self.error(field, message),
                }
            }
        }
    }
}

/// Whether `value` is a valid operand of `op` (segment operators are checked by the caller).
fn check_value(op: Operator, value: &Value) -> Result<(), (Kind, String)> {
    let parse = |r: Result<(), String>| r.map_err(|m| (Kind::Parse, m));
    match op {
        Operator::Equals
        | Operator::NotEquals
        | Operator::In
        | Operator::NotIn
        | Operator::Contains => match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
            other => Err((
                Kind::Invalid,
                format!("expected a string, number or boolean, got {other}"),
            )),
        },
        Operator::StartsWith | Operator::EndsWith => ops::parse_string(value)
            .map(drop)
            .map_err(|m| (Kind::Invalid, m)),
        Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte => {
            parse(ops::parse_number(value).map(drop))
        }
        Operator::SemverEq
        | Operator::SemverLt
        | Operator::SemverLte
        | Operator::SemverGt
        | Operator::SemverGte => parse(ops::parse_semver(value).map(drop)),
        Operator::Before | Operator::After => parse(ops::parse_date(value).map(drop)),
        Operator::InSegment | Operator::NotInSegment => Ok(()),
    }
}
