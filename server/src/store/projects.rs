//! Projects: the top of the resource tree, addressed by their slug name.

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use super::audit::{self, Actor, Change};
use super::{Store, StoreError, StoreResult, format_micros, now_micros};
use crate::domain::{Access, Slug};

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

impl Project {
    fn from_row(row: &AnyRow) -> StoreResult<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            created_at: format_micros(row.try_get("created_at")?),
            updated_at: format_micros(row.try_get("updated_at")?),
        })
    }

    fn audit_view(&self) -> serde_json::Value {
        json!({ "name": self.name, "description": self.description })
    }
}

const COLUMNS: &str = "id, name, description, created_at, updated_at";

#[tracing::instrument(skip_all, fields(project = %name))]
pub async fn create(
    store: &Store,
    actor: &Actor,
    name: &Slug,
    description: &str,
) -> StoreResult<Project> {
    let mut tx = store.begin_write().await?;
    let now = now_micros();
    let id = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO projects (id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(id.clone())
    .bind(name.to_string())
    .bind(description.to_owned())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let project = Project {
        id,
        name: name.to_string(),
        description: description.to_owned(),
        created_at: format_micros(now),
        updated_at: format_micros(now),
    };
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "project.create",
            project: Some(name.as_str()),
            environment: None,
            target: format!("project/{name}"),
            before: None,
            after: Some(project.audit_view()),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(project)
}

/// A page of projects ordered by name, after `after`, limited to those `access` allows.
#[tracing::instrument(skip_all)]
pub async fn list(
    store: &Store,
    access: &Access,
    after: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<Project>> {
    let rows = match access {
        Access::All => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM projects WHERE name > $1 ORDER BY name LIMIT $2"
            )))
            .bind(after.unwrap_or("").to_owned())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(store.pool())
            .await?
        }
        // A token names few projects: read those and page in memory.
        Access::Only(_) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM projects WHERE name > $1 ORDER BY name"
            )))
            .bind(after.unwrap_or("").to_owned())
            .fetch_all(store.pool())
            .await?
        }
    };
    let mut projects = Vec::new();
    for row in &rows {
        let project = Project::from_row(row)?;
        if access.allows(&project.name) {
            projects.push(project);
        }
        if projects.len() == limit {
            break;
        }
    }
    Ok(projects)
}

#[tracing::instrument(skip_all, fields(project = %name))]
pub async fn get(store: &Store, name: &str) -> StoreResult<Project> {
    fetch(store.pool(), name).await
}

/// Reads one project by name, on the pool or inside a transaction.
async fn fetch<'c>(
    executor: impl Executor<'c, Database = Any>,
    name: &str,
) -> StoreResult<Project> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM projects WHERE name = $1"
    )))
    .bind(name.to_owned())
    .fetch_one(executor)
    .await?;
    Project::from_row(&row)
}

#[tracing::instrument(skip_all, fields(project = %name))]
pub async fn update(
    store: &Store,
    actor: &Actor,
    name: &str,
    description: Option<&str>,
) -> StoreResult<Project> {
    let mut tx = store.begin_write().await?;
    let before = fetch(&mut *tx, name).await?;
    let now = now_micros();
    let description = description.unwrap_or(&before.description).to_owned();
    sqlx::query("UPDATE projects SET description = $1, updated_at = $2 WHERE id = $3")
        .bind(description.clone())
        .bind(now)
        .bind(before.id.clone())
        .execute(&mut *tx)
        .await?;
    let after = Project {
        description,
        updated_at: format_micros(now),
        ..before.clone()
    };
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "project.update",
            project: Some(name),
            environment: None,
            target: format!("project/{name}"),
            before: Some(before.audit_view()),
            after: Some(after.audit_view()),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(after)
}

/// Deletes a project. One that still holds environments is only deleted when `confirmed`
/// (then its environments go with it).
#[tracing::instrument(skip_all, fields(project = %name))]
pub async fn delete(store: &Store, actor: &Actor, name: &str, confirmed: bool) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    let project = fetch(&mut *tx, name).await?;
    let mut held = Vec::new();
    let mut environments = 0;
    for (table, what) in [
        ("environments", "environment(s)"),
        ("flags", "flag(s)"),
        ("segments", "segment(s)"),
    ] {
        let count: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE project_id = $1"
        )))
        .bind(project.id.clone())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if table == "environments" {
            environments = count;
        }
        if count > 0 {
            held.push(format!("{count} {what}"));
        }
    }
    if !held.is_empty() && !confirmed {
        return Err(StoreError::NotEmpty(format!(
            "project '{name}' still holds {}; repeat the request with ?confirm={name} to delete it with everything in it",
            held.join(", ")
        )));
    }
    sqlx::query("UPDATE environments SET parent_id = NULL WHERE project_id = $1")
        .bind(project.id.clone())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM environments WHERE project_id = $1")
        .bind(project.id.clone())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(project.id.clone())
        .execute(&mut *tx)
        .await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "project.delete",
            project: Some(name),
            environment: None,
            target: format!("project/{name}"),
            before: Some(json!({ "name": project.name, "description": project.description, "environments": environments })),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(())
}
