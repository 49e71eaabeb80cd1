//! A flag's state per environment and its version history. The environment's kill switch,
//! which overrides every state without touching it, is in [`super::kill_switch`].
//!
//! Every state change is a new version (`flag_state_versions`); the current row carries the same
//! number, which is the `ETag`. Writes compare-and-set on that number, so two operators editing
//! at once never lose an update: the second gets [`StoreError::Stale`].

use serde::Serialize;
use serde_json::json;
use sqlx::{Any, AnyConnection, Row, Transaction};
use switchboard_core::{FlagState, validate_state};

use super::audit::{self, Actor, Change};
use super::flags::{self, Flag, default_state};
use super::kill_switch::is_killed;
use crate::changes::{Changed, Committed};
// The kill switch's old home: callers outside the API still reach it through this module.
pub use super::kill_switch::{KillSwitch, get_kill, set_kill};
use super::lookup::environment_id;
use super::{Store, StoreError, StoreResult, WriteIntent, format_micros, now_micros, retrying};

/// A flag's state in one environment, as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct StateView {
    pub flag: String,
    pub environment: String,
    #[serde(flatten)]
    pub state: FlagState,
    /// 0 while the environment never had a state set (the default: off).
    pub version: i64,
    /// Whether the environment's kill switch is pulled: then every flag serves its off variant
    /// whatever `enabled` says.
    pub killed: bool,
    pub updated_at: Option<String>,
}

/// One entry of a flag's history in an environment.
#[derive(Clone, Debug, Serialize)]
pub struct StateVersion {
    pub version: i64,
    pub state: FlagState,
    pub created_at: String,
    pub actor: String,
    pub comment: String,
}

pub(super) fn parse_state(text: &str) -> StoreResult<FlagState> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Other(anyhow::anyhow!("stored flag state does not parse: {e}")))
}

/// The current state (or the default) and its version.
async fn current(
    conn: &mut AnyConnection,
    flag: &Flag,
    environment_id: &str,
) -> StoreResult<(FlagState, i64, Option<i64>)> {
    let row = sqlx::query("SELECT state, version, updated_at FROM flag_states WHERE flag_id = $1 AND environment_id = $2")
        .bind(flag.id.clone())
        .bind(environment_id.to_owned())
        .fetch_optional(conn)
        .await?;
    match row {
        Some(row) => Ok((
            parse_state(&row.try_get::<String, _>("state")?)?,
            row.try_get("version")?,
            row.try_get("updated_at")?,
        )),
        None => Ok((default_state(&flag.definition), 0, None)),
    }
}

#[tracing::instrument(skip_all, fields(project = %project, environment = %env, flag = %key))]
pub async fn get(store: &Store, project: &str, env: &str, key: &str) -> StoreResult<StateView> {
    let mut conn = store.pool().acquire().await?;
    let environment_id = environment_id(&mut *conn, project, env).await?;
    let flag = flags::fetch(&mut *conn, project, key).await?;
    let (state, version, updated_at) = current(&mut conn, &flag, &environment_id).await?;
    Ok(StateView {
        flag: key.to_owned(),
        environment: env.to_owned(),
        state,
        version,
        killed: is_killed(&mut conn, &environment_id).await?,
        updated_at: updated_at.map(format_micros),
    })
}

/// Applies `change` to the flag's current state, validates the result against the definition
/// and the project's segments, and stores it as a new version. `intent.expected` (from
/// `If-Match`) must match the current version when given. A change that leaves the state as it
/// was stores nothing and returns the current state.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, flag = %key))]
pub async fn change(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    key: &str,
    intent: WriteIntent<'_>,
    change: impl Fn(&Flag, FlagState) -> StoreResult<FlagState>,
) -> StoreResult<Committed<StateView>> {
    // Retried against a concurrent writer: `change` applies to the state each attempt reads.
    retrying(store, intent.expected, || {
        change_once(store, actor, project, env, key, intent, &change)
    })
    .await
}

