//! OFREP answers (OpenFeature Remote Evaluation Protocol), written from JSON pieces prepared once
//! per snapshot, and what a client-side key may see.
//!
//! A served OFREP result is `{"key":…,"value":…,"variant":…,"reason":"…"}`: everything up to the
//! reason depends only on the flag and the variant served, so it is serialized when the snapshot
//! is built and a request copies one piece and appends the reason. The evaluation itself is the
//! compiled snapshot's, the same as `POST /v1/evaluate` and the local client: one evaluator,
//! three doors (the equivalence test holds them together).
//!
//! Outcomes map to OFREP as follows (the README's table says the same):
//! - served: `reason` is the evaluator's (`STATIC`, `TARGETING_MATCH`, `SPLIT`, `DISABLED`, and
//!   OpenFeature's `DEFAULT` when rules exist and none matched);
//! - `FLAG_NOT_FOUND`: 404 for one flag; never in a bulk answer (it lists existing flags);
//! - `TARGETING_KEY_MISSING`, `PARSE_ERROR`, `GENERAL`: a failure with that `errorCode` (400 for
//!   one flag, an item of the list in bulk), so the SDK serves the caller's default and reports
//!   the code. (`/v1/evaluate` also names the off variant the local client falls back to; OFREP
//!   failures carry no value.)
//!
//! A client-side key (`flags:evaluate` without `flags:read`) sees only the flags marked
//! `client_visible`; any other key is answered exactly as an unknown one, and error details are
//! generic, as they may describe a flag's rules.

use std::collections::HashMap;

use switchboard_core::{
    CompiledSnapshot, Context, ErrorCode, Evaluation, EvaluationDetail, Snapshot,
};

/// Which flags a caller may evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every flag (`flags:read`).
    All,
    /// Only flags marked client-visible (`flags:evaluate` alone).
    ClientVisible,
}

/// The prepared pieces of one snapshot's OFREP answers.
#[derive(Debug, Default)]
pub struct OfrepAnswers {
    /// In the compiled snapshot's flag order.
    flags: Vec<Prepared>,
    /// Flag key → index into `flags`.
    index: HashMap<Box<str>, usize>,
    /// Buffer sizes that fit a bulk answer without growing, per view.
    size_all: usize,
    size_visible: usize,
}

#[derive(Debug)]
struct Prepared {
    /// `"key"`, escaped.
    key_json: Box<[u8]>,
    client_visible: bool,
    /// Per variant: its name, and `{"key":…,"value":…,"variant":…,"reason":"`.
    served: Box<[ServedPiece]>,
}

/// A variant's name and the answer's prefix when it is served.
type ServedPiece = (Box<str>, Box<[u8]>);

/// One flag's OFREP answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Single {
    /// 200, with this body.
    Served(Vec<u8>),
    /// 404 (`FLAG_NOT_FOUND`) or 400 (any other code), with this body.
    Failed { not_found: bool, body: Vec<u8> },
}

impl OfrepAnswers {
    /// Prepares the pieces for `compiled`, built from `snapshot`; `client_visible` lists the
    /// keys client-side keys may evaluate.
    pub fn build(
        snapshot: &Snapshot,
        compiled: &CompiledSnapshot,
        client_visible: &[String],
    ) -> serde_json::Result<Self> {
        let mut definitions = HashMap::new();
        for flag in &snapshot.flags {
            definitions.entry(flag.key.as_str()).or_insert(flag);
        }
        let mut answers = OfrepAnswers::default();
        for key in compiled.flag_keys() {
            let key_json = serde_json::to_vec(key)?.into_boxed_slice();
            let mut served = Vec::new();
            for variant in definitions.get(key).map_or(&[][..], |f| &f.variants[..]) {
                let mut piece = b"{\"key\":".to_vec();
                piece.extend_from_slice(&key_json);
                piece.extend_from_slice(b",\"value\":");
                serde_json::to_writer(&mut piece, &variant.value)?;
                piece.extend_from_slice(b",\"variant\":");
                serde_json::to_writer(&mut piece, &variant.key)?;
                piece.extend_from_slice(b",\"reason\":\"");
                served.push((variant.key.as_str().into(), piece.into_boxed_slice()));
            }
            let visible = client_visible.iter().any(|k| k == key);
            // The longest piece, a reason, and room for an error's details.
            let size = served.iter().map(|(_, p)| p.len()).max().unwrap_or(0) + 96;
            answers.size_all += size;
            if visible {
                answers.size_visible += size;
            }
            answers.index.insert(key.into(), answers.flags.len());
            answers.flags.push(Prepared {
                key_json,
                client_visible: visible,
                served: served.into_boxed_slice(),
            });
        }
        Ok(answers)
    }

