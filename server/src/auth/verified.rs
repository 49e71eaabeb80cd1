//! The verified-token cache: a token seen before costs one hash of its bytes, one map look-up
//! and one constant-time compare, instead of a signature check and a database read.
//!
//! Keyed by a fast hash of the token (foldhash, seeded at random per process), so the look-up
//! hashes the token once and the map hashes only a `u64`. A fast hash is no proof of identity:
//! each entry keeps the token's bytes and a hit counts only when they equal the presented
//! token, compared in constant time (`subtle`) so that the compare leaks nothing about a
//! cached token to a caller probing with guesses. Two tokens with the same hash just take turns
//! in the slot. The bytes live only in this process's memory and are wiped when the entry goes
//! (`Zeroizing`); they are never logged, written or sent anywhere. This replaced a SHA-256 of
//! the token per request, which the map then hashed again.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::Principal;

/// A cached verification.
#[derive(Clone)]
pub(super) struct Verified {
    pub(super) principal: Arc<Principal>,
    /// When the record was read; past `fresh_for` it is read again if the database answers.
    pub(super) at: Instant,
    token: Arc<Zeroizing<Box<[u8]>>>,
}

pub(super) struct VerifiedCache {
    entries: moka::sync::Cache<u64, Verified>,
    hasher: foldhash::quality::RandomState,
}

impl VerifiedCache {
    pub(super) fn new(capacity: u64) -> Self {
        Self {
            // No time-to-live: an entry is refused past its token's `exp` and re-read past
            // `fresh_for`, but kept so that it can still answer while the database is down.
            entries: moka::sync::Cache::builder().max_capacity(capacity).build(),
            hasher: foldhash::quality::RandomState::default(),
        }
    }

    /// Where `token`'s entry lives.
    pub(super) fn slot(&self, token: &str) -> u64 {
        self.hasher.hash_one(token.as_bytes())
    }

    /// The cached verification of exactly this token, if any.
    pub(super) fn get(&self, slot: u64, token: &str) -> Option<Verified> {
        self.entries
            .get(&slot)
            .filter(|verified| bool::from(verified.token.as_ref().ct_eq(token.as_bytes())))
    }

    pub(super) fn insert(&self, slot: u64, token: &str, principal: Arc<Principal>) {
        let verified = Verified {
            principal,
            at: Instant::now(),
            token: Arc::new(Zeroizing::new(token.as_bytes().into())),
        };
        self.entries.insert(slot, verified);
    }

    /// Forgets the slot's entry (this token's, or a colliding one: it is verified again).
    pub(super) fn invalidate(&self, slot: u64) {
        self.entries.invalidate(&slot);
    }

    pub(super) fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Access, ScopeSet};

    fn principal() -> Arc<Principal> {
        Arc::new(Principal {
            token_id: "t1".into(),
            name: "sdk".into(),
            scopes: ScopeSet::from_scopes(&[]),
            projects: Access::All,
            environments: Access::All,
            expires_at: i64::MAX,
        })
    }

    #[test]
    fn a_cached_token_is_found_by_its_own_bytes_only() {
        let cache = VerifiedCache::new(10);
        let token = "header.payload.signature";
        cache.insert(cache.slot(token), token, principal());

        assert!(cache.get(cache.slot(token), token).is_some());
        let forged = "header.payload.signaturf";
        assert!(cache.get(cache.slot(forged), forged).is_none());
    }

    #[test]
    fn another_token_landing_in_the_same_slot_is_not_taken_for_the_cached_one() {
        let cache = VerifiedCache::new(10);
        let token = "header.payload.signature";
        let slot = cache.slot(token);
        cache.insert(slot, token, principal());

        // As if the fast hash of another token collided with this one's.
        assert!(cache.get(slot, "another.token.entirely").is_none());
        assert!(
            cache.get(slot, "header.payload.signatur").is_none(),
            "a prefix is no match"
        );
        assert!(cache.get(slot, token).is_some());
    }

    #[test]
    fn slots_differ_between_caches() {
        // Seeded per cache (so per process): a slot computed elsewhere says nothing here.
        let token = "header.payload.signature";
        let slots: std::collections::HashSet<u64> =
            (0..4).map(|_| VerifiedCache::new(1).slot(token)).collect();
        assert!(slots.len() > 1);
    }
}
