//! Scheduled changes in the database: a one-off state change of a flag in an environment at a
//! given time. Applying one ([`apply`]) claims it (`pending` → `applied` with a compare-and-set
//! on its status) and writes the flag through the flag-state API's write path in the same
//! transaction: with several instances on one database it happens once.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{AnyConnection, Row};
use switchboard_core::validate_state;

use super::audit::{self, Actor, Change};
use super::flag_states;
use super::flags;
use super::lookup::environment_ids;
use super::{Store, StoreError, StoreResult, WriteIntent, format_micros, now_micros};
use crate::changes::{Changed, Committed};
use crate::delivery::model::{ScheduleBody, ScheduleSpec};

/// A scheduled change as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct ScheduleView {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    #[serde(flatten)]
    pub change: ScheduleBody,
    /// `pending`, `applied`, `cancelled` or `failed`.
    pub status: String,
    /// Once applied: the flag version written; once failed: why.
    pub outcome: Option<Value>,
    pub created_by: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A scheduled change's row, parsed.
#[derive(Clone, Debug)]
pub struct Schedule {
    pub id: String,
    pub project: String,
    pub environment: String,
    pub flag: String,
    pub spec: ScheduleSpec,
    pub status: String,
    outcome: Option<Value>,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl Schedule {
    pub fn view(&self) -> ScheduleView {
        let mut change = self.spec.body().clone();
        change.at = format_micros(self.spec.due_at);
        ScheduleView {
            id: self.id.clone(),
            project: self.project.clone(),
            environment: self.environment.clone(),
            flag: self.flag.clone(),
            change,
            status: self.status.clone(),
            outcome: self.outcome.clone(),
            created_by: self.created_by.clone(),
            created_at: format_micros(self.created_at),
            updated_at: format_micros(self.updated_at),
        }
    }

    fn target(&self) -> String {
        format!(
            "project/{}/environment/{}/flag/{}/schedule/{}",
            self.project, self.environment, self.flag, self.id
        )
    }
}

const SELECT: &str = "SELECT s.id, p.name AS project, e.name AS environment, f.key AS flag, \
    s.change, s.status, s.outcome, s.created_by, s.created_at, s.updated_at \
    FROM scheduled_changes s JOIN flags f ON f.id = s.flag_id \
    JOIN environments e ON e.id = s.environment_id JOIN projects p ON p.id = e.project_id";

fn corrupt(what: &str) -> StoreError {
    StoreError::Other(anyhow::anyhow!(
        "stored scheduled change: {what} does not parse"
    ))
}

fn parse_row(row: &sqlx::any::AnyRow) -> StoreResult<Schedule> {
    let body: ScheduleBody = serde_json::from_str(&row.try_get::<String, _>("change")?)
        .map_err(|_| corrupt("change"))?;
    let spec = ScheduleSpec::parse(body, None).map_err(|_| corrupt("change"))?;
    let outcome = row
        .try_get::<Option<String>, _>("outcome")?
        .map(|text| serde_json::from_str(&text).map_err(|_| corrupt("outcome")))
        .transpose()?;
    Ok(Schedule {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        flag: row.try_get("flag")?,
        spec,
        status: row.try_get("status")?,
        outcome,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch(conn: &mut AnyConnection, id: &str) -> StoreResult<Schedule> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE s.id = $1")))
        .bind(id.to_owned())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::Absent(format!("scheduled change '{id}'")))?;
    parse_row(&row)
}

/// Schedules `spec` for the flag in the environment. The change is checked against the flag's
/// definition now (applied to the current state), so a typo fails at once, not at midnight.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, flag = %key))]
pub async fn create(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    key: &str,
    spec: &ScheduleSpec,
) -> StoreResult<Schedule> {
    let mut tx = store.begin_write().await?;
    let ids = environment_ids(&mut *tx, project, env).await?;
    let flag = flags::fetch(&mut *tx, project, key).await?;
    let current = flag_states::get_in(&mut tx, &flag, &ids.environment_id).await?;
    let segments = flag_states::segment_names(&mut tx, &flag.project_id).await?;
    let after = spec
        .change
        .apply(&flag.definition, current, &spec.arms)
        .map_err(StoreError::Invalid)?;
    validate_state(&flag.definition, &after, |name| {
        segments.iter().any(|s| s == name)
    })
    .map_err(|e| StoreError::Invalid(e.prefixed("state")))?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_micros();
    sqlx::query(
        "INSERT INTO scheduled_changes (id, flag_id, environment_id, due_at, change, comment, \
         status, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8)",
    )
    .bind(id.clone())
    .bind(flag.id.clone())
    .bind(ids.environment_id.clone())
    .bind(spec.due_at)
    .bind(serde_json::to_string(spec.body()).map_err(anyhow::Error::from)?)
    .bind(spec.body().comment.clone())
    .bind(actor.name.clone())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let schedule = fetch(&mut tx, &id).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "scheduled_change.created",
            project: Some(project),
            environment: Some(env),
            target: schedule.target(),
            before: None,
            after: Some(json!({ "schedule": id, "at": format_micros(spec.due_at), "change": spec.change.describe() })),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(schedule)
}

/// The scheduled change `id` of the environment (of the flag, when `key` is given).
pub async fn get(
    store: &Store,
    project: &str,
    env: &str,
    key: Option<&str>,
    id: &str,
) -> StoreResult<Schedule> {
    let mut conn = store.pool().acquire().await?;
    let schedule = fetch(&mut conn, id).await?;
    if schedule.project != project
        || schedule.environment != env
        || key.is_some_and(|key| key != schedule.flag)
    {
        return Err(StoreError::Absent(format!("scheduled change '{id}'")));
    }
    Ok(schedule)
}

/// The environment's scheduled changes (of one flag when `key` is given): pending ones first
/// by time, then the rest newest first; at most `limit`.
pub async fn list(
    store: &Store,
    project: &str,
    env: &str,
    key: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Schedule>> {
    let mut conn = store.pool().acquire().await?;
    let ids = environment_ids(&mut *conn, project, env).await?;
    let flag_id = match key {
        Some(key) => Some(flags::fetch(&mut *conn, project, key).await?.id),
        None => None,
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE s.environment_id = $1 AND ($2 IS NULL OR s.flag_id = $2) \
         ORDER BY CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END, \
         CASE WHEN s.status = 'pending' THEN s.due_at ELSE -s.updated_at END, s.id LIMIT $3"
    )))
    .bind(ids.environment_id)
    .bind(flag_id)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(parse_row).collect()
}

/// Cancels a pending scheduled change; one that already ran (or was cancelled) is refused.
#[tracing::instrument(skip_all)]
pub async fn cancel(store: &Store, actor: &Actor, schedule: &Schedule) -> StoreResult<Schedule> {
    let mut tx = store.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE scheduled_changes SET status = 'cancelled', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now_micros())
    .bind(schedule.id.clone())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        let current = fetch(&mut tx, &schedule.id).await?;
        return Err(StoreError::Refused(format!(
            "the scheduled change is {}; only a pending one can be cancelled",
            current.status
        )));
    }
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "scheduled_change.cancelled",
            project: Some(&schedule.project),
            environment: Some(&schedule.environment),
            target: schedule.target(),
            before: Some(json!({ "schedule": schedule.id, "status": "pending" })),
            after: Some(json!({ "schedule": schedule.id, "status": "cancelled" })),
        },
    )
    .await?;
    let cancelled = fetch(&mut tx, &schedule.id).await?;
    super::write_scope::commit(tx).await?;
    Ok(cancelled)
}