    /// Whether a caller with `view` may evaluate `key` (and the flag exists).
    pub fn visible(&self, key: &str, view: View) -> bool {
        self.index
            .get(key)
            .and_then(|&i| self.flags.get(i))
            .is_some_and(|f| view == View::All || f.client_visible)
    }

    /// The keys a caller with `view` may evaluate, in snapshot order.
    pub fn keys<'a>(
        &'a self,
        compiled: &'a CompiledSnapshot,
        view: View,
    ) -> impl Iterator<Item = &'a str> + 'a {
        compiled
            .flag_keys()
            .zip(&self.flags)
            .filter(move |(_, f)| view == View::All || f.client_visible)
            .map(|(key, _)| key)
    }

    /// `POST /v1/evaluate` for a client-side key: the answer `Answers::write` gives, over the
    /// flags the key may see (every listed key it may not see is `FLAG_NOT_FOUND`). Through
    /// serde: client-side keys evaluate a few flags per page load, not a server's traffic.
    pub fn client_evaluation(
        &self,
        compiled: &CompiledSnapshot,
        context: &Context,
        keys: Option<&[String]>,
    ) -> serde_json::Result<Vec<u8>> {
        let detail = |key: &str| {
            if self.visible(key, View::ClientVisible) {
                compiled.evaluate(key, context).to_detail(key)
            } else {
                Evaluation::flag_not_found().to_detail(key)
            }
        };
        let results: Vec<EvaluationDetail> = match keys {
            Some(keys) => keys.iter().map(|k| detail(k)).collect(),
            None => self
                .keys(compiled, View::ClientVisible)
                .map(detail)
                .collect(),
        };
        serde_json::to_vec(&serde_json::json!({
            "project": compiled.project(),
            "environment": compiled.environment(),
            "revision": compiled.revision(),
            "results": results,
        }))
    }

    /// `POST /ofrep/v1/evaluate/flags/{key}`.
    pub fn single(
        &self,
        compiled: &CompiledSnapshot,
        key: &str,
        context: &Context,
        view: View,
    ) -> Single {
        let prepared = self
            .index
            .get(key)
            .and_then(|&i| self.flags.get(i))
            .filter(|f| view == View::All || f.client_visible);
        let evaluation = match prepared {
            Some(_) => compiled.evaluate(key, context),
            None => Evaluation::flag_not_found(),
        };
        let mut out = Vec::with_capacity(160);
        let served = write_result(&mut out, key, prepared, evaluation, view);
        if served {
            Single::Served(out)
        } else {
            Single::Failed {
                not_found: evaluation.error_code == Some(ErrorCode::FlagNotFound),
                body: out,
            }
        }
    }

    /// `POST /ofrep/v1/evaluate/flags`: `{"flags":[…],"metadata":{…}` followed by `tail`
    /// (further members, each starting with a comma) and the closing brace.
    pub fn bulk(
        &self,
        compiled: &CompiledSnapshot,
        context: &Context,
        view: View,
        tail: &[u8],
    ) -> Vec<u8> {
        let size = match view {
            View::All => self.size_all,
            View::ClientVisible => self.size_visible,
        };
        let mut out = Vec::with_capacity(64 + size + tail.len());
        out.extend_from_slice(b"{\"flags\":[");
        let mut first = true;
        for (key, prepared) in compiled.flag_keys().zip(&self.flags) {
            if view == View::ClientVisible && !prepared.client_visible {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            let evaluation = compiled.evaluate(key, context);
            write_result(&mut out, key, Some(prepared), evaluation, view);
        }
        out.extend_from_slice(b"],\"metadata\":{\"revision\":");
        out.extend_from_slice(compiled.revision().to_string().as_bytes());
        out.push(b'}');
        out.extend_from_slice(tail);
        out.push(b'}');
        out
    }
}

