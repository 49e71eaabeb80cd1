//! `POST /v1/evaluate` answers, written from JSON pieces prepared once per snapshot.
//!
//! Serializing 200 results with serde took about twice as long as evaluating them (escaping
//! keys and variant names, walking every served JSON value). But a served result only ever
//! combines a flag key, one of its variants (name and value) and a reason, so the first two are
//! serialized when the snapshot is built and a request only copies bytes. Anything else (errors,
//! unknown keys) goes through serde, in the same shape as
//! [`switchboard_core::EvaluationDetail`]; the equivalence test holds the two to each other.
//!
//! [`Answers::each`] is the walk itself: each flag looked up once (every flag goes by its
//! position in the compiled snapshot, listed keys are resolved once to theirs), evaluated, and
//! handed with its prepared pieces to a writer that appends to the caller's buffer. Both
//! `POST /v1/evaluate` and OFREP's bulk evaluation write their own framing around it.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use switchboard_core::{CompiledSnapshot, Context, ErrorCode, Evaluation, Reason, Snapshot};

/// The prepared pieces of one snapshot's answers.
#[derive(Debug, Default)]
pub struct Answers {
    /// In the compiled snapshot's flag order (the order of "every flag" answers): the piece
    /// of the flag at position `i` of the compiled snapshot is `flags[i]`.
    flags: Vec<Prepared>,
    /// A buffer size that fits an answer for every flag without growing.
    size_hint: usize,
}

/// A variant's name, and its pre-serialized `"value":…,"variant":"…"`.
type ServedVariant = (Box<str>, Box<[u8]>);

#[derive(Debug)]
struct Prepared {
    /// `"key"`, escaped.
    key: Box<[u8]>,
    /// One per variant.
    served: Box<[ServedVariant]>,
}

/// One evaluated flag with its prepared JSON pieces, as [`Answers::each`] hands it to a writer.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The flag key as asked (it may not exist).
    pub key: &'a str,
    /// The key as a JSON string (quoted, escaped), when the snapshot has the flag.
    pub key_json: Option<&'a [u8]>,
    /// `"value":…,"variant":"…"` for the served variant, when a variant was served without
    /// error: a writer copies it as it is.
    pub served: Option<&'a [u8]>,
    pub evaluation: Evaluation<'a>,
}

/// A result as serde writes it: field for field [`switchboard_core::EvaluationDetail`].
#[derive(Serialize)]
struct Detail<'a> {
    key: &'a str,
    value: Option<&'a Value>,
    variant: Option<&'a str>,
    reason: Reason,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<ErrorCode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
}

impl Answers {
    /// Prepares the pieces for `compiled`, built from `snapshot`.
    pub fn build(snapshot: &Snapshot, compiled: &CompiledSnapshot) -> serde_json::Result<Self> {
        // The first definition of a key wins, as in the compiled snapshot.
        let mut definitions = HashMap::new();
        for flag in &snapshot.flags {
            definitions.entry(flag.key.as_str()).or_insert(flag);
        }
        let mut answers = Answers::default();
        for key in compiled.flag_keys() {
            let mut served = Vec::new();
            for variant in definitions.get(key).map_or(&[][..], |f| &f.variants[..]) {
                let mut piece = b"\"value\":".to_vec();
                serde_json::to_writer(&mut piece, &variant.value)?;
                piece.extend_from_slice(b",\"variant\":");
                serde_json::to_writer(&mut piece, &variant.key)?;
                served.push((variant.key.as_str().into(), piece.into_boxed_slice()));
            }
            let longest = served.iter().map(|(_, p)| p.len()).max().unwrap_or(0);
            let key_json = serde_json::to_vec(key)?.into_boxed_slice();
            answers.size_hint += key_json.len() + longest + 64;
            answers.flags.push(Prepared {
                key: key_json,
                served: served.into_boxed_slice(),
            });
        }
        Ok(answers)
    }

    /// A buffer size that fits the answers for `keys` (every flag when `None`) without growing.
    pub fn size_hint(&self, keys: Option<&[String]>) -> usize {
        match keys {
            Some(keys) => 128 + keys.len() * 128,
            None => 128 + self.size_hint,
        }
    }

