//! The webhook outbox: one row per (audit event, matching endpoint), its attempts, and the
//! lease that lets exactly one instance send it at a time.
//!
//! Rows are inserted by [`enqueue`] in the transaction of the audit event they deliver. The
//! delivery worker (`crate::webhook_delivery`) asks for [`due`] ones and takes each with
//! [`claim`]: `UPDATE … SET claimed_by, claimed_until WHERE id = ? AND (claimed_until IS NULL
//! OR claimed_until < now)`. On PostgreSQL a second instance running the same `UPDATE` waits
//! for the first one's row lock and then re-checks the condition against the claimed row, so
//! it matches nothing; on SQLite there is one writer. The outcome is written by [`record`] only
//! while the claim is still the caller's.

use serde::Serialize;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::audit::{AuditEvent, event_from_row};
use super::{Store, StoreError, StoreResult, format_micros, now_micros};
use crate::webhooks::{EventFilter, Format};

/// Queues `action`'s audit event `audit_id` for every enabled endpoint that wants it: the
/// endpoints of `project`, or for an event outside projects (tokens, the master key) the
/// endpoints that receive global events. Runs inside the audit event's transaction.
pub(crate) async fn enqueue(
    conn: &mut AnyConnection,
    audit_id: i64,
    project: Option<&str>,
    action: &str,
) -> StoreResult<()> {
    let endpoints =
        match project {
            Some(project) => {
                sqlx::query(
                    "SELECT w.id, w.events FROM webhook_endpoints w \
                 JOIN projects p ON p.id = w.project_id WHERE p.name = $1 AND w.enabled = 1",
                )
                .bind(project.to_owned())
                .fetch_all(&mut *conn)
                .await?
            }
            None => sqlx::query(
                "SELECT id, events FROM webhook_endpoints WHERE enabled = 1 AND global_events = 1",
            )
            .fetch_all(&mut *conn)
            .await?,
        };
    let now = now_micros();
    for row in &endpoints {
        let endpoint: String = row.try_get("id")?;
        let events: String = row.try_get("events")?;
        if !EventFilter::stored(&events).matches(action) {
            continue;
        }
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, endpoint_id, audit_event_id, event_type, \
             created_at, status, attempts, next_attempt_at, retry_from, manual) \
             VALUES ($1, $2, $3, $4, $5, 'pending', 0, $5, $5, 0)",
        )
        .bind(format!("msg_{}", uuid::Uuid::now_v7().simple()))
        .bind(endpoint)
        .bind(audit_id)
        .bind(action.to_owned())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Up to `limit` deliveries due now and claimed by nobody (or by an instance whose lease ran
/// out), oldest due first. Another instance may claim them first: see [`claim`].
pub async fn due(store: &Store, limit: usize) -> StoreResult<Vec<String>> {
    let now = now_micros();
    let rows = sqlx::query(
        "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
         AND (d.claimed_until IS NULL OR d.claimed_until < $1) AND w.enabled = 1 \
         ORDER BY d.next_attempt_at LIMIT $2",
    )
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| row.try_get::<String, _>("id").map_err(StoreError::from))
        .collect()
}

/// Takes delivery `id` for `instance` until `lease_micros` from now; `false` when another
/// instance holds it or it is no longer due.
pub async fn claim(
    store: &Store,
    id: &str,
    instance: &str,
    lease_micros: i64,
) -> StoreResult<bool> {
    let now = now_micros();
    let claimed = sqlx::query(
        "UPDATE webhook_deliveries SET claimed_by = $1, claimed_until = $2 \
         WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4 \
         AND (claimed_until IS NULL OR claimed_until < $4)",
    )
    .bind(instance.to_owned())
    .bind(now.saturating_add(lease_micros))
    .bind(id.to_owned())
    .bind(now)
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(claimed == 1)
}

/// What the worker needs to send a claimed delivery.
#[derive(Debug)]
pub struct Outgoing {
    pub id: String,
    pub endpoint_id: String,
    pub url: String,
    pub format: Format,
    pub attempts: i64,
    pub retry_from: i64,
    pub manual: bool,
    pub event: AuditEvent,
}

/// Loads delivery `id` with its endpoint and audit event.
pub async fn outgoing(store: &Store, id: &str) -> StoreResult<Outgoing> {
    let row = sqlx::query(
        "SELECT d.id AS delivery_id, d.endpoint_id, d.attempts, d.retry_from, d.manual, \
         w.url, w.format, a.id, a.at, a.actor_token_id, a.actor_name, a.source_ip, \
         a.request_id, a.action, a.project, a.environment, a.target, a.before_state, \
         a.after_state \
         FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id \
         JOIN audit_events a ON a.id = d.audit_event_id WHERE d.id = $1",
    )
    .bind(id.to_owned())
    .fetch_one(store.pool())
    .await?;
    Ok(Outgoing {
        id: row.try_get("delivery_id")?,
        endpoint_id: row.try_get("endpoint_id")?,
        url: row.try_get("url")?,
        format: Format::stored(&row.try_get::<String, _>("format")?),
        attempts: row.try_get("attempts")?,
        retry_from: row.try_get("retry_from")?,
        manual: row.try_get::<i64, _>("manual")? != 0,
        event: event_from_row(&row)?,
    })
}

