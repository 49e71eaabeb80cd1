//! Tags that bind a secret's current version, and an environment's list of secrets, to what
//! Switchboard last wrote, so a change made directly in the database (a current-version pointer
//! moved back, a version row or a secret row deleted) is refused instead of serving an older
//! value or silently dropping a secret from exports. The layout and what is and is not
//! detected are documented in [`crate::secrets`].

use crate::keys::{Keyring, UnwrapError, hmac_sha256, tags_equal};

/// HKDF label of the metadata MAC key (see [`Keyring::derive`]); versioned so the message
/// layout can change under a new label.
pub const MAC_KEY_LABEL: &[u8] = b"switchboard:secret-metadata-mac:v1";

/// One secret's row: where it lives, its current version and how many versions it has.
#[derive(Debug, Clone, Copy)]
pub struct SecretState<'a> {
    pub project_id: &'a str,
    pub environment_id: &'a str,
    pub name: &'a str,
    pub version: i64,
    pub versions: i64,
}

/// An environment's live secrets (name and current version, any order) and the number of
/// version rows it holds, deleted secrets' included.
#[derive(Debug, Clone, Copy)]
pub struct SetState<'a> {
    pub project_id: &'a str,
    pub environment_id: &'a str,
    pub secrets: &'a [(String, i64)],
    pub versions: i64,
}

/// A stored tag and the master key whose subkey made it.
#[derive(Debug, Clone)]
pub struct Tag {
    pub key_id: String,
    pub mac: Vec<u8>,
}

/// Why stored metadata did not authenticate. Carries no key material and no value.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    #[error("its metadata carries no authentication tag (it was changed outside Switchboard)")]
    Untagged,
    #[error("the master key `{0}` that authenticated its metadata is not in the keyring")]
    UnknownMasterKey(String),
    #[error(
        "its metadata failed authentication (current version, version history or list of \
         secrets changed outside Switchboard)"
    )]
    Mismatch,
}

/// Length-prefixed fields, so no two different states share a message.
fn message(domain: &str, fields: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for field in std::iter::once(domain.as_bytes()).chain(fields.iter().copied()) {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

impl SecretState<'_> {
    fn message(&self) -> Vec<u8> {
        message(
            "secret",
            &[
                self.project_id.as_bytes(),
                self.environment_id.as_bytes(),
                self.name.as_bytes(),
                &self.version.to_be_bytes(),
                &self.versions.to_be_bytes(),
            ],
        )
    }
}

impl SetState<'_> {
    fn message(&self) -> Vec<u8> {
        let mut secrets: Vec<&(String, i64)> = self.secrets.iter().collect();
        secrets.sort();
        let count = secrets.len().to_be_bytes();
        let versions = self.versions.to_be_bytes();
        let numbers: Vec<[u8; 8]> = secrets.iter().map(|(_, v)| v.to_be_bytes()).collect();
        let mut fields: Vec<&[u8]> = vec![
            self.project_id.as_bytes(),
            self.environment_id.as_bytes(),
            &versions,
            &count,
        ];
        for ((name, _), number) in secrets.iter().zip(&numbers) {
            fields.push(name.as_bytes());
            fields.push(number);
        }
        message("set", &fields)
    }
}

fn tag_with(keyring: &Keyring, key_id: &str, message: &[u8]) -> Result<Vec<u8>, UnwrapError> {
    let key = keyring.derive(key_id, MAC_KEY_LABEL)?;
    Ok(hmac_sha256(&key, &[message]).to_vec())
}

fn tag_active(keyring: &Keyring, message: &[u8]) -> anyhow::Result<Tag> {
    let key_id = keyring.active_id().to_owned();
    let mac = tag_with(keyring, &key_id, message)
        .map_err(|_| anyhow::anyhow!("active master key missing from keyring"))?;
    Ok(Tag { key_id, mac })
}

