//! The evaluation context: who is asking, and what we know about them.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

/// The attribute name that addresses [`Context::targeting_key`] in conditions and as a split's
/// `stickiness`. An entry of the attribute map with this name is shadowed by the real targeting key
/// and never read, so there is one unambiguous source.
pub const TARGETING_KEY: &str = "targeting_key";

/// Attribute map with a fast, seeded hasher: attributes are looked up once per condition.
pub type Attributes = HashMap<String, Value, foldhash::fast::RandomState>;

/// An OpenFeature-style evaluation context: an optional targeting key (the stable identity used
/// for percentage rollouts) and free-form attributes.
///
/// Built once by the caller and then evaluated against any number of flags; evaluation only
/// borrows it. On the wire: `{"targeting_key": "user-42", "attributes": {"plan": "pro"}}`
/// (`targetingKey` is accepted too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(
        default,
        alias = "targetingKey",
        skip_serializing_if = "Option::is_none"
    )]
    targeting_key: Option<String>,
    /// Numbers are decided on their literal: see `canonical.rs`.
    #[serde(
        default,
        deserialize_with = "crate::canonical::deserialize_attributes",
        skip_serializing_if = "HashMap::is_empty"
    )]
    attributes: Attributes,
}

impl Context {
    /// An empty context: no targeting key, no attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context with a targeting key.
    pub fn with_targeting_key(key: impl Into<String>) -> Self {
        Self {
            targeting_key: Some(key.into()),
            attributes: Attributes::default(),
        }
    }

    /// Adds (or replaces) an attribute, builder style.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set(name, value);
        self
    }

    /// Adds (or replaces) an attribute. An integral float becomes the integer it equals, so
    /// that `42.0` buckets as `42` (see `ROLLOUT.md`).
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        let value = crate::canonical::normalized(value.into());
        self.attributes.insert(name.into(), value);
    }

    /// Adds an attribute whose number, if any, was already decided on its literal
    /// (`canonical.rs`): no normalization.
    pub(crate) fn insert_raw(&mut self, name: String, value: Value) {
        self.attributes.insert(name, value);
    }

    /// Sets or clears the targeting key.
    pub fn set_targeting_key(&mut self, key: Option<String>) {
        self.targeting_key = key;
    }

    /// The targeting key, if any.
    pub fn targeting_key(&self) -> Option<&str> {
        self.targeting_key.as_deref()
    }

    /// The attribute map (without the targeting key).
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Resolves an attribute the way conditions see it: `"targeting_key"` is the targeting key,
    /// JSON `null` counts as absent.
    pub(crate) fn lookup(&self, name: &str, is_targeting_key: bool) -> Option<Attr<'_>> {
        if is_targeting_key {
            return self.targeting_key.as_deref().map(Attr::Str);
        }
        match self.attributes.get(name)? {
            Value::Null => None,
            Value::String(s) => Some(Attr::Str(s)),
            Value::Number(n) => Some(Attr::Num(n)),
            Value::Bool(b) => Some(Attr::Bool(*b)),
            Value::Array(items) => Some(Attr::List(items)),
            Value::Object(_) => Some(Attr::Object),
        }
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Context {
    /// Collects attributes; a `"targeting_key"` string entry becomes the targeting key.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut ctx = Context::new();
        for (name, value) in iter {
            let (name, value) = (name.into(), value.into());
            match value {
                Value::String(key) if name == TARGETING_KEY => ctx.targeting_key = Some(key),
                value => ctx.set(name, value),
            }
        }
        ctx
    }
}

/// A borrowed, non-null attribute value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Attr<'a> {
    Str(&'a str),
    Num(&'a Number),
    Bool(bool),
    List(&'a [Value]),
    Object,
}

impl Attr<'_> {
    /// The attribute as a number: JSON numbers, and strings that parse as a finite number (so that
    /// attributes copied from headers or query strings still compare numerically).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Attr::Num(n) => n.as_f64(),
            Attr::Str(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_targeting_key_is_addressed_by_its_reserved_name_only() {
        let ctx = Context::with_targeting_key("u1").with(TARGETING_KEY, "shadowed");
        assert!(matches!(
            ctx.lookup(TARGETING_KEY, true),
            Some(Attr::Str("u1"))
        ));
        let anonymous = Context::new().with(TARGETING_KEY, "shadowed");
        assert!(anonymous.lookup(TARGETING_KEY, true).is_none());
    }

    #[test]
    fn null_attributes_count_as_absent() {
        let ctx = Context::new().with("plan", Value::Null);
        assert!(ctx.lookup("plan", false).is_none());
    }

    #[test]
    fn numeric_strings_compare_as_numbers() {
        assert_eq!(Attr::Str(" 42.5 ").as_f64(), Some(42.5));
        assert_eq!(Attr::Str("inf").as_f64(), None);
        assert_eq!(Attr::Bool(true).as_f64(), None);
    }

    #[test]
    fn a_context_deserializes_from_both_spellings_of_the_targeting_key() {
        let a: Context = serde_json::from_value(json!({"targeting_key": "u1"})).unwrap();
        let b: Context = serde_json::from_value(json!({"targetingKey": "u1"})).unwrap();
        assert_eq!(a, b);
        assert!(serde_json::from_value::<Context>(json!({"plan": "pro"})).is_err());
    }

    #[test]
    fn collecting_pairs_lifts_the_targeting_key() {
        let ctx: Context = [("targeting_key", json!("u1")), ("plan", json!("pro"))]
            .into_iter()
            .collect();
        assert_eq!(ctx.targeting_key(), Some("u1"));
        assert_eq!(ctx.attributes().len(), 1);
    }
}
