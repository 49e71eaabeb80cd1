//! [`Serve::rolled_out`]: moving a default serve to a new share without moving anyone else.
//!
//! A split gives each variant the bucket ranges of its arms, in order (`ROLLOUT.md`). Building
//! a fresh `[on, off]` split on every rollout reorders a stored `[off, on]` one and hands the
//! `on` buckets to other callers; instead the previous serve is read as a map from buckets to
//! variants and changed as little as possible: widening only turns buckets to `on`, narrowing
//! only turns `on` buckets to `off`.

use crate::TOTAL_WEIGHT;
use crate::key::BasisPoints;

use super::serve::{Serve, Split, WeightedVariant};

impl Serve {
    /// The serve that gives `on` to `share` of the callers and `off` to the rest, starting from
    /// `self`: widening keeps every caller who was served `on` (their buckets stay `on`),
    /// narrowing keeps a subset of them, whatever the order and number of the previous arms.
    ///
    /// Buckets served another variant than `on` become `off`; the buckets that change are
    /// taken next to the existing `on` ranges, so a two-arm split stays two arms. A previous
    /// split keeps its stickiness and salt (changing either would re-deal every caller).
    pub fn rolled_out(&self, on: &str, off: &str, share: BasisPoints) -> Serve {
        let (runs, stickiness, salt) = match self {
            Serve::Variant(v) => (vec![Run::new(v == on, TOTAL_WEIGHT)], None, None),
            Serve::Split(s) => (runs(s, on), s.stickiness.clone(), s.salt.clone()),
        };
        // Saturating: a split that was never validated may hold any weights.
        let total = runs.iter().map(|r| r.weight).fold(0, u32::saturating_add);
        let runs = if total == TOTAL_WEIGHT {
            resize(runs, share.get())
        } else {
            // Not a valid split (validation keeps these out of the store): nothing to preserve.
            let share = share.get();
            vec![Run::new(true, share), Run::new(false, TOTAL_WEIGHT - share)]
        };
        Serve::Split(Split {
            split: arms(&runs, on, off),
            stickiness,
            salt,
        })
    }
}

/// A contiguous bucket range that serves `on` or not.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Run {
    on: bool,
    weight: u32,
}

impl Run {
    fn new(on: bool, weight: u32) -> Self {
        Self { on, weight }
    }
}

/// The split's arms as maximal runs of `on` / not `on`, in bucket order.
fn runs(split: &Split, on: &str) -> Vec<Run> {
    merged(
        split
            .split
            .iter()
            .map(|arm| Run::new(arm.variant == on, arm.weight)),
    )
}

/// Drops empty runs and joins neighbours of the same kind.
fn merged(runs: impl IntoIterator<Item = Run>) -> Vec<Run> {
    let mut out: Vec<Run> = Vec::new();
    for run in runs.into_iter().filter(|r| r.weight > 0) {
        match out.last_mut() {
            Some(last) if last.on == run.on => last.weight = last.weight.saturating_add(run.weight),
            _ => out.push(run),
        }
    }
    out
}

/// Flips buckets until `on` holds exactly `share`: `off` ones to `on` when widening, `on` ones
/// to `off` when narrowing, never the other way. Each run that gives buckets gives them from
/// the side that touches a run of the other kind, so the flipped buckets join it.
fn resize(runs: Vec<Run>, share: u32) -> Vec<Run> {
    let now: u32 = runs.iter().filter(|r| r.on).map(|r| r.weight).sum();
    // Widening takes from the runs that are not `on`, narrowing from those that are.
    let (giver, mut wanted) = if share >= now {
        (false, share - now)
    } else {
        (true, now - share)
    };
    let mut out = Vec::with_capacity(runs.len() + 2);
    for (i, run) in runs.iter().enumerate() {
        let flip = if run.on == giver {
            wanted.min(run.weight)
        } else {
            0
        };
        wanted -= flip;
        let kept = Run::new(run.on, run.weight - flip);
        let flipped = Run::new(!run.on, flip);
        // Flip at the end when a run of the other kind follows (the flipped buckets join it),
        // else at the start when one precedes; a run alone puts `on` first, as a fresh
        // rollout does. Runs alternate, so any neighbour is of the other kind.
        let flip_at_end = if i + 1 < runs.len() {
            true
        } else if i > 0 {
            false
        } else {
            run.on
        };
        out.extend(if flip_at_end {
            [kept, flipped]
        } else {
            [flipped, kept]
        });
    }
    merged(out)
}

/// The runs as arms of `on` and `off`. Both variants stay named even at 0 % or 100 %, as
/// [`Serve::rollout`] does, so that the split still says what the other side serves.
fn arms(runs: &[Run], on: &str, off: &str) -> Vec<WeightedVariant> {
    let arm = |run: &Run| WeightedVariant {
        variant: if run.on { on } else { off }.to_owned(),
        weight: run.weight,
    };
    let mut arms: Vec<WeightedVariant> = runs.iter().map(arm).collect();
    if !runs.iter().any(|r| r.on) {
        arms.insert(0, arm(&Run::new(true, 0)));
    }
    if runs.iter().all(|r| r.on) {
        arms.push(arm(&Run::new(false, 0)));
    }
    arms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(arms: &[(&str, u32)]) -> Serve {
        Serve::Split(Split {
            split: arms
                .iter()
                .map(|&(variant, weight)| WeightedVariant {
                    variant: variant.to_owned(),
                    weight,
                })
                .collect(),
            stickiness: Some("account".to_owned()),
            salt: Some("s".to_owned()),
        })
    }

    fn rolled(previous: &Serve, share: u32) -> Serve {
        let share = BasisPoints::try_from(share).unwrap();
        previous.rolled_out("on", "off", share)
    }

    #[test]
    fn widening_a_reversed_split_grows_the_on_arm_in_place() {
        let before = split(&[("off", 9500), ("on", 500)]);
        assert_eq!(rolled(&before, 1000), split(&[("off", 9000), ("on", 1000)]));
    }

    #[test]
    fn the_usual_order_behaves_as_a_fresh_rollout() {
        let before = split(&[("on", 500), ("off", 9500)]);
        assert_eq!(rolled(&before, 1000), split(&[("on", 1000), ("off", 9000)]));
        assert_eq!(rolled(&before, 100), split(&[("on", 100), ("off", 9900)]));
    }

    #[test]
    fn other_variants_become_off_and_on_ranges_stay() {
        let before = split(&[("a", 3000), ("on", 2000), ("b", 5000)]);
        assert_eq!(rolled(&before, 6000), split(&[("on", 6000), ("off", 4000)]));
        assert_eq!(
            rolled(&before, 1000),
            split(&[("off", 3000), ("on", 1000), ("off", 6000)])
        );
    }

    #[test]
    fn both_variants_stay_named_at_the_ends() {
        let before = split(&[("on", 500), ("off", 9500)]);
        assert_eq!(rolled(&before, 0), split(&[("on", 0), ("off", 10_000)]));
        assert_eq!(
            rolled(&before, 10_000),
            split(&[("on", 10_000), ("off", 0)])
        );
    }

    #[test]
    fn a_fixed_variant_rolls_out_like_a_fresh_split() {
        let fresh = Serve::rollout("on", "off", BasisPoints::try_from(2500).unwrap());
        assert_eq!(rolled(&Serve::variant("off"), 2500), fresh);
        assert_eq!(rolled(&Serve::variant("on"), 2500), fresh);
    }
}