/// One attempt's outcome.
#[derive(Debug)]
pub struct Attempt {
    pub at: i64,
    pub duration_ms: i64,
    /// The answer's status; `None` when there was none (refused, timed out, blocked).
    pub status_code: Option<i64>,
    /// Why there was no usable answer, without the URL.
    pub error: Option<String>,
    /// The first bytes of the answer's body, for the delivery log.
    pub response_snippet: Option<String>,
    pub manual: bool,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Try again at this time (microseconds).
    RetryAt(i64),
    /// The retry window is over.
    Failed,
}

/// Logs `attempt` of delivery `id` and moves it on to `next`, releasing `instance`'s claim.
/// The delivery row changes only while the claim is still `instance`'s: `false` when it ran
/// out and another instance took over (the attempt is logged anyway: it happened).
pub async fn record(
    store: &Store,
    id: &str,
    instance: &str,
    attempt: &Attempt,
    next: Next,
) -> StoreResult<bool> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, at, duration_ms, status_code, error, \
         response_snippet, manual) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id.to_owned())
    .bind(attempt.at)
    .bind(attempt.duration_ms)
    .bind(attempt.status_code)
    .bind(attempt.error.clone())
    .bind(attempt.response_snippet.clone())
    .bind(i64::from(attempt.manual))
    .execute(&mut *tx)
    .await?;
    let (status, next_attempt_at) = match next {
        Next::Delivered => ("delivered", attempt.at),
        Next::RetryAt(at) => ("pending", at),
        Next::Failed => ("failed", attempt.at),
    };
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, \
         attempts = attempts + 1, last_status_code = $3, manual = 0, claimed_by = NULL, \
         claimed_until = NULL WHERE id = $4 AND claimed_by = $5",
    )
    .bind(status)
    .bind(next_attempt_at)
    .bind(attempt.status_code)
    .bind(id.to_owned())
    .bind(instance.to_owned())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    super::write_scope::commit(tx).await?;
    Ok(updated == 1)
}

/// A delivery as the log shows it.
#[derive(Debug, Serialize)]
pub struct Delivery {
    pub id: String,
    pub event_type: String,
    pub audit_event_id: i64,
    pub created_at: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// When the next attempt is due (`pending` only).
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    /// Every attempt, oldest first.
    pub log: Vec<AttemptView>,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub at: String,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
    pub manual: bool,
}

/// Endpoint `endpoint`'s deliveries, newest first, before `before` (an id), optionally only
/// those with `status`.
pub async fn list(
    store: &Store,
    endpoint: &str,
    status: Option<&str>,
    before: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Delivery>> {
    let rows = sqlx::query(
        "SELECT id, event_type, audit_event_id, created_at, status, attempts, next_attempt_at, \
         last_status_code FROM webhook_deliveries \
         WHERE endpoint_id = $1 AND ($2 = '' OR status = $2) AND ($3 = '' OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(endpoint.to_owned())
    .bind(status.unwrap_or("").to_owned())
    .bind(before.unwrap_or("").to_owned())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    let mut deliveries = Vec::with_capacity(rows.len());
    for row in &rows {
        let status: String = row.try_get("status")?;
        deliveries.push(Delivery {
            id: row.try_get("id")?,
            event_type: row.try_get("event_type")?,
            audit_event_id: row.try_get("audit_event_id")?,
            created_at: format_micros(row.try_get("created_at")?),
            next_attempt_at: (status == "pending")
                .then(|| row.try_get("next_attempt_at").map(format_micros))
                .transpose()?,
            status,
            attempts: row.try_get("attempts")?,
            last_status_code: row.try_get("last_status_code")?,
            log: Vec::new(),
        });
    }
    if deliveries.is_empty() {
        return Ok(deliveries);
    }
    let placeholders: Vec<String> = (1..=deliveries.len()).map(|i| format!("${i}")).collect();
    let mut query = sqlx::query(AssertSqlSafe(format!(
        "SELECT delivery_id, at, duration_ms, status_code, error, response_snippet, manual \
         FROM webhook_attempts WHERE delivery_id IN ({}) ORDER BY id",
        placeholders.join(", ")
    )));
    for delivery in &deliveries {
        query = query.bind(delivery.id.clone());
    }
    for row in query.fetch_all(store.pool()).await? {
        let delivery_id: String = row.try_get("delivery_id")?;
        if let Some(delivery) = deliveries.iter_mut().find(|d| d.id == delivery_id) {
            delivery.log.push(AttemptView {
                at: format_micros(row.try_get("at")?),
                duration_ms: row.try_get("duration_ms")?,
                status_code: row.try_get("status_code")?,
                error: row.try_get("error")?,
                response_snippet: row.try_get("response_snippet")?,
                manual: row.try_get::<i64, _>("manual")? != 0,
            });
        }
    }
    Ok(deliveries)
}

/// Schedules delivery `id` of endpoint `endpoint` for another attempt now, whatever its status,
/// with a fresh retry window. `false` when the endpoint has no such delivery.
pub async fn redeliver(store: &Store, endpoint: &str, id: &str) -> StoreResult<bool> {
    let now = now_micros();
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, \
         retry_from = $1, manual = 1 WHERE id = $2 AND endpoint_id = $3",
    )
    .bind(now)
    .bind(id.to_owned())
    .bind(endpoint.to_owned())
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(updated == 1)
}
