//! Which numbers have a canonical text (`ROLLOUT.md`): integers n with −2⁶³ ≤ n < 2⁶⁴, decided
//! on the JSON literal itself, never on the float it would round to.
//!
//! serde_json (without `arbitrary_precision`, which would change it for the whole build) reads
//! `9223372036854775808.5` and `-9223372036854775809` as the float −/+2⁶³, an integer in range:
//! bucketing that float would give such callers a bucket the contract refuses them. So the
//! decision is made once, where the text is still at hand: every context attribute that is an
//! integer in range is stored as an exact `i64`/`u64` [`Number`], and the bucket hashes only
//! those (`hash.rs`); every other number keeps its float for comparisons and has no bucket.
//! Values built in Rust have no literal: their value is exact, so an integral float in range
//! becomes the integer too ([`normalized`]).

use std::fmt;

use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use crate::context::Attributes;

/// The integer a JSON number literal denotes, if it is one with −2⁶³ ≤ n < 2⁶⁴ (`42`, `42.0`,
/// `4.2e1`, `-0`, `1e19`); `None` for a fractional or out-of-range value, or for text that is
/// not a JSON number. Exact decimal arithmetic on the digits: no float is involved.
pub(crate) fn integer_literal(text: &str) -> Option<Number> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (int.len() > 1 && int.starts_with('0')) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    let exponent = match exponent {
        None => 0,
        Some(e) => exponent_value(e)?,
    };
    let frac = frac.unwrap_or("");
    // The value is `significant × 10^scale`, `significant` without leading or trailing zeros.
    let all = int.bytes().chain(frac.bytes());
    let significant: Vec<u8> = all.skip_while(|&b| b == b'0').collect();
    let end = significant
        .iter()
        .rposition(|&b| b != b'0')
        .map_or(0, |i| i + 1);
    if end == 0 {
        return Some(Number::from(0u64)); // `0`, `-0`, `0.000e7`: zero, which hashes as `0`.
    }
    let trailing = (significant.len() - end) as i64;
    let scale = exponent - frac.len() as i64 + trailing;
    // A negative scale leaves a fraction; more than 20 digits is past 2⁶⁴ (20 digits).
    if scale < 0 || end as i64 + scale > 20 {
        return None;
    }
    let mut decimal = String::with_capacity(21);
    if negative {
        decimal.push('-');
    }
    decimal.extend(significant[..end].iter().map(|&b| char::from(b)));
    decimal.extend(std::iter::repeat_n('0', scale as usize));
    if negative {
        decimal.parse::<i64>().ok().map(Number::from)
    } else {
        decimal.parse::<u64>().ok().map(Number::from)
    }
}

/// `[+-]digits`, saturated far beyond any exponent that could still give an integer in range,
/// so that `1e99999999999999999999` is simply out of range.
fn exponent_value(text: &str) -> Option<i64> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.bytes().fold(0i64, |acc, b| {
        (acc * 10 + i64::from(b - b'0')).min(1_000_000_000)
    });
    Some(sign * magnitude)
}

/// A Rust-built value: an integral float in range (the value is exact) becomes the integer, so
/// that it buckets like the JSON literal `42.0`. Everything else is unchanged.
pub(crate) fn normalized(value: Value) -> Value {
    match &value {
        Value::Number(n) if n.is_f64() => match n.as_f64().and_then(integer_of_float) {
            Some(integer) => Value::Number(integer),
            None => value,
        },
        _ => value,
    }
}

/// `i64::MIN` and `u64::MAX + 1` as floats (both exact powers of two).
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
const U64_END: f64 = 18_446_744_073_709_551_616.0;

fn integer_of_float(f: f64) -> Option<Number> {
    if f.fract() != 0.0 {
        return None;
    }
    // The casts are exact: `f` is integral and inside the target type's range.
    if (I64_MIN..0.0).contains(&f) {
        Some(Number::from(f as i64))
    } else if (0.0..U64_END).contains(&f) {
        Some(Number::from(f as u64))
    } else {
        None
    }
}

/// The context's attribute map, read so that each top-level number is decided on its literal
/// (see the module documentation). Nested lists and objects are kept as serde_json reads them:
/// they are never bucketed.
pub(crate) fn deserialize_attributes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Attributes, D::Error> {
    deserializer.deserialize_map(AttributesVisitor)
}

struct AttributesVisitor;

impl<'de> Visitor<'de> for AttributesVisitor {
    type Value = Attributes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of attributes")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
        let mut attributes = Attributes::default();
        while let Some((name, raw)) = map.next_entry::<String, Box<RawValue>>()? {
            let text = raw.get();
            let value = match integer_literal(text) {
                Some(integer) => Value::Number(integer),
                None => serde_json::from_str(text).map_err(A::Error::custom)?,
            };
            attributes.insert(name, value);
        }
        Ok(attributes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_literals_are_decided_on_their_text() {
        let int = |s: &str| integer_literal(s).map(|n| n.to_string());
        for (literal, text) in [
            ("42", "42"),
            ("42.0", "42"),
            ("4.2e1", "42"),
            ("420E-1", "42"),
            ("-7", "-7"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("0e-999999999999999999999", "0"),
            ("1e19", "10000000000000000000"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("-9.223372036854775808e18", "-9223372036854775808"),
            ("9007199254740993", "9007199254740993"),
            ("12345678901234567890e-1", "1234567890123456789"),
        ] {
            assert_eq!(int(literal).as_deref(), Some(text), "{literal}");
        }
        for literal in [
            "1.5",
            "2e19",
            "1e300",
            "1e-400",
            "18446744073709551616",
            "-9223372036854775809",
            "9223372036854775808.5",
            "-9223372036854775808.5",
            "1.0000000000000000001",
            "1e99999999999999999999",
            "01",
            "1.",
            ".5",
            "+1",
            "1e",
            "\"1\"",
            "true",
        ] {
            assert_eq!(int(literal), None, "{literal}");
        }
    }

    #[test]
    fn integral_floats_built_in_rust_become_integers() {
        let n = |v: Value| normalized(v).to_string();
        assert_eq!(n(Value::from(42.0)), "42");
        assert_eq!(n(Value::from(-0.0)), "0");
        assert_eq!(n(Value::from(1e19)), "10000000000000000000");
        assert_eq!(n(Value::from(1.5)), "1.5");
        assert_eq!(n(Value::from(2e19)), Value::from(2e19).to_string());
        assert_eq!(n(Value::from("42.0")), "\"42.0\"");
    }
}
