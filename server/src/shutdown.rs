//! Stopping the background work at shutdown.
//!
//! Beside its HTTP workers the server runs a few loops for as long as it lives: the revocation
//! watcher, the snapshot poller, the Redis bus listener, the readiness checks and the webhook
//! delivery loop. Left alone they would outlive
//! `Application::run_until_stopped` (in `startup`), still polling a store that is being
//! closed. So each loop is spawned through [`BackgroundTasks`] with a [`Shutdown`] it waits on
//! beside its own work, and checks only between two rounds: a round in progress (a query, a
//! reload) finishes instead of being cut in half. Once the HTTP server has drained,
//! [`BackgroundTasks::stop`] fires the signal and joins the loops, bounded by the shutdown
//! timeout; a loop that overstays is aborted.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Interval;

/// A background loop's view of the shutdown signal; cheap to clone.
#[derive(Clone, Debug)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Completes once shutdown has been requested, at once if it already was. A signal whose
    /// sender is gone counts as requested: nothing is left to work for.
    pub async fn requested(&self) {
        let mut receiver = self.0.clone();
        let _ = receiver.wait_for(|stop| *stop).await;
    }

    /// Waits for `ticker`'s next tick and says `true`, or says `false` as soon as shutdown is
    /// requested: a polling loop reads `while shutdown.next_tick(&mut ticker).await { … }`.
    pub async fn next_tick(&self, ticker: &mut Interval) -> bool {
        tokio::select! {
            biased;
            () = self.requested() => false,
            _ = ticker.tick() => true,
        }
    }

    /// Whether shutdown has been requested already (without waiting).
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// A signal of its own (not tied to [`BackgroundTasks`]): the sender fires it, every
/// [`Shutdown`] made from it sees it. The drain at SIGTERM uses one (see `draining`).
pub(crate) fn signal() -> (watch::Sender<bool>, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (sender, Shutdown(receiver))
}

/// How many background tasks are still running. A handle of its own so that it can be read
/// after the application that spawned them is gone (which is when it matters).
#[derive(Clone, Debug, Default)]
pub struct RunningTasks(Arc<AtomicUsize>);

impl RunningTasks {
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Counts one task for as long as its future exists: ended, aborted or dropped with the
/// runtime, it stops counting.
struct Running(Arc<AtomicUsize>);

impl Running {
    fn enter(tasks: &RunningTasks) -> Self {
        tasks.0.fetch_add(1, Ordering::AcqRel);
        Self(tasks.0.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The long-lived tasks of one server, stopped and joined together.
#[derive(Debug)]
pub struct BackgroundTasks {
    signal: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    running: RunningTasks,
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        Self {
            signal: watch::channel(false).0,
            handles: Vec::new(),
            running: RunningTasks::default(),
        }
    }
}

impl BackgroundTasks {
    /// The signal to hand to a loop before spawning it here.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(self.signal.subscribe())
    }

    /// Runs `task` on the runtime until it ends or [`stop`](Self::stop) gives up on it.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        let running = Running::enter(&self.running);
        self.handles.push(tokio::spawn(async move {
            let _running = running;
            task.await;
        }));
    }

    pub fn running(&self) -> RunningTasks {
        self.running.clone()
    }

    /// Signals every task, waits up to `limit` for all of them to end and aborts the rest.
    #[tracing::instrument(skip_all)]
    pub async fn stop(self, limit: Duration) {
        self.signal.send_replace(true);
        let mut handles = self.handles;
        let joined = futures_util::future::join_all(handles.iter_mut());
        match tokio::time::timeout(limit, joined).await {
            Ok(results) => {
                for error in results.into_iter().filter_map(Result::err) {
                    tracing::warn!(%error, "a background task failed before shutdown");
                }
            }
            Err(_) => {
                tracing::warn!(
                    ?limit,
                    "background tasks did not stop within the shutdown timeout; aborting them"
                );
                for handle in &handles {
                    handle.abort();
                }
                // Aborted tasks end at their next await; wait for that so none outlives us.
                futures_util::future::join_all(handles).await;
            }
        }
    }
}
