//! The current snapshot, swapped atomically.
//!
//! Readers (every evaluation) load an [`ArcSwapOption`]: no lock, no reference-count traffic in
//! the common case, and either the old snapshot or the new one, never half of an update. Writers
//! are rare (one per change on the server), compile the new snapshot, and are serialized by a
//! mutex that readers never touch, so that the revision check and the swap are one step.
//!
//! On top of that, each thread keeps the snapshot it last read in a one-entry cache, tagged with
//! the store's `generation` (a new, process-unique number at every swap). While nothing changes, a
//! read is one atomic load and a thread-local lookup: no contended reference count and none of
//! arc-swap's bookkeeping, which otherwise costs as much as evaluating a rollout. The snapshot is
//! moved out of its slot for the duration of a read and back after it, so a read may run any code,
//! including further reads (they find the slot empty and load for themselves). The price is that a
//! thread keeps the last snapshot it read alive until it reads again or exits. Replaced snapshots
//! are retired to the writer, which frees them once no thread holds them any more: otherwise the
//! reader dropping the last reference would pay for freeing a whole snapshot in the middle of an
//! evaluation. A retired snapshot is freed at a later swap once unused.
//!
//! The revision rule: the server's revisions only grow, so a snapshot older than the one held is
//! a late answer (or a stale bootstrap/persisted file) and is ignored. The rule only compares
//! snapshots of the same project and environment; a snapshot of another one replaces whatever
//! is held (the server decides what the token reads).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use switchboard_core::{CompiledSnapshot, Snapshot};

use crate::diff;

/// A snapshot as served: compiled for evaluation, and kept as received for change detection and
/// persistence.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) compiled: CompiledSnapshot,
    pub(crate) snapshot: Snapshot,
}

/// What changed when a new snapshot was swapped in; given to change listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Change {
    /// The revision now served.
    pub revision: u64,
    /// The revision served before, if any.
    pub previous_revision: Option<u64>,
    /// Keys of the flags whose definition or state changed, that appeared or disappeared, or
    /// that use a segment that changed; sorted. On the first snapshot: every flag.
    pub flags: Vec<String>,
    /// Config keys whose value changed, appeared or disappeared; sorted.
    pub config: Vec<String>,
}

impl Change {
    /// Whether flag `key` is among the changed flags.
    pub fn affects(&self, key: &str) -> bool {
        self.flags.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
    }
}

/// What became of a snapshot offered to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It is now served; listeners have been told.
    Applied(Change),
    /// It has the revision already served: nothing to do.
    Unchanged,
    /// It is older than the snapshot served (revision `current`): ignored.
    Stale { current: u64 },
}

#[derive(Debug)]
pub(crate) struct Store {
    current: ArcSwapOption<Loaded>,
    /// Which snapshot is current, as a number no other store and no other swap of this one
    /// ever has (from [`next_generation`]): tells a thread whether its cached snapshot is still
    /// current, whichever store it came from.
    generation: AtomicU64,
    /// Serializes writers; holds the replaced snapshots that some thread may still be reading.
    writer: Mutex<Vec<Arc<Loaded>>>,
}

/// A number never handed out before in this process. Starts at 1: 0 marks an empty cache.
/// Only writers (a new store, a swap) take one, so the shared counter is never contended.
fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// The cache entry is two one-word thread-locals rather than one struct: a read moves the
// snapshot out and back and compares the tag in place, each a single 8-byte load or store.
// A three-word struct moved in and out was copied through the stack with 16-byte stores that
// the next 8-byte loads stalled on (`perf annotate`: 29 % of this function's samples on two
// such loads).
thread_local! {
    /// The snapshot this thread read last; empty while a read of this thread runs.
    static LAST_READ: Cell<Option<Arc<Loaded>>> = const { Cell::new(None) };
    /// The generation `LAST_READ` was current at; 0 for none.
    static LAST_READ_GENERATION: Cell<u64> = const { Cell::new(0) };
}

impl Default for Store {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            generation: AtomicU64::new(next_generation()),
            writer: Mutex::new(Vec::new()),
        }
    }
}

impl Store {
    /// Runs `read` on the current snapshot: the evaluation path. Never blocks, and never sees a
    /// snapshot older than one this thread has already seen.
    #[inline]
    pub(crate) fn read<R>(&self, read: impl FnOnce(Option<&Loaded>) -> R) -> R {
        // Acquire: pairs with the Release bump after the swap, so that a thread seeing the new
        // generation also loads (at least) the new snapshot.
        let generation = self.generation.load(Ordering::Acquire);
        // Empty while `read` runs, and after the thread-local is gone (thread exit).
        let cached = LAST_READ.try_with(Cell::take).ok().flatten();
        let loaded = match cached {
            Some(loaded) if LAST_READ_GENERATION.get() == generation => Some(loaded),
            // Another store's, an older one, or none.
            _ => self.current.load_full(),
        };
        let result = read(loaded.as_deref());
        // Back for the next read on this thread; replaces whatever a read inside `read` left.
        // During thread exit it is simply dropped.
        if LAST_READ.try_with(move |slot| slot.set(loaded)).is_ok() {
            LAST_READ_GENERATION.set(generation);
        }
        result
    }

