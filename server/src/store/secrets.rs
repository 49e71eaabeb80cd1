//! Secrets: every write is a new version sealed under its own data key (see
//! [`crate::secrets`]); reading a value or exporting commits an audit event before the value is
//! returned, so there is no read without its record. Lists carry metadata only. Master-key
//! rotation lives in [`super::key_rotation`].

use serde::Serialize;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::audit::{self, Actor, Change};
use super::lookup::environment_ids;
use super::secret_integrity::{self as integrity, check_list, check_secret_row, tag_from_row};
use super::{
    EnvPath, Store, StoreError, StoreResult, WriteIntent, format_micros, now_micros, retrying,
};
use crate::keys::Keyring;
// Rotation's old home: `cli.rs` still reaches it through this module.
pub use super::key_rotation::{Rotation, rotate_master_key};
use crate::secret_integrity::{SecretState, SetState};
use crate::secrets::{Binding, Sealed, SecretValue, open_value, seal_value};

/// A secret's metadata; never its value.
#[derive(Clone, Debug, Serialize)]
pub struct SecretMeta {
    pub name: String,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// One version's metadata.
#[derive(Clone, Debug, Serialize)]
pub struct SecretVersionMeta {
    pub version: i64,
    pub created_at: String,
    pub actor: String,
    pub comment: String,
    pub master_key_id: String,
}

fn meta_from_row(row: &AnyRow) -> StoreResult<SecretMeta> {
    Ok(SecretMeta {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        created_at: format_micros(row.try_get("created_at")?),
        updated_at: format_micros(row.try_get("updated_at")?),
        updated_by: row.try_get("updated_by")?,
    })
}

#[tracing::instrument(skip_all, fields(project = %project, environment = %env))]
pub async fn list(store: &Store, project: &str, env: &str) -> StoreResult<Vec<SecretMeta>> {
    let mut conn = store.pool().acquire().await?;
    let place = environment_ids(&mut *conn, project, env).await?;
    let rows = sqlx::query("SELECT name, version, created_at, updated_at, updated_by FROM secrets WHERE environment_id = $1 ORDER BY name")
        .bind(place.environment_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(meta_from_row).collect()
}

async fn current_version(
    conn: &mut AnyConnection,
    environment_id: &str,
    name: &str,
) -> StoreResult<Option<(i64, i64)>> {
    let row = sqlx::query(
        "SELECT version, created_at FROM secrets WHERE environment_id = $1 AND name = $2",
    )
    .bind(environment_id.to_owned())
    .bind(name.to_owned())
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((r.try_get("version")?, r.try_get("created_at")?)))
        .transpose()
}

/// Stores `value` as the secret's next version. `expected` is the `If-Match` version (0: new).
#[tracing::instrument(skip_all, fields(project = %at.project, environment = %at.environment, secret = %name))]
pub async fn write(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    at: EnvPath<'_>,
    name: &str,
    value: &SecretValue,
    intent: WriteIntent<'_>,
) -> StoreResult<SecretMeta> {
    // Retried against a concurrent writer (see `retrying`); each attempt seals anew for the
    // version it writes.
    retrying(store, intent.expected, || {
        write_once(store, keyring, actor, at, name, value, intent)
    })
    .await
}

/// One attempt of [`write`], in one transaction.
async fn write_once(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    at: EnvPath<'_>,
    name: &str,
    value: &SecretValue,
    intent: WriteIntent<'_>,
) -> StoreResult<SecretMeta> {
    let (project, env) = (at.project, at.environment);
    let mut tx = store.begin_write().await?;
    let place = environment_ids(&mut *tx, project, env).await?;
    integrity::lock_list(&mut tx, &place.environment_id).await?;
    let current = current_version(&mut tx, &place.environment_id, name).await?;
    let version = current.map_or(0, |(v, _)| v);
    if let Some(expected) = intent.expected
        && expected != version
    {
        return Err(StoreError::Stale {
            expected,
            current: version,
        });
    }
    // Versions continue after a delete and re-create, so a ciphertext can never be replayed
    // into a reused version number.
    let last: i64 = sqlx::query("SELECT COALESCE(MAX(version), 0) AS v FROM secret_versions WHERE environment_id = $1 AND name = $2")
        .bind(place.environment_id.clone())
        .bind(name.to_owned())
        .fetch_one(&mut *tx)
        .await?
        .try_get("v")?;
    let next = last.max(version) + 1;
    let binding = Binding {
        project_id: &place.project_id,
        environment_id: &place.environment_id,
        name,
        version: next,
    };
    let sealed = seal_value(keyring, binding, value)?;
    let now = now_micros();
    sqlx::query(
        "INSERT INTO secret_versions (environment_id, name, version, master_key_id, wrapped_key, ciphertext, created_at, actor_name, actor_token_id, comment) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(place.environment_id.clone())
    .bind(name.to_owned())
    .bind(next)
    .bind(sealed.master_key_id)
    .bind(sealed.wrapped_key)
    .bind(sealed.ciphertext)
    .bind(now)
    .bind(actor.name.clone())
    .bind(actor.token_id.clone())
    .bind(intent.comment.to_owned())
    .execute(&mut *tx)
    .await?;
    let written = match current {
        None => sqlx::query("INSERT INTO secrets (environment_id, name, version, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (environment_id, name) DO NOTHING")
            .bind(place.environment_id.clone())
            .bind(name.to_owned())
            .bind(next)
            .bind(now)
            .bind(actor.name.clone())
            .execute(&mut *tx)
            .await?,
        Some(_) => sqlx::query("UPDATE secrets SET version = $1, updated_at = $2, updated_by = $3 WHERE environment_id = $4 AND name = $5 AND version = $6")
            .bind(next)
            .bind(now)
            .bind(actor.name.clone())
            .bind(place.environment_id.clone())
            .bind(name.to_owned())
            .bind(version)
            .execute(&mut *tx)
            .await?,
    };
    if written.rows_affected() != 1 {
        return Err(StoreError::Stale {
            expected: version,
            current: next,
        });
    }
    // The new current version and history, bound before commit (see `crate::secrets`).
    integrity::retag_secret(
        &mut tx,
        keyring,
        &place.project_id,
        &place.environment_id,
        name,
        next,
    )
    .await?;
    integrity::retag_list(&mut tx, keyring, &place.project_id, &place.environment_id).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: intent.action,
            project: Some(project),
            environment: Some(env),
            target: format!("project/{project}/environment/{env}/secret/{name}"),
            before: current.map(|_| json!({ "version": version })),
            after: Some(json!({ "version": next })),
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(SecretMeta {
        name: name.to_owned(),
        version: next,
        created_at: format_micros(current.map_or(now, |(_, created)| created)),
        updated_at: format_micros(now),
        updated_by: actor.name.clone(),
    })
}

async fn sealed_at(
    conn: &mut AnyConnection,
    environment_id: &str,
    name: &str,
    version: i64,
) -> StoreResult<Sealed> {
    let row = sqlx::query("SELECT master_key_id, wrapped_key, ciphertext FROM secret_versions WHERE environment_id = $1 AND name = $2 AND version = $3")
        .bind(environment_id.to_owned())
        .bind(name.to_owned())
        .bind(version)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| StoreError::Absent(format!("version {version} of secret '{name}'")))?;
    Ok(Sealed {
        master_key_id: row.try_get("master_key_id")?,
        wrapped_key: row.try_get("wrapped_key")?,
        ciphertext: row.try_get("ciphertext")?,
    })
}

/// Opens a version, raising an alert-level log on failure (it means tampering or a missing key).
fn open_logged(
    keyring: &Keyring,
    binding: Binding<'_>,
    sealed: &Sealed,
) -> StoreResult<SecretValue> {
    open_value(keyring, binding, sealed).map_err(|error| {
        tracing::error!(
            alert = true,
            secret = binding.name,
            version = binding.version,
            environment_id = binding.environment_id,
            %error,
            "SECURITY ALERT: a stored secret could not be decrypted"
        );
        StoreError::Undecryptable {
            name: binding.name.to_owned(),
            reason: error.to_string(),
        }
    })
}

/// What a read needs, in one statement: the environment's ids (a missing environment is no
/// row), the secret's metadata with its tag and number of versions, and its current version's
/// sealed value (`NULL`s for a missing secret).
const READ_ONE: &str = "SELECT p.id AS project_id, e.id AS environment_id, \
     s.name, s.version, s.created_at, s.updated_at, s.updated_by, s.mac_key_id, s.mac, \
     (SELECT COUNT(*) FROM secret_versions c WHERE c.environment_id = s.environment_id \
     AND c.name = s.name) AS versions, \
     v.master_key_id, v.wrapped_key, v.ciphertext \
     FROM projects p JOIN environments e ON e.project_id = p.id \
     LEFT JOIN secrets s ON s.environment_id = e.id AND s.name = $3 \
     LEFT JOIN secret_versions v ON v.environment_id = s.environment_id AND v.name = s.name \
     AND v.version = s.version \
     WHERE p.name = $1 AND e.name = $2";

/// A secret's current value, with an audit record of the read.
///
/// One `SELECT` (a consistent view of the row and its version), decryption here, then the audit
/// record, group-committed with concurrent reads (`Store::record_read`); the value is returned
/// only once its record is committed, so no value leaves without its record. A read that fails
/// (absent, undecryptable) writes no audit row; an undecryptable one raises an alert-level log
/// instead.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, secret = %name))]
pub async fn read(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    project: &str,
    env: &str,
    name: &str,
) -> StoreResult<(SecretMeta, SecretValue)> {
    let mut conn = store.pool().acquire().await?;
    let row = sqlx::query(READ_ONE)
        .bind(project.to_owned())
        .bind(env.to_owned())
        .bind(name.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Absent(format!("environment '{env}' in project '{project}'")))?;
    if row.try_get::<Option<String>, _>("name")?.is_none() {
        return Err(StoreError::Absent(format!(
            "secret '{name}' in environment '{env}'"
        )));
    }
    let meta = meta_from_row(&row)?;
    let (project_id, environment_id): (String, String) =
        (row.try_get("project_id")?, row.try_get("environment_id")?);
    check_secret_row(
        keyring,
        SecretState {
            project_id: &project_id,
            environment_id: &environment_id,
            name,
            version: meta.version,
            versions: row.try_get("versions")?,
        },
        tag_from_row(&row, "mac_key_id", "mac")?.as_ref(),
    )?;
    let sealed = sealed_from_row(&row)
        .ok_or_else(|| version_missing(name, &environment_id, meta.version))??;
    let binding = Binding {
        project_id: &project_id,
        environment_id: &environment_id,
        name,
        version: meta.version,
    };
    let value = open_logged(keyring, binding, &sealed)?;
    // Back to the pool before waiting for the audit batch, whose writer needs a connection.
    drop(conn);
    audit_read(
        store,
        actor,
        project,
        env,
        "secret.read",
        &[name.to_owned()],
    )
    .await?;
    Ok((meta, value))
}

/// An authenticated current version whose row is gone: tampering, answered like it.
fn version_missing(name: &str, environment_id: &str, version: i64) -> StoreError {
    tracing::error!(
        alert = true,
        secret = name,
        version,
        environment_id,
        "SECURITY ALERT: a secret's current version is missing from its history"
    );
    StoreError::Undecryptable {
        name: name.to_owned(),
        reason: "its current version is missing from its history".into(),
    }
}

/// The sealed value in a row of [`READ_ONE`] or [`EXPORT_ALL`]; `None` when the version row is
/// missing (the `LEFT JOIN` found nothing).
fn sealed_from_row(row: &AnyRow) -> Option<StoreResult<Sealed>> {
    let read = || -> StoreResult<Option<Sealed>> {
        let Some(master_key_id) = row.try_get::<Option<String>, _>("master_key_id")? else {
            return Ok(None);
        };
        Ok(Some(Sealed {
            master_key_id,
            wrapped_key: row.try_get("wrapped_key")?,
            ciphertext: row.try_get("ciphertext")?,
        }))
    };
    read().transpose()
}

/// Records a read of `names` and returns once the record is committed (group-committed with
/// concurrent reads, see `Store::record_read`).
async fn audit_read(
    store: &Store,
    actor: &Actor,
    project: &str,
    env: &str,
    action: &str,
    names: &[String],
) -> StoreResult<()> {
    store
        .record_read(
            actor,
            Change {
                action,
                project: Some(project),
                environment: Some(env),
                target: format!("project/{project}/environment/{env}/secrets"),
                before: None,
                after: Some(json!({ "secrets": names })),
            },
        )
        .await
}

/// [`READ_ONE`] for every secret of an environment, with the environment's list tag and
/// number of version rows (in the same statement, so they are of the same moment as the rows):
/// one row with `NULL` secret columns when it has none, no row when the environment does not
/// exist.
const EXPORT_ALL: &str = "SELECT p.id AS project_id, e.id AS environment_id, s.name, s.version, \
     s.mac_key_id, s.mac, \
     (SELECT COUNT(*) FROM secret_versions c WHERE c.environment_id = s.environment_id \
     AND c.name = s.name) AS versions, \
     (SELECT COUNT(*) FROM secret_versions c WHERE c.environment_id = e.id) AS list_versions, \
     (SELECT l.mac_key_id FROM secret_sets l WHERE l.environment_id = e.id) AS list_key_id, \
     (SELECT l.mac FROM secret_sets l WHERE l.environment_id = e.id) AS list_mac, \
     v.master_key_id, v.wrapped_key, v.ciphertext \
     FROM projects p JOIN environments e ON e.project_id = p.id \
     LEFT JOIN secrets s ON s.environment_id = e.id \
     LEFT JOIN secret_versions v ON v.environment_id = s.environment_id AND v.name = s.name \
     AND v.version = s.version \
     WHERE p.name = $1 AND e.name = $2 ORDER BY s.name";

/// Every secret of the environment, decrypted, with one audit record naming them all.
/// Fails as a whole if any secret cannot be decrypted: a pipeline must not deploy half a set.
/// Audited like [`read`].
#[tracing::instrument(skip_all, fields(project = %project, environment = %env))]
pub async fn export(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    project: &str,
    env: &str,
) -> StoreResult<Vec<(String, SecretValue)>> {
    let mut conn = store.pool().acquire().await?;
    let rows = sqlx::query(EXPORT_ALL)
        .bind(project.to_owned())
        .bind(env.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Err(StoreError::Absent(format!(
            "environment '{env}' in project '{project}'"
        )));
    }
    let mut values = Vec::with_capacity(rows.len());
    let mut listed = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(name) = row.try_get::<Option<String>, _>("name")? else {
            continue;
        };
        let version: i64 = row.try_get("version")?;
        let (project_id, environment_id): (String, String) =
            (row.try_get("project_id")?, row.try_get("environment_id")?);
        check_secret_row(
            keyring,
            SecretState {
                project_id: &project_id,
                environment_id: &environment_id,
                name: &name,
                version,
                versions: row.try_get("versions")?,
            },
            tag_from_row(row, "mac_key_id", "mac")?.as_ref(),
        )?;
        let sealed = sealed_from_row(row)
            .ok_or_else(|| version_missing(&name, &environment_id, version))??;
        listed.push((name.clone(), version));
        let binding = Binding {
            project_id: &project_id,
            environment_id: &environment_id,
            name: &name,
            version,
        };
        let value = open_logged(keyring, binding, &sealed)?;
        values.push((name, value));
    }
    // The list as a whole: a secret row deleted or added behind our back shows here.
    let first = &rows[0];
    let (project_id, environment_id): (String, String) = (
        first.try_get("project_id")?,
        first.try_get("environment_id")?,
    );
    check_list(
        keyring,
        SetState {
            project_id: &project_id,
            environment_id: &environment_id,
            secrets: &listed,
            versions: first.try_get("list_versions")?,
        },
        tag_from_row(first, "list_key_id", "list_mac")?.as_ref(),
    )?;
    let names: Vec<String> = values.iter().map(|(n, _)| n.clone()).collect();
    drop(conn);
    audit_read(store, actor, project, env, "secret.export", &names).await?;
    Ok(values)
}