/// Appends one result; `true` if a variant was served, `false` for a failure.
fn write_result(
    out: &mut Vec<u8>,
    key: &str,
    prepared: Option<&Prepared>,
    evaluation: Evaluation<'_>,
    view: View,
) -> bool {
    let piece = match (prepared, evaluation.error_code, evaluation.variant) {
        (Some(prepared), None, Some(variant)) => prepared
            .served
            .iter()
            .find(|(name, _)| **name == *variant)
            .map(|(_, piece)| piece),
        _ => None,
    };
    if let Some(piece) = piece {
        out.extend_from_slice(piece);
        out.extend_from_slice(evaluation.reason.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
        return true;
    }
    let code = match evaluation.error_code {
        Some(
            code @ (ErrorCode::FlagNotFound
            | ErrorCode::TargetingKeyMissing
            | ErrorCode::ParseError
            | ErrorCode::General),
        ) => code,
        // Untyped evaluation never mismatches a type; a served variant without its prepared
        // piece cannot happen either. Both are the server's fault.
        Some(ErrorCode::TypeMismatch) | None => ErrorCode::General,
    };
    let details = match (view, code) {
        (_, ErrorCode::FlagNotFound) => "flag not found",
        (_, ErrorCode::TargetingKeyMissing) => {
            "the flag splits on an attribute the context does not have (targetingKey by default)"
        }
        (View::All, _) => evaluation.error_message.unwrap_or("evaluation failed"),
        (View::ClientVisible, _) => "the flag's configuration cannot be evaluated",
    };
    out.extend_from_slice(b"{\"key\":");
    match prepared {
        Some(prepared) => out.extend_from_slice(&prepared.key_json),
        None => write_json_string(out, key),
    }
    out.extend_from_slice(b",\"errorCode\":\"");
    out.extend_from_slice(code.as_str().as_bytes());
    out.extend_from_slice(b"\",\"errorDetails\":");
    write_json_string(out, details);
    out.push(b'}');
    false
}

fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn fixture() -> (Snapshot, CompiledSnapshot, OfrepAnswers) {
        let snapshot: Snapshot = serde_json::from_value(json!({
            "format_version": 1, "project": "p", "environment": "e", "revision": 3,
            "flags": [
                {"key": "a\"", "type": "json", "variants": [{"key": "x\"", "value": {"n": [1, 2.5]}}],
                 "state": {"enabled": true, "default_serve": {"variant": "x\""}, "off_variant": "x\""}},
                {"key": "b", "type": "boolean",
                 "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
                 "state": {"enabled": true, "off_variant": "off", "default_serve": {"split": [
                     {"variant": "on", "weight": 5000}, {"variant": "off", "weight": 5000}]}}}
            ]
        }))
        .unwrap();
        let compiled = CompiledSnapshot::compile(&snapshot);
        let answers = OfrepAnswers::build(&snapshot, &compiled, &["b".to_owned()]).unwrap();
        (snapshot, compiled, answers)
    }

    #[test]
    fn a_served_flag_is_the_evaluation_in_ofrep_shape() {
        let (_, compiled, answers) = fixture();
        let context = Context::with_targeting_key("u1");
        let Single::Served(body) = answers.single(&compiled, "a\"", &context, View::All) else {
            panic!("not served");
        };
        let expected = compiled.evaluate_detail("a\"", &context);
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            json!({"key": "a\"", "value": expected.value, "variant": expected.variant,
                   "reason": expected.reason})
        );
    }

    #[test]
    fn a_missing_targeting_key_is_a_failure_and_an_unknown_flag_is_not_found() {
        let (_, compiled, answers) = fixture();
        let Single::Failed { not_found, body } =
            answers.single(&compiled, "b", &Context::new(), View::All)
        else {
            panic!("served");
        };
        assert!(!not_found);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (&body["key"], &body["errorCode"]),
            (&json!("b"), &json!("TARGETING_KEY_MISSING"))
        );
        let missing = answers.single(&compiled, "zz", &Context::new(), View::All);
        assert!(matches!(
            missing,
            Single::Failed {
                not_found: true,
                ..
            }
        ));
    }

    #[test]
    fn a_client_view_sees_only_client_visible_flags_and_hidden_ones_look_missing() {
        let (_, compiled, answers) = fixture();
        let context = Context::with_targeting_key("u1");
        let hidden = answers.single(&compiled, "a\"", &context, View::ClientVisible);
        let Single::Failed { not_found, body } = hidden else {
            panic!("served");
        };
        assert!(not_found);
        let absent = answers.single(&compiled, "a\"", &context, View::All);
        assert!(matches!(absent, Single::Served(_)));
        let unknown = answers.single(&compiled, "zz", &context, View::ClientVisible);
        let Single::Failed { body: unknown, .. } = unknown else {
            panic!("served");
        };
        let strip = |b: &[u8]| {
            let mut v: Value = serde_json::from_slice(b).unwrap();
            v["key"] = Value::Null;
            v
        };
        assert_eq!(strip(&body), strip(&unknown));

        let bulk = answers.bulk(&compiled, &context, View::ClientVisible, b"");
        let bulk: Value = serde_json::from_slice(&bulk).unwrap();
        let keys: Vec<&Value> = bulk["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["key"])
            .collect();
        assert_eq!(keys, [&json!("b")]);
        assert_eq!(bulk["metadata"], json!({"revision": 3}));
    }

    #[test]
    fn a_bulk_answer_lists_every_flag_in_order_with_its_tail() {
        let (_, compiled, answers) = fixture();
        let context = Context::new();
        let body = answers.bulk(&compiled, &context, View::All, b",\"x\":1");
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["x"], 1);
        assert_eq!(body["flags"][0]["key"], "a\"");
        assert_eq!(body["flags"][1]["errorCode"], "TARGETING_KEY_MISSING");
    }
}
