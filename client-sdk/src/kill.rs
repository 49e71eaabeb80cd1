//! The client-side kill switch: flags forced to the caller's default, whatever the snapshot says
//! and whether or not the server is reachable.
//!
//! It is the operator's last resort when the server itself is the problem (down, unreachable,
//! serving something wrong), so it depends on nothing but this process: [`KillList`] comes from
//! `SWITCHBOARD_KILL` (or the builder) at start, and [`crate::Client::kill`] and friends change it
//! at run time.
//!
//! Every evaluation consults it first, so it has to be cheap in both states an application sees:
//! - nothing killed (nearly always): one atomic load;
//! - some flags killed (an incident, when every other flag must keep its speed): that load, a
//!   hash of the key and a bit test against a 64-slot filter of the killed keys. Only a killed
//!   key, or one sharing its slot, reads the exact set.

use std::collections::HashSet;
use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

/// The environment variable read by [`crate::ClientBuilder::build`] unless the builder was given
/// a [`KillList`]: `flag_a,flag_b`, or `*` for every flag.
pub const KILL_ENV_VAR: &str = "SWITCHBOARD_KILL";

/// Flags to kill at start: a list of keys, or every flag.
///
/// Parsing never fails: entries are separated by commas, surrounding spaces are ignored, empty
/// entries are skipped, and a `*` entry kills everything. A typo therefore kills nothing (there
/// is no flag by that name) rather than preventing the application from starting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KillList {
    all: bool,
    flags: Vec<String>,
}

impl KillList {
    /// Kills nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Kills every flag.
    pub fn all() -> Self {
        Self {
            all: true,
            flags: Vec::new(),
        }
    }

    /// Kills these flags.
    pub fn flags<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = Self::default();
        for key in keys {
            list.push(key.into());
        }
        list
    }

    /// Parses `flag_a,flag_b` or `*` (see the type's documentation).
    pub fn parse(text: &str) -> Self {
        let mut list = Self::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                list.all = true;
            } else {
                list.push(entry.to_owned());
            }
        }
        list
    }

    /// Reads [`KILL_ENV_VAR`]; unset kills nothing. A value that is not valid Unicode cannot
    /// name a flag and is ignored, with a warning.
    pub fn from_env() -> Self {
        match std::env::var(KILL_ENV_VAR) {
            Ok(text) => Self::parse(&text),
            Err(std::env::VarError::NotPresent) => Self::none(),
            Err(std::env::VarError::NotUnicode(_)) => {
                tracing::warn!("{KILL_ENV_VAR} is not valid Unicode; ignored");
                Self::none()
            }
        }
    }

    /// Whether every flag is killed.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The flags killed by name (in the order given, without duplicates).
    pub fn keys(&self) -> &[String] {
        &self.flags
    }

    /// Whether nothing is killed.
    pub fn is_empty(&self) -> bool {
        !self.all && self.flags.is_empty()
    }

    fn push(&mut self, key: String) {
        if !self.flags.contains(&key) {
            self.flags.push(key);
        }
    }
}

impl FromStr for KillList {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::parse(text))
    }
}

impl fmt::Display for KillList {
    /// The `SWITCHBOARD_KILL` form: `*`, or the keys joined by commas.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("*");
        }
        f.write_str(&self.flags.join(","))
    }
}

/// The run-time kill switch shared by every clone of a client.
#[derive(Debug)]
pub(crate) struct KillSwitch {
    /// One bit per slot (see [`slot_bit`]) holding a killed key; every bit after `kill_all`; 0
    /// while nothing is killed. A key whose bit is clear is not killed, without reading `state`.
    filter: AtomicU64,
    /// Copy-on-write, so that evaluations never wait for `kill`/`revive`.
    state: ArcSwap<Kills>,
    /// Serializes writers, so that two concurrent changes cannot lose one another.
    writer: Mutex<()>,
}

#[derive(Debug, Clone, Default)]
struct Kills {
    all: bool,
    /// Looked up on every evaluation while anything is killed, hence foldhash.
    flags: HashSet<Box<str>, foldhash::fast::RandomState>,
}

impl KillSwitch {
    pub(crate) fn new(initial: &KillList) -> Self {
        let kills = Kills {
            all: initial.all,
            flags: initial.flags.iter().map(|k| k.as_str().into()).collect(),
        };
        Self {
            filter: AtomicU64::new(kills.filter()),
            state: ArcSwap::from_pointee(kills),
            writer: Mutex::new(()),
        }
    }

    /// The hot-path check: while nothing is killed, one atomic load inlined into the getter
    /// (the key is not even hashed).
    #[inline]
    pub(crate) fn is_killed(&self, key: &str) -> bool {
        let filter = self.filter.load(Ordering::Acquire);
        filter != 0 && self.is_killed_given(filter, key)
    }

    /// The check while something is killed, out of line so that the idle path stays small.
    #[inline(never)]
    fn is_killed_given(&self, filter: u64, key: &str) -> bool {
        if filter & slot_bit(key) == 0 {
            return false;
        }
        let kills = self.state.load();
        kills.all || kills.flags.contains(key)
    }

