//! Environments: ordered within their project; each may name a parent in the same project whose
//! configuration it inherits (the parent chain never forms a cycle).

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::audit::{self, Actor, Change};
use super::lookup::project_id;
use super::{Store, StoreError, StoreResult, format_micros, now_micros};
use crate::changes::{Changed, Committed};
use crate::domain::Slug;

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    pub project: String,
    pub name: String,
    pub description: String,
    /// Name of the parent environment, if any.
    pub parent: Option<String>,
    pub position: i64,
    /// Increases with every change to what the environment serves (flags, config, secrets).
    pub revision: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl Environment {
    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            project: row.try_get("project")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            parent: row.try_get("parent")?,
            position: row.try_get("position")?,
            revision: row.try_get("revision")?,
            created_at: format_micros(row.try_get("created_at")?),
            updated_at: format_micros(row.try_get("updated_at")?),
        })
    }

    fn audit_view(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "description": self.description,
            "parent": self.parent,
            "position": self.position,
        })
    }
}

const SELECT: &str = "SELECT e.id, p.name AS project, e.name, e.description, parent.name AS parent, \
     e.position, e.revision, e.created_at, e.updated_at \
     FROM environments e JOIN projects p ON p.id = e.project_id \
     LEFT JOIN environments parent ON parent.id = e.parent_id";

/// What to create.
#[derive(Debug)]
pub struct NewEnvironment<'a> {
    pub name: &'a Slug,
    pub description: &'a str,
    pub parent: Option<&'a Slug>,
    /// Position in the project's order; default: after the last one.
    pub position: Option<i64>,
}

/// A partial update; `None` leaves a field as it is, `parent: Some(None)` removes the parent.
#[derive(Debug, Default)]
pub struct EnvironmentPatch<'a> {
    pub description: Option<&'a str>,
    pub parent: Option<Option<&'a Slug>>,
    pub position: Option<i64>,
}

async fn fetch(
    tx: &mut Transaction<'static, Any>,
    project: &str,
    name: &str,
) -> StoreResult<Environment> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND e.name = $2"
    )))
    .bind(project.to_owned())
    .bind(name.to_owned())
    .fetch_one(&mut **tx)
    .await?;
    Environment::from_row(&row)
}

/// Resolves `parent` inside the project and checks that making it the parent of `child_id`
/// keeps the chain acyclic. Returns the parent's id.
async fn checked_parent(
    tx: &mut Transaction<'static, Any>,
    project: &str,
    parent: &Slug,
    child_id: Option<&str>,
) -> StoreResult<String> {
    let parent_env = fetch(tx, project, parent.as_str())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => StoreError::Refused(format!(
                "parent environment '{parent}' does not exist in project '{project}'"
            )),
            other => other,
        })?;
    let Some(child_id) = child_id else {
        return Ok(parent_env.id);
    };
    // Walk up from the new parent; meeting the child means a cycle.
    let mut cursor = Some(parent_env.id.clone());
    let mut steps = 0;
    while let Some(id) = cursor {
        if id == child_id {
            return Err(StoreError::Refused(format!(
                "making '{parent}' the parent would create a cycle in the inheritance chain"
            )));
        }
        steps += 1;
        if steps > 1_000 {
            return Err(StoreError::Refused(
                "the inheritance chain is too deep".into(),
            ));
        }
        cursor = sqlx::query("SELECT parent_id FROM environments WHERE id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("parent_id")?;
    }
    Ok(parent_env.id)
}

#[tracing::instrument(skip_all, fields(project = %project, environment = %new.name))]
pub async fn create(
    store: &Store,
    actor: &Actor,
    project: &str,
    new: NewEnvironment<'_>,
) -> StoreResult<Committed<Environment>> {
    let mut tx = store.begin_write().await?;
    let project_id = project_id(&mut *tx, project).await?;
    let parent_id = match new.parent {
        Some(parent) => Some(checked_parent(&mut tx, project, parent, None).await?),
        None => None,
    };
    let position = match new.position {
        Some(position) => position,
        None => sqlx::query("SELECT COALESCE(MAX(position), -1) + 1 AS next FROM environments WHERE project_id = $1")
            .bind(project_id.clone())
            .fetch_one(&mut *tx)
            .await?
            .try_get("next")?,
    };
    let now = now_micros();
    sqlx::query(
        "INSERT INTO environments (id, project_id, name, description, parent_id, position, revision, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(project_id)
    .bind(new.name.to_string())
    .bind(new.description.to_owned())
    .bind(parent_id)
    .bind(position)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let created = fetch(&mut tx, project, new.name.as_str()).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "environment.create",
            project: Some(project),
            environment: Some(new.name.as_str()),
            target: format!("project/{project}/environment/{}", new.name),
            before: None,
            after: Some(created.audit_view()),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    // A new environment with a parent serves what it inherits from its first request on.
    Ok(Committed::new(created, Changed::project(project)))
}

/// A page of the project's environments in their order, after the cursor `(position, name)`.
#[tracing::instrument(skip_all, fields(project = %project))]
pub async fn list(
    store: &Store,
    project: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> StoreResult<Vec<Environment>> {
    // Distinguish "no such project" from "no environments".
    super::projects::get(store, project).await?;
    let (position, name) = after.unwrap_or((i64::MIN, String::new()));
    let rows = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND (e.position > $2 OR (e.position = $2 AND e.name > $3)) \
         ORDER BY e.position, e.name LIMIT $4"
    )))
    .bind(project.to_owned())
    .bind(position)
    .bind(name)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(Environment::from_row).collect()
}

