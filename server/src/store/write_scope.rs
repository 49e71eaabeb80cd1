//! What one HTTP request's writes share: its deadline, whether its commit has started, and (with
//! an `Idempotency-Key`) the transaction that will also hold the recorded outcome.
//!
//! Two promises meet here, and they pull in opposite directions:
//!
//! - **every request answers within `db_timeout_secs`** (plus a margin), also when the database
//!   goes silent under a write, which would otherwise hold the request for as long as TCP takes
//!   to give up (minutes);
//! - **a write that committed is never answered as failed**, so the time bound may only strike
//!   *before* the commit (dropping an open transaction rolls it back: nothing was applied).
//!
//! `api::deadline` runs every request inside a [`WriteScope`] and, at the deadline, asks it how
//! far the write got ([`Progress`]): not committing yet, the request is dropped and answered 503
//! ("nothing was changed"); a commit in flight, the answer says the outcome is unknown and how
//! to learn it; committed, the request is let finish (its follow-up is bounded by the same
//! deadline, `AppState::publish`). Every store write commits through [`commit`], the one place
//! that knows.
//!
//! With an `Idempotency-Key`, `api::idempotency` puts the claim in the scope and [`commit`]
//! *parks* the write's transaction there instead of committing it; once the handler answered,
//! the middleware writes the outcome into that same transaction and commits both at once
//! ([`WriteScope::finish`]). So a write is recorded with its answer or not at all: a retry with
//! the key after an outage replays exactly what the first request answered, even when the
//! answer never reached the client. The snapshot follow-up of a parked write waits for the
//! commit (`AppState::publish` defers it through [`WriteScope::defer`]).
//!
//! Outside a request (start-up, maintenance) there is no scope, and [`commit`] commits at once.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::{Any, Transaction};
use tokio::time::Instant;

use super::idempotency::{self, Claim, Outcome};
use super::{StoreError, StoreResult};
use crate::changes::Changed;

tokio::task_local! {
    static SCOPE: Arc<WriteScope>;
}

/// How far the request's writes got, as the deadline sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing committed and no commit in flight: dropping the request changes nothing.
    Open,
    /// A `COMMIT` was sent and has not been answered: it may or may not have been applied.
    Committing,
    /// The last write committed; what remains is the answer and the follow-up.
    Committed,
}

/// How a request that held its writes for an `Idempotency-Key` ends.
#[derive(Clone, Copy, Debug)]
pub enum Ending<'a> {
    /// An answer worth replaying: recorded in the write's transaction, committed with it.
    Record(&'a Outcome),
    /// A successful answer that must not be stored (`Cache-Control: no-store`): the write is
    /// committed without it.
    Commit,
    /// A failed answer (a 5xx after the write, …): the write is rolled back.
    Abandon,
}

/// One request's writes; see the module documentation.
pub struct WriteScope {
    deadline: Instant,
    progress: AtomicU8,
    claim: Mutex<Option<Claim>>,
    parked: Mutex<Option<Transaction<'static, Any>>>,
    follow_ups: Mutex<Vec<Changed>>,
}

impl std::fmt::Debug for WriteScope {
    // By hand: an open transaction has no `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteScope")
            .field("deadline", &self.deadline)
            .field("progress", &self.progress())
            .field("parked", &lock(&self.parked).is_some())
            .finish_non_exhaustive()
    }
}

impl WriteScope {
    pub fn new(deadline: Instant) -> Arc<Self> {
        Arc::new(Self {
            deadline,
            progress: AtomicU8::new(Progress::Open as u8),
            claim: Mutex::new(None),
            parked: Mutex::new(None),
            follow_ups: Mutex::new(Vec::new()),
        })
    }

    /// Runs `future` (the rest of the request) with this scope.
    pub async fn run<F: Future>(self: Arc<Self>, future: F) -> F::Output {
        SCOPE.scope(self, future).await
    }

