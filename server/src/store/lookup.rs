//! Name → id look-ups. The API names projects and environments; the tables join on ids. Each
//! look-up is written once, so its query and its "not found" wording (which names what is
//! missing, for the caller's 404) cannot drift apart between the resources that need it.

use sqlx::{Any, Executor, Row};

use super::{StoreError, StoreResult};

/// The ids of an environment and of its project.
#[derive(Debug, Clone)]
pub(crate) struct EnvironmentIds {
    pub project_id: String,
    pub environment_id: String,
}

/// The id of the project named `project`, or [`StoreError::Absent`] naming it.
pub(crate) async fn project_id<'c>(
    executor: impl Executor<'c, Database = Any>,
    project: &str,
) -> StoreResult<String> {
    sqlx::query("SELECT id FROM projects WHERE name = $1")
        .bind(project.to_owned())
        .fetch_optional(executor)
        .await?
        .map(|row| row.try_get("id"))
        .transpose()?
        .ok_or_else(|| StoreError::Absent(format!("project '{project}'")))
}

/// The ids of environment `env` of project `project`, or [`StoreError::Absent`] naming it.
pub(crate) async fn environment_ids<'c>(
    executor: impl Executor<'c, Database = Any>,
    project: &str,
    env: &str,
) -> StoreResult<EnvironmentIds> {
    let row = sqlx::query(
        "SELECT p.id AS project_id, e.id AS environment_id \
         FROM environments e JOIN projects p ON p.id = e.project_id \
         WHERE p.name = $1 AND e.name = $2",
    )
    .bind(project.to_owned())
    .bind(env.to_owned())
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::Absent(format!("environment '{env}' in project '{project}'")))?;
    Ok(EnvironmentIds {
        project_id: row.try_get("project_id")?,
        environment_id: row.try_get("environment_id")?,
    })
}

/// The id of environment `env` of project `project` (see [`environment_ids`]).
pub(crate) async fn environment_id<'c>(
    executor: impl Executor<'c, Database = Any>,
    project: &str,
    env: &str,
) -> StoreResult<String> {
    Ok(environment_ids(executor, project, env)
        .await?
        .environment_id)
}
