//! Master-key rotation: re-wraps every stored data key (and token signing key) under the
//! keyring's active master key, and re-tags secrets' metadata under it. Kept apart from the secrets' read/write path because it runs
//! over every environment at once, as an operator action (API or CLI), never per request.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::audit::{self, Actor, Change};
use super::{Store, StoreResult};
use crate::keys::Keyring;
use crate::secrets::{Binding, OpenError, Sealed, rewrap_key};

/// What a master-key rotation did.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Rotation {
    pub active_master_key: String,
    pub rewrapped_secret_keys: u64,
    pub rewrapped_signing_keys: u64,
    /// Webhook endpoints' signing secrets re-wrapped under the active key.
    pub rewrapped_webhook_secrets: u64,
    /// Secrets whose metadata tag (see `crate::secrets`) was re-made under the active key, so
    /// the old key can be retired.
    pub retagged_secrets: u64,
    /// Data keys that could not be re-wrapped and metadata tags that did not authenticate
    /// (unknown master key or tampered); the rest went on.
    pub failed: u64,
}

/// Re-wraps every data key (and token signing key) not yet under the active master key. Values
/// are never decrypted; each row is re-wrapped with a compare-and-set on its master key id, so
/// rotation can run while the service serves and writes, and can be re-run after a failure.
#[tracing::instrument(skip_all)]
pub async fn rotate_master_key(
    store: &Store,
    keyring: &Keyring,
    actor: &Actor,
) -> StoreResult<Rotation> {
    let active = keyring.active_id().to_owned();
    let mut report = Rotation {
        active_master_key: active.clone(),
        ..Rotation::default()
    };
    loop {
        let rows = sqlx::query(
            "SELECT v.environment_id, e.project_id, v.name, v.version, v.master_key_id, v.wrapped_key, v.ciphertext \
             FROM secret_versions v JOIN environments e ON e.id = v.environment_id \
             WHERE v.master_key_id <> $1 ORDER BY v.environment_id, v.name, v.version LIMIT 200 OFFSET $2",
        )
        .bind(active.clone())
        .bind(i64::try_from(report.failed).unwrap_or(i64::MAX))
        .fetch_all(store.pool())
        .await?;
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            let environment_id: String = row.try_get("environment_id")?;
            let project_id: String = row.try_get("project_id")?;
            let name: String = row.try_get("name")?;
            let version: i64 = row.try_get("version")?;
            let sealed = Sealed {
                master_key_id: row.try_get("master_key_id")?,
                wrapped_key: row.try_get("wrapped_key")?,
                ciphertext: row.try_get("ciphertext")?,
            };
            let binding = Binding {
                project_id: &project_id,
                environment_id: &environment_id,
                name: &name,
                version,
            };
            match rewrap_key(keyring, binding, &sealed) {
                Ok(rewrapped) => {
                    sqlx::query("UPDATE secret_versions SET master_key_id = $1, wrapped_key = $2 WHERE environment_id = $3 AND name = $4 AND version = $5 AND master_key_id = $6")
                        .bind(rewrapped.master_key_id)
                        .bind(rewrapped.wrapped_key)
                        .bind(environment_id.clone())
                        .bind(name.clone())
                        .bind(version)
                        .bind(sealed.master_key_id.clone())
                        .execute(store.pool())
                        .await?;
                    report.rewrapped_secret_keys += 1;
                }
                Err(error) => {
                    log_rotation_failure(&name, version, &error);
                    report.failed += 1;
                }
            }
        }
    }
    report.rewrapped_signing_keys = super::signing_keys::rewrap(store, keyring).await?;
    report.rewrapped_webhook_secrets = super::webhooks::rewrap(store, keyring).await?;
    let (retagged, failed) = super::secret_integrity::retag_for_rotation(store, keyring).await?;
    report.retagged_secrets = retagged;
    report.failed += failed;
    let mut tx = store.begin_write().await?;
    audit::append(
        &mut tx,
        actor,
        Change {
            action: "master_key.rotate",
            project: None,
            environment: None,
            target: "master-key".into(),
            before: None,
            after: Some(json!(report)),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(report)
}

fn log_rotation_failure(name: &str, version: i64, error: &OpenError) {
    tracing::error!(alert = true, secret = name, version, %error, "SECURITY ALERT: a secret's data key could not be re-wrapped");
}