    /// The scope of the running request, if any.
    pub fn current() -> Option<Arc<Self>> {
        SCOPE.try_with(Arc::clone).ok()
    }

    /// When the request must have answered (`db_timeout_secs` after it arrived).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn progress(&self) -> Progress {
        match self.progress.load(Ordering::SeqCst) {
            x if x == Progress::Committing as u8 => Progress::Committing,
            x if x == Progress::Committed as u8 => Progress::Committed,
            _ => Progress::Open,
        }
    }

    fn set(&self, progress: Progress) {
        self.progress.store(progress as u8, Ordering::SeqCst);
    }

    /// From now on, this request's writes are committed together with the outcome for `claim`.
    pub fn hold_for(&self, claim: Claim) {
        *lock(&self.claim) = Some(claim);
    }

    /// Keeps a follow-up until the parked write commits; `false` when nothing is parked (run
    /// it now).
    pub fn defer(&self, changed: Changed) -> bool {
        if lock(&self.parked).is_none() {
            return false;
        }
        lock(&self.follow_ups).push(changed);
        true
    }

    /// Ends a request that held its writes for an `Idempotency-Key` (see [`Ending`]). Returns
    /// the deferred follow-ups to run when a parked write was committed, `None` when nothing
    /// was (the request wrote nothing, or its write was rolled back). An error means the write
    /// was not committed ([`StoreError::OutcomeUnknown`]: may have been, with its outcome).
    pub async fn finish(&self, ending: Ending<'_>) -> StoreResult<Option<Vec<Changed>>> {
        let claim = lock(&self.claim).take();
        let parked = lock(&self.parked).take();
        let follow_ups = std::mem::take(&mut *lock(&self.follow_ups));
        match (claim, parked, ending) {
            (Some(claim), Some(mut tx), Ending::Record(outcome)) => {
                idempotency::record(&mut *tx, &claim, outcome).await?;
                self.commit_now(tx).await?;
                Ok(Some(follow_ups))
            }
            (_, Some(tx), Ending::Commit) => {
                self.commit_now(tx).await?;
                Ok(Some(follow_ups))
            }
            // Dropping the transaction rolls it back.
            _ => Ok(None),
        }
    }

    async fn commit_now(&self, tx: Transaction<'static, Any>) -> StoreResult<()> {
        self.set(Progress::Committing);
        match tx.commit().await.map_err(StoreError::from) {
            Ok(()) => {
                self.set(Progress::Committed);
                Ok(())
            }
            // The connection failed with the COMMIT in flight: applied or not, nobody here
            // can tell. Progress stays `Committing`; the answer says so.
            Err(StoreError::Unavailable(cause)) => Err(StoreError::OutcomeUnknown(cause)),
            Err(other) => {
                self.set(Progress::Open);
                Err(other)
            }
        }
    }
}

/// Commits a store write: at once outside a request, parked for the outcome of an
/// `Idempotency-Key` (see the module documentation), otherwise at once with the request's
/// [`Progress`] kept up to date for the deadline.
pub(crate) async fn commit(tx: Transaction<'static, Any>) -> StoreResult<()> {
    let Some(scope) = WriteScope::current() else {
        return Ok(tx.commit().await?);
    };
    if lock(&scope.claim).is_some() {
        let mut parked = lock(&scope.parked);
        if parked.is_none() {
            *parked = Some(tx);
            return Ok(());
        }
    }
    scope.commit_now(tx).await
}

/// Before a request opens another write transaction: a parked one is committed first, or the
/// two would wait on each other (SQLite has one writer). Its outcome is then recorded after the
/// last write of the request, on its own.
pub(crate) async fn before_begin() -> StoreResult<()> {
    let Some(scope) = WriteScope::current() else {
        return Ok(());
    };
    let parked = lock(&scope.parked).take();
    match parked {
        Some(tx) => scope.commit_now(tx).await,
        None => Ok(()),
    }
}

/// A poisoned lock only means another holder panicked; the data (an `Option`, a list) is
/// still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
