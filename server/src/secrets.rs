//! Secret values: envelope encryption with AES-256-GCM, and the typed wrapper plaintext lives in.
//!
//! Each secret version gets its own random 256-bit data key (DEK). The value is sealed with the
//! DEK; the DEK is sealed with the active master key of the keyring (see [`crate::keys`]). The
//! stored record names the master key that wrapped its DEK, so rotation re-wraps DEKs without
//! touching values.
//!
//! Associated data binds both ciphertexts to where they belong, so a ciphertext copied to another
//! row, environment, name or version fails to decrypt instead of yielding someone else's secret:
//!
//! ```text
//! aad(value) = "switchboard:secret:v1:" project_id "/" environment_id "/" name "/" version
//! aad(dek)   = aad(value) ":dek"
//! ```
//!
//! Byte layout of both stored blobs (`wrapped_key` and `ciphertext`), as written by
//! [`crate::keys::seal`]:
//!
//! ```text
//! nonce (12 random bytes) || AES-256-GCM ciphertext (len of plaintext) || tag (16 bytes)
//! ```
//!
//! # Metadata integrity
//!
//! The associated data above stops a ciphertext from being moved, but not the rows around it
//! from being rolled back: with write access to the database, moving `secrets.version` back
//! would serve an older (perhaps leaked) value, and deleting a `secrets` row would drop the
//! secret from exports without a sound. So the metadata is tagged too
//! ([`crate::secret_integrity`], kept in step by `store::secret_integrity`):
//!
//! ```text
//! mac key    = HKDF-Expand(PRK = master key `mac_key_id`, info = "switchboard:secret-metadata-mac:v1", L = 32)
//!            = HMAC-SHA256(master key, info || 0x01)
//! field(x)   = len(x) as u64 big-endian || x
//! secrets.mac      = HMAC-SHA256(mac key, field("secret") field(project_id) field(environment_id)
//!                      field(name) field(version as i64 BE) field(number of version rows as i64 BE))
//! secret_sets.mac  = HMAC-SHA256(mac key, field("set") field(project_id) field(environment_id)
//!                      field(version rows in the environment as i64 BE) field(live secrets as u64 BE)
//!                      then field(name) field(version as i64 BE) per live secret, sorted by name)
//! ```
//!
//! Every secret write and delete re-tags both in its transaction; every read checks the
//! secret's tag, every export checks each secret's and the list's. A failure is answered as
//! `secret-undecryptable` naming the secret (`*` for the list) and logged as a SECURITY ALERT
//! (never a value).
//!
//! The MAC key derives from the master key named beside each tag (`mac_key_id`), not from a
//! separate stored key: nothing new to wrap or back up. Master-key rotation therefore re-tags:
//! it checks each tag under its old key and re-makes it under the active one (a tag that fails
//! is left failing, logged and counted), so the old key can be retired afterwards.
//!
//! Detected: a current version moved back or forward; a version row deleted or added (the
//! count changes; deleting the newest one also leaves the pointer on a missing row); a secret
//! row deleted, added or copied from another environment (export: the list tag); a tag
//! stripped (`NULL`) or copied from an older state of the row (the version count has grown
//! since). Rows that existed before tags were introduced are tagged, as they are, by the start
//! that applies migration `20261202051331`; after that an untagged row is refused.
//!
//! Not detected: a consistent rollback of a secret's row, tag, version rows *and* its
//! environment's list row to an earlier state recorded by the attacker (a restored old
//! backup looks exactly like that: nothing outside the database remembers later writes);
//! deleting an environment's rows in every secrets table at once (it then looks like an
//! environment that never held a secret); and a single read does not check the list, so a
//! secret row deleted behind our back reads as absent (404), and one deleted through the API
//! and put back exactly as it was reads again, while the export refuses the list in both cases. Lists and version listings are
//! metadata and are not checked. A write through the API re-tags, so writing a new value is
//! the way back after an alert.

use std::fmt;

use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::keys::{Keyring, UnwrapError, open, seal};

/// A secret's plaintext. Wiped when dropped; `Debug` and `Display` never show it.
#[derive(Clone, Default, PartialEq, Eq, zeroize::ZeroizeOnDrop)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The plaintext, for the one place that must send it (a read or an export).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// Where a secret version belongs; its fields make up the associated data.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub project_id: &'a str,
    pub environment_id: &'a str,
    pub name: &'a str,
    pub version: i64,
}

impl Binding<'_> {
    fn value_aad(&self) -> Vec<u8> {
        format!(
            "switchboard:secret:v1:{}/{}/{}/{}",
            self.project_id, self.environment_id, self.name, self.version
        )
        .into_bytes()
    }

    fn key_aad(&self) -> Vec<u8> {
        let mut aad = self.value_aad();
        aad.extend_from_slice(b":dek");
        aad
    }
}

/// A sealed secret version as stored.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub master_key_id: String,
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a stored secret could not be opened. Never carries plaintext or key material.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the master key `{0}` that wrapped this secret is not in the keyring")]
    UnknownMasterKey(String),
    #[error(
        "the secret's stored data failed authentication (modified, moved, or wrapped under another key)"
    )]
    Tampered,
    #[error("the decrypted secret is not UTF-8")]
    NotText,
}

