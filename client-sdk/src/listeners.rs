//! Change listeners: callbacks run after a new snapshot has been swapped in.
//!
//! Callbacks run on the thread that applied the snapshot (the refresh task, or the caller of
//! [`crate::Client::apply_snapshot`]), after the swap: an evaluation made inside a callback
//! already sees the new snapshot. They are called outside any lock, so a callback may register
//! or remove listeners and evaluate freely. A panicking callback is caught and logged: one buggy
//! listener must not stop the client from following changes.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::Change;

/// Identifies a registered listener, for [`crate::Client::remove_listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type Callback = Arc<dyn Fn(&Change) + Send + Sync>;

struct Entry {
    id: u64,
    /// `None`: any change; otherwise only changes that affect this flag.
    flag: Option<Box<str>>,
    callback: Callback,
}

#[derive(Default)]
pub(crate) struct Listeners {
    next_id: AtomicU64,
    entries: Mutex<Vec<Entry>>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.lock().len();
        f.debug_struct("Listeners").field("count", &count).finish()
    }
}

impl Listeners {
    pub(crate) fn add(&self, flag: Option<&str>, callback: Callback) -> ListenerId {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().push(Entry {
            id,
            flag: flag.map(Into::into),
            callback,
        });
        ListenerId(id)
    }

    pub(crate) fn remove(&self, id: ListenerId) -> bool {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|e| e.id != id.0);
        entries.len() != before
    }

    pub(crate) fn notify(&self, change: &Change) {
        // Collected first, so that callbacks run without the lock held.
        let due: Vec<Callback> = self
            .lock()
            .iter()
            .filter(|e| e.flag.as_deref().is_none_or(|key| change.affects(key)))
            .map(|e| Arc::clone(&e.callback))
            .collect();
        for callback in due {
            if catch_unwind(AssertUnwindSafe(|| callback(change))).is_err() {
                tracing::error!(
                    revision = change.revision,
                    "Switchboard: a change listener panicked; the client carries on"
                );
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // Entries are pushed and retained whole; a poisoned list is still a valid list.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn change(flags: &[&str]) -> Change {
        Change {
            revision: 2,
            previous_revision: Some(1),
            flags: flags.iter().map(|f| f.to_string()).collect(),
            config: Vec::new(),
        }
    }

    #[test]
    fn flag_listeners_hear_only_their_flag_and_any_listeners_hear_everything() {
        let listeners = Listeners::default();
        let (any, mine) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let any_count = Arc::clone(&any);
        listeners.add(
            None,
            Arc::new(move |_| {
                any_count.fetch_add(1, Ordering::SeqCst);
            }),
        );
        let mine_count = Arc::clone(&mine);
        let id = listeners.add(
            Some("b"),
            Arc::new(move |_| {
                mine_count.fetch_add(1, Ordering::SeqCst);
            }),
        );

        listeners.notify(&change(&["a"]));
        listeners.notify(&change(&["a", "b"]));
        assert!(listeners.remove(id));
        assert!(!listeners.remove(id));
        listeners.notify(&change(&["b"]));

        assert_eq!(
            (any.load(Ordering::SeqCst), mine.load(Ordering::SeqCst)),
            (3, 1)
        );
    }

    #[test]
    fn a_panicking_listener_does_not_stop_the_others() {
        let listeners = Listeners::default();
        let heard = Arc::new(AtomicUsize::new(0));
        listeners.add(None, Arc::new(|_| panic!("listener bug")));
        let count = Arc::clone(&heard);
        listeners.add(
            None,
            Arc::new(move |_| {
                count.fetch_add(1, Ordering::SeqCst);
            }),
        );
        listeners.notify(&change(&["a"]));
        assert_eq!(heard.load(Ordering::SeqCst), 1);
    }
}
