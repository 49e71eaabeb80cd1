//! Group commit for the audit records of secret reads.
//!
//! A secret read writes nothing but its audit record, and must not hand out the value before
//! that record is durable. Committing each record on its own costs a transaction (a WAL flush)
//! and a round trip per read, and under load the reads end up waiting for each other's commits
//! anyway. So a read queues its record to one writer task, which inserts everything queued so
//! far with one multi-row `INSERT` (one commit for the lot) and then wakes every reader it
//! carried. A reader gets its value only once the batch holding its record has committed; if
//! the batch fails, every reader in it fails and no value leaves. While one batch commits, the
//! next one fills up: the busier the server, the larger the batches.

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use super::audit::{Actor, Change, Record, insert};
use super::{StoreError, StoreResult};

/// Most records in one `INSERT`: 11 parameters each, well under every backend's limit.
const MAX_BATCH: usize = 256;
/// Queued records beyond which readers wait for room (back-pressure, not unbounded memory).
const QUEUE: usize = 4096;

/// Why a batch failed, for each of its readers (the cause is logged once by the writer).
#[derive(Debug, Clone)]
struct Failure {
    unavailable: bool,
    message: String,
}

type Ack = oneshot::Sender<Result<(), Failure>>;

/// The queue in front of the writer task; started on first use, on the caller's runtime.
#[derive(Debug, Default)]
pub(crate) struct AuditBatcher {
    queue: OnceLock<mpsc::Sender<(Record, Ack)>>,
}

impl AuditBatcher {
    /// Records `change` by `actor` and returns once it is committed.
    pub(crate) async fn record(
        &self,
        pool: &sqlx::AnyPool,
        actor: &Actor,
        change: Change<'_>,
    ) -> StoreResult<()> {
        let record = Record::new(actor, change);
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            // One writer: measured against three, it made larger batches and more reads per
            // second (BENCHMARKS.md).
            tokio::spawn(write_batches(pool.clone(), receiver));
            sender
        });
        let (ack, done) = oneshot::channel();
        let gone = || StoreError::Other(anyhow::anyhow!("the audit writer has stopped"));
        queue.send((record, ack)).await.map_err(|_| gone())?;
        match done.await.map_err(|_| gone())? {
            Ok(()) => Ok(()),
            Err(failure) => {
                let cause =
                    anyhow::anyhow!("recording the audit event failed: {}", failure.message);
                Err(if failure.unavailable {
                    StoreError::Unavailable(cause)
                } else {
                    StoreError::Other(cause)
                })
            }
        }
    }
}

/// The writer: takes whatever is queued (at least one record, at most [`MAX_BATCH`]), inserts
/// it in one statement, tells each reader. Ends when every sender is gone.
async fn write_batches(pool: sqlx::AnyPool, mut receiver: mpsc::Receiver<(Record, Ack)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (records, acks): (Vec<Record>, Vec<Ack>) = batch.drain(..).unzip();
        let result = insert(&pool, &records).await.map_err(|error| {
            tracing::error!(%error, records = records.len(), "writing audit records failed");
            Failure {
                unavailable: matches!(error, StoreError::Unavailable(_)),
                message: error.to_string(),
            }
        });
        for ack in acks {
            // A reader that went away (client disconnected) no longer needs the answer.
            let _ = ack.send(result.clone());
        }
    }
}
