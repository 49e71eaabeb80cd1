//! Validated newtypes: [`FlagKey`] and [`BasisPoints`].
//!
//! The wire types in [`crate::model`] keep keys as plain `String`s so that a request body with
//! several bad keys can be answered with *all* its problems at once (see [`crate::validate`]).
//! Code that handles one key at a time (an HTTP path segment, a CLI argument) parses it into a
//! [`FlagKey`] at the edge and carries the proof that it is valid from there on.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest key, in bytes. Keys are ASCII, so bytes and characters agree.
pub const MAX_KEY_LEN: usize = 128;

/// Returns whether `s` matches `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`, the grammar shared by flag,
/// variant and segment keys.
///
/// Kept this narrow on purpose: keys appear in URLs, environment variables
/// (`SWITCHBOARD_KILL=a,b`) and log lines, where `/`, `,`, spaces or unicode would need escaping.
pub fn is_valid_key(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= MAX_KEY_LEN
                && first.is_ascii_alphanumeric()
                && rest
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        }
        None => false,
    }
}

/// Why a string is not a valid key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid key: expected 1 to 128 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit"
)]
pub struct InvalidKey(pub String);

/// A flag key (also the grammar of variant keys and segment names), valid by construction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FlagKey(String);

impl FlagKey {
    /// Parses `s`, copying it.
    pub fn parse(s: &str) -> Result<Self, InvalidKey> {
        Self::try_from(s.to_owned())
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Gives the `String` back.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl TryFrom<String> for FlagKey {
    type Error = InvalidKey;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if is_valid_key(&s) {
            Ok(Self(s))
        } else {
            Err(InvalidKey(s))
        }
    }
}

impl TryFrom<&str> for FlagKey {
    type Error = InvalidKey;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl std::str::FromStr for FlagKey {
    type Err = InvalidKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<FlagKey> for String {
    fn from(key: FlagKey) -> Self {
        key.0
    }
}

impl AsRef<str> for FlagKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for FlagKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FlagKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Total of the weights of a split: weights are in basis points (1/100 of a percent).
pub const TOTAL_WEIGHT: u32 = 10_000;

/// A share of traffic in basis points, `0..=10000` (0.01 % steps), valid by construction.
///
/// Used for "roll this flag out to N %" requests; see [`crate::Serve::rollout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct BasisPoints(u16);

/// Why a number is not a valid share of traffic.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid share: expected 0 to 10000 basis points (0 % to 100 %)")]
pub struct InvalidBasisPoints(pub f64);

impl BasisPoints {
    /// 100 %.
    pub const ALL: Self = Self(10_000);
    /// 0 %.
    pub const NONE: Self = Self(0);

    /// From a percentage such as `12.5`; rejects anything that is not a whole number of basis
    /// points, so `12.345 %` is an error rather than a silent rounding.
    pub fn from_percent(percent: f64) -> Result<Self, InvalidBasisPoints> {
        let bp = percent * 100.0;
        let rounded = bp.round();
        if (bp - rounded).abs() > 1e-6 || !(0.0..=f64::from(TOTAL_WEIGHT)).contains(&rounded) {
            return Err(InvalidBasisPoints(percent));
        }
        // In range 0..=10000 and integral, so the cast is exact.
        Ok(Self(rounded as u16))
    }

    /// The value in basis points.
    pub fn get(self) -> u32 {
        u32::from(self.0)
    }
}

impl TryFrom<u32> for BasisPoints {
    type Error = InvalidBasisPoints;

    fn try_from(bp: u32) -> Result<Self, Self::Error> {
        match u16::try_from(bp) {
            Ok(v) if bp <= TOTAL_WEIGHT => Ok(Self(v)),
            _ => Err(InvalidBasisPoints(f64::from(bp))),
        }
    }
}

impl From<BasisPoints> for u32 {
    fn from(bp: BasisPoints) -> Self {
        bp.get()
    }
}

impl fmt::Display for BasisPoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02} %", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_documented_grammar() {
        for ok in [
            "a",
            "A9",
            "new-checkout",
            "checkout.v2_beta",
            &"x".repeat(128),
        ] {
            assert!(FlagKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "_a",
            ".a",
            "a b",
            "a/b",
            "é",
            "a,b",
            &"x".repeat(129),
        ] {
            assert!(FlagKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_flag_key_deserializes_only_when_valid() {
        let ok: Result<FlagKey, _> = serde_json::from_str("\"dark-mode\"");
        assert_eq!(
            ok.map(FlagKey::into_string).ok().as_deref(),
            Some("dark-mode")
        );
        assert!(serde_json::from_str::<FlagKey>("\"dark mode\"").is_err());
    }

    #[test]
    fn basis_points_accept_whole_hundredths_of_a_percent_only() {
        assert_eq!(
            BasisPoints::from_percent(12.5).map(BasisPoints::get),
            Ok(1250)
        );
        assert_eq!(BasisPoints::from_percent(0.01).map(BasisPoints::get), Ok(1));
        assert_eq!(BasisPoints::from_percent(100.0), Ok(BasisPoints::ALL));
        assert!(BasisPoints::from_percent(12.345).is_err());
        assert!(BasisPoints::from_percent(-1.0).is_err());
        assert!(BasisPoints::from_percent(100.01).is_err());
        assert!(BasisPoints::try_from(10_001).is_err());
        assert_eq!(BasisPoints::ALL.to_string(), "100.00 %");
    }
}
