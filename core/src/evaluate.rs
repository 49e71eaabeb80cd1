//! Evaluating compiled flags: the hot path, and the typed accessors around it.
//!
//! Nothing here allocates except [`CompiledSnapshot::evaluate_detail`] and
//! [`CompiledSnapshot::evaluate_all`], which build owned answers on purpose.

use serde_json::Value;

use crate::compile::{CompiledFlag, CompiledServe, CompiledSnapshot, CompiledSplit, Program};
use crate::context::Context;
use crate::hash;
use crate::model::FlagType;
use crate::result::{Details, ErrorCode, Evaluation, EvaluationDetail, Reason};

impl CompiledSnapshot {
    /// Evaluates flag `key` for `ctx`. Untyped: the served value is whatever JSON the variant
    /// holds. See the crate docs for the order of decisions.
    pub fn evaluate<'a>(&'a self, key: &str, ctx: &Context) -> Evaluation<'a> {
        match self.flag(key) {
            Some(flag) => self.evaluate_flag(flag, ctx),
            None => not_found(),
        }
    }

    /// The position of flag `key` in snapshot order (what [`evaluate_at`](Self::evaluate_at)
    /// takes), if the snapshot has it.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// How many flags the snapshot has (positions are `0..len`).
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether the snapshot has no flag.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Evaluates the flag at `position` in snapshot order, with its key: for callers that walk
    /// every flag, or resolve the keys they were given once, so that no evaluation looks its
    /// key up again. `None` past the last flag.
    pub fn evaluate_at<'a>(
        &'a self,
        position: usize,
        ctx: &Context,
    ) -> Option<(&'a str, Evaluation<'a>)> {
        let flag = self.flags.get(position)?;
        Some((&flag.key, self.evaluate_flag(flag, ctx)))
    }

    fn evaluate_flag<'a>(&'a self, flag: &'a CompiledFlag, ctx: &Context) -> Evaluation<'a> {
        match &flag.program {
            Ok(program) => self.run(program, ctx),
            Err(broken) => Evaluation::error(broken.code, &broken.message),
        }
    }

    /// [`evaluate`](Self::evaluate) as an owned, serializable answer.
    pub fn evaluate_detail(&self, key: &str, ctx: &Context) -> EvaluationDetail {
        self.evaluate(key, ctx).to_detail(key)
    }

    /// Every flag of the snapshot for `ctx`, in snapshot order (for `POST /v1/evaluate`).
    pub fn evaluate_all(&self, ctx: &Context) -> Vec<EvaluationDetail> {
        self.flags
            .iter()
            .map(|f| self.evaluate_flag(f, ctx).to_detail(&f.key))
            .collect()
    }

    fn run<'a>(&'a self, program: &'a Program, ctx: &Context) -> Evaluation<'a> {
        if !program.enabled {
            return serve_index(program, program.off, Reason::Disabled);
        }
        for rule in &program.rules {
            if rule
                .conditions
                .iter()
                .all(|c| c.matches(ctx, &|i| self.segment_matches(i, ctx)))
            {
                return self.serve(program, &rule.serve, Reason::TargetingMatch, ctx);
            }
        }
        let fixed_reason = if program.rules.is_empty() {
            Reason::Static
        } else {
            Reason::Default
        };
        self.serve(program, &program.default, fixed_reason, ctx)
    }

    fn segment_matches(&self, index: usize, ctx: &Context) -> bool {
        // Segments do not nest, so their conditions never consult this callback.
        let no_nesting = |_| false;
        match self.segments.get(index).map(|s| &s.conditions) {
            Some(Ok(conditions)) => conditions.iter().all(|c| c.matches(ctx, &no_nesting)),
            // Flags referring to a broken segment are broken themselves and never get here.
            _ => false,
        }
    }

    fn serve<'a>(
        &self,
        program: &'a Program,
        serve: &CompiledServe,
        fixed_reason: Reason,
        ctx: &Context,
    ) -> Evaluation<'a> {
        match serve {
            CompiledServe::Fixed(i) => serve_index(program, *i, fixed_reason),
            CompiledServe::Split(split) => match bucket_of(split, ctx) {
                Some(bucket) => {
                    let arm = split.arms.iter().find(|(upper, _)| *upper > bucket);
                    // Weights add up to 10000 > any bucket, so an arm is always found.
                    let index = arm.map_or(program.off, |&(_, i)| i);
                    serve_index(program, index, Reason::Split)
                }
                None => {
                    // Never a random bucket: an unidentified caller gets the safe off variant,
                    // flagged as an error so the missing key shows up in metrics and logs.
                    let mut eval = serve_index(program, program.off, Reason::Error);
                    eval.error_code = Some(ErrorCode::TargetingKeyMissing);
                    eval.error_message =
                        Some("the context has no value for the split's stickiness attribute");
                    eval
                }
            },
        }
    }

    /// Typed accessor: the flag's boolean value, or `default` on error or type mismatch.
    pub fn bool_value(&self, key: &str, ctx: &Context, default: bool) -> bool {
        self.bool_details(key, ctx, default).value
    }

    /// Typed accessor with details.
    pub fn bool_details(&self, key: &str, ctx: &Context, default: bool) -> Details<'_, bool> {
        self.typed(key, ctx, FlagType::Boolean, default, Value::as_bool)
    }

    /// Typed accessor: the flag's string value, or `default`.
    pub fn string_value<'a>(&'a self, key: &str, ctx: &Context, default: &'a str) -> &'a str {
        self.string_details(key, ctx, default).value
    }

    pub fn string_details<'a>(
        &'a self,
        key: &str,
        ctx: &Context,
        default: &'a str,
    ) -> Details<'a, &'a str> {
        self.typed(key, ctx, FlagType::String, default, Value::as_str)
    }

    /// Typed accessor: the flag's numeric value, or `default`.
    pub fn number_value(&self, key: &str, ctx: &Context, default: f64) -> f64 {
        self.number_details(key, ctx, default).value
    }

    pub fn number_details(&self, key: &str, ctx: &Context, default: f64) -> Details<'_, f64> {
        self.typed(key, ctx, FlagType::Number, default, Value::as_f64)
    }

    /// Typed accessor for number flags whose served value must be an integer; a fractional value
    /// is a `TYPE_MISMATCH` (and `default`).
    pub fn integer_value(&self, key: &str, ctx: &Context, default: i64) -> i64 {
        self.integer_details(key, ctx, default).value
    }

    pub fn integer_details(&self, key: &str, ctx: &Context, default: i64) -> Details<'_, i64> {
        self.typed(key, ctx, FlagType::Number, default, Value::as_i64)
    }

    /// Typed accessor: the flag's JSON value (for `json` flags), or `default`.
    pub fn json_value<'a>(&'a self, key: &str, ctx: &Context, default: &'a Value) -> &'a Value {
        self.json_details(key, ctx, default).value
    }

    pub fn json_details<'a>(
        &'a self,
        key: &str,
        ctx: &Context,
        default: &'a Value,
    ) -> Details<'a, &'a Value> {
        self.typed(key, ctx, FlagType::Json, default, Some)
    }

    fn typed<'a, T: Copy>(
        &'a self,
        key: &str,
        ctx: &Context,
        expected: FlagType,
        default: T,
        extract: impl Fn(&'a Value) -> Option<T>,
    ) -> Details<'a, T> {
        let mismatch = |message| Details {
            value: default,
            variant: None,
            reason: Reason::Error,
            error_code: Some(ErrorCode::TypeMismatch),
            error_message: Some(message),
        };
        // One lookup serves both the type check and the evaluation.
        let eval = match self.flag(key) {
            Some(flag) if flag.flag_type != expected => {
                return mismatch("the flag has another type");
            }
            Some(flag) => self.evaluate_flag(flag, ctx),
            None => not_found(),
        };
        let value = match eval.value {
            // Served (including the off variant of TARGETING_KEY_MISSING).
            Some(v) => match extract(v) {
                Some(v) => v,
                None => return mismatch("the served value does not fit the requested type"),
            },
            None => default,
        };
        Details {
            value,
            variant: eval.variant,
            reason: eval.reason,
            error_code: eval.error_code,
            error_message: eval.error_message,
        }
    }
}

fn not_found() -> Evaluation<'static> {
    Evaluation::flag_not_found()
}

fn serve_index(program: &Program, index: usize, reason: Reason) -> Evaluation<'_> {
    match program.variants.get(index) {
        Some((key, value)) => Evaluation::served(key, value, reason),
        None => Evaluation::error(ErrorCode::General, "variant index out of range"),
    }
}

fn bucket_of(split: &CompiledSplit, ctx: &Context) -> Option<u16> {
    let value = ctx.lookup(&split.stickiness, split.stickiness_is_targeting_key)?;
    hash::bucket_attr(&split.salt, value)
}
