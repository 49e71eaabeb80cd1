//! Compiled conditions: operator semantics, with every operand parsed once at compile time.
//!
//! Parsing helpers (`parse_*`) are shared with [`crate::validate`], so that a value the API
//! accepts is exactly a value the evaluator can compile.

use std::collections::HashSet;

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::context::{Attr, Context, TARGETING_KEY};
use crate::model::Operator;

/// Above this many strings an `in` list is looked up in a hash set; below, a linear scan over a
/// few short strings is faster than hashing the probe.
const SET_THRESHOLD: usize = 16;

/// A condition ready to run.
#[derive(Debug)]
pub(crate) enum CompiledCondition {
    Attribute {
        name: Box<str>,
        /// `name == "targeting_key"`, decided once.
        is_targeting_key: bool,
        /// `not_equals` / `not_in`: the test is inverted, but only for present attributes.
        negate: bool,
        test: Test,
    },
    Segment {
        negate: bool,
        /// Indexes into the snapshot's compiled segments.
        segments: Box<[usize]>,
    },
}

#[derive(Debug)]
pub(crate) enum Test {
    /// `equals` / `in` (and their negations).
    OneOf(ScalarSet),
    /// String attribute: substring; list attribute: shares an element.
    Contains {
        needles: Box<[Box<str>]>,
        elements: ScalarSet,
    },
    StartsWith(Box<[Box<str>]>),
    EndsWith(Box<[Box<str>]>),
    Number(Cmp, f64),
    Semver(Cmp, semver::Version),
    /// Unix time in nanoseconds; `Lt` is `before`, `Gt` is `after`.
    Date(Cmp, i128),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, attr: &T, operand: &T) -> bool {
        match self {
            Cmp::Eq => attr == operand,
            Cmp::Lt => attr < operand,
            Cmp::Lte => attr <= operand,
            Cmp::Gt => attr > operand,
            Cmp::Gte => attr >= operand,
        }
    }
}

/// A set of JSON scalars with type-strict membership: `"42"` is not `42`, `1` is `1.0`.
#[derive(Debug, Default)]
pub(crate) struct ScalarSet {
    strings: StrSet,
    numbers: Vec<f64>,
    has_true: bool,
    has_false: bool,
}

#[derive(Debug)]
enum StrSet {
    Small(Vec<Box<str>>),
    Large(HashSet<Box<str>, foldhash::fast::RandomState>),
}

impl Default for StrSet {
    fn default() -> Self {
        StrSet::Small(Vec::new())
    }
}

impl ScalarSet {
    /// Fails on a value that is not a string, number or boolean.
    fn build(values: &[Value]) -> Result<Self, String> {
        let mut set = ScalarSet::default();
        let mut strings = Vec::new();
        for value in values {
            match value {
                Value::String(s) => strings.push(s.as_str().into()),
                Value::Number(n) => set.numbers.extend(n.as_f64()),
                Value::Bool(true) => set.has_true = true,
                Value::Bool(false) => set.has_false = true,
                other => return Err(format!("expected a string, number or boolean, got {other}")),
            }
        }
        set.strings = if strings.len() > SET_THRESHOLD {
            StrSet::Large(strings.into_iter().collect())
        } else {
            StrSet::Small(strings)
        };
        Ok(set)
    }

    fn contains_str(&self, s: &str) -> bool {
        match &self.strings {
            StrSet::Small(v) => v.iter().any(|x| **x == *s),
            StrSet::Large(h) => h.contains(s),
        }
    }

    fn contains(&self, attr: Attr<'_>) -> bool {
        match attr {
            Attr::Str(s) => self.contains_str(s),
            Attr::Num(n) => n.as_f64().is_some_and(|f| self.numbers.contains(&f)),
            Attr::Bool(b) => (b && self.has_true) || (!b && self.has_false),
            Attr::List(_) | Attr::Object => false,
        }
    }

    fn contains_value(&self, value: &Value) -> bool {
        match value {
            Value::String(s) => self.contains_str(s),
            Value::Number(n) => n.as_f64().is_some_and(|f| self.numbers.contains(&f)),
            Value::Bool(b) => self.contains(Attr::Bool(*b)),
            _ => false,
        }
    }
}

impl CompiledCondition {
    /// Compiles an attribute condition. Segment conditions are resolved by the caller, which
    /// knows the segment table.
    pub(crate) fn attribute(name: &str, op: Operator, values: &[Value]) -> Result<Self, String> {
        let strings = || -> Result<Box<[Box<str>]>, String> {
            values
                .iter()
                .map(|v| parse_string(v).map(Box::from))
                .collect()
        };
        let single = || match values {
            [v] => Ok(v),
            _ => Err(format!("`{}` takes exactly one value", op_name(op))),
        };
        let (negate, test) = match op {
            Operator::Equals | Operator::NotEquals => (
                op == Operator::NotEquals,
                Test::OneOf(ScalarSet::build(&[single()?.clone()])?),
            ),
            Operator::In | Operator::NotIn => (
                op == Operator::NotIn,
                Test::OneOf(ScalarSet::build(values)?),
            ),
            Operator::Contains => {
                let elements = ScalarSet::build(values)?;
                let needles = values
                    .iter()
                    .filter_map(Value::as_str)
                    .map(Box::from)
                    .collect();
                (false, Test::Contains { needles, elements })
            }
            Operator::StartsWith => (false, Test::StartsWith(strings()?)),
            Operator::EndsWith => (false, Test::EndsWith(strings()?)),
            Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte => {
                (false, Test::Number(cmp_of(op), parse_number(single()?)?))
            }
            Operator::SemverEq
            | Operator::SemverLt
            | Operator::SemverLte
            | Operator::SemverGt
            | Operator::SemverGte => (false, Test::Semver(cmp_of(op), parse_semver(single()?)?)),
            Operator::Before | Operator::After => {
                (false, Test::Date(cmp_of(op), parse_date(single()?)?))
            }
            Operator::InSegment | Operator::NotInSegment => {
                return Err("segment operators take no attribute".to_owned());
            }
        };
        Ok(CompiledCondition::Attribute {
            name: name.into(),
            is_targeting_key: name == TARGETING_KEY,
            negate,
            test,
        })
    }

