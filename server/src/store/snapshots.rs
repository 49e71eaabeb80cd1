//! Reading an environment's complete SDK snapshot, and the environments' revisions.
//!
//! The snapshot is read in one transaction, together with what only the server needs to serve
//! it (which flags client-side keys may see: [`Loaded`]). It so that it is consistent with the revision it
//! carries. With the kill switch pulled every flag is served as disabled; the stored states stay
//! as they are.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use switchboard_core::{FlagDefinition, FlagState, Segment, Snapshot, SnapshotFlag};

use super::flags::default_state;
use super::{Store, StoreError, StoreResult};

/// Where an environment is and how far it has changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentRevision {
    pub environment_id: String,
    pub project: String,
    pub environment: String,
    pub revision: i64,
}

fn corrupt(what: &str, error: serde_json::Error) -> StoreError {
    StoreError::Other(anyhow::anyhow!("stored {what} does not parse: {error}"))
}

/// Every environment with its revision (what a cache compares to know what changed).
#[tracing::instrument(skip_all)]
pub async fn revisions(store: &Store) -> StoreResult<Vec<EnvironmentRevision>> {
    let rows = sqlx::query(
        "SELECT e.id, p.name AS project, e.name, e.revision FROM environments e JOIN projects p ON p.id = e.project_id",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(EnvironmentRevision {
                environment_id: row.try_get("id")?,
                project: row.try_get("project")?,
                environment: row.try_get("name")?,
                revision: row.try_get("revision")?,
            })
        })
        .collect()
}

/// An environment's current revision; `None` if it does not exist.
pub async fn revision(store: &Store, environment_id: &str) -> StoreResult<Option<i64>> {
    let row = sqlx::query("SELECT revision FROM environments WHERE id = $1")
        .bind(environment_id.to_owned())
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|r| r.try_get("revision")).transpose()?)
}

/// An environment's snapshot and what the server alone needs to serve it. Kept apart from the
/// [`Snapshot`], whose format SDKs read and which has no place for it: what a client-side key
/// may see is the server's business.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Loaded {
    pub snapshot: Snapshot,
    /// The keys of the flags marked `client_visible`, in snapshot order.
    pub client_visible: Vec<String>,
}

/// The environment's snapshot at its current revision.
#[tracing::instrument(skip_all, fields(environment_id = %environment_id))]
pub async fn load(store: &Store, environment_id: &str) -> StoreResult<Loaded> {
    let mut tx = store.pool().begin().await?;
    if store.backend() == super::Backend::Postgres {
        // Every statement below must see the same committed state, or a snapshot could pair
        // one revision's number with the next revision's flags.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *tx)
            .await?;
    }
    let env = sqlx::query(
        "SELECT p.id AS project_id, p.name AS project, e.name, e.revision, \
         (SELECT COUNT(*) FROM environment_kills k WHERE k.environment_id = e.id) AS killed \
         FROM environments e JOIN projects p ON p.id = e.project_id WHERE e.id = $1",
    )
    .bind(environment_id.to_owned())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| StoreError::Absent(format!("environment {environment_id}")))?;
    let project_id: String = env.try_get("project_id")?;
    let revision: i64 = env.try_get("revision")?;
    let killed = env.try_get::<i64, _>("killed")? > 0;
    let mut snapshot = Snapshot::new(
        env.try_get::<String, _>("project")?,
        env.try_get::<String, _>("name")?,
        u64::try_from(revision).unwrap_or(0),
    );

    let flags = sqlx::query(
        "SELECT f.definition, s.state FROM flags f \
         LEFT JOIN flag_states s ON s.flag_id = f.id AND s.environment_id = $2 \
         WHERE f.project_id = $1 ORDER BY f.key",
    )
    .bind(project_id.clone())
    .bind(environment_id.to_owned())
    .fetch_all(&mut *tx)
    .await?;
    let mut client_visible = Vec::new();
    for row in &flags {
        let definition: FlagDefinition =
            serde_json::from_str(&row.try_get::<String, _>("definition")?)
                .map_err(|e| corrupt("flag definition", e))?;
        let mut state: FlagState = match row.try_get::<Option<String>, _>("state")? {
            Some(text) => serde_json::from_str(&text).map_err(|e| corrupt("flag state", e))?,
            None => default_state(&definition),
        };
        if killed {
            state.enabled = false;
        }
        if definition.client_visible {
            client_visible.push(definition.key.clone());
        }
        snapshot.flags.push(SnapshotFlag::new(&definition, state));
    }

    let segments =
        sqlx::query("SELECT definition FROM segments WHERE project_id = $1 ORDER BY name")
            .bind(project_id)
            .fetch_all(&mut *tx)
            .await?;
    for row in &segments {
        let segment: Segment = serde_json::from_str(&row.try_get::<String, _>("definition")?)
            .map_err(|e| corrupt("segment", e))?;
        snapshot.segments.push(segment);
    }
    snapshot.config = super::config::resolve(&mut tx, environment_id)
        .await?
        .into_iter()
        .map(|(key, entry)| (key, entry.value))
        .collect::<BTreeMap<_, _>>();
    tx.commit().await?;
    Ok(Loaded {
        snapshot,
        client_visible,
    })
}
