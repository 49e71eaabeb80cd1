//! The evaluation context as OpenFeature's Remote Evaluation Protocol (OFREP) and the OpenFeature
//! SDKs send it: one flat JSON object, `targetingKey` beside the attributes
//! (`{"targetingKey": "user-1", "plan": "pro"}`), read into the same [`Context`] every other door
//! builds, numbers decided on their literal exactly as in `Context`'s own wire form
//! (`canonical.rs`), so that a context evaluates the same whichever door it came through.

use std::collections::HashMap;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::canonical::integer_literal;
use crate::context::Context;

/// The name OpenFeature gives the targeting key in a flat context.
pub const OPENFEATURE_TARGETING_KEY: &str = "targetingKey";

/// Why a flat context was refused. The messages name the rule broken, never a submitted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FlatContextError {
    #[error("the context must be a JSON object")]
    NotAnObject,
    #[error("targetingKey must be a string")]
    TargetingKeyNotAString,
    #[error("the context holds more than {0} attributes")]
    TooManyAttributes(usize),
}

impl Context {
    /// Reads an OpenFeature flat context from its JSON text (which the caller has already
    /// parsed as JSON once): `targetingKey` (a string, or `null` for none) becomes the targeting
    /// key, every other member an attribute. At most `max_attributes` attributes.
    pub fn from_openfeature_json(
        text: &str,
        max_attributes: usize,
    ) -> Result<Context, FlatContextError> {
        let members: HashMap<&str, &RawValue> =
            serde_json::from_str(text).map_err(|_| FlatContextError::NotAnObject)?;
        let attributes =
            members.len() - usize::from(members.contains_key(OPENFEATURE_TARGETING_KEY));
        if attributes > max_attributes {
            return Err(FlatContextError::TooManyAttributes(max_attributes));
        }
        let mut context = Context::new();
        for (name, raw) in members {
            if name == OPENFEATURE_TARGETING_KEY {
                let key: Option<String> = serde_json::from_str(raw.get())
                    .map_err(|_| FlatContextError::TargetingKeyNotAString)?;
                context.set_targeting_key(key);
                continue;
            }
            let text = raw.get();
            let value = match integer_literal(text) {
                Some(integer) => Value::Number(integer),
                // Valid JSON already: this cannot fail, but a failure is a refusal, not a panic.
                None => serde_json::from_str(text).map_err(|_| FlatContextError::NotAnObject)?,
            };
            context.insert_raw(name.to_owned(), value);
        }
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flat_context_is_the_context_of_the_native_form() {
        let flat =
            r#"{"targetingKey": "u1", "plan": "pro", "age": 42.0, "big": 9223372036854775808.5}"#;
        let native = r#"{"targeting_key": "u1", "attributes": {"plan": "pro", "age": 42.0, "big": 9223372036854775808.5}}"#;
        let native: Context = serde_json::from_str(native).unwrap();
        assert_eq!(Context::from_openfeature_json(flat, 10).unwrap(), native);
    }

    #[test]
    fn a_null_targeting_key_is_none_and_a_number_is_refused() {
        let none = Context::from_openfeature_json(r#"{"targetingKey": null}"#, 10).unwrap();
        assert_eq!(none.targeting_key(), None);
        assert_eq!(
            Context::from_openfeature_json(r#"{"targetingKey": 7}"#, 10),
            Err(FlatContextError::TargetingKeyNotAString)
        );
    }

    #[test]
    fn a_context_that_is_not_an_object_or_too_large_is_refused() {
        for text in ["[]", "\"u1\"", "3"] {
            assert_eq!(
                Context::from_openfeature_json(text, 10),
                Err(FlatContextError::NotAnObject)
            );
        }
        let many = json!({"a": 1, "b": 2, "c": 3, "targetingKey": "u"}).to_string();
        assert!(Context::from_openfeature_json(&many, 3).is_ok());
        assert_eq!(
            Context::from_openfeature_json(&many, 2),
            Err(FlatContextError::TooManyAttributes(2))
        );
    }
}
