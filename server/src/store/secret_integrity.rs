//! Keeping the tags of [`crate::secret_integrity`] in step with the `secrets` table: every
//! secret write and delete re-tags the secret and its environment's list in the same
//! transaction, reads and exports check them, master-key rotation re-tags under the new key,
//! and the start that adds the tag columns tags the rows that were already there.
//!
//! Every writer first takes the environment's `secret_sets` row (an upsert, which on PostgreSQL
//! locks it until commit; SQLite's write transactions are serialized already), so two writers
//! in one environment never tag lists that each miss the other's secret.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, StoreResult};
use crate::keys::Keyring;
use crate::secret_integrity::{
    IntegrityError, SecretState, SetState, Tag, check_secret, check_set, tag_secret, tag_set,
};

/// The migration that added the tags; the process that applies it tags the rows it found.
const TAG_MIGRATION: i64 = 20261202051331;

/// What an export names when the list as a whole fails: no single secret can be blamed.
const WHOLE_LIST: &str = "*";

/// The stored tag in a row's `mac_key_id`/`mac` columns (`None` when either is `NULL`).
pub(super) fn tag_from_row(row: &AnyRow, key_id: &str, mac: &str) -> StoreResult<Option<Tag>> {
    let key_id: Option<String> = row.try_get(key_id)?;
    let mac: Option<Vec<u8>> = row.try_get(mac)?;
    Ok(key_id.zip(mac).map(|(key_id, mac)| Tag { key_id, mac }))
}

/// Logs the alert and turns a failed check into the `secret-undecryptable` answer. The log
/// names the secret and environment, never a value.
pub(super) fn refused(name: &str, environment_id: &str, error: &IntegrityError) -> StoreError {
    tracing::error!(
        alert = true,
        secret = name,
        environment_id,
        %error,
        "SECURITY ALERT: a secret's metadata failed authentication"
    );
    let reason = if name == WHOLE_LIST {
        format!("the environment's list of secrets: {error}")
    } else {
        error.to_string()
    };
    StoreError::Undecryptable {
        name: name.to_owned(),
        reason,
    }
}

/// Checks one secret's row as read (place, current version, number of versions, tag).
pub(super) fn check_secret_row(
    keyring: &Keyring,
    state: SecretState<'_>,
    tag: Option<&Tag>,
) -> StoreResult<()> {
    check_secret(keyring, state, tag).map_err(|e| refused(state.name, state.environment_id, &e))
}

/// Checks an environment's live secrets as one export read them. No stored tag is fine only
/// for an environment that never held a secret (no live secret, no version row).
pub(super) fn check_list(
    keyring: &Keyring,
    state: SetState<'_>,
    tag: Option<&Tag>,
) -> StoreResult<()> {
    if tag.is_none() && state.secrets.is_empty() && state.versions == 0 {
        return Ok(());
    }
    check_set(keyring, state, tag).map_err(|e| refused(WHOLE_LIST, state.environment_id, &e))
}

/// Takes the environment's list row for the rest of the transaction (see the module doc).
pub(super) async fn lock_list(conn: &mut AnyConnection, environment_id: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO secret_sets (environment_id, mac_key_id, mac) VALUES ($1, '', $2) \
         ON CONFLICT (environment_id) DO UPDATE SET mac_key_id = secret_sets.mac_key_id",
    )
    .bind(environment_id.to_owned())
    .bind(Vec::<u8>::new())
    .execute(conn)
    .await?;
    Ok(())
}

async fn count(
    conn: &mut AnyConnection,
    environment_id: &str,
    name: Option<&str>,
) -> StoreResult<i64> {
    let query = match name {
        Some(name) => sqlx::query(
            "SELECT COUNT(*) AS n FROM secret_versions WHERE environment_id = $1 AND name = $2",
        )
        .bind(environment_id.to_owned())
        .bind(name.to_owned()),
        None => sqlx::query("SELECT COUNT(*) AS n FROM secret_versions WHERE environment_id = $1")
            .bind(environment_id.to_owned()),
    };
    Ok(query.fetch_one(conn).await?.try_get("n")?)
}

/// Tags secret `name` at `version` (its row must exist), in the caller's transaction.
pub(super) async fn retag_secret(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    project_id: &str,
    environment_id: &str,
    name: &str,
    version: i64,
) -> StoreResult<()> {
    let versions = count(conn, environment_id, Some(name)).await?;
    let state = SecretState {
        project_id,
        environment_id,
        name,
        version,
        versions,
    };
    let tag = tag_secret(keyring, state)?;
    sqlx::query(
        "UPDATE secrets SET mac_key_id = $1, mac = $2 WHERE environment_id = $3 AND name = $4",
    )
    .bind(tag.key_id)
    .bind(tag.mac)
    .bind(environment_id.to_owned())
    .bind(name.to_owned())
    .execute(conn)
    .await?;
    Ok(())
}