    /// An owned reference (persistence).
    pub(crate) fn load_full(&self) -> Option<Arc<Loaded>> {
        self.current.load_full()
    }

    /// Swaps `snapshot` in unless the revision rule says otherwise.
    pub(crate) fn apply(&self, snapshot: Snapshot) -> Outcome {
        // The swap is whole, so a panic elsewhere under this lock cannot leave a torn state.
        let mut retired = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let old = self.current.load_full();
        let held = old.as_deref().map(|o| &o.snapshot);
        if let Some(held) = held.filter(|h| same_environment(h, &snapshot)) {
            if snapshot.revision < held.revision {
                return Outcome::Stale {
                    current: held.revision,
                };
            }
            if snapshot.revision == held.revision {
                return Outcome::Unchanged;
            }
        }
        let (flags, config) = diff::changes(held, &snapshot);
        let change = Change {
            revision: snapshot.revision,
            previous_revision: held.map(|h| h.revision),
            flags,
            config,
        };
        let compiled = CompiledSnapshot::compile(&snapshot);
        for warning in compiled.warnings() {
            tracing::warn!(
                %warning,
                revision = snapshot.revision,
                "Switchboard: this evaluates to the caller's default until it is fixed"
            );
        }
        drop(old);
        let replaced = self
            .current
            .swap(Some(Arc::new(Loaded { compiled, snapshot })));
        // Release, after the swap: see `read`.
        self.generation.store(next_generation(), Ordering::Release);
        retired.extend(replaced);
        // A count of one is the list's own reference: no thread can reach that snapshot any
        // more (it is no longer current), so it is freed here, on the writer's time.
        retired.retain(|loaded| Arc::strong_count(loaded) > 1);
        Outcome::Applied(change)
    }
}

fn same_environment(a: &Snapshot, b: &Snapshot) -> bool {
    a.project == b.project && a.environment == b.environment
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(revision: u64) -> Snapshot {
        Snapshot::new("shop", "production", revision)
    }

    #[test]
    fn newer_revisions_replace_and_older_or_equal_ones_are_ignored() {
        let store = Store::default();
        assert!(matches!(store.apply(at(5)), Outcome::Applied(c) if c.previous_revision.is_none()));
        assert_eq!(store.apply(at(3)), Outcome::Stale { current: 5 });
        assert_eq!(store.apply(at(5)), Outcome::Unchanged);
        assert!(
            matches!(store.apply(at(6)), Outcome::Applied(c) if c.previous_revision == Some(5))
        );
        assert_eq!(store.load_full().unwrap().compiled.revision(), 6);
    }

    #[test]
    fn replaced_snapshots_are_freed_by_a_later_swap_once_no_reader_holds_them() {
        let store = Store::default();
        store.apply(at(1));
        let reader = store.load_full().unwrap();
        let first = Arc::downgrade(&reader);
        store.apply(at(2));
        assert!(first.upgrade().is_some(), "still read");

        drop(reader);
        store.apply(at(3));

        assert!(first.upgrade().is_none());
        assert!(
            store.writer.lock().unwrap().is_empty(),
            "revision 2 was never read: freed at once"
        );
    }

    #[test]
    fn another_environment_replaces_whatever_its_revision() {
        let store = Store::default();
        store.apply(at(9));
        let mut other = at(1);
        other.environment = "staging".into();
        assert!(matches!(store.apply(other), Outcome::Applied(_)));
        assert_eq!(
            store.read(|l| l.unwrap().compiled.environment().to_owned()),
            "staging"
        );
    }

    /// One thread's cache serves every store: reading two clients in turn (or a client built
    /// after another was dropped) must never answer one's read with the other's snapshot.
    #[test]
    fn a_thread_reading_several_stores_gets_each_ones_snapshot() {
        let revision = |l: Option<&Loaded>| l.map(|l| l.compiled.revision());
        let (a, b) = (Store::default(), Store::default());
        a.apply(at(1));
        b.apply(at(7));
        for _ in 0..3 {
            assert_eq!(a.read(revision), Some(1));
            assert_eq!(b.read(revision), Some(7));
        }
        drop(b);
        let c = Store::default();
        assert_eq!(c.read(revision), None, "a new store has nothing yet");
        c.apply(at(2));
        assert_eq!(c.read(revision), Some(2));
        assert_eq!(a.read(revision), Some(1));
    }

    /// A read may run further reads (a getter inside `with_view`) and even apply a snapshot:
    /// the outer read keeps its revision, the inner ones see the newest, and so does the next.
    #[test]
    fn reads_nest_and_the_next_read_sees_what_was_applied_meanwhile() {
        let store = Store::default();
        store.apply(at(1));
        let revision = |l: Option<&Loaded>| l.map(|l| l.compiled.revision());
        let seen = store.read(|outer| {
            store.apply(at(2));
            let inner = store.read(revision);
            (revision(outer), inner, revision(outer))
        });
        assert_eq!(seen, (Some(1), Some(2), Some(1)));
        assert_eq!(store.read(revision), Some(2));
    }
}
