//! Flag definitions (per project). A definition change re-checks every environment's state
//! against the new variants, so a stored state can never point at a variant that is gone.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Executor, Row};
use switchboard_core::{FlagDefinition, FlagState, Serve, validate_definition, validate_state};

use super::audit::{self, Actor, Change};
use super::lookup::project_id;
use super::{Store, StoreError, StoreResult, format_micros, now_micros, retrying};
use crate::changes::{Changed, Committed};

/// A stored flag definition.
#[derive(Clone, Debug, Serialize)]
pub struct Flag {
    #[serde(skip)]
    pub id: String,
    #[serde(skip)]
    pub project_id: String,
    #[serde(flatten)]
    pub definition: FlagDefinition,
    /// Increases with every change; the `ETag`.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl Flag {
    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        let text: String = row.try_get("definition")?;
        let definition = serde_json::from_str(&text).map_err(|e| {
            StoreError::Other(anyhow::anyhow!("flags.definition does not parse: {e}"))
        })?;
        Ok(Self {
            id: row.try_get("id")?,
            project_id: row.try_get("project_id")?,
            definition,
            version: row.try_get("version")?,
            created_at: format_micros(row.try_get("created_at")?),
            updated_at: format_micros(row.try_get("updated_at")?),
        })
    }
}

/// The state of a flag in an environment that never had one set: off, serving the off variant
/// (`off` when the flag has one, else its first variant). Once enabled it serves `on` (else the
/// first variant) to everyone, which is what "turn it on" means to an operator.
pub fn default_state(definition: &FlagDefinition) -> FlagState {
    let named = |name: &str| {
        definition
            .variants
            .iter()
            .find(|v| v.key == name)
            .or_else(|| definition.variants.first())
            .map(|v| v.key.clone())
            .unwrap_or_default()
    };
    FlagState::new(false, Serve::variant(named("on")), named("off"))
}

const SELECT: &str = "SELECT f.id, f.project_id, f.definition, f.version, f.created_at, f.updated_at \
     FROM flags f JOIN projects p ON p.id = f.project_id";

pub(crate) async fn fetch<'c>(
    executor: impl Executor<'c, Database = Any>,
    project: &str,
    key: &str,
) -> StoreResult<Flag> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND f.key = $2"
    )))
    .bind(project.to_owned())
    .bind(key.to_owned())
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::Absent(format!("flag '{key}' in project '{project}'")))?;
    Flag::from_row(&row)
}

/// Marks every environment of the project as changed (definitions and segments affect them all).
pub(crate) async fn bump_project(conn: &mut AnyConnection, project_id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE environments SET revision = revision + 1 WHERE project_id = $1")
        .bind(project_id.to_owned())
        .execute(conn)
        .await?;
    Ok(())
}

#[tracing::instrument(skip_all, fields(project = %project, flag = %definition.key))]
pub async fn create(
    store: &Store,
    actor: &Actor,
    project: &str,
    definition: FlagDefinition,
) -> StoreResult<Committed<Flag>> {
    validate_definition(&definition).map_err(StoreError::Invalid)?;
    let mut tx = store.begin_write().await?;
    let project_id = project_id(&mut *tx, project).await?;
    let now = now_micros();
    let text = serde_json::to_string(&definition).map_err(anyhow::Error::from)?;
    sqlx::query(
        "INSERT INTO flags (id, project_id, key, definition, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $5)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(project_id.clone())
    .bind(definition.key.clone())
    .bind(text)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    bump_project(&mut tx, &project_id).await?;
    let flag = fetch(&mut *tx, project, &definition.key).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "flag.create",
            project: Some(project),
            environment: None,
            target: format!("project/{project}/flag/{}", definition.key),
            before: None,
            after: Some(json!(flag.definition)),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(flag, Changed::project(project)))
}