/// One attempt of [`change`], in one transaction.
async fn change_once(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    key: &str,
    intent: WriteIntent<'_>,
    change: &impl Fn(&Flag, FlagState) -> StoreResult<FlagState>,
) -> StoreResult<Committed<StateView>> {
    let mut tx = store.begin_write().await?;
    let (committed, _before) = change_in(&mut tx, actor, project, env, key, intent, change).await?;
    super::write_scope::commit(tx).await?;
    Ok(committed)
}

/// A state change inside the caller's transaction, which the caller commits: what the
/// flag-state API ([`change`]) and the release plans and scheduled changes
/// (`store::release_plans`, `store::scheduled_changes`) all run, so that a plan's step is a
/// version, an audit event and a snapshot refresh exactly as an operator's write is, and
/// commits together with the plan's own progress. Also returns the state before the change.
pub(crate) async fn change_in(
    tx: &mut Transaction<'static, Any>,
    actor: &Actor,
    project: &str,
    env: &str,
    key: &str,
    intent: WriteIntent<'_>,
    change: &impl Fn(&Flag, FlagState) -> StoreResult<FlagState>,
) -> StoreResult<(Committed<StateView>, FlagState)> {
    let environment_id = environment_id(&mut **tx, project, env).await?;
    let flag = flags::fetch(&mut **tx, project, key).await?;
    let (before, version, updated_at) = current(tx, &flag, &environment_id).await?;
    if let Some(expected) = intent.expected
        && expected != version
    {
        return Err(StoreError::Stale {
            expected,
            current: version,
        });
    }
    let after = change(&flag, before.clone())?;
    let segments = segment_names(tx, &flag.project_id).await?;
    validate_state(&flag.definition, &after, |name| {
        segments.iter().any(|s| s == name)
    })
    .map_err(StoreError::Invalid)?;
    let killed = is_killed(tx, &environment_id).await?;
    if after == before {
        // Nothing stored; the follow-up runs all the same, as it always has.
        return Ok((
            Committed::new(
                StateView {
                    flag: key.to_owned(),
                    environment: env.to_owned(),
                    state: before.clone(),
                    version,
                    killed,
                    updated_at: updated_at.map(format_micros),
                },
                Changed::environment(project, env),
            ),
            before,
        ));
    }
    let now = now_micros();
    let next = version + 1;
    write_version(
        tx,
        &flag,
        &environment_id,
        version,
        &after,
        now,
        actor,
        intent.comment,
    )
    .await?;
    audit::append(
        tx,
        actor,
        Change {
            action: intent.action,
            project: Some(project),
            environment: Some(env),
            target: format!("project/{project}/environment/{env}/flag/{key}"),
            before: Some(json!({ "version": version, "state": before })),
            after: Some(json!({ "version": next, "state": after })),
        },
    )
    .await?;
    Ok((
        Committed::new(
            StateView {
                flag: key.to_owned(),
                environment: env.to_owned(),
                state: after,
                version: next,
                killed,
                updated_at: Some(format_micros(now)),
            },
            Changed::environment(project, env),
        ),
        before,
    ))
}

