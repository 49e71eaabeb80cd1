//! Configuration entries: typed JSON values per environment, inherited through the parent chain.
//!
//! An environment's *resolved* view walks from the environment to the root of its chain; the
//! nearest environment that sets a key wins, and the view says which one that was. Setting a key
//! creates an override; removing it falls back to the parent's value. Every change is a version
//! (a removal is a version whose value is `null`), and every change bumps the revision of the
//! environment and of every environment that inherits from it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row, Transaction};

use super::audit::{self, Actor, Change};
use super::lookup::environment_id;
use super::{Store, StoreError, StoreResult, WriteIntent, format_micros, now_micros, retrying};
use crate::changes::{Changed, Committed};

/// One key of an environment's resolved configuration.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ResolvedEntry {
    pub key: String,
    pub value: Value,
    pub description: String,
    /// The environment the value comes from (this one, or an ancestor).
    pub source: String,
    /// Version of the entry in `source`.
    pub version: i64,
    pub updated_at: String,
}

/// One entry of a key's history in an environment.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigVersion {
    pub version: i64,
    /// `null`: the override was removed.
    pub value: Option<Value>,
    pub description: String,
    pub created_at: String,
    pub actor: String,
    pub comment: String,
}

/// The environment and its ancestors, nearest first: `(id, name)`.
pub(crate) async fn chain(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<Vec<(String, String)>> {
    let mut chain = Vec::new();
    let mut cursor = Some(environment_id.to_owned());
    while let Some(id) = cursor {
        if chain.len() > 100 {
            return Err(StoreError::Other(anyhow::anyhow!(
                "environment inheritance chain too deep"
            )));
        }
        let row = sqlx::query("SELECT name, parent_id FROM environments WHERE id = $1")
            .bind(id.clone())
            .fetch_one(&mut *conn)
            .await?;
        cursor = row.try_get("parent_id")?;
        chain.push((id, row.try_get("name")?));
    }
    Ok(chain)
}

/// The resolved configuration of an environment, by key.
pub(crate) async fn resolve(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<BTreeMap<String, ResolvedEntry>> {
    let chain = chain(conn, environment_id).await?;
    let placeholders = (1..=chain.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut query = sqlx::query(AssertSqlSafe(format!(
        "SELECT environment_id, key, value, description, version, updated_at FROM config_entries WHERE environment_id IN ({placeholders})"
    )));
    for (id, _) in &chain {
        query = query.bind(id.clone());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    let mut resolved: BTreeMap<String, (usize, ResolvedEntry)> = BTreeMap::new();
    for row in &rows {
        let env_id: String = row.try_get("environment_id")?;
        let Some(depth) = chain.iter().position(|(id, _)| *id == env_id) else {
            continue;
        };
        let key: String = row.try_get("key")?;
        if resolved.get(&key).is_some_and(|(d, _)| *d < depth) {
            continue;
        }
        let entry = ResolvedEntry {
            key: key.clone(),
            value: parse_value(&row.try_get::<String, _>("value")?)?,
            description: row.try_get("description")?,
            source: chain[depth].1.clone(),
            version: row.try_get("version")?,
            updated_at: format_micros(row.try_get("updated_at")?),
        };
        resolved.insert(key, (depth, entry));
    }
    Ok(resolved.into_iter().map(|(k, (_, e))| (k, e)).collect())
}

fn parse_value(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored config value does not parse: {e}")))
}

/// The environment's resolved configuration, sorted by key.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env))]
pub async fn resolved(store: &Store, project: &str, env: &str) -> StoreResult<Vec<ResolvedEntry>> {
    let mut conn = store.pool().acquire().await?;
    let id = environment_id(&mut *conn, project, env).await?;
    Ok(resolve(&mut conn, &id).await?.into_values().collect())
}

/// The resolved entry of one key.
pub async fn get(store: &Store, project: &str, env: &str, key: &str) -> StoreResult<ResolvedEntry> {
    let mut conn = store.pool().acquire().await?;
    let id = environment_id(&mut *conn, project, env).await?;
    resolve(&mut conn, &id)
        .await?
        .remove(key)
        .ok_or_else(|| StoreError::Absent(format!("config key '{key}' in environment '{env}'")))
}

/// Bumps the revision of the environment and of every environment below it.
pub(crate) async fn bump_with_descendants(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<()> {
    let mut pending = vec![environment_id.to_owned()];
    let mut seen = 0;
    while let Some(id) = pending.pop() {
        seen += 1;
        if seen > 10_000 {
            break;
        }
        sqlx::query("UPDATE environments SET revision = revision + 1 WHERE id = $1")
            .bind(id.clone())
            .execute(&mut *conn)
            .await?;
        for row in sqlx::query("SELECT id FROM environments WHERE parent_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        {
            pending.push(row.try_get("id")?);
        }
    }
    Ok(())
}

/// What a write does to one key.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KeyChange {
    pub key: String,
    /// `None` removes the environment's own override.
    pub value: Option<Value>,
    pub description: Option<String>,
}

/// Writes one key's override (or removes it) as a new version, inside `tx`. Returns the new
/// version, or `None` when nothing changed. `expected` is the `If-Match` version of the
/// environment's own entry (0: no override yet).
pub(crate) async fn write_key(
    tx: &mut Transaction<'static, Any>,
    actor: &Actor,
    environment_id: &str,
    change: &KeyChange,
    expected: Option<i64>,
    comment: &str,
) -> StoreResult<Option<i64>> {
    let current = sqlx::query("SELECT value, description, version FROM config_entries WHERE environment_id = $1 AND key = $2")
        .bind(environment_id.to_owned())
        .bind(change.key.clone())
        .fetch_optional(&mut **tx)
        .await?;
    let (before, before_description, version) = match &current {
        Some(row) => (
            Some(parse_value(&row.try_get::<String, _>("value")?)?),
            row.try_get::<String, _>("description")?,
            row.try_get::<i64, _>("version")?,
        ),
        None => (None, String::new(), 0),
    };
    // Removals leave no row, so the next version number comes from the history.
    let last: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM config_versions WHERE environment_id = $1 AND key = $2")
        .bind(environment_id.to_owned())
        .bind(change.key.clone())
        .fetch_one(&mut **tx)
        .await?
        .try_get("v")?;
    if let Some(expected) = expected
        && expected != version
    {
        return Err(StoreError::Stale {
            expected,
            current: version,
        });
    }
    if change.value.is_none() && version == 0 {
        return Err(StoreError::Absent(format!(
            "an override of config key '{}' in this environment",
            change.key
        )));
    }
    let description = change
        .description
        .clone()
        .unwrap_or(before_description.clone());
    if before == change.value && (change.value.is_none() || description == before_description) {
        return Ok(None);
    }
    let next = last + 1;
    let now = now_micros();
    match &change.value {
        Some(value) => {
            let text = value.to_string();
            if version == 0 {
                sqlx::query("INSERT INTO config_entries (environment_id, key, value, description, version, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(environment_id.to_owned())
                    .bind(change.key.clone())
                    .bind(text)
                    .bind(description.clone())
                    .bind(next)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
            } else {
                let updated = sqlx::query("UPDATE config_entries SET value = $1, description = $2, version = $3, updated_at = $4 WHERE environment_id = $5 AND key = $6 AND version = $7")
                    .bind(text)
                    .bind(description.clone())
                    .bind(next)
                    .bind(now)
                    .bind(environment_id.to_owned())
                    .bind(change.key.clone())
                    .bind(version)
                    .execute(&mut **tx)
                    .await?;
                if updated.rows_affected() != 1 {
                    return Err(StoreError::Stale {
                        expected: version,
                        current: next,
                    });
                }
            }
        }
        None => {
            sqlx::query("DELETE FROM config_entries WHERE environment_id = $1 AND key = $2 AND version = $3")
                .bind(environment_id.to_owned())
                .bind(change.key.clone())
                .bind(version)
                .execute(&mut **tx)
                .await?;
        }
    }
    sqlx::query(
        "INSERT INTO config_versions (environment_id, key, version, value, description, created_at, actor_name, actor_token_id, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(environment_id.to_owned())
    .bind(change.key.clone())
    .bind(next)
    .bind(change.value.as_ref().map(Value::to_string))
    .bind(description)
    .bind(now)
    .bind(actor.name.clone())
    .bind(actor.token_id.clone())
    .bind(comment.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(Some(next))
}

/// Sets or removes one key's override, audited, as its own transaction. Returns the key's
/// resolved entry as this write left it (`None`: no value anywhere in the chain), read inside
/// the transaction: a re-read after the commit could describe a later writer's version, and a
/// client trusting that `ETag` would overwrite it.
/// Retried against a concurrent writer (see [`retrying`]).
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, key = %change.key))]
pub async fn change(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    change: KeyChange,
    intent: WriteIntent<'_>,
) -> StoreResult<Committed<Option<ResolvedEntry>>> {
    retrying(store, intent.expected, || {
        change_once(store, actor, project, env, &change, intent)
    })
    .await
}

async fn change_once(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    change: &KeyChange,
    intent: WriteIntent<'_>,
) -> StoreResult<Committed<Option<ResolvedEntry>>> {
    let mut tx = store.begin_write().await?;
    let id = environment_id(&mut *tx, project, env).await?;
    let before = resolve(&mut tx, &id).await?.remove(&change.key);
    let version = write_key(&mut tx, actor, &id, change, intent.expected, intent.comment).await?;
    if version.is_some() {
        bump_with_descendants(&mut tx, &id).await?;
        audit::append(
            &mut tx,
            actor,
            Change {
                action: intent.action,
                project: Some(project),
                environment: Some(env),
                target: format!("project/{project}/environment/{env}/config/{}", change.key),
                before: before.map(|e| json!({ "value": e.value, "source": e.source })),
                after: Some(json!({ "value": change.value, "description": change.description })),
            },
        )
        .await?;
    }
    let after = resolve(&mut tx, &id).await?.remove(&change.key);
    super::write_scope::commit(tx).await?;
    // Child environments inherit the value: the whole project's snapshots may change.
    Ok(Committed::new(after, Changed::project(project)))
}

/// A key's history in the environment, newest first, before version `before`.
pub async fn versions(
    store: &Store,
    project: &str,
    env: &str,
    key: &str,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<ConfigVersion>> {
    let mut conn = store.pool().acquire().await?;
    let id = environment_id(&mut *conn, project, env).await?;
    let rows = sqlx::query(
        "SELECT version, value, description, created_at, actor_name, comment FROM config_versions \
         WHERE environment_id = $1 AND key = $2 AND version < $3 ORDER BY version DESC LIMIT $4",
    )
    .bind(id)
    .bind(key.to_owned())
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ConfigVersion {
                version: row.try_get("version")?,
                value: row
                    .try_get::<Option<String>, _>("value")?
                    .map(|t| parse_value(&t))
                    .transpose()?,
                description: row.try_get("description")?,
                created_at: format_micros(row.try_get("created_at")?),
                actor: row.try_get("actor_name")?,
                comment: row.try_get("comment")?,
            })
        })
        .collect()
}

/// The value stored as `version` (`None` if that version was a removal).
pub async fn value_at(
    store: &Store,
    project: &str,
    env: &str,
    key: &str,
    version: i64,
) -> StoreResult<(Option<Value>, String)> {
    let mut conn = store.pool().acquire().await?;
    let id = environment_id(&mut *conn, project, env).await?;
    let row = sqlx::query("SELECT value, description FROM config_versions WHERE environment_id = $1 AND key = $2 AND version = $3")
        .bind(id)
        .bind(key.to_owned())
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Absent(format!("version {version} of config key '{key}' in environment '{env}'")))?;
    Ok((
        row.try_get::<Option<String>, _>("value")?
            .map(|t| parse_value(&t))
            .transpose()?,
        row.try_get("description")?,
    ))
}

/// How many config overrides the environment holds (for the delete confirmation).
pub(crate) async fn count_in_environment(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM config_entries WHERE environment_id = $1")
            .bind(environment_id.to_owned())
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}
