//! The rollout hash: a cross-SDK contract, specified in `ROLLOUT.md` and pinned by
//! `tests/golden/buckets.json`. Changing anything here moves users between variants in every
//! running application, so the golden test must fail first.

use std::fmt::Write as _;
use std::hash::Hasher as _;

use crate::context::Attr;
use crate::key::TOTAL_WEIGHT;

/// The number of buckets: one per basis point.
pub const BUCKETS: u32 = TOTAL_WEIGHT;

/// The bucket `0..=9999` of `stickiness_value` under `salt`:
/// `murmur3_x86_32(seed 0, utf8(salt + ":" + stickiness_value)) % 10000`.
///
/// Allocation-free: the parts are joined in a stack buffer, or streamed when they are long.
pub fn bucket(salt: &str, stickiness_value: &str) -> u16 {
    bucket_bytes(salt, stickiness_value.as_bytes())
}

/// Inputs up to this many bytes are hashed from a stack copy; longer ones are streamed.
const STACK_INPUT: usize = 128;

fn bucket_bytes(salt: &str, value: &[u8]) -> u16 {
    let salt = salt.as_bytes();
    let len = salt.len() + 1 + value.len();
    // Short inputs (nearly all of them) are joined in a stack buffer and hashed in one shot:
    // ~20 ns for a 20-byte input against ~28 ns through the streaming hasher (whose `write` is
    // not inlinable across crates), ~30 against ~55 for a UUID. Still no heap, no `String`.
    let hash = if len <= STACK_INPUT {
        let mut joined = [0u8; STACK_INPUT];
        let (head, tail) = joined.split_at_mut(salt.len());
        head.copy_from_slice(salt);
        if let Some((colon, rest)) = tail.split_first_mut() {
            *colon = b':';
            rest[..value.len()].copy_from_slice(value);
        }
        mur3::murmurhash3_x86_32(&joined[..len], 0)
    } else {
        let mut hasher = mur3::Hasher32::with_seed(0);
        hasher.write(salt);
        hasher.write(b":");
        hasher.write(value);
        hasher.finish32()
    };
    // `% 10000` of a u32 is below 10000, so it fits a u16.
    (hash % BUCKETS) as u16
}

/// The bucket of an attribute value, using its canonical text (see `ROLLOUT.md`): strings as
/// they are, integers in decimal (`42`, `-7`; `42.0` is the integer 42), booleans as
/// `true`/`false`. Other numbers, lists and objects have no canonical text and yield `None`, as
/// does a missing attribute: such a caller cannot be bucketed.
///
/// Fractional numbers are refused rather than formatted because float-to-text differs between
/// languages and even between versions of one library, and the bucket must not.
pub(crate) fn bucket_attr(salt: &str, value: Attr<'_>) -> Option<u16> {
    match value {
        Attr::Str(s) => Some(bucket(salt, s)),
        Attr::Bool(b) => Some(bucket(salt, if b { "true" } else { "false" })),
        Attr::Num(n) => {
            // Formatted on the stack so that the hot path stays allocation-free.
            let mut text = StackText::default();
            if let Some(i) = n.as_i64() {
                write!(text, "{i}").ok()?;
            } else if let Some(u) = n.as_u64() {
                write!(text, "{u}").ok()?;
            } else {
                // A float with an integral value, e.g. `42.0`: hashed like the integer. Casts are
                // exact: the value is integral and inside the target type's range.
                let f = n.as_f64().filter(|f| f.fract() == 0.0)?;
                if (I64_MIN..0.0).contains(&f) {
                    write!(text, "{}", f as i64).ok()?;
                } else if (0.0..U64_END).contains(&f) {
                    write!(text, "{}", f as u64).ok()?;
                } else {
                    return None;
                }
            }
            Some(bucket_bytes(salt, text.as_bytes()))
        }
        Attr::List(_) | Attr::Object => None,
    }
}

/// `i64::MIN` and `u64::MAX + 1` as floats (both exact powers of two).
const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
const U64_END: f64 = 18_446_744_073_709_551_616.0;

/// A fixed-capacity `fmt::Write` target. 32 bytes hold any `u64`/`i64` (at most 20 bytes); a
/// longer write fails instead of truncating.
#[derive(Default)]
struct StackText {
    buf: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Number;