#[tracing::instrument(skip_all, fields(project = %project, environment = %env, secret = %name))]
pub async fn versions(
    store: &Store,
    project: &str,
    env: &str,
    name: &str,
) -> StoreResult<Vec<SecretVersionMeta>> {
    let mut conn = store.pool().acquire().await?;
    let place = environment_ids(&mut *conn, project, env).await?;
    let rows = sqlx::query("SELECT version, created_at, actor_name, comment, master_key_id FROM secret_versions WHERE environment_id = $1 AND name = $2 ORDER BY version DESC")
        .bind(place.environment_id)
        .bind(name.to_owned())
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Err(StoreError::Absent(format!(
            "secret '{name}' in environment '{env}'"
        )));
    }
    rows.iter()
        .map(|row| {
            Ok(SecretVersionMeta {
                version: row.try_get("version")?,
                created_at: format_micros(row.try_get("created_at")?),
                actor: row.try_get("actor_name")?,
                comment: row.try_get("comment")?,
                master_key_id: row.try_get("master_key_id")?,
            })
        })
        .collect()
}

/// The plaintext of an earlier version, to roll back to (re-sealed as a new version by
/// [`write`]; the old ciphertext is bound to its own version number).
pub async fn value_at(
    store: &Store,
    keyring: &Keyring,
    project: &str,
    env: &str,
    name: &str,
    version: i64,
) -> StoreResult<SecretValue> {
    let mut conn = store.pool().acquire().await?;
    let place = environment_ids(&mut *conn, project, env).await?;
    let sealed = sealed_at(&mut conn, &place.environment_id, name, version).await?;
    let binding = Binding {
        project_id: &place.project_id,
        environment_id: &place.environment_id,
        name,
        version,
    };
    open_logged(keyring, binding, &sealed)
}