/// Compare-and-set of the current row from `version` to `version + 1`, plus its history entry
/// and the environment's revision.
#[allow(clippy::too_many_arguments)]
async fn write_version(
    tx: &mut Transaction<'static, Any>,
    flag: &Flag,
    environment_id: &str,
    version: i64,
    state: &FlagState,
    now: i64,
    actor: &Actor,
    comment: &str,
) -> StoreResult<()> {
    let text = serde_json::to_string(state).map_err(anyhow::Error::from)?;
    let next = version + 1;
    let written = if version == 0 {
        sqlx::query(
            "INSERT INTO flag_states (flag_id, environment_id, state, version, updated_at) VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (flag_id, environment_id) DO NOTHING",
        )
        .bind(flag.id.clone())
        .bind(environment_id.to_owned())
        .bind(text.clone())
        .bind(now)
        .execute(&mut **tx)
        .await?
    } else {
        sqlx::query("UPDATE flag_states SET state = $1, version = $2, updated_at = $3 WHERE flag_id = $4 AND environment_id = $5 AND version = $6")
            .bind(text.clone())
            .bind(next)
            .bind(now)
            .bind(flag.id.clone())
            .bind(environment_id.to_owned())
            .bind(version)
            .execute(&mut **tx)
            .await?
    };
    if written.rows_affected() != 1 {
        return Err(StoreError::Stale {
            expected: version,
            current: next,
        });
    }
    sqlx::query(
        "INSERT INTO flag_state_versions (flag_id, environment_id, version, state, created_at, actor_name, actor_token_id, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(flag.id.clone())
    .bind(environment_id.to_owned())
    .bind(next)
    .bind(text)
    .bind(now)
    .bind(actor.name.clone())
    .bind(actor.token_id.clone())
    .bind(comment.to_owned())
    .execute(&mut **tx)
    .await?;
    bump_environment(tx, environment_id).await
}

pub(crate) async fn bump_environment(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<()> {
    sqlx::query("UPDATE environments SET revision = revision + 1 WHERE id = $1")
        .bind(environment_id.to_owned())
        .execute(conn)
        .await?;
    Ok(())
}

/// The flag's current state in the environment (its default while never set).
pub(crate) async fn get_in(
    conn: &mut AnyConnection,
    flag: &Flag,
    environment_id: &str,
) -> StoreResult<FlagState> {
    Ok(current(conn, flag, environment_id).await?.0)
}

pub(crate) async fn segment_names(
    conn: &mut AnyConnection,
    project_id: &str,
) -> StoreResult<Vec<String>> {
    sqlx::query("SELECT name FROM segments WHERE project_id = $1")
        .bind(project_id.to_owned())
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| row.try_get("name").map_err(StoreError::from))
        .collect()
}

/// The flag's history in the environment, newest first, before version `before`.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, flag = %key))]
pub async fn versions(
    store: &Store,
    project: &str,
    env: &str,
    key: &str,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<StateVersion>> {
    let mut conn = store.pool().acquire().await?;
    let environment_id = environment_id(&mut *conn, project, env).await?;
    let flag = flags::fetch(&mut *conn, project, key).await?;
    let rows = sqlx::query(
        "SELECT version, state, created_at, actor_name, comment FROM flag_state_versions \
         WHERE flag_id = $1 AND environment_id = $2 AND version < $3 ORDER BY version DESC LIMIT $4",
    )
    .bind(flag.id)
    .bind(environment_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(StateVersion {
                version: row.try_get("version")?,
                state: parse_state(&row.try_get::<String, _>("state")?)?,
                created_at: format_micros(row.try_get("created_at")?),
                actor: row.try_get("actor_name")?,
                comment: row.try_get("comment")?,
            })
        })
        .collect()
}

/// The state stored as `version`, to roll back to.
pub async fn state_at(
    store: &Store,
    project: &str,
    env: &str,
    key: &str,
    version: i64,
) -> StoreResult<FlagState> {
    let mut conn = store.pool().acquire().await?;
    let environment_id = environment_id(&mut *conn, project, env).await?;
    let flag = flags::fetch(&mut *conn, project, key).await?;
    let row = sqlx::query("SELECT state FROM flag_state_versions WHERE flag_id = $1 AND environment_id = $2 AND version = $3")
        .bind(flag.id)
        .bind(environment_id)
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Absent(format!("version {version} of flag '{key}' in environment '{env}'")))?;
    parse_state(&row.try_get::<String, _>("state")?)
}

/// How many flag states the environment holds (for the delete confirmation).
pub(crate) async fn count_in_environment(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM flag_states WHERE environment_id = $1")
            .bind(environment_id.to_owned())
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}
