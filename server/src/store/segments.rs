//! Segments: named, reusable sets of conditions per project. A segment that a flag state still
//! references cannot be deleted.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};
use switchboard_core::{FlagState, Segment, validate_segment};

use super::audit::{self, Actor, Change};
use super::flags::bump_project;
use super::lookup::project_id;
use super::{Store, StoreError, StoreResult, format_micros, now_micros, retrying};
use crate::changes::{Changed, Committed};

#[derive(Clone, Debug, Serialize)]
pub struct StoredSegment {
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub project_id: String,
    #[serde(flatten)]
    pub segment: Segment,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl StoredSegment {
    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        let text: String = row.try_get("definition")?;
        let segment = serde_json::from_str(&text).map_err(|e| {
            StoreError::Other(anyhow::anyhow!("segments.definition does not parse: {e}"))
        })?;
        Ok(Self {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            segment,
            version: row.try_get("version")?,
            created_at: format_micros(row.try_get("created_at")?),
            updated_at: format_micros(row.try_get("updated_at")?),
        })
    }
}

const SELECT: &str = "SELECT s.id, s.project_id, s.definition, s.version, s.created_at, s.updated_at \
     FROM segments s JOIN projects p ON p.id = s.project_id";

async fn fetch<'c>(
    executor: impl Executor<'c, Database = Any>,
    project: &str,
    name: &str,
) -> StoreResult<StoredSegment> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND s.name = $2"
    )))
    .bind(project.to_owned())
    .bind(name.to_owned())
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::Absent(format!("segment '{name}' in project '{project}'")))?;
    StoredSegment::from_row(&row)
}

#[tracing::instrument(skip_all, fields(project = %project, segment = %segment.name))]
pub async fn create(
    store: &Store,
    actor: &Actor,
    project: &str,
    segment: Segment,
) -> StoreResult<Committed<StoredSegment>> {
    validate_segment(&segment).map_err(StoreError::Invalid)?;
    let mut tx = store.begin_write().await?;
    let project_id = project_id(&mut *tx, project).await?;
    sqlx::query(
        "INSERT INTO segments (id, project_id, name, definition, version, created_at, updated_at) VALUES ($1, $2, $3, $4, 1, $5, $5)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(project_id.clone())
    .bind(segment.name.clone())
    .bind(serde_json::to_string(&segment).map_err(anyhow::Error::from)?)
    .bind(now_micros())
    .execute(&mut *tx)
    .await?;
    bump_project(&mut tx, &project_id).await?;
    let created = fetch(&mut *tx, project, &segment.name).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "segment.create",
            project: Some(project),
            environment: None,
            target: format!("project/{project}/segment/{}", segment.name),
            before: None,
            after: Some(json!(created.segment)),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(created, Changed::project(project)))
}

#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn list(
    store: &Store,
    project: &str,
    after: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<StoredSegment>> {
    project_id(store.pool(), project).await?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND s.name > $2 ORDER BY s.name LIMIT $3"
    )))
    .bind(project.to_owned())
    .bind(after.unwrap_or("").to_owned())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(StoredSegment::from_row).collect()
}

pub async fn get(store: &Store, project: &str, name: &str) -> StoreResult<StoredSegment> {
    fetch(store.pool(), project, name).await
}

/// Replaces a segment's description and conditions (its name stays).
#[tracing::instrument(skip_all, fields(project = %project, segment = %name))]
pub async fn update(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &str,
    segment: Segment,
    expected_version: Option<i64>,
) -> StoreResult<Committed<StoredSegment>> {
    validate_segment(&segment).map_err(StoreError::Invalid)?;
    retrying(store, expected_version, || {
        update_once(store, actor, project, name, &segment, expected_version)
    })
    .await
}

/// One attempt of [`update`], in one transaction.
async fn update_once(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &str,
    segment: &Segment,
    expected_version: Option<i64>,
) -> StoreResult<Committed<StoredSegment>> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut *tx, project, name).await?;
    if let Some(expected) = expected_version
        && expected != before.version
    {
        return Err(StoreError::Stale {
            expected,
            current: before.version,
        });
    }
    let updated = sqlx::query("UPDATE segments SET definition = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4")
        .bind(serde_json::to_string(segment).map_err(anyhow::Error::from)?)
        .bind(now_micros())
        .bind(before.id.clone())
        .bind(before.version)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::Stale {
            expected: before.version,
            current: before.version + 1,
        });
    }
    bump_project(&mut tx, &before.project_id).await?;
    let after = fetch(&mut *tx, project, name).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "segment.update",
            project: Some(project),
            environment: None,
            target: format!("project/{project}/segment/{name}"),
            before: Some(json!(before.segment)),
            after: Some(json!(after.segment)),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(after, Changed::project(project)))
}

/// Deletes a segment; refused while a flag state in any environment references it.
#[tracing::instrument(skip_all, fields(project = %project, segment = %name))]
pub async fn delete(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &str,
) -> StoreResult<Committed<()>> {
    let mut tx = store.begin_write().await?;
    let segment = fetch(&mut *tx, project, name).await?;
    let rows = sqlx::query(
        "SELECT f.key, e.name AS env, s.state FROM flag_states s JOIN flags f ON f.id = s.flag_id \
         JOIN environments e ON e.id = s.environment_id WHERE f.project_id = $1 ORDER BY f.key, e.name",
    )
    .bind(segment.project_id.clone())
    .fetch_all(&mut *tx)
    .await?;
    let mut users = Vec::new();
    for row in &rows {
        let state: FlagState =
            serde_json::from_str(&row.try_get::<String, _>("state")?).map_err(|e| {
                StoreError::Other(anyhow::anyhow!("stored flag state does not parse: {e}"))
            })?;
        if references(&state, name) {
            users.push(format!(
                "{} in {}",
                row.try_get::<String, _>("key")?,
                row.try_get::<String, _>("env")?
            ));
        }
    }
    if !users.is_empty() {
        return Err(StoreError::Refused(format!(
            "segment '{name}' is used by {}; remove it from those rules first",
            users.join(", ")
        )));
    }
    sqlx::query("DELETE FROM segments WHERE id = $1")
        .bind(segment.id.clone())
        .execute(&mut *tx)
        .await?;
    bump_project(&mut tx, &segment.project_id).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "segment.delete",
            project: Some(project),
            environment: None,
            target: format!("project/{project}/segment/{name}"),
            before: Some(json!(segment.segment)),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new((), Changed::project(project)))
}

fn references(state: &FlagState, segment: &str) -> bool {
    use switchboard_core::Operator;
    state
        .rules
        .iter()
        .flat_map(|rule| &rule.conditions)
        .any(|condition| {
            matches!(condition.op, Operator::InSegment | Operator::NotInSegment)
                && condition.values.iter().any(|v| v.as_str() == Some(segment))
        })
}
