//! [`Serve`]: what a rule or the default serves — a fixed variant or a weighted split.

use serde::{Deserialize, Serialize};

use crate::key::BasisPoints;

/// What to serve: one fixed variant, or a sticky weighted split between variants.
///
/// On the wire: `{"variant": "on"}` or
/// `{"split": [{"variant": "on", "weight": 500}, …], "stickiness": "user_id", "salt": "x"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ServeRepr", into = "ServeRepr")]
pub enum Serve {
    /// Always this variant key.
    Variant(String),
    /// A percentage split; see `ROLLOUT.md` for the bucketing.
    Split(Split),
}

impl Serve {
    /// Serve a fixed variant.
    pub fn variant(key: impl Into<String>) -> Self {
        Serve::Variant(key.into())
    }

    /// A two-way rollout: `on` to `share` of the callers, `off` to the rest, default stickiness
    /// and salt. Raising `share` later only adds callers (see `ROLLOUT.md`).
    pub fn rollout(on: impl Into<String>, off: impl Into<String>, share: BasisPoints) -> Self {
        let on_weight = share.get();
        Serve::Split(Split {
            split: vec![
                WeightedVariant {
                    variant: on.into(),
                    weight: on_weight,
                },
                WeightedVariant {
                    variant: off.into(),
                    weight: crate::TOTAL_WEIGHT - on_weight,
                },
            ],
            stickiness: None,
            salt: None,
        })
    }
}

/// A weighted split. Weights are basis points and must add up to exactly 10000.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Ordered: the order decides which bucket ranges each variant gets, so reordering moves
    /// callers between variants while changing one weight at the end does not.
    pub split: Vec<WeightedVariant>,
    /// Attribute whose value is hashed; `None` means the context's targeting key.
    pub stickiness: Option<String>,
    /// Hash salt; `None` means the flag key, which keeps flags independent of each other.
    pub salt: Option<String>,
}

/// One arm of a [`Split`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedVariant {
    pub variant: String,
    /// Basis points (1/100 of a percent).
    #[serde(deserialize_with = "super::wire::whole_number")]
    pub weight: u32,
}

/// The flat wire form of [`Serve`]; exactly one of `variant` and `split` must be present.
///
/// A hand-written conversion rather than `#[serde(untagged)]`, whose only error message is
/// "data did not match any variant".
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServeRepr {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::wire::non_null"
    )]
    variant: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::wire::non_null"
    )]
    split: Option<Vec<WeightedVariant>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::wire::non_null"
    )]
    stickiness: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::wire::non_null"
    )]
    salt: Option<String>,
}

impl TryFrom<ServeRepr> for Serve {
    type Error = &'static str;

    fn try_from(repr: ServeRepr) -> Result<Self, Self::Error> {
        match repr {
            ServeRepr {
                variant: Some(v),
                split: None,
                stickiness: None,
                salt: None,
            } => Ok(Serve::Variant(v)),
            ServeRepr {
                variant: None,
                split: Some(split),
                stickiness,
                salt,
            } => Ok(Serve::Split(Split {
                split,
                stickiness,
                salt,
            })),
            ServeRepr {
                variant: Some(_),
                split: Some(_),
                ..
            } => Err("a serve has either `variant` or `split`, not both"),
            ServeRepr {
                variant: Some(_), ..
            } => Err("`stickiness` and `salt` only apply to a `split`"),
            ServeRepr {
                variant: None,
                split: None,
                ..
            } => Err("a serve needs `variant` or `split`"),
        }
    }
}

impl From<Serve> for ServeRepr {
    fn from(serve: Serve) -> Self {
        match serve {
            Serve::Variant(v) => ServeRepr {
                variant: Some(v),
                split: None,
                stickiness: None,
                salt: None,
            },
            Serve::Split(s) => ServeRepr {
                variant: None,
                split: Some(s.split),
                stickiness: s.stickiness,
                salt: s.salt,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_serve_round_trips_in_both_shapes() {
        for wire in [
            json!({"variant": "on"}),
            json!({"split": [{"variant": "on", "weight": 500}, {"variant": "off", "weight": 9500}]}),
            json!({"split": [{"variant": "a", "weight": 10000}], "stickiness": "user_id", "salt": "s"}),
        ] {
            let serve: Serve = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(serde_json::to_value(&serve).unwrap(), wire);
        }
    }

    #[test]
    fn a_serve_with_both_or_neither_shape_is_rejected_with_a_clear_message() {
        let both = serde_json::from_value::<Serve>(json!({"variant": "on", "split": []}));
        assert!(both.unwrap_err().to_string().contains("not both"));
        let neither = serde_json::from_value::<Serve>(json!({}));
        assert!(neither.unwrap_err().to_string().contains("needs"));
        let salted = serde_json::from_value::<Serve>(json!({"variant": "on", "salt": "x"}));
        assert!(salted.unwrap_err().to_string().contains("only apply"));
        let typo = serde_json::from_value::<Serve>(json!({"variant": "on", "varient": "x"}));
        assert!(typo.is_err());
    }

    #[test]
    fn a_rollout_splits_the_share_and_its_complement() {
        let Serve::Split(split) = Serve::rollout("on", "off", BasisPoints::try_from(2500).unwrap())
        else {
            panic!("a rollout is a split");
        };
        let weights: Vec<u32> = split.split.iter().map(|w| w.weight).collect();
        assert_eq!(weights, [2500, 7500]);
    }
}