/// Pending scheduled changes due at `now`, oldest first.
pub async fn due(store: &Store, now: i64, limit: i64) -> StoreResult<Vec<Schedule>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE s.status = 'pending' AND s.due_at <= $1 ORDER BY s.due_at LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(parse_row).collect()
}

/// Applies a due change once: claims it and writes the flag in one transaction. `Ok(None)`
/// when another instance claimed it first. A change the flag no longer accepts (its variants
/// changed since) is marked `failed` with the reason, and audited.
#[tracing::instrument(skip_all, fields(schedule = %schedule.id))]
pub async fn apply(store: &Store, schedule: &Schedule) -> StoreResult<Option<Committed<Schedule>>> {
    let actor = Actor {
        token_id: None,
        name: format!("scheduled-change:{}", schedule.id),
        source_ip: None,
        request_id: None,
    };
    match apply_once(store, &actor, schedule).await {
        Ok(applied) => Ok(applied),
        Err(error @ (StoreError::Invalid(_) | StoreError::Absent(_) | StoreError::NotFound)) => {
            let detail = error.to_string();
            let mut tx = store.begin_write().await?;
            let outcome = json!({ "error": detail });
            let updated = sqlx::query(
                "UPDATE scheduled_changes SET status = 'failed', outcome = $1, updated_at = $2 WHERE id = $3 AND status = 'pending'",
            )
            .bind(outcome.to_string())
            .bind(now_micros())
            .bind(schedule.id.clone())
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() != 1 {
                return Ok(None);
            }
            audit::append(
                &mut tx,
                &actor,
                Change {
                    action: "scheduled_change.failed",
                    project: Some(&schedule.project),
                    environment: Some(&schedule.environment),
                    target: schedule.target(),
                    before: Some(json!({ "schedule": schedule.id, "status": "pending" })),
                    after: Some(
                        json!({ "schedule": schedule.id, "status": "failed", "outcome": outcome }),
                    ),
                },
            )
            .await?;
            let failed = fetch(&mut tx, &schedule.id).await?;
            super::write_scope::commit(tx).await?;
            Ok(Some(Committed::new(failed, Changed::Nothing)))
        }
        Err(other) => Err(other),
    }
}

