//! The rollout hash: a cross-SDK contract, specified in `ROLLOUT.md` and pinned by
//! `tests/golden/buckets.json`. Changing anything here moves users between variants in every
//! running application, so the golden test must fail first.

use std::fmt::Write as _;

use crate::context::Attr;
use crate::key::TOTAL_WEIGHT;

/// The number of buckets: one per basis point.
pub const BUCKETS: u32 = TOTAL_WEIGHT;

/// The bucket `0..=9999` of `stickiness_value` under `salt`:
/// `murmur3_x86_32(seed 0, utf8(salt + ":" + stickiness_value)) % 10000`.
pub fn bucket(salt: &str, stickiness_value: &str) -> u16 {
    SaltedHash::new(salt).bucket(stickiness_value.as_bytes())
}

/// MurmurHash3_x86_32 (seed 0) with `salt + ":"` already absorbed.
///
/// Every evaluation of a split hashes the same salt followed by a different caller, so the
/// compiled split keeps the hash state after the salt and each evaluation absorbs the caller's
/// bytes only, straight from where they are: no joined copy, fewer dependent rounds (a 20-byte
/// input is 5 blocks in one shot; after an 11-byte salt, 3 remain). Written here rather than
/// taken from a crate because none exposes a copyable mid-stream state, and this is the hottest
/// code of the product. `mur3` and `murmur3` check it in the tests, for every alignment.
///
/// The state is the running hash of the whole 4-byte blocks so far, plus the 0 to 3 bytes after
/// them (`pending`, little-endian, bits above them zero) and the total length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SaltedHash {
    h: u32,
    pending: u32,
    pending_len: u32,
    /// Murmur3 mixes the length in as 32 bits, so wrapping is part of the algorithm.
    len: u32,
}

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

impl SaltedHash {
    /// Nothing absorbed yet, seed 0.
    const SEED: Self = Self {
        h: 0,
        pending: 0,
        pending_len: 0,
        len: 0,
    };

    pub(crate) fn new(salt: &str) -> Self {
        Self::SEED.absorb(salt.as_bytes()).absorb(b":")
    }

    /// The bucket `0..=9999` of `value` after the salt.
    #[inline]
    pub(crate) fn bucket(&self, value: &[u8]) -> u16 {
        // `% 10000` of a u32 is below 10000, so it fits a u16.
        (self.absorb(value).finish() % BUCKETS) as u16
    }

    /// The state after `bytes` as well. Each 4-byte word of `bytes` is shifted up past the
    /// pending bytes; what overflows the block becomes the new pending bytes.
    #[inline]
    fn absorb(mut self, bytes: &[u8]) -> Self {
        let shift = 8 * self.pending_len;
        let mut words = bytes.chunks_exact(4);
        for word in &mut words {
            // `chunks_exact(4)`: always four bytes, so the default never applies.
            let word = u32::from_le_bytes(word.try_into().unwrap_or_default());
            let joined = u64::from(self.pending) | (u64::from(word) << shift);
            self.h = mix_block(self.h, joined as u32);
            self.pending = (joined >> 32) as u32;
        }
        let rest = words.remainder();
        let word = match *rest {
            [a] => u32::from(a),
            [a, b] => u32::from_le_bytes([a, b, 0, 0]),
            [a, b, c] => u32::from_le_bytes([a, b, c, 0]),
            _ => 0,
        };
        let joined = u64::from(self.pending) | (u64::from(word) << shift);
        // `rest` has at most 3 bytes, so at most one more whole block.
        let pending_len = self.pending_len + rest.len() as u32;
        if pending_len >= 4 {
            self.h = mix_block(self.h, joined as u32);
            self.pending = (joined >> 32) as u32;
            self.pending_len = pending_len - 4;
        } else {
            self.pending = joined as u32;
            self.pending_len = pending_len;
        }
        self.len = self.len.wrapping_add(bytes.len() as u32);
        self
    }

    /// Murmur3's tail and finalization. A tail of no bytes mixes to 0, which leaves `h` as it
    /// is, as murmur3's "no tail" does.
    #[inline]
    fn finish(self) -> u32 {
        let mut h = self.h ^ mix_k(self.pending);
        h ^= self.len;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }
}