impl From<UnwrapError> for OpenError {
    fn from(error: UnwrapError) -> Self {
        match error {
            UnwrapError::UnknownKey(id) => OpenError::UnknownMasterKey(id),
            UnwrapError::Corrupt => OpenError::Tampered,
        }
    }
}

/// Seals `value` for `binding` under a fresh data key wrapped by the active master key.
pub fn seal_value(
    keyring: &Keyring,
    binding: Binding<'_>,
    value: &SecretValue,
) -> anyhow::Result<Sealed> {
    let mut dek = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(dek.as_mut());
    let ciphertext = seal(&dek, value.expose().as_bytes(), &binding.value_aad())?;
    let (master_key_id, wrapped_key) = keyring.wrap(dek.as_ref(), &binding.key_aad())?;
    Ok(Sealed {
        master_key_id,
        wrapped_key,
        ciphertext,
    })
}

/// Opens a sealed version stored for `binding`.
pub fn open_value(
    keyring: &Keyring,
    binding: Binding<'_>,
    sealed: &Sealed,
) -> Result<SecretValue, OpenError> {
    let dek_bytes = keyring.unwrap(
        &sealed.master_key_id,
        &sealed.wrapped_key,
        &binding.key_aad(),
    )?;
    let mut dek: [u8; 32] = dek_bytes
        .as_slice()
        .try_into()
        .map_err(|_| OpenError::Tampered)?;
    let plaintext = open(&dek, &sealed.ciphertext, &binding.value_aad());
    dek.zeroize();
    let mut plaintext = plaintext?;
    let text = String::from_utf8(std::mem::take(&mut *plaintext)).map_err(|e| {
        let mut bytes = e.into_bytes();
        bytes.zeroize();
        OpenError::NotText
    })?;
    Ok(SecretValue::new(text))
}

/// Re-wraps a version's data key under the keyring's active master key; the value's ciphertext
/// is untouched and the plaintext value is never produced.
pub fn rewrap_key(
    keyring: &Keyring,
    binding: Binding<'_>,
    sealed: &Sealed,
) -> Result<Sealed, OpenError> {
    let dek = keyring.unwrap(
        &sealed.master_key_id,
        &sealed.wrapped_key,
        &binding.key_aad(),
    )?;
    let (master_key_id, wrapped_key) = keyring
        .wrap(&dek, &binding.key_aad())
        .map_err(|_| OpenError::Tampered)?;
    Ok(Sealed {
        master_key_id,
        wrapped_key,
        ciphertext: sealed.ciphertext.clone(),
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn ring(entries: &[(&str, u8)]) -> Keyring {
        let text = entries
            .iter()
            .map(|(id, byte)| {
                format!(
                    "{id}:{}",
                    base64::engine::general_purpose::STANDARD.encode([*byte; 32])
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        Keyring::parse(&text).unwrap()
    }

    fn binding(version: i64) -> Binding<'static> {
        Binding {
            project_id: "p1",
            environment_id: "e1",
            name: "DB_PASSWORD",
            version,
        }
    }

    #[test]
    fn a_sealed_value_opens_only_where_it_was_sealed() {
        let keyring = ring(&[("k1", 1)]);
        let sealed = seal_value(&keyring, binding(1), &SecretValue::new("hunter2".into())).unwrap();
        assert_eq!(
            open_value(&keyring, binding(1), &sealed).unwrap().expose(),
            "hunter2"
        );
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        // Another version, name or environment: refused.
        assert!(matches!(
            open_value(&keyring, binding(2), &sealed),
            Err(OpenError::Tampered)
        ));
        let moved = Binding {
            name: "OTHER",
            ..binding(1)
        };
        assert!(matches!(
            open_value(&keyring, moved, &sealed),
            Err(OpenError::Tampered)
        ));
        // A flipped bit anywhere: refused.
        for blob in ["key", "value"] {
            let mut bad = sealed.clone();
            let target = if blob == "key" {
                &mut bad.wrapped_key
            } else {
                &mut bad.ciphertext
            };
            target[14] ^= 0x40;
            assert!(
                matches!(
                    open_value(&keyring, binding(1), &bad),
                    Err(OpenError::Tampered)
                ),
                "{blob}"
            );
        }
        // The wrong master key: refused with a reason.
        let other = ring(&[("k2", 2)]);
        assert!(matches!(
            open_value(&other, binding(1), &sealed),
            Err(OpenError::UnknownMasterKey(_))
        ));
    }

    #[test]
    fn rewrapping_moves_the_data_key_to_the_active_master_key_only() {
        let old = ring(&[("k1", 1)]);
        let sealed = seal_value(&old, binding(3), &SecretValue::new("s3cret".into())).unwrap();
        let both = ring(&[("k2", 2), ("k1", 1)]);
        let rewrapped = rewrap_key(&both, binding(3), &sealed).unwrap();
        assert_eq!(rewrapped.master_key_id, "k2");
        assert_eq!(
            rewrapped.ciphertext, sealed.ciphertext,
            "the value itself is not re-encrypted"
        );
        let new_only = ring(&[("k2", 2)]);
        assert_eq!(
            open_value(&new_only, binding(3), &rewrapped)
                .unwrap()
                .expose(),
            "s3cret"
        );
    }

    #[test]
    fn plaintext_never_shows_in_debug() {
        assert_eq!(
            format!("{:?}", SecretValue::new("hunter2".into())),
            "SecretValue(***)"
        );
    }
}