    /// Evaluates every flag in snapshot order, or `keys` in their order, each key looked up
    /// once, and hands each result with its prepared pieces to `write`: what the answers of
    /// `POST /v1/evaluate` and of OFREP's bulk evaluation are written from. `compiled` must be
    /// the snapshot these answers were built for (the entry's).
    pub fn each<'a, E>(
        &'a self,
        compiled: &'a CompiledSnapshot,
        context: &Context,
        keys: Option<&'a [String]>,
        mut write: impl FnMut(Answer<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut answer = |key: &'a str, position: Option<usize>| {
            let prepared = position.and_then(|i| self.flags.get(i));
            let evaluation = match position.and_then(|i| compiled.evaluate_at(i, context)) {
                Some((_, evaluation)) => evaluation,
                None => compiled.evaluate(key, context),
            };
            write(Answer {
                key,
                key_json: prepared.map(|p| &*p.key),
                served: prepared.and_then(|p| served_piece(p, &evaluation)),
                evaluation,
            })
        };
        match keys {
            None => {
                for (position, key) in compiled.flag_keys().enumerate() {
                    answer(key, Some(position))?;
                }
            }
            Some(keys) => {
                for key in keys {
                    answer(key, compiled.position(key))?;
                }
            }
        }
        Ok(())
    }

    /// The body of `POST /v1/evaluate`: every flag in snapshot order, or `keys` in their order.
    pub fn write(
        &self,
        compiled: &CompiledSnapshot,
        context: &Context,
        keys: Option<&[String]>,
    ) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.size_hint(keys));
        out.extend_from_slice(b"{\"project\":");
        serde_json::to_writer(&mut out, compiled.project())?;
        out.extend_from_slice(b",\"environment\":");
        serde_json::to_writer(&mut out, compiled.environment())?;
        out.extend_from_slice(b",\"revision\":");
        serde_json::to_writer(&mut out, &compiled.revision())?;
        out.extend_from_slice(b",\"results\":[");
        let mut first = true;
        self.each(compiled, context, keys, |answer| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
            write_result(&mut out, answer)
        })?;
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

/// The prepared `"value":…,"variant":"…"` of the variant `evaluation` served without error.
fn served_piece<'a>(prepared: &'a Prepared, evaluation: &Evaluation<'_>) -> Option<&'a [u8]> {
    if evaluation.error_code.is_some() {
        return None;
    }
    let variant = evaluation.variant?;
    prepared
        .served
        .iter()
        .find(|(name, _)| **name == *variant)
        .map(|(_, piece)| &**piece)
}

fn write_result(out: &mut Vec<u8>, answer: Answer<'_>) -> serde_json::Result<()> {
    let evaluation = answer.evaluation;
    match (answer.key_json, answer.served) {
        (Some(key_json), Some(piece)) => {
            out.extend_from_slice(b"{\"key\":");
            out.extend_from_slice(key_json);
            out.push(b',');
            out.extend_from_slice(piece);
            out.extend_from_slice(b",\"reason\":\"");
            out.extend_from_slice(evaluation.reason.as_str().as_bytes());
            out.extend_from_slice(b"\"}");
            Ok(())
        }
        _ => serde_json::to_writer(
            out,
            &Detail {
                key: answer.key,
                value: evaluation.value,
                variant: evaluation.variant,
                reason: evaluation.reason,
                error_code: evaluation.error_code,
                error_message: evaluation.error_message,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_core::EvaluationDetail;

    #[test]
    fn prepared_and_serde_answers_are_the_same_json() {
        let snapshot: Snapshot = serde_json::from_value(json!({
            "format_version": 1, "project": "p\"q", "environment": "e", "revision": 3,
            "flags": [
                {"key": "a", "type": "json", "variants": [{"key": "x\"", "value": {"n": [1, 2.5]}}],
                 "state": {"enabled": true, "default_serve": {"variant": "x\""}, "off_variant": "x\""}},
                {"key": "b", "type": "boolean",
                 "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                 "state": {"enabled": true, "off_variant": "off", "default_serve": {"split": [
                     {"variant": "on", "weight": 5000}, {"variant": "off", "weight": 5000}]}}}
            ]
        }))
        .unwrap();
        let compiled = CompiledSnapshot::compile(&snapshot);
        let answers = Answers::build(&snapshot, &compiled).unwrap();
        // With and without a targeting key: a served value, a split, and an error.
        for context in [Context::with_targeting_key("u1"), Context::new()] {
            let keys = ["b".to_owned(), "missing".to_owned(), "a".to_owned()];
            for listed in [None, Some(&keys[..])] {
                let body = answers.write(&compiled, &context, listed).unwrap();
                let answer: Value = serde_json::from_slice(&body).unwrap();
                let expected: Vec<EvaluationDetail> = match listed {
                    Some(keys) => keys
                        .iter()
                        .map(|k| compiled.evaluate_detail(k, &context))
                        .collect(),
                    None => compiled.evaluate_all(&context),
                };
                assert_eq!(answer["results"], serde_json::to_value(expected).unwrap());
                assert_eq!(
                    (&answer["project"], &answer["revision"]),
                    (&json!("p\"q"), &json!(3))
                );
            }
        }
    }
}
