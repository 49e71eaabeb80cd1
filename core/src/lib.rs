//! Switchboard's pure core: the wire types of flags and of the SDK snapshot, their validation,
//! and the flag evaluator.
//!
//! The server (for `POST /v1/evaluate` and for validating writes) and the client SDK (for local
//! evaluation) both depend on this crate, so a flag evaluates identically on both sides. It does
//! no I/O, reads no clock and spawns nothing: data in, decision out.
//!
//! # Layout
//!
//! - [`model`]: flag definitions, per-environment [`FlagState`], [`Serve`], rules, conditions,
//!   segments — plain serde types (`snake_case`, unknown fields rejected).
//! - [`snapshot`]: the versioned [`Snapshot`] served by `GET /v1/sdk/snapshot`.
//! - [`key`]: [`FlagKey`] and [`BasisPoints`], valid by construction.
//! - [`context`]: the evaluation [`Context`].
//! - [`flat_context`]: the same context read from OpenFeature's flat form (OFREP, the SDKs).
//! - `canonical`: which numbers have a canonical text for bucketing, decided on the literal.
//! - [`validate`]: every problem of a definition/state/segment, with field pointers (for `422`).
//! - `compile`: [`CompiledSnapshot::compile`] — parse once per snapshot, isolate broken flags.
//! - `ops`: operator semantics over pre-parsed operands.
//! - `evaluate`: the hot path and the typed accessors.
//! - [`hash`]: the rollout bucket, a cross-SDK contract (`ROLLOUT.md`, golden vectors in
//!   `tests/golden/buckets.json`).
//! - `result`: [`Evaluation`], [`Details`], [`EvaluationDetail`], [`Reason`], [`ErrorCode`].
//!
//! # Example
//!
//! ```
//! use switchboard_core::{CompiledSnapshot, Context, Reason, Snapshot};
//!
//! let snapshot: Snapshot = serde_json::from_str(r#"{
//!   "format_version": 1, "project": "shop", "environment": "production", "revision": 42,
//!   "flags": [{
//!     "key": "new-checkout", "type": "boolean",
//!     "variants": [{"key": "on", "value": true}, {"key": "off", "value": false}],
//!     "state": {
//!       "enabled": true,
//!       "rules": [{"conditions": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
//!                  "serve": {"variant": "on"}}],
//!       "default_serve": {"split": [{"variant": "on", "weight": 5000},
//!                                   {"variant": "off", "weight": 5000}]},
//!       "off_variant": "off"
//!     }
//!   }],
//!   "segments": [],
//!   "config": {"max_items": 20}
//! }"#).unwrap();
//!
//! let flags = CompiledSnapshot::compile(&snapshot);
//! assert!(flags.warnings().is_empty());
//!
//! let pro = Context::with_targeting_key("user-1").with("plan", "pro");
//! let eval = flags.evaluate("new-checkout", &pro);
//! assert_eq!((eval.variant, eval.reason), (Some("on"), Reason::TargetingMatch));
//!
//! // Everyone else is bucketed by `murmur3("new-checkout:" + targeting key) % 10000`.
//! let details = flags.bool_details("new-checkout", &Context::with_targeting_key("user-2"), false);
//! assert_eq!(details.reason, Reason::Split);
//!
//! // Without a targeting key a split cannot bucket: the off variant, flagged as an error.
//! let anonymous = flags.evaluate_detail("new-checkout", &Context::new());
//! assert_eq!(serde_json::to_value(&anonymous).unwrap()["error_code"], "TARGETING_KEY_MISSING");
//! assert_eq!(anonymous.value, Some(serde_json::json!(false)));
//!
//! // Unknown flags and type mismatches give the caller's default.
//! assert!(flags.bool_value("no-such-flag", &pro, true));
//! assert_eq!(flags.string_value("new-checkout", &pro, "fallback"), "fallback");
//! ```
//!
//! # Evaluation
//!
//! In order: unknown key → `ERROR`/`FLAG_NOT_FOUND`; a flag that failed to compile → `ERROR` with
//! `PARSE_ERROR` (a value does not parse) or `GENERAL` (inconsistent configuration), and the
//! problem in `error_message` and in [`CompiledSnapshot::warnings`]; disabled → the off variant,
//! `DISABLED`; the first rule whose conditions all match (no conditions = everyone) serves,
//! `TARGETING_MATCH`; otherwise the default serve, `STATIC` if the flag has no rules, `DEFAULT` if
//! it has some. Whenever the served thing is a split, the reason is `SPLIT`.
//!
//! **Splits** hash the stickiness value (the targeting key unless the split names an attribute)
//! with the salt (the flag key unless set) into a bucket `0..=9999` and serve the first variant
//! whose cumulative weight exceeds it; see `ROLLOUT.md`. Strings hash as they are, integers in
//! decimal (`42`, also for `42.0`), booleans as `true`/`false`. **When the stickiness value is
//! missing** (absent, `null`, a fractional number, a list or an object), the caller is never put
//! in a random bucket: the off variant is served with reason `ERROR` and code
//! `TARGETING_KEY_MISSING`. Typed accessors return that off value (a value was served); on every
//! other error they return the caller's default.
//!
//! **Cost**: compile once per snapshot revision ([`CompiledSnapshot`] is immutable, `Send + Sync`,
//! meant to sit behind an `Arc`), then evaluate many times. Evaluation never allocates (proved by
//! `tests/no_alloc.rs`) and a lookup plus a 50 % rollout takes a few tens of nanoseconds
//! (`benches/evaluate.rs`). Only [`CompiledSnapshot::evaluate_detail`] and
//! [`CompiledSnapshot::evaluate_all`] allocate, to build owned answers.
//!
//! # Conditions
//!
//! - The attribute name `"targeting_key"` addresses [`Context::targeting_key`]; a map entry with
//!   that name is ignored.
//! - **A missing attribute (absent or `null`) never matches any condition, negated ones
//!   included**: `country not_in [FR]` does not target callers whose country is unknown.
//!   Segment membership is different: `not_in_segment` matches whoever is not a member,
//!   including callers lacking the segment's attributes.
//! - `equals`, `not_equals` (one value), `in`, `not_in` (any of the values): type-strict equality
//!   of scalars — `"42"` ≠ `42`, `1` = `1.0`. `not_*` on a present attribute is the negation.
//! - `contains`: a string attribute contains any value as a substring; a list attribute has an
//!   element equal to any value. `starts_with`, `ends_with`: string attributes, any value.
//! - `lt`, `lte`, `gt`, `gte`: numbers; attributes and values may also be numeric strings.
//! - `semver_eq`, `semver_lt`, … : Semantic Versioning 2.0.0 precedence (pre-releases sort
//!   before releases), an optional leading `v` allowed; a non-version attribute does not match.
//! - `before`, `after`: the value is an RFC 3339 date-time; the attribute an RFC 3339 string or
//!   a number of seconds since the Unix epoch. Strictly before/after.
//! - `in_segment`, `not_in_segment`: no attribute, the values are segment names (any of them).
//!   Segments cannot refer to segments. No regular expressions, by design: they are a
//!   denial-of-service and portability hazard across SDKs.

mod canonical;
mod compile;
pub mod context;
mod evaluate;
pub mod flat_context;
pub mod hash;
pub mod key;
pub mod model;
mod ops;
mod result;
pub mod snapshot;
pub mod validate;

pub use compile::{CompileWarning, CompiledSnapshot, Subject};
pub use context::{Context, TARGETING_KEY};
pub use flat_context::{FlatContextError, OPENFEATURE_TARGETING_KEY};
pub use key::{BasisPoints, FlagKey, InvalidBasisPoints, InvalidKey, TOTAL_WEIGHT, is_valid_key};
pub use model::{
    Condition, FlagDefinition, FlagState, FlagType, Operator, Rule, Segment, Serve, Split, Variant,
    WeightedVariant,
};
pub use result::{Details, ErrorCode, Evaluation, EvaluationDetail, Reason};
pub use snapshot::{FORMAT_VERSION, FormatVersion, Snapshot, SnapshotFlag};
pub use validate::{
    FieldError, ValidationErrors, validate_definition, validate_flag, validate_segment,
    validate_state,
};