#[tracing::instrument(skip_all, fields(project = %project, environment = %name))]
pub async fn get(store: &Store, project: &str, name: &str) -> StoreResult<Environment> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "{SELECT} WHERE p.name = $1 AND e.name = $2"
    )))
    .bind(project.to_owned())
    .bind(name.to_owned())
    .fetch_one(store.pool())
    .await?;
    Environment::from_row(&row)
}

#[tracing::instrument(skip_all, fields(project = %project, environment = %name))]
pub async fn update(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &str,
    patch: EnvironmentPatch<'_>,
) -> StoreResult<Committed<Environment>> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut tx, project, name).await?;
    let parent_id: Option<String> = match patch.parent {
        Some(Some(parent)) => {
            Some(checked_parent(&mut tx, project, parent, Some(&before.id)).await?)
        }
        Some(None) => None,
        None => sqlx::query("SELECT parent_id FROM environments WHERE id = $1")
            .bind(before.id.clone())
            .fetch_one(&mut *tx)
            .await?
            .try_get("parent_id")?,
    };
    sqlx::query(
        "UPDATE environments SET description = $1, parent_id = $2, position = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(patch.description.unwrap_or(&before.description).to_owned())
    .bind(parent_id)
    .bind(patch.position.unwrap_or(before.position))
    .bind(now_micros())
    .bind(before.id.clone())
    .execute(&mut *tx)
    .await?;
    if patch.parent.is_some() {
        // A new parent changes the inherited configuration of this environment and its children.
        super::config::bump_with_descendants(&mut tx, &before.id).await?;
    }
    let after = fetch(&mut tx, project, name).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "environment.update",
            project: Some(project),
            environment: Some(name),
            target: format!("project/{project}/environment/{name}"),
            before: Some(before.audit_view()),
            after: Some(after.audit_view()),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    // A new parent changes what this environment and its children inherit.
    let changed = if patch.parent.is_some() {
        Changed::project(project)
    } else {
        Changed::Nothing
    };
    Ok(Committed::new(after, changed))
}

/// Deletes an environment. Refused while another environment inherits from it; one that still
/// holds data is only deleted when `confirmed`.
#[tracing::instrument(skip_all, fields(project = %project, environment = %name))]
pub async fn delete(
    store: &Store,
    actor: &Actor,
    project: &str,
    name: &str,
    confirmed: bool,
) -> StoreResult<Committed<()>> {
    let mut tx = store.begin_write().await?;
    let env = fetch(&mut tx, project, name).await?;
    let children: Vec<String> =
        sqlx::query("SELECT name FROM environments WHERE parent_id = $1 ORDER BY name")
            .bind(env.id.clone())
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| row.try_get("name"))
            .collect::<Result<_, _>>()?;
    if !children.is_empty() {
        return Err(StoreError::Refused(format!(
            "environment '{name}' is the parent of {}; give them another parent first",
            children.join(", ")
        )));
    }
    let held = data_held(&mut tx, &env.id).await?;
    if held > 0 && !confirmed {
        return Err(StoreError::NotEmpty(format!(
            "environment '{name}' still holds {held} item(s); repeat the request with ?confirm={name} to delete it with everything in it"
        )));
    }
    sqlx::query("DELETE FROM environments WHERE id = $1")
        .bind(env.id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "environment.delete",
            project: Some(project),
            environment: Some(name),
            target: format!("project/{project}/environment/{name}"),
            before: Some(env.audit_view()),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    // The project's snapshots drop the deleted environment's entry.
    Ok(Committed::new((), Changed::project(project)))
}

/// The names of the environment and of every ancestor it inherits from, nearest first: every
/// environment whose values a resolved read of `name` may show.
#[tracing::instrument(skip_all, fields(project = %project, environment = %name))]
pub async fn lineage(store: &Store, project: &str, name: &str) -> StoreResult<Vec<String>> {
    let id = super::lookup::environment_id(store.pool(), project, name).await?;
    lineage_of(store, &id).await
}

/// [`lineage`] of the environment with this id.
#[tracing::instrument(skip_all)]
pub async fn lineage_of(store: &Store, environment_id: &str) -> StoreResult<Vec<String>> {
    let mut conn = store.pool().acquire().await?;
    Ok(super::config::chain(&mut conn, environment_id)
        .await?
        .into_iter()
        .map(|(_, name)| name)
        .collect())
}

/// How many items the environment holds: flag states, config overrides and secrets.
async fn data_held(tx: &mut Transaction<'static, Any>, environment_id: &str) -> StoreResult<i64> {
    let flags = super::flag_states::count_in_environment(tx, environment_id).await?;
    let config = super::config::count_in_environment(tx, environment_id).await?;
    let secrets = super::secrets::count_in_environment(tx, environment_id).await?;
    Ok(flags + config + secrets)
}