fn check(keyring: &Keyring, message: &[u8], tag: Option<&Tag>) -> Result<(), IntegrityError> {
    let tag = tag.ok_or(IntegrityError::Untagged)?;
    let expected = tag_with(keyring, &tag.key_id, message)
        .map_err(|_| IntegrityError::UnknownMasterKey(tag.key_id.clone()))?;
    if tags_equal(&expected, &tag.mac) {
        Ok(())
    } else {
        Err(IntegrityError::Mismatch)
    }
}

/// Tags a secret's row under the active master key.
pub fn tag_secret(keyring: &Keyring, state: SecretState<'_>) -> anyhow::Result<Tag> {
    tag_active(keyring, &state.message())
}

/// Checks a secret row's stored tag.
pub fn check_secret(
    keyring: &Keyring,
    state: SecretState<'_>,
    tag: Option<&Tag>,
) -> Result<(), IntegrityError> {
    check(keyring, &state.message(), tag)
}

/// Tags an environment's list of secrets under the active master key.
pub fn tag_set(keyring: &Keyring, state: SetState<'_>) -> anyhow::Result<Tag> {
    tag_active(keyring, &state.message())
}

/// Checks an environment's stored list tag.
pub fn check_set(
    keyring: &Keyring,
    state: SetState<'_>,
    tag: Option<&Tag>,
) -> Result<(), IntegrityError> {
    check(keyring, &state.message(), tag)
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    fn ring(entries: &str) -> Keyring {
        let key = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 32]);
        Keyring::parse(&entries.replace("{1}", &key(1)).replace("{2}", &key(2))).unwrap()
    }

    fn state(version: i64, versions: i64) -> SecretState<'static> {
        SecretState {
            project_id: "p1",
            environment_id: "e1",
            name: "DB_PASSWORD",
            version,
            versions,
        }
    }

    #[test]
    fn a_secret_tag_fits_only_the_state_it_was_made_for() {
        let keyring = ring("k1:{1}");
        let tag = tag_secret(&keyring, state(3, 3)).unwrap();
        assert!(check_secret(&keyring, state(3, 3), Some(&tag)).is_ok());
        for moved in [state(2, 3), state(3, 2), state(3, 4)] {
            assert!(matches!(
                check_secret(&keyring, moved, Some(&tag)),
                Err(IntegrityError::Mismatch)
            ));
        }
        assert!(matches!(
            check_secret(&keyring, state(3, 3), None),
            Err(IntegrityError::Untagged)
        ));
        // Checked with the key that made it, while that key is in the keyring.
        assert!(check_secret(&ring("k2:{2},k1:{1}"), state(3, 3), Some(&tag)).is_ok());
        assert!(matches!(
            check_secret(&ring("k2:{2}"), state(3, 3), Some(&tag)),
            Err(IntegrityError::UnknownMasterKey(_))
        ));
    }

    fn owned(secrets: &[(&str, i64)]) -> Vec<(String, i64)> {
        secrets.iter().map(|(n, v)| (n.to_string(), *v)).collect()
    }

    fn set(secrets: &[(String, i64)], versions: i64) -> SetState<'_> {
        SetState {
            project_id: "p1",
            environment_id: "e1",
            secrets,
            versions,
        }
    }

    #[test]
    fn a_set_tag_notices_a_missing_added_or_moved_secret_but_not_the_order() {
        let keyring = ring("k1:{1}");
        let tag = tag_set(&keyring, set(&owned(&[("A", 2), ("B", 1)]), 3)).unwrap();
        let reordered = owned(&[("B", 1), ("A", 2)]);
        assert!(check_set(&keyring, set(&reordered, 3), Some(&tag)).is_ok());
        for (secrets, versions) in [
            (owned(&[("A", 2)]), 3),
            (owned(&[("A", 1), ("B", 1)]), 3),
            (owned(&[("A", 2), ("B", 1), ("C", 1)]), 3),
            (owned(&[("A", 2), ("B", 1)]), 2),
        ] {
            assert!(matches!(
                check_set(&keyring, set(&secrets, versions), Some(&tag)),
                Err(IntegrityError::Mismatch)
            ));
        }
    }
}
