//! The keys that sign tokens. They live in the database, wrapped by the master keyring, so that
//! every instance on the same database (and `switchboard bootstrap-token` on the host) signs and
//! verifies with the same key without a second secret to distribute.

use rand::RngCore;
use sqlx::Row;
use zeroize::Zeroizing;

use super::{Store, StoreError, StoreResult, now_micros};
use crate::keys::Keyring;

/// Id of the signing key created on first start.
const FIRST_KEY_ID: &str = "sk1";

/// A decrypted signing key; zeroized on drop.
pub struct SigningKey {
    pub id: String,
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, ***)", self.id)
    }
}

fn aad(id: &str) -> Vec<u8> {
    format!("switchboard:signing-key:{id}").into_bytes()
}

/// Loads every signing key, newest first, creating the first one if there is none. Two instances
/// racing on an empty database both end up with the one row that won the insert.
pub async fn load_or_create(store: &Store, keyring: &Keyring) -> StoreResult<Vec<SigningKey>> {
    let mut secret = Zeroizing::new(vec![0u8; 64]);
    rand::rng().fill_bytes(&mut secret);
    let (master_key_id, wrapped) = keyring.wrap(&secret, &aad(FIRST_KEY_ID))?;
    sqlx::query(
        "INSERT INTO signing_keys (id, master_key_id, wrapped, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(FIRST_KEY_ID)
    .bind(master_key_id)
    .bind(wrapped)
    .bind(now_micros())
    .execute(store.pool())
    .await?;

    let rows = sqlx::query(
        "SELECT id, master_key_id, wrapped FROM signing_keys ORDER BY created_at DESC, id DESC",
    )
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let master_key_id: String = row.try_get("master_key_id")?;
            let wrapped: Vec<u8> = row.try_get("wrapped")?;
            let secret = keyring.unwrap(&master_key_id, &wrapped, &aad(&id)).map_err(|e| {
                StoreError::Other(anyhow::anyhow!(
                    "signing key `{id}` cannot be decrypted with the configured master keyring: {e}"
                ))
            })?;
            Ok(SigningKey { id, secret })
        })
        .collect()
}

/// Re-wraps every signing key not yet under the keyring's active master key (part of a master
/// key rotation). Returns how many were re-wrapped.
pub async fn rewrap(store: &Store, keyring: &Keyring) -> StoreResult<u64> {
    let rows = sqlx::query(
        "SELECT id, master_key_id, wrapped FROM signing_keys WHERE master_key_id <> $1",
    )
    .bind(keyring.active_id().to_owned())
    .fetch_all(store.pool())
    .await?;
    let mut count = 0;
    for row in &rows {
        let id: String = row.try_get("id")?;
        let master_key_id: String = row.try_get("master_key_id")?;
        let wrapped: Vec<u8> = row.try_get("wrapped")?;
        let secret = keyring
            .unwrap(&master_key_id, &wrapped, &aad(&id))
            .map_err(|e| {
                StoreError::Other(anyhow::anyhow!(
                    "signing key `{id}` cannot be re-wrapped: {e}"
                ))
            })?;
        let (new_id, rewrapped) = keyring.wrap(&secret, &aad(&id))?;
        sqlx::query("UPDATE signing_keys SET master_key_id = $1, wrapped = $2 WHERE id = $3 AND master_key_id = $4")
            .bind(new_id)
            .bind(rewrapped)
            .bind(id)
            .bind(master_key_id)
            .execute(store.pool())
            .await?;
        count += 1;
    }
    Ok(count)
}