/// A page of the project's flags ordered by key, after `after`.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn list(
    store: &Store,
    project: &str,
    after: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Flag>> {
    project_id(store.pool(), project).await?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND f.key > $2 ORDER BY f.key LIMIT $3"
    )))
    .bind(project.to_owned())
    .bind(after.unwrap_or("").to_owned())
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(Flag::from_row).collect()
}

#[tracing::instrument(skip_all, fields(project = %project, flag = %key))]
pub async fn get(store: &Store, project: &str, key: &str) -> StoreResult<Flag> {
    fetch(store.pool(), project, key).await
}

/// Replaces a definition (its key stays). Refused while an environment's state uses a variant
/// the new definition drops, or serves a value of another type.
#[tracing::instrument(skip_all, fields(project = %project, flag = %key))]
pub async fn update(
    store: &Store,
    actor: &Actor,
    project: &str,
    key: &str,
    definition: FlagDefinition,
    expected_version: Option<i64>,
) -> StoreResult<Committed<Flag>> {
    validate_definition(&definition).map_err(StoreError::Invalid)?;
    retrying(store, expected_version, || {
        update_once(store, actor, project, key, &definition, expected_version)
    })
    .await
}

/// One attempt of [`update`], in one transaction.
async fn update_once(
    store: &Store,
    actor: &Actor,
    project: &str,
    key: &str,
    definition: &FlagDefinition,
    expected_version: Option<i64>,
) -> StoreResult<Committed<Flag>> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut *tx, project, key).await?;
    if let Some(expected) = expected_version
        && expected != before.version
    {
        return Err(StoreError::Stale {
            expected,
            current: before.version,
        });
    }
    let states = sqlx::query(
        "SELECT e.name, s.state FROM flag_states s JOIN environments e ON e.id = s.environment_id \
         WHERE s.flag_id = $1 ORDER BY e.name",
    )
    .bind(before.id.clone())
    .fetch_all(&mut *tx)
    .await?;
    let mut conflicts = Vec::new();
    for row in &states {
        let env: String = row.try_get("name")?;
        let state: FlagState =
            serde_json::from_str(&row.try_get::<String, _>("state")?).map_err(|e| {
                StoreError::Other(anyhow::anyhow!("flag_states.state does not parse: {e}"))
            })?;
        // Segment references were checked when the state was written; only variants and
        // types can break here.
        if let Err(errors) = validate_state(definition, &state, |_| true) {
            conflicts.push(format!("{env}: {errors}"));
        }
    }
    if !conflicts.is_empty() {
        return Err(StoreError::Refused(format!(
            "the new definition does not fit the flag's state in {}; change those states first",
            conflicts.join("; ")
        )));
    }
    let text = serde_json::to_string(definition).map_err(anyhow::Error::from)?;
    let updated = sqlx::query("UPDATE flags SET definition = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4")
        .bind(text)
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
    let after = fetch(&mut *tx, project, key).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "flag.update",
            project: Some(project),
            environment: None,
            target: format!("project/{project}/flag/{key}"),
            before: Some(json!(before.definition)),
            after: Some(json!(after.definition)),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(after, Changed::project(project)))
}

/// Deletes a flag with its state and history in every environment.
#[tracing::instrument(skip_all, fields(project = %project, flag = %key))]
pub async fn delete(
    store: &Store,
    actor: &Actor,
    project: &str,
    key: &str,
) -> StoreResult<Committed<()>> {
    let mut tx = store.begin_write().await?;
    let flag = fetch(&mut *tx, project, key).await?;
    for table in ["flag_state_versions", "flag_states"] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE flag_id = $1"
        )))
        .bind(flag.id.clone())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM flags WHERE id = $1")
        .bind(flag.id.clone())
        .execute(&mut *tx)
        .await?;
    bump_project(&mut tx, &flag.project_id).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "flag.delete",
            project: Some(project),
            environment: None,
            target: format!("project/{project}/flag/{key}"),
            before: Some(json!(flag.definition)),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new((), Changed::project(project)))
}
