//! The client-side kill switch: flags forced to the caller's default, whatever the snapshot says
//! and whether or not the server is reachable.
//!
//! It is the operator's last resort when the server itself is the problem (down, unreachable,
//! serving something wrong), so it depends on nothing but this process: [`KillList`] comes from
//! `SWITCHBOARD_KILL` (or the builder) at start, and [`crate::Client::kill`] and friends change it
//! at run time.
//!
//! Every evaluation consults it first, so the common case (nothing killed) costs one atomic load:
//! `active` is `false` until something is killed, and only then is the set read.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// `false` while nothing is killed: the only thing an evaluation reads in the common case.
    active: AtomicBool,
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
            active: AtomicBool::new(kills.all || !kills.flags.is_empty()),
            state: ArcSwap::from_pointee(kills),
            writer: Mutex::new(()),
        }
    }

    /// The hot-path check.
    #[inline]
    pub(crate) fn is_killed(&self, key: &str) -> bool {
        if !self.active.load(Ordering::Acquire) {
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
        let active = kills.all || !kills.flags.is_empty();
        self.state.store(Arc::new(kills));
        // After the set: a reader that sees `active` also sees the set it describes.
        self.active.store(active, Ordering::Release);
    }
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
}