    pub(crate) fn kill(&self, key: &str) {
        self.update(|k| {
            k.flags.insert(key.into());
        });
    }

    pub(crate) fn revive(&self, key: &str) {
        self.update(|k| {
            k.flags.remove(key);
        });
    }

    pub(crate) fn kill_all(&self) {
        self.update(|k| k.all = true);
    }

    pub(crate) fn revive_all(&self) {
        self.update(|k| *k = Kills::default());
    }

    /// What is killed now, keys sorted.
    pub(crate) fn list(&self) -> KillList {
        let kills = self.state.load();
        let mut keys: Vec<String> = kills.flags.iter().map(|k| k.to_string()).collect();
        keys.sort();
        KillList {
            all: kills.all,
            flags: keys,
        }
    }

    fn update(&self, change: impl FnOnce(&mut Kills)) {
        // A panic while holding this lock cannot leave `state` half-written (it is swapped
        // whole), so a poisoned lock is safe to keep using.
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut kills = Kills::clone(&self.state.load());
        change(&mut kills);
        let filter = kills.filter();
        self.state.store(Arc::new(kills));
        // After the set: a reader that sees a bit also sees the set it was computed from. A
        // reader that still sees a cleared key's bit just takes the exact check.
        self.filter.store(filter, Ordering::Release);
    }
}

impl Kills {
    fn filter(&self) -> u64 {
        if self.all {
            return u64::MAX;
        }
        self.flags.iter().fold(0, |bits, key| bits | slot_bit(key))
    }
}

/// The filter bit of `key`: one of 64 slots, from a fixed hash (the same in every thread, and
/// unlike `RandomState`, the same for the filter's writer and its readers).
#[inline]
fn slot_bit(key: &str) -> u64 {
    let hash = foldhash::fast::FixedState::default().hash_one(key);
    // The top bits: foldhash mixes them best.
    1 << (hash >> 58)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_is_comma_separated_with_spaces_and_empty_entries_ignored() {
        let list = KillList::parse(" new-checkout, ,dark-mode,,new-checkout ");
        assert!(!list.is_all());
        assert_eq!(list.keys(), ["new-checkout", "dark-mode"]);
        assert_eq!(list.to_string(), "new-checkout,dark-mode");
    }

    #[test]
    fn a_star_kills_everything() {
        assert!(KillList::parse("*").is_all());
        assert!(KillList::parse("a, *").is_all());
        assert_eq!(KillList::parse(" * ").to_string(), "*");
    }

    #[test]
    fn an_empty_value_kills_nothing() {
        assert!(KillList::parse("").is_empty());
        assert!(KillList::parse(" , ").is_empty());
        assert_eq!("".parse::<KillList>(), Ok(KillList::none()));
    }

    #[test]
    fn kill_and_revive_flip_single_flags_and_kill_all_covers_every_flag() {
        let switch = KillSwitch::new(&KillList::parse("a"));
        assert!(switch.is_killed("a"));
        assert!(!switch.is_killed("b"));

        switch.kill("b");
        switch.revive("a");
        assert!(!switch.is_killed("a"));
        assert!(switch.is_killed("b"));

        switch.kill_all();
        switch.revive("b");
        assert!(switch.is_killed("a"), "kill_all stays until revive_all");
        assert!(switch.is_killed("anything"));

        switch.revive_all();
        assert!(!switch.is_killed("a") && !switch.is_killed("b"));
        assert!(switch.list().is_empty());
    }

    /// 1 000 keys share 64 filter slots, so some share the killed key's slot: those must be told
    /// apart by the exact set, and the others by the filter alone.
    #[test]
    fn only_killed_keys_are_killed_whichever_filter_slot_they_share() {
        let switch = KillSwitch::new(&KillList::none());
        assert_eq!(
            switch.filter.load(Ordering::Relaxed),
            0,
            "nothing killed, nothing set"
        );

        switch.kill("flag-7");
        let killed_bit = slot_bit("flag-7");
        assert_eq!(switch.filter.load(Ordering::Relaxed), killed_bit);
        let keys: Vec<String> = (0..1000).map(|i| format!("flag-{i}")).collect();
        let same_slot = keys.iter().filter(|k| slot_bit(k) == killed_bit).count();
        assert!(
            same_slot > 1,
            "the test needs keys sharing the killed key's slot"
        );
        for key in &keys {
            assert_eq!(switch.is_killed(key), key == "flag-7", "{key}");
        }

        switch.revive("flag-7");
        assert_eq!(switch.filter.load(Ordering::Relaxed), 0);
        assert!(keys.iter().all(|k| !switch.is_killed(k)));

        switch.kill_all();
        assert_eq!(switch.filter.load(Ordering::Relaxed), u64::MAX);
        assert!(keys.iter().all(|k| switch.is_killed(k)));
    }
}