async fn apply_once(
    store: &Store,
    actor: &Actor,
    schedule: &Schedule,
) -> StoreResult<Option<Committed<Schedule>>> {
    let mut tx = store.begin_write().await?;
    let claimed = sqlx::query(
        "UPDATE scheduled_changes SET status = 'applied', updated_at = $1 WHERE id = $2 AND status = 'pending'",
    )
    .bind(now_micros())
    .bind(schedule.id.clone())
    .execute(&mut *tx)
    .await?;
    if claimed.rows_affected() != 1 {
        return Ok(None);
    }
    let comment = match schedule.spec.body().comment.as_str() {
        "" => format!("scheduled change {}", schedule.id),
        text => format!("scheduled change {}: {text}", schedule.id),
    };
    let (committed, _) = flag_states::change_in(
        &mut tx,
        actor,
        &schedule.project,
        &schedule.environment,
        &schedule.flag,
        WriteIntent {
            expected: None,
            action: "flag.scheduled_change",
            comment: &comment,
        },
        &|flag, state| {
            schedule
                .spec
                .change
                .apply(&flag.definition, state, &schedule.spec.arms)
                .map_err(StoreError::Invalid)
        },
    )
    .await?;
    let view = committed.without_follow_up();
    let outcome = json!({ "flag_version": view.version });
    sqlx::query("UPDATE scheduled_changes SET outcome = $1 WHERE id = $2")
        .bind(outcome.to_string())
        .bind(schedule.id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "scheduled_change.applied",
            project: Some(&schedule.project),
            environment: Some(&schedule.environment),
            target: schedule.target(),
            before: Some(json!({ "schedule": schedule.id, "status": "pending" })),
            after: Some(json!({ "schedule": schedule.id, "status": "applied", "flag_version": view.version })),
        },
    )
    .await?;
    let applied = fetch(&mut tx, &schedule.id).await?;
    super::write_scope::commit(tx).await?;
    Ok(Some(Committed::new(
        applied,
        Changed::environment(&schedule.project, &schedule.environment),
    )))
}
