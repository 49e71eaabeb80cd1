//! The master keyring and the envelope that keeps server-held keys encrypted at rest.
//!
//! A keyring is a list of 256-bit AES keys, each with a short id; the first entry is the
//! *active* key (it wraps everything new), the others only unwrap what they wrapped before, which
//! is what makes rotation possible without downtime. Its text form, used by
//! `SWITCHBOARD_MASTER_KEY` (comma-separated) and by key files (one entry per line, `#` comments):
//!
//! ```text
//! ID:BASE64(32 random bytes)
//! ```
//!
//! With neither configured, a key is generated into `DATA_DIR/master.key` (mode 0600) on first
//! start, with a loud warning: that is fine on a laptop, not in production, where the key must come
//! from a secret store.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// Where the keyring comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// `SWITCHBOARD_MASTER_KEY` (its value never reaches `Debug`: see [`Settings`](crate::settings::Settings)).
    Inline(String),
    /// `SWITCHBOARD_MASTER_KEY_FILE`: must exist.
    File(PathBuf),
    /// The default: read, or generated on first start.
    Generated(PathBuf),
}

/// One 256-bit key; wiped from memory when dropped, never printed.
#[derive(Clone, zeroize::ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// The loaded keyring.
#[derive(Clone, Debug)]
pub struct Keyring {
    active: String,
    keys: BTreeMap<String, MasterKey>,
}

/// Failure to unwrap: the id is unknown, or the bytes were modified or bound to something else.
#[derive(Debug, thiserror::Error)]
pub enum UnwrapError {
    #[error("master key `{0}` is not in the keyring")]
    UnknownKey(String),
    #[error("ciphertext failed authentication (modified, moved, or wrapped under another key)")]
    Corrupt,
}

const NONCE_LEN: usize = 12;

impl Keyring {
    /// Loads the keyring; generates the default key file when that is the source and it is absent.
    /// Returns whether a key was generated, so the caller can warn.
    pub fn load(source: &MasterKeySource) -> anyhow::Result<(Self, bool)> {
        match source {
            MasterKeySource::Inline(text) => {
                Ok((Self::parse(text).context("SWITCHBOARD_MASTER_KEY")?, false))
            }
            MasterKeySource::File(path) => Ok((Self::read_file(path)?, false)),
            MasterKeySource::Generated(path) if path.exists() => {
                Ok((Self::read_file(path)?, false))
            }
            MasterKeySource::Generated(path) => Ok((Self::generate_into(path)?, true)),
        }
    }

    /// Parses the text form: entries separated by commas or newlines; `#` starts a comment line.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut keys = BTreeMap::new();
        let mut active = None;
        let entries = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for (index, entry) in entries.enumerate() {
            let Some((id, encoded)) = entry.split_once(':') else {
                bail!(
                    "keyring entry {} is not of the form ID:BASE64KEY",
                    index + 1
                );
            };
            if id.is_empty()
                || id.len() > 32
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                bail!(
                    "keyring entry {}: key id must be 1-32 of [A-Za-z0-9_-]",
                    index + 1
                );
            }
            let mut bytes =
                Zeroizing::new(BASE64.decode(encoded).map_err(|_| {
                    anyhow::anyhow!("keyring entry `{id}`: key is not valid base64")
                })?);
            if bytes.len() != 32 {
                bail!(
                    "keyring entry `{id}`: key must be 32 bytes, got {}",
                    bytes.len()
                );
            }
            let mut key = [0u8; 32];
            key.copy_from_slice(&bytes);
            bytes.zeroize();
            if keys.insert(id.to_string(), MasterKey(key)).is_some() {
                bail!("keyring entry `{id}` appears twice");
            }
            active.get_or_insert_with(|| id.to_string());
        }
        let Some(active) = active else {
            bail!("the keyring holds no key");
        };
        Ok(Self { active, keys })
    }

    fn read_file(path: &Path) -> anyhow::Result<Self> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("master key file {}", path.display()))?,
        );
        Self::parse(&text).with_context(|| format!("master key file {}", path.display()))
    }

    fn generate_into(path: &Path) -> anyhow::Result<Self> {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let id = format!("k{}", time::OffsetDateTime::now_utc().unix_timestamp());
        let text = Zeroizing::new(format!(
            "# Switchboard master keyring, generated {}. First entry is active.\n{id}:{}\n",
            time::OffsetDateTime::now_utc().date(),
            BASE64.encode(key)
        ));
        key.zeroize();
        if let Some(dir) = path.parent() {
            crate::local_files::create_private_dir(dir).with_context(|| {
                format!("SWITCHBOARD_DATA_DIR: cannot create {}", dir.display())
            })?;
        }
        write_private_file(path, text.as_bytes())
            .with_context(|| format!("cannot write master key file {}", path.display()))?;
        Self::parse(&text)
    }

    /// Id of the key that wraps new material.
    pub fn active_id(&self) -> &str {
        &self.active
    }

    /// Encrypts `plaintext` under the active key, bound to `aad`.
    ///
    /// Byte layout of the result: `nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes)`.
    /// The key id is stored beside it (not inside), so a reader knows which key to use.
    pub fn wrap(&self, plaintext: &[u8], aad: &[u8]) -> anyhow::Result<(String, Vec<u8>)> {
        let key = self
            .keys
            .get(&self.active)
            .context("active master key missing from keyring")?;
        Ok((self.active.clone(), seal(&key.0, plaintext, aad)?))
    }

    /// A 256-bit subkey of master key `key_id` for one purpose named by `label`:
    /// HKDF-Expand(PRK = master key, info = label, L = 32) of RFC 5869, i.e.
    /// `HMAC-SHA256(master key, label || 0x01)`. The Extract step is skipped because a master
    /// key is already 32 uniformly random bytes (RFC 5869 §3.3). Distinct labels give
    /// independent keys, so a subkey never doubles as an encryption key.
    pub fn derive(&self, key_id: &str, label: &[u8]) -> Result<Zeroizing<[u8; 32]>, UnwrapError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| UnwrapError::UnknownKey(key_id.to_string()))?;
        Ok(Zeroizing::new(hmac_sha256(&key.0, &[label, &[1]])))
    }

    /// Decrypts what [`wrap`](Self::wrap) produced with key `key_id` and the same `aad`.
    pub fn unwrap(
        &self,
        key_id: &str,
        wrapped: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        let key = self
            .keys
            .get(key_id)
            .ok_or_else(|| UnwrapError::UnknownKey(key_id.to_string()))?;
        open(&key.0, wrapped, aad)
    }
}

