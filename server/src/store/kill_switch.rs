//! The environment's kill switch: one row per pulled switch, which makes every flag of the
//! environment serve its off variant. Stored flag states are never touched, so releasing the
//! switch brings back exactly what each flag had.

use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::audit::{self, Actor, Change};
use super::flag_states::bump_environment;
use super::lookup::environment_id;
use super::{Store, StoreResult, format_micros, now_micros, retrying};
use crate::changes::{Changed, Committed};

/// Whether the environment's kill switch is pulled (each state view carries it).
pub(crate) async fn is_killed(conn: &mut AnyConnection, environment_id: &str) -> StoreResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS one FROM environment_kills WHERE environment_id = $1")
            .bind(environment_id.to_owned())
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// Whether the environment's kill switch is pulled, when, and by whom.
#[derive(Clone, Debug, Serialize)]
pub struct KillSwitch {
    pub environment: String,
    pub killed: bool,
    pub killed_at: Option<String>,
    pub killed_by: Option<String>,
    pub reason: Option<String>,
}

/// Pulls (or releases) the environment's kill switch. Stored states are not touched, so
/// releasing brings back exactly what each flag had. Pulling twice keeps the first record.
/// Two operators pulling at once both succeed: the one who lost the race to insert the record
/// is retried (see [`retrying`]) and finds the switch already pulled.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env))]
pub async fn set_kill(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    kill: bool,
    reason: &str,
) -> StoreResult<Committed<KillSwitch>> {
    retrying(store, None, || {
        set_kill_once(store, actor, project, env, kill, reason)
    })
    .await
}

async fn set_kill_once(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    kill: bool,
    reason: &str,
) -> StoreResult<Committed<KillSwitch>> {
    let mut tx = store.begin_write().await?;
    let environment_id = environment_id(&mut *tx, project, env).await?;
    let was_killed = is_killed(&mut tx, &environment_id).await?;
    if kill != was_killed {
        if kill {
            sqlx::query("INSERT INTO environment_kills (environment_id, killed_at, actor_name, reason) VALUES ($1, $2, $3, $4)")
                .bind(environment_id.clone())
                .bind(now_micros())
                .bind(actor.name.clone())
                .bind(reason.to_owned())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM environment_kills WHERE environment_id = $1")
                .bind(environment_id.clone())
                .execute(&mut *tx)
                .await?;
        }
        bump_environment(&mut tx, &environment_id).await?;
        audit::append(
            &mut tx,
            actor,
            Change {
                action: if kill {
                    "environment.kill"
                } else {
                    "environment.restore"
                },
                project: Some(project),
                environment: Some(env),
                target: format!("project/{project}/environment/{env}/kill"),
                before: Some(json!({ "killed": was_killed })),
                after: Some(json!({ "killed": kill, "reason": reason })),
            },
        )
        .await?;
    }
    let view = kill_view(&mut tx, &environment_id, env).await?;
    super::write_scope::commit(tx).await?;
    Ok(Committed::new(view, Changed::environment(project, env)))
}

pub async fn get_kill(store: &Store, project: &str, env: &str) -> StoreResult<KillSwitch> {
    let mut conn = store.pool().acquire().await?;
    let environment_id = environment_id(&mut *conn, project, env).await?;
    kill_view(&mut conn, &environment_id, env).await
}

async fn kill_view(
    conn: &mut AnyConnection,
    environment_id: &str,
    env: &str,
) -> StoreResult<KillSwitch> {
    let row = sqlx::query(
        "SELECT killed_at, actor_name, reason FROM environment_kills WHERE environment_id = $1",
    )
    .bind(environment_id.to_owned())
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(row) => KillSwitch {
            environment: env.to_owned(),
            killed: true,
            killed_at: Some(format_micros(row.try_get("killed_at")?)),
            killed_by: Some(row.try_get("actor_name")?),
            reason: Some(row.try_get("reason")?),
        },
        None => KillSwitch {
            environment: env.to_owned(),
            killed: false,
            killed_at: None,
            killed_by: None,
            reason: None,
        },
    })
}
