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

use sqlx::AssertSqlSafe;
use tokio::sync::{mpsc, oneshot};

use super::audit::{Actor, Change};
use super::{StoreError, StoreResult, now_micros};

/// Most records in one `INSERT`: 11 parameters each, well under every backend's limit.
const MAX_BATCH: usize = 256;
/// Queued records beyond which readers wait for room (back-pressure, not unbounded memory).
const QUEUE: usize = 4096;

/// One audit row, owned, ready to insert.
#[derive(Debug)]
struct Record {
    at: i64,
    actor: Actor,
    action: String,
    project: Option<String>,
    environment: Option<String>,
    target: String,
    before: Option<String>,
    after: Option<String>,
}

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
        let record = Record {
            at: now_micros(),
            actor: actor.clone(),
            action: change.action.to_owned(),
            project: change.project.map(str::to_owned),
            environment: change.environment.map(str::to_owned),
            target: change.target,
            before: change.before.map(|v| v.to_string()),
            after: change.after.map(|v| v.to_string()),
        };
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

async fn insert(pool: &sqlx::AnyPool, records: &[Record]) -> StoreResult<()> {
    const COLUMNS: usize = 11;
    let rows: Vec<String> = (0..records.len())
        .map(|r| {
            let params: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("${}", r * COLUMNS + c))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit_events (at, actor_token_id, actor_name, source_ip, request_id, action, \
         project, environment, target, before_state, after_state) VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for record in records {
        query = query
            .bind(record.at)
            .bind(record.actor.token_id.clone())
            .bind(record.actor.name.clone())
            .bind(record.actor.source_ip.clone())
            .bind(record.actor.request_id.clone())
            .bind(record.action.clone())
            .bind(record.project.clone())
            .bind(record.environment.clone())
            .bind(record.target.clone())
            .bind(record.before.clone())
            .bind(record.after.clone());
    }
    query.execute(pool).await?;
    Ok(())
}
