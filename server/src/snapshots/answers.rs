//! `POST /v1/evaluate` answers, written from JSON pieces prepared once per snapshot.
//!
//! Serializing 200 results with serde took about twice as long as evaluating them (escaping
//! keys and variant names, walking every served JSON value). But a served result only ever
//! combines a flag key, one of its variants (name and value) and a reason, so the first two are
//! serialized when the snapshot is built and a request only copies bytes. Anything else (errors,
//! unknown keys) goes through serde, in the same shape as
//! [`switchboard_core::EvaluationDetail`]; the equivalence test holds the two to each other.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;
use switchboard_core::{CompiledSnapshot, Context, ErrorCode, Evaluation, Reason, Snapshot};

/// The prepared pieces of one snapshot's answers.
#[derive(Debug, Default)]
pub struct Answers {
    /// In the compiled snapshot's flag order (the order of "every flag" answers).
    flags: Vec<Prepared>,
    /// Flag key → index into `flags`, for requests that list keys.
    index: HashMap<Box<str>, usize>,
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
            answers.index.insert(key.into(), answers.flags.len());
            answers.flags.push(Prepared {
                key: key_json,
                served: served.into_boxed_slice(),
            });
        }
        Ok(answers)
    }

    /// The body of `POST /v1/evaluate`: every flag in snapshot order, or `keys` in their order.
    pub fn write(
        &self,
        compiled: &CompiledSnapshot,
        context: &Context,
        keys: Option<&[String]>,
    ) -> serde_json::Result<Vec<u8>> {
        let hint = match keys {
            Some(keys) => 128 + keys.len() * 128,
            None => 128 + self.size_hint,
        };
        let mut out = Vec::with_capacity(hint);
        out.extend_from_slice(b"{\"project\":");
        serde_json::to_writer(&mut out, compiled.project())?;
        out.extend_from_slice(b",\"environment\":");
        serde_json::to_writer(&mut out, compiled.environment())?;
        out.extend_from_slice(b",\"revision\":");
        serde_json::to_writer(&mut out, &compiled.revision())?;
        out.extend_from_slice(b",\"results\":[");
        match keys {
            None => {
                for (i, (key, prepared)) in compiled.flag_keys().zip(&self.flags).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let evaluation = compiled.evaluate(key, context);
                    write_result(&mut out, key, Some(prepared), evaluation)?;
                }
            }
            Some(keys) => {
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    let prepared = self
                        .index
                        .get(key.as_str())
                        .and_then(|&i| self.flags.get(i));
                    let evaluation = compiled.evaluate(key, context);
                    write_result(&mut out, key, prepared, evaluation)?;
                }
            }
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }
}

fn write_result(
    out: &mut Vec<u8>,
    key: &str,
    prepared: Option<&Prepared>,
    evaluation: Evaluation<'_>,
) -> serde_json::Result<()> {
    let piece = match (prepared, evaluation.error_code, evaluation.variant) {
        (Some(prepared), None, Some(variant)) => prepared
            .served
            .iter()
            .find(|(name, _)| **name == *variant)
            .map(|(_, piece)| (&prepared.key, piece)),
        _ => None,
    };
    match piece {
        Some((key_json, piece)) => {
            out.extend_from_slice(b"{\"key\":");
            out.extend_from_slice(key_json);
            out.push(b',');
            out.extend_from_slice(piece);
            out.extend_from_slice(b",\"reason\":\"");
            out.extend_from_slice(evaluation.reason.as_str().as_bytes());
            out.extend_from_slice(b"\"}");
            Ok(())
        }
        None => serde_json::to_writer(
            out,
            &Detail {
                key,
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