/// The environment's list as the caller's transaction sees it now.
async fn list_state(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<(Vec<(String, i64)>, i64)> {
    let rows = sqlx::query("SELECT name, version FROM secrets WHERE environment_id = $1")
        .bind(environment_id.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    let secrets = rows
        .iter()
        .map(|r| Ok((r.try_get("name")?, r.try_get("version")?)))
        .collect::<StoreResult<Vec<(String, i64)>>>()?;
    Ok((secrets, count(conn, environment_id, None).await?))
}

/// Tags the environment's list after a write or delete, in the caller's transaction (after
/// [`lock_list`]).
pub(super) async fn retag_list(
    conn: &mut AnyConnection,
    keyring: &Keyring,
    project_id: &str,
    environment_id: &str,
) -> StoreResult<()> {
    let (secrets, versions) = list_state(conn, environment_id).await?;
    let tag = tag_set(
        keyring,
        SetState {
            project_id,
            environment_id,
            secrets: &secrets,
            versions,
        },
    )?;
    sqlx::query("UPDATE secret_sets SET mac_key_id = $1, mac = $2 WHERE environment_id = $3")
        .bind(tag.key_id)
        .bind(tag.mac)
        .bind(environment_id.to_owned())
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether this start is the one that applies the tag migration (call before migrating).
pub async fn applies_tag_migration(store: &Store) -> bool {
    // No migrations table at all (a new database) counts as applying it: nothing to tag then.
    !matches!(
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE version = $1")
            .bind(TAG_MIGRATION)
            .fetch_optional(store.pool())
            .await,
        Ok(Some(_))
    )
}

/// Tags the rows that predate the tag migration, trusting them as they are at that moment;
/// call only when [`applies_tag_migration`] said so. Returns how many secrets it tagged.
pub async fn tag_existing(store: &Store, keyring: &Keyring) -> StoreResult<u64> {
    let mut tx = store.begin_write().await?;
    let environments = sqlx::query(
        "SELECT DISTINCT e.id, e.project_id FROM environments e \
         JOIN secret_versions v ON v.environment_id = e.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut tagged = 0;
    for environment in &environments {
        let (environment_id, project_id): (String, String) = (
            environment.try_get("id")?,
            environment.try_get("project_id")?,
        );
        lock_list(&mut tx, &environment_id).await?;
        let (secrets, _) = list_state(&mut tx, &environment_id).await?;
        for (name, version) in &secrets {
            retag_secret(
                &mut tx,
                keyring,
                &project_id,
                &environment_id,
                name,
                *version,
            )
            .await?;
            tagged += 1;
        }
        retag_list(&mut tx, keyring, &project_id, &environment_id).await?;
    }
    tx.commit().await?;
    Ok(tagged)
}

/// Re-tags, under the active master key, every secret and list tagged under another one,
/// after checking the old tag (a row that fails stays as it is, is logged as an alert and
/// counted in `failed`). One transaction per environment. Returns (re-tagged secrets, failed).
pub(super) async fn retag_for_rotation(
    store: &Store,
    keyring: &Keyring,
) -> StoreResult<(u64, u64)> {
    let active = keyring.active_id().to_owned();
    let environments = sqlx::query(
        "SELECT e.id, e.project_id FROM environments e WHERE \
         EXISTS (SELECT 1 FROM secrets s WHERE s.environment_id = e.id AND s.mac_key_id <> $1) \
         OR EXISTS (SELECT 1 FROM secret_sets l WHERE l.environment_id = e.id AND l.mac_key_id <> $1)",
    )
    .bind(active.clone())
    .fetch_all(store.pool())
    .await?;
    let (mut retagged, mut failed) = (0, 0);
    for environment in &environments {
        let (environment_id, project_id): (String, String) = (
            environment.try_get("id")?,
            environment.try_get("project_id")?,
        );
        let mut tx = store.begin_write().await?;
        lock_list(&mut tx, &environment_id).await?;
        let rows = sqlx::query(
            "SELECT name, version, mac_key_id, mac FROM secrets WHERE environment_id = $1 AND mac_key_id <> $2",
        )
        .bind(environment_id.clone())
        .bind(active.clone())
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let (name, version): (String, i64) = (row.try_get("name")?, row.try_get("version")?);
            let state = SecretState {
                project_id: &project_id,
                environment_id: &environment_id,
                name: &name,
                version,
                versions: count(&mut tx, &environment_id, Some(&name)).await?,
            };
            let tag = tag_from_row(row, "mac_key_id", "mac")?;
            if check_secret_row(keyring, state, tag.as_ref()).is_err() {
                failed += 1;
                continue;
            }
            retag_secret(
                &mut tx,
                keyring,
                &project_id,
                &environment_id,
                &name,
                version,
            )
            .await?;
            retagged += 1;
        }
        let list = sqlx::query("SELECT mac_key_id, mac FROM secret_sets WHERE environment_id = $1")
            .bind(environment_id.clone())
            .fetch_one(&mut *tx)
            .await?;
        let tag = tag_from_row(&list, "mac_key_id", "mac")?;
        let (secrets, versions) = list_state(&mut tx, &environment_id).await?;
        let state = SetState {
            project_id: &project_id,
            environment_id: &environment_id,
            secrets: &secrets,
            versions,
        };
        if tag.as_ref().is_some_and(|t| t.key_id != active) {
            if check_list(keyring, state, tag.as_ref()).is_ok() {
                retag_list(&mut tx, keyring, &project_id, &environment_id).await?;
            } else {
                failed += 1;
            }
        }
        tx.commit().await?;
    }
    Ok((retagged, failed))
}
