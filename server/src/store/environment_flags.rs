//! Every flag of one environment with its state there, in one query: what the console's flags
//! table shows. Reading them one by one ([`super::flag_states::get`]) would cost a round trip
//! per flag, and the table must render 200 flags in a few milliseconds.

use sqlx::Row;
use switchboard_core::FlagDefinition;

use super::flag_states::{StateView, parse_state};
use super::flags::default_state;
use super::kill_switch::is_killed;
use super::lookup::environment_id;
use super::{Store, StoreError, StoreResult, format_micros};

/// A flag's definition and its state in the environment.
#[derive(Clone, Debug)]
pub struct EnvironmentFlag {
    pub definition: FlagDefinition,
    pub state: StateView,
}

/// The environment's flags ordered by key, with their states (the default for a flag whose
/// state was never set), and whether the environment's kill switch is pulled.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env))]
pub async fn list(store: &Store, project: &str, env: &str) -> StoreResult<Vec<EnvironmentFlag>> {
    let mut conn = store.pool().acquire().await?;
    let environment_id = environment_id(&mut *conn, project, env).await?;
    let killed = is_killed(&mut conn, &environment_id).await?;
    let rows = sqlx::query(
        "SELECT f.key, f.definition, s.state, s.version, s.updated_at \
         FROM flags f JOIN projects p ON p.id = f.project_id \
         LEFT JOIN flag_states s ON s.flag_id = f.id AND s.environment_id = $2 \
         WHERE p.name = $1 ORDER BY f.key",
    )
    .bind(project.to_owned())
    .bind(environment_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let text: String = row.try_get("definition")?;
            let definition: FlagDefinition = serde_json::from_str(&text).map_err(|e| {
                StoreError::Other(anyhow::anyhow!("flags.definition does not parse: {e}"))
            })?;
            let stored: Option<String> = row.try_get("state")?;
            let (state, version, updated_at) = match stored {
                Some(text) => (
                    parse_state(&text)?,
                    row.try_get::<i64, _>("version")?,
                    Some(format_micros(row.try_get("updated_at")?)),
                ),
                None => (default_state(&definition), 0, None),
            };
            Ok(EnvironmentFlag {
                state: StateView {
                    flag: definition.key.clone(),
                    environment: env.to_owned(),
                    state,
                    version,
                    killed,
                    updated_at,
                },
                definition,
            })
        })
        .collect()
}