#[inline]
fn mix_k(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn mix_block(h: u32, k: u32) -> u32 {
    (h ^ mix_k(k))
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

/// The bucket of an attribute value, using its canonical text (see `ROLLOUT.md`): strings as
/// they are, integers stored exactly in decimal (`42`, `-7`; a context stores `42.0` as 42), booleans as
/// `true`/`false`. Other numbers, lists and objects have no canonical text and yield `None`, as
/// does a missing attribute: such a caller cannot be bucketed.
///
/// Fractional numbers are refused rather than formatted because float-to-text differs between
/// languages and even between versions of one library, and the bucket must not.
#[inline]
pub(crate) fn bucket_attr(salt: &SaltedHash, value: Attr<'_>) -> Option<u16> {
    match value {
        Attr::Str(s) => Some(salt.bucket(s.as_bytes())),
        Attr::Bool(b) => Some(salt.bucket(if b { b"true" } else { b"false" })),
        Attr::Num(n) => bucket_number(salt, n),
        Attr::List(_) | Attr::Object => None,
    }
}

/// Numbers are formatted (on the stack: no allocation) and hashed as text. Only integers stored
/// exactly have a canonical text: a context decides that on the JSON literal when it is read
/// (`canonical.rs`), so a float here is a fraction, out of range, or rounded from such a
/// literal, and is never bucketed. Kept out of line so that the string path stays small.
#[inline(never)]
fn bucket_number(salt: &SaltedHash, n: &serde_json::Number) -> Option<u16> {
    let mut text = StackText::default();
    if let Some(i) = n.as_i64() {
        write!(text, "{i}").ok()?;
    } else {
        write!(text, "{}", n.as_u64()?).ok()?;
    }
    Some(salt.bucket(text.as_bytes()))
}

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
    /// murmur3 test suites of several languages): the two crates the salted hash is checked
    /// against (`mur3`, `murmur3`) must both be the real thing, and so must ours (seed 0).
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
            if seed == 0 {
                let ours = SaltedHash::SEED.absorb(input.as_bytes()).finish();
                assert_eq!(ours, expected, "{input:?}");
            }
        }
    }

    /// The salted hash, absorbing the salt, the colon and the value (even in two pieces), must
    /// equal an independent murmur3 of their concatenation, all 32 bits, for every length and
    /// every alignment of the parts against murmur3's 4-byte blocks.
    #[test]
    fn the_salted_hash_equals_murmur3_of_the_concatenation() {
        let text = "abcdefghijklmnopqrstuvwxyzé0123456789".repeat(5);
        for salt_len in (0..12).chain([100, 127, 128, 140]) {
            for id_len in 0..text.len() {
                let (salt, id) = (&text[..salt_len], text.as_bytes().get(..id_len).unwrap());
                let mut joined = format!("{salt}:").into_bytes();
                joined.extend_from_slice(id);
                let reference = murmur3::murmur3_32(&mut joined.as_slice(), 0).unwrap();
                assert_eq!(mur3::murmurhash3_x86_32(&joined, 0), reference);

                let salted = SaltedHash::new(salt);
                assert_eq!(salted.absorb(id).finish(), reference, "{joined:?}");
                for cut in 0..=id.len() {
                    let (a, b) = id.split_at(cut);
                    assert_eq!(salted.absorb(a).absorb(b).finish(), reference, "{joined:?}");
                }
                assert_eq!(u32::from(salted.bucket(id)), reference % 10_000);
            }
        }
    }

    #[test]
    fn non_string_values_hash_as_their_canonical_text() {
        // As a context stores a JSON literal: the exact integer if it is one, else the float.
        let n = |s: &str| {
            crate::canonical::integer_literal(s).unwrap_or_else(|| s.parse::<Number>().unwrap())
        };
        let f = SaltedHash::new("f");
        let num = |s: &str| bucket_attr(&f, Attr::Num(&n(s)));
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
        assert_eq!(num("-9223372036854775809"), None);
        assert_eq!(num("9223372036854775808.5"), None);
        assert_eq!(num("-9223372036854775808.5"), None);
        assert_eq!(bucket_attr(&f, Attr::Bool(true)), Some(bucket("f", "true")));
        assert_eq!(
            bucket_attr(&f, Attr::Bool(false)),
            Some(bucket("f", "false"))
        );
        assert_eq!(bucket_attr(&f, Attr::List(&[])), None);
        assert_eq!(bucket_attr(&f, Attr::Object), None);
    }
}
