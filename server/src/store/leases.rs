//! Named leases: how several instances on one database agree that one of them runs a job.
//!
//! A lease is a row `(name, holder, expires_at)`. [`try_hold`] takes it when it is free or
//! expired, or renews it when this holder has it, with one compare-and-set `UPDATE`, so it
//! works the same on SQLite and PostgreSQL (the `Any` pool has no advisory locks). A holder
//! that dies stops renewing; once `expires_at` passes, the next instance to ask takes over:
//! the lease's length bounds how long a crashed instance's work waits. Instances compare
//! expiry with their own clocks, so clocks must agree to well within the lease's length
//! (NTP does this).

use super::{Store, StoreResult, now_micros};

/// Takes or renews lease `name` for `holder` until `ttl` from now; whether `holder` has it.
#[tracing::instrument(skip_all, fields(lease = %name))]
pub async fn try_hold(
    store: &Store,
    name: &str,
    holder: &str,
    ttl: std::time::Duration,
) -> StoreResult<bool> {
    let now = now_micros();
    let until = now.saturating_add(i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX));
    sqlx::query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name.to_owned())
    .bind(holder.to_owned())
    .bind(until)
    .execute(store.pool())
    .await?;
    let taken = sqlx::query(
        "UPDATE leases SET holder = $1, expires_at = $2 \
         WHERE name = $3 AND (holder = $1 OR expires_at < $4)",
    )
    .bind(holder.to_owned())
    .bind(until)
    .bind(name.to_owned())
    .bind(now)
    .execute(store.pool())
    .await?;
    Ok(taken.rows_affected() == 1)
}

/// Gives lease `name` up if `holder` has it (a clean shutdown), so that another instance takes
/// over at its next tick instead of after the expiry.
pub async fn release(store: &Store, name: &str, holder: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .execute(store.pool())
        .await?;
    Ok(())
}
