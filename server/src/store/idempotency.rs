//! Recorded outcomes of writes sent with an `Idempotency-Key` (see `api::idempotency`).
//!
//! A key is *claimed* by inserting an in-flight row (status 0) before the write runs, so two
//! concurrent requests with one key cannot both apply it; the outcome replaces the placeholder
//! once the answer is known. Rows live in the database, not in an instance's memory, so a retry
//! that lands on another instance still finds them.

use sqlx::Row;

use super::{Store, StoreError, StoreResult, now_micros};

/// How long an outcome is replayed (the common convention: 24 hours).
pub const RETENTION_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// How long an in-flight claim holds its key: longer than a request may take. Every request
/// answers within `db_timeout_secs` plus a second (`api::deadline`), so a claim older than
/// `db_timeout_secs` plus this slack (room for the clocks of several instances to differ)
/// belongs to a request that was cut off (a database outage) or never finished (its instance
/// died); a retry takes the key over and runs the request again, as it would without a key.
/// A cut-off write was rolled back; a write whose commit was in flight commits together with
/// its outcome or not at all (`store::write_scope`), and until it ends it holds the claim's row,
/// so the retry's take-over waits for it on PostgreSQL instead of applying the write twice.
pub const IN_FLIGHT_SLACK: std::time::Duration = std::time::Duration::from_secs(10);

fn in_flight_micros(db_timeout: std::time::Duration) -> i64 {
    i64::try_from((db_timeout + IN_FLIGHT_SLACK).as_micros()).unwrap_or(i64::MAX)
}

/// Who asked what: digests only (the token and the body are never stored).
#[derive(Debug, Clone)]
pub struct Claim {
    pub caller: String,
    pub key: String,
    pub request_hash: String,
}

/// A recorded answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: u16,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// What claiming a key found.
#[derive(Debug)]
pub enum Claimed {
    /// The key is new (or expired): run the request, then [`record`] or [`release`].
    Fresh,
    /// The same request was answered before: replay this.
    Replay(Outcome),
    /// The same key with another method, path, body or token.
    Mismatch,
    /// The first request with this key has not been answered yet.
    InFlight,
}

/// Claims `claim.key` for this caller, or returns what an earlier request with it left.
#[tracing::instrument(skip_all)]
pub async fn claim(
    store: &Store,
    claim: &Claim,
    db_timeout: std::time::Duration,
) -> StoreResult<Claimed> {
    let now = now_micros();
    // Expired outcomes and abandoned claims give the key back.
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 \
         AND (created_at < $3 OR (status = 0 AND created_at < $4))",
    )
    .bind(claim.caller.clone())
    .bind(claim.key.clone())
    .bind(now - RETENTION_MICROS)
    .bind(now - in_flight_micros(db_timeout))
    .execute(store.pool())
    .await?;
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (caller, key, request_hash, status, created_at) \
         VALUES ($1, $2, $3, 0, $4)",
    )
    .bind(claim.caller.clone())
    .bind(claim.key.clone())
    .bind(claim.request_hash.clone())
    .bind(now)
    .execute(store.pool())
    .await;
    match inserted.map_err(StoreError::from) {
        Ok(_) => return Ok(Claimed::Fresh),
        Err(StoreError::Conflict) => {}
        Err(other) => return Err(other),
    }
    let row = sqlx::query(
        "SELECT request_hash, status, etag, location, content_type, body FROM idempotency_keys \
         WHERE caller = $1 AND key = $2",
    )
    .bind(claim.caller.clone())
    .bind(claim.key.clone())
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        // Released between our insert and our read: the other request failed; so may we.
        return Ok(Claimed::InFlight);
    };
    if row.try_get::<String, _>("request_hash")? != claim.request_hash {
        return Ok(Claimed::Mismatch);
    }
    let status: i64 = row.try_get("status")?;
    if status == 0 {
        return Ok(Claimed::InFlight);
    }
    Ok(Claimed::Replay(Outcome {
        status: u16::try_from(status).map_err(anyhow::Error::from)?,
        etag: row.try_get("etag")?,
        location: row.try_get("location")?,
        content_type: row.try_get("content_type")?,
        body: row
            .try_get::<Option<String>, _>("body")?
            .unwrap_or_default(),
    }))
}

/// Stores the answer of the request that holds the claim: inside the write's own transaction
/// when the request wrote (`store::write_scope`), so that the two commit together.
#[tracing::instrument(skip_all)]
pub async fn record<'c>(
    executor: impl sqlx::Executor<'c, Database = sqlx::Any>,
    claim: &Claim,
    outcome: &Outcome,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, etag = $2, location = $3, content_type = $4, \
         body = $5 WHERE caller = $6 AND key = $7 AND status = 0",
    )
    .bind(i64::from(outcome.status))
    .bind(outcome.etag.clone())
    .bind(outcome.location.clone())
    .bind(outcome.content_type.clone())
    .bind(outcome.body.clone())
    .bind(claim.caller.clone())
    .bind(claim.key.clone())
    .execute(executor)
    .await?;
    Ok(())
}

/// Gives the key back after an answer that is not an outcome (a 5xx, a 401, a 429): the
/// client's retry with the same key runs the request again.
#[tracing::instrument(skip_all)]
pub async fn release(store: &Store, claim: &Claim) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND status = 0")
        .bind(claim.caller.clone())
        .bind(claim.key.clone())
        .execute(store.pool())
        .await?;
    Ok(())
}