    /// `segment_matches(i)` evaluates segment `i` against the same context.
    pub(crate) fn matches(&self, ctx: &Context, segment_matches: &dyn Fn(usize) -> bool) -> bool {
        match self {
            CompiledCondition::Attribute {
                name,
                is_targeting_key,
                negate,
                test,
            } => {
                // A missing attribute matches nothing, not even a negated test: "country not in
                // [FR]" must not target callers whose country we do not know.
                match ctx.lookup(name, *is_targeting_key) {
                    Some(attr) => test.run(attr) != *negate,
                    None => false,
                }
            }
            CompiledCondition::Segment { negate, segments } => {
                segments.iter().any(|&i| segment_matches(i)) != *negate
            }
        }
    }
}

impl Test {
    fn run(&self, attr: Attr<'_>) -> bool {
        match self {
            Test::OneOf(set) => set.contains(attr),
            Test::Contains { needles, elements } => match attr {
                Attr::Str(s) => needles.iter().any(|n| s.contains(&**n)),
                Attr::List(items) => items.iter().any(|item| elements.contains_value(item)),
                _ => false,
            },
            Test::StartsWith(prefixes) => match attr {
                Attr::Str(s) => prefixes.iter().any(|p| s.starts_with(&**p)),
                _ => false,
            },
            Test::EndsWith(suffixes) => match attr {
                Attr::Str(s) => suffixes.iter().any(|p| s.ends_with(&**p)),
                _ => false,
            },
            Test::Number(cmp, operand) => attr.as_f64().is_some_and(|f| cmp.holds(&f, operand)),
            Test::Semver(cmp, operand) => match attr {
                Attr::Str(s) => parse_semver_str(s).is_some_and(|v| cmp.holds(&v, operand)),
                _ => false,
            },
            Test::Date(cmp, operand) => date_of(attr).is_some_and(|t| cmp.holds(&t, operand)),
        }
    }
}

fn cmp_of(op: Operator) -> Cmp {
    match op {
        Operator::Lt | Operator::SemverLt | Operator::Before => Cmp::Lt,
        Operator::Lte | Operator::SemverLte => Cmp::Lte,
        Operator::Gt | Operator::SemverGt | Operator::After => Cmp::Gt,
        Operator::Gte | Operator::SemverGte => Cmp::Gte,
        _ => Cmp::Eq,
    }
}

/// The wire name of an operator, for messages.
pub(crate) fn op_name(op: Operator) -> String {
    serde_json::to_value(op)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{op:?}"))
}

pub(crate) fn parse_string(value: &Value) -> Result<&str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("expected a string, got {value}"))
}

/// A finite number, or a string holding one.
pub(crate) fn parse_number(value: &Value) -> Result<f64, String> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    parsed
        .filter(|f| f.is_finite())
        .ok_or_else(|| format!("expected a number, got {value}"))
}

/// Semantic Versioning 2.0.0, with one optional leading `v` (`v1.2.3`), as apps often report.
pub(crate) fn parse_semver(value: &Value) -> Result<semver::Version, String> {
    let s = parse_string(value)?;
    parse_semver_str(s)
        .ok_or_else(|| format!("expected a semantic version such as 1.4.0, got {s:?}"))
}

fn parse_semver_str(s: &str) -> Option<semver::Version> {
    semver::Version::parse(s.strip_prefix('v').unwrap_or(s)).ok()
}

/// An RFC 3339 timestamp (`2026-03-01T00:00:00Z`), as Unix nanoseconds.
pub(crate) fn parse_date(value: &Value) -> Result<i128, String> {
    let s = parse_string(value)?;
    parse_date_str(s).ok_or_else(|| {
        format!("expected an RFC 3339 date-time such as 2026-03-01T00:00:00Z, got {s:?}")
    })
}

fn parse_date_str(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp_nanos)
}

/// A date attribute: an RFC 3339 string, or a number of seconds since the Unix epoch.
fn date_of(attr: Attr<'_>) -> Option<i128> {
    match attr {
        Attr::Str(s) => parse_date_str(s),
        Attr::Num(n) => match n.as_i64() {
            Some(secs) => Some(i128::from(secs) * 1_000_000_000),
            // Float seconds: precise enough for "before/after a date"; the cast saturates.
            None => n.as_f64().map(|f| (f * 1e9) as i128),
        },
        _ => None,
    }
}