    /// Reference vectors of MurmurHash3_x86_32 (Austin Appleby's SMHasher, as quoted by the
    /// murmur3 test suites of several languages): the crate we ship (`mur3`) and the one we
    /// cross-check against (`murmur3`) must both be the real thing.
    #[test]
    fn the_hash_is_murmur3_x86_32() {
        let cases: [(&str, u32, u32); 12] = [
            ("", 0, 0),
            ("", 1, 0x514E_28B7),
            ("", 0xFFFF_FFFF, 0x81F1_6F39),
            ("\0\0\0\0", 0, 0x2362_F9DE),
            ("a", 0x9747_B28C, 0x7FA0_9EA6),
            ("ab", 0x9747_B28C, 0x7487_5592),
            ("abc", 0x9747_B28C, 0xC84A_62DD),
            ("abcd", 0x9747_B28C, 0xF047_8627),
            ("abc", 0, 0xB3DD_93FA),
            ("Hello, world!", 0x9747_B28C, 0x2488_4CBA),
            ("ππππππππ", 0x9747_B28C, 0xD580_63C1),
            (
                "The quick brown fox jumps over the lazy dog",
                0x9747_B28C,
                0x2FA8_26CD,
            ),
        ];
        for (input, seed, expected) in cases {
            let shipped = mur3::murmurhash3_x86_32(input.as_bytes(), seed);
            assert_eq!(shipped, expected, "{input:?} seed {seed:#x}");
            let reference = murmur3::murmur3_32(&mut input.as_bytes(), seed).unwrap();
            assert_eq!(reference, expected, "{input:?} seed {seed:#x}");
        }
    }

    /// Streaming three parts must equal hashing their concatenation with an independent
    /// implementation, for every alignment of the parts against murmur3's 4-byte blocks and on
    /// both sides of the stack-buffer limit.
    #[test]
    fn streaming_the_parts_equals_hashing_the_concatenation() {
        // Long enough to cover both the stack-buffer path and the streaming one.
        let text = "abcdefghijklmnopqrstuvwxyzé0123456789".repeat(5);
        for salt_len in (0..12).chain([100, 127, 128, 140]) {
            for id_len in 0..text.len() {
                let (salt, id) = (&text[..salt_len], text.get(..id_len).unwrap_or(""));
                let joined = format!("{salt}:{id}");
                let reference = murmur3::murmur3_32(&mut joined.as_bytes(), 0).unwrap();
                assert_eq!(
                    u32::from(bucket(salt, id)),
                    reference % 10_000,
                    "{joined:?}"
                );
            }
        }
    }

    #[test]
    fn non_string_values_hash_as_their_canonical_text() {
        let n = |s: &str| s.parse::<Number>().unwrap();
        let num = |s: &str| bucket_attr("f", Attr::Num(&n(s)));
        assert_eq!(num("42"), Some(bucket("f", "42")));
        assert_eq!(num("42.0"), Some(bucket("f", "42")));
        assert_eq!(num("-7"), Some(bucket("f", "-7")));
        assert_eq!(num("-7e0"), Some(bucket("f", "-7")));
        assert_eq!(
            num("18446744073709551615"),
            Some(bucket("f", "18446744073709551615"))
        );
        assert_eq!(
            num("-9223372036854775808"),
            Some(bucket("f", "-9223372036854775808"))
        );
        assert_eq!(num("-0"), Some(bucket("f", "0")));
        assert_eq!(num("-0.0"), Some(bucket("f", "0")));
        assert_eq!(num("1e19"), Some(bucket("f", "10000000000000000000")));
        assert_eq!(num("1.5"), None);
        assert_eq!(num("2e19"), None);
        assert_eq!(num("1e300"), None);
        assert_eq!(
            bucket_attr("f", Attr::Bool(true)),
            Some(bucket("f", "true"))
        );
        assert_eq!(
            bucket_attr("f", Attr::Bool(false)),
            Some(bucket("f", "false"))
        );
        assert_eq!(bucket_attr("f", Attr::List(&[])), None);
        assert_eq!(bucket_attr("f", Attr::Object), None);
    }
}