/// AES-256-GCM with a random 96-bit nonce; layout `nonce || ciphertext || tag`.
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> anyhow::Result<Vec<u8>> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| anyhow::anyhow!("AES-GCM encryption failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Inverse of [`seal`].
pub fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(UnwrapError::Corrupt);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| UnwrapError::Corrupt)
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under `key` (at most one block,
/// 64 bytes: every key here is 32).
pub fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    // RFC 2104 pads a short key with zeros to the block size; doing it here gives the
    // infallible `KeyInit::new` (the same tag as `new_from_slice(key)`).
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new(&(*block).into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Compares two tags in constant time (`subtle`), whatever their contents.
pub fn tags_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Writes a file only its owner can read (0600 on Unix), refusing to overwrite.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vector_for_a_32_byte_key() {
        // RFC 4231 has no 32-byte-key case; this is HMAC-SHA256(key = 0x01..=0x20, "abc"),
        // cross-checked with Python's `hmac` module.
        let key: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        let tag = hmac_sha256(&key, &[b"a", b"bc"]);
        assert_eq!(
            hex(&tag),
            "a21b1f5d4cf4f73a4dd939750f7a066a7f98cc131cb16a6692759021cfab8181"
        );
        assert!(tags_equal(&tag, &tag));
        assert!(!tags_equal(&tag, &tag[..31]));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn key_text(id: &str, byte: u8) -> String {
        format!("{id}:{}", BASE64.encode([byte; 32]))
    }

    #[test]
    fn the_first_entry_is_active_and_all_entries_unwrap() {
        let old = Keyring::parse(&key_text("old", 1)).unwrap();
        let (id, wrapped) = old.wrap(b"payload", b"aad").unwrap();
        let both =
            Keyring::parse(&format!("{},{}", key_text("new", 2), key_text("old", 1))).unwrap();
        assert_eq!(both.active_id(), "new");
        assert_eq!(&*both.unwrap(&id, &wrapped, b"aad").unwrap(), b"payload");
    }

    #[test]
    fn a_wrapped_value_bound_to_other_data_does_not_open() {
        let ring = Keyring::parse(&key_text("a", 7)).unwrap();
        let (id, mut wrapped) = ring.wrap(b"payload", b"row-1").unwrap();
        assert!(matches!(
            ring.unwrap(&id, &wrapped, b"row-2"),
            Err(UnwrapError::Corrupt)
        ));
        wrapped[20] ^= 1;
        assert!(matches!(
            ring.unwrap(&id, &wrapped, b"row-1"),
            Err(UnwrapError::Corrupt)
        ));
        assert!(matches!(
            ring.unwrap("zz", &wrapped, b"row-1"),
            Err(UnwrapError::UnknownKey(_))
        ));
    }

    #[test]
    fn malformed_keyrings_are_refused_with_a_reason() {
        for (text, needle) in [
            ("", "no key"),
            ("nocolon", "ID:BASE64KEY"),
            ("a:!!!", "base64"),
            ("a:AAAA", "32 bytes"),
            ("bad id:AAAA", "key id"),
        ] {
            let err = Keyring::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn a_generated_key_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let (ring, generated) = Keyring::load(&MasterKeySource::Generated(path.clone())).unwrap();
        assert!(generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, generated) = Keyring::load(&MasterKeySource::Generated(path)).unwrap();
        assert!(!generated);
        assert_eq!(ring.active_id(), again.active_id());
    }
}
