//! Wire types of flag definitions, per-environment flag state and segments.
//!
//! These are plain data: they deserialize whatever is syntactically well formed (unknown fields
//! are rejected so that typos fail loudly) and leave semantic checks — weights summing to 10000,
//! referenced variants existing, dates parsing — to [`crate::validate`], which reports every
//! problem with a field pointer instead of stopping at the first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod rollout;
mod serve;
pub mod wire;

pub use serve::{Serve, Split, WeightedVariant};

/// The type of a flag's values. Every variant's value must have this type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagType {
    /// JSON `true` / `false`.
    Boolean,
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// Any JSON value (objects, arrays, scalars, `null`).
    Json,
}

impl FlagType {
    /// Whether `value` is a value of this type.
    pub fn accepts(self, value: &Value) -> bool {
        match self {
            FlagType::Boolean => value.is_boolean(),
            FlagType::String => value.is_string(),
            FlagType::Number => value.is_number(),
            FlagType::Json => true,
        }
    }

    /// The name used on the wire, e.g. `"boolean"`.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
            FlagType::Json => "json",
        }
    }
}

/// One named value a flag can serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Unique within the flag; referenced by rules, splits and `off_variant`.
    pub key: String,
    /// Must match the flag's [`FlagType`].
    pub value: Value,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub description: Option<String>,
}

impl Variant {
    /// A variant without a description.
    pub fn new(key: impl Into<String>, value: impl Into<Value>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            description: None,
        }
    }
}

/// A flag as defined once per project; what differs per environment lives in [`FlagState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagDefinition {
    pub key: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub flag_type: FlagType,
    pub variants: Vec<Variant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub owner: Option<String>,
    /// Whether client-side keys (`flags:evaluate` only: browsers, mobile apps) may evaluate
    /// this flag. Off by default, as a web page or an app cannot keep a key secret: a flag
    /// becomes visible to them only when someone says so.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_visible: bool,
}

impl FlagDefinition {
    /// A boolean flag with the conventional variants `on` = `true` and `off` = `false`.
    pub fn boolean(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            description: None,
            flag_type: FlagType::Boolean,
            variants: vec![Variant::new("on", true), Variant::new("off", false)],
            tags: Vec::new(),
            owner: None,
            client_visible: false,
        }
    }
}

/// How a flag behaves in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagState {
    /// `false` is the kill switch: `off_variant` is served to everyone, rules are not looked at.
    pub enabled: bool,
    /// Tried in order; the first rule whose conditions all match decides.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Rule>,
    /// Served when the flag is enabled and no rule matched.
    pub default_serve: Serve,
    /// Served when the flag is disabled, and when a split cannot bucket the caller.
    pub off_variant: String,
}

impl FlagState {
    /// An environment state without rules: `serve` when enabled, `off_variant` otherwise.
    pub fn new(enabled: bool, serve: Serve, off_variant: impl Into<String>) -> Self {
        Self {
            enabled,
            rules: Vec::new(),
            default_serve: serve,
            off_variant: off_variant.into(),
        }
    }
}

/// A targeting rule: if every condition matches (an empty list matches everyone), serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Optional stable identifier, for the UI and audit diffs; not used by the evaluator.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub description: Option<String>,
    /// ANDed.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub serve: Serve,
}

/// One test of the evaluation context. See the crate docs for the exact semantics per operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The context attribute to test; `"targeting_key"` names the context's targeting key.
    /// Absent for the segment operators.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub attribute: Option<String>,
    pub op: Operator,
    /// Scalars (strings, numbers, booleans); for the segment operators, segment names.
    pub values: Vec<Value>,
}

impl Condition {
    /// A condition on an attribute.
    pub fn new(attribute: impl Into<String>, op: Operator, values: Vec<Value>) -> Self {
        Self {
            attribute: Some(attribute.into()),
            op,
            values,
        }
    }

    /// `in_segment` one of `names`.
    pub fn in_segment(names: &[&str]) -> Self {
        Self {
            attribute: None,
            op: Operator::InSegment,
            values: names.iter().map(|n| Value::from(*n)).collect(),
        }
    }
}

/// Condition operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Equals,
    NotEquals,
    In,
    NotIn,
    Contains,
    StartsWith,
    EndsWith,
    Lt,
    Lte,
    Gt,
    Gte,
    SemverEq,
    SemverLt,
    SemverLte,
    SemverGt,
    SemverGte,
    Before,
    After,
    InSegment,
    NotInSegment,
}

impl Operator {
    /// Whether this operator tests segment membership (and so takes no attribute).
    pub fn is_segment(self) -> bool {
        matches!(self, Operator::InSegment | Operator::NotInSegment)
    }

    /// Whether the operator takes exactly one value (the others take one or more, any-of).
    pub fn takes_single_value(self) -> bool {
        !matches!(
            self,
            Operator::In
                | Operator::NotIn
                | Operator::Contains
                | Operator::StartsWith
                | Operator::EndsWith
                | Operator::InSegment
                | Operator::NotInSegment
        )
    }
}

/// A named, reusable set of conditions (ANDed) that rules refer to with `in_segment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    pub name: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "wire::non_null"
    )]
    pub description: Option<String>,
    /// May not use the segment operators: segments do not nest.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_rejected() {
        let state = json!({"enabled": true, "default_serve": {"variant": "on"},
                           "off_variant": "off", "enabeld": false});
        assert!(serde_json::from_value::<FlagState>(state).is_err());
    }
}