/// Deletes a secret: it disappears from reads, lists and exports. Its encrypted history stays
/// (for audit and rollback), and a secret re-created under the same name continues its version
/// numbers, so no stored ciphertext can ever fit a new version.
#[tracing::instrument(skip_all, fields(project = %project, environment = %env, secret = %name))]
pub async fn delete(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
    project: &str,
    env: &str,
    name: &str,
) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    let place = environment_ids(&mut *tx, project, env).await?;
    integrity::lock_list(&mut tx, &place.environment_id).await?;
    let Some((version, _)) = current_version(&mut tx, &place.environment_id, name).await? else {
        return Err(StoreError::Absent(format!(
            "secret '{name}' in environment '{env}'"
        )));
    };
    sqlx::query("DELETE FROM secrets WHERE environment_id = $1 AND name = $2")
        .bind(place.environment_id.clone())
        .bind(name.to_owned())
        .execute(&mut *tx)
        .await?;
    integrity::retag_list(&mut tx, keyring, &place.project_id, &place.environment_id).await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "secret.delete",
            project: Some(project),
            environment: Some(env),
            target: format!("project/{project}/environment/{env}/secret/{name}"),
            before: Some(json!({ "version": version })),
            after: None,
        },
    )
    .await?;
    super::write_scope::commit(tx).await?;
    Ok(())
}

/// How many secrets the environment holds (for the delete confirmation).
pub(crate) async fn count_in_environment(
    conn: &mut AnyConnection,
    environment_id: &str,
) -> StoreResult<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM secrets WHERE environment_id = $1")
            .bind(environment_id.to_owned())
            .fetch_one(conn)
            .await?
            .try_get("n")?,
    )
}
