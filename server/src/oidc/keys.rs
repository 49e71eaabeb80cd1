//! Issuers' signing keys: discovery, JWKS fetch and the cache in front of them.
//!
//! An issuer's keys are found the standard way (OpenID Connect Discovery: the issuer's
//! `/.well-known/openid-configuration` names its `jwks_uri`), over HTTPS only, trusting the
//! system's roots plus the PEM file of `SWITCHBOARD_OIDC_CA_FILE` (a self-hosted GitLab's
//! private CA). Only RSA keys (RS256) and P-256 keys (ES256) meant for signatures are kept.
//!
//! The cache is what keeps outbound calls off the exchange's hot path:
//! - a key id found in a key set younger than `SWITCHBOARD_OIDC_JWKS_MAX_AGE_SECS` is answered
//!   from memory, no network;
//! - an unknown key id (the issuer rotated) refreshes the set, at most once per
//!   `SWITCHBOARD_OIDC_JWKS_REFRESH_SECS` per issuer, so forged key ids cannot make the server
//!   hammer an issuer; concurrent refreshes of one issuer are single-flight;
//! - a failed refresh keeps the cached set: while an issuer is down, tokens signed with keys
//!   seen before still verify until the set reaches its maximum age.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// Largest discovery document or key set read from an issuer.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// How long one call to an issuer may take, all included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key an issuer signs with, and the one algorithm it is accepted for.
#[derive(Clone)]
pub struct IssuerKey {
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Why no key could be found for a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The issuer's current key set has no key by that id (or none for its algorithm).
    #[error("the issuer has no signing key with the token's key id")]
    UnknownKey,
    /// No usable key set: the issuer could not be reached and nothing cached is young enough.
    #[error("the issuer's keys could not be fetched")]
    Unreachable(#[source] anyhow::Error),
}

/// One issuer's cached keys.
#[derive(Default)]
struct Issuer {
    keys: RwLock<Option<Arc<KeySet>>>,
    /// Held while refreshing (single flight); holds when the last attempt started.
    refresh: tokio::sync::Mutex<Option<Instant>>,
}

struct KeySet {
    keys: HashMap<String, IssuerKey>,
    fetched_at: Instant,
}

/// The key cache of every issuer a policy names; one per instance.
pub struct IssuerKeys {
    http: reqwest::Client,
    issuers: Mutex<HashMap<String, Arc<Issuer>>>,
    max_age: Duration,
    min_refresh: Duration,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKeys")
            .field("max_age", &self.max_age)
            .field("min_refresh", &self.min_refresh)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl IssuerKeys {
    /// `extra_ca_pem`: certificates trusted besides the system's (the CA file's contents).
    pub fn new(
        extra_ca_pem: Option<&[u8]>,
        max_age: Duration,
        min_refresh: Duration,
    ) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = extra_ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                anyhow::anyhow!("SWITCHBOARD_OIDC_CA_FILE: not a PEM certificate bundle: {e}")
            })?;
            if certificates.is_empty() {
                anyhow::bail!("SWITCHBOARD_OIDC_CA_FILE: no certificate in the file");
            }
            builder = builder.tls_certs_merge(certificates);
        }
        Ok(Self {
            http: builder.build()?,
            issuers: Mutex::new(HashMap::new()),
            max_age,
            min_refresh,
        })
    }

    fn issuer(&self, issuer: &str) -> Arc<Issuer> {
        match self.issuers.lock() {
            Ok(mut issuers) => issuers.entry(issuer.to_owned()).or_default().clone(),
            // A poisoned map only loses the cache: work uncached.
            Err(_) => Arc::default(),
        }
    }

    /// The key `kid` of `issuer`, from memory when it can be.
    pub async fn key(&self, issuer: &str, kid: &str) -> Result<IssuerKey, KeyError> {
        let entry = self.issuer(issuer);
        if let Some(found) = self.cached(&entry, kid) {
            return found;
        }
        let mut last_attempt = entry.refresh.lock().await;
        // Another request may have refreshed while this one waited.
        if let Some(found) = self.cached(&entry, kid) {
            return found;
        }
        let current = entry.keys.read().ok().and_then(|keys| keys.clone());
        let fresh = current
            .as_ref()
            .is_some_and(|set| set.fetched_at.elapsed() < self.max_age);
        if last_attempt.is_some_and(|at| at.elapsed() < self.min_refresh) {
            // Refreshed a moment ago: an unknown id is unknown, and an issuer that just
            // failed is not asked again yet.
            return Err(if fresh {
                KeyError::UnknownKey
            } else {
                KeyError::Unreachable(anyhow::anyhow!("the last fetch failed moments ago"))
            });
        }
        *last_attempt = Some(Instant::now());
        match self.fetch(issuer).await {
            Ok(set) => {
                let found = set.keys.get(kid).cloned().ok_or(KeyError::UnknownKey);
                if let Ok(mut keys) = entry.keys.write() {
                    *keys = Some(Arc::new(set));
                }
                found
            }
            Err(error) if fresh => {
                tracing::warn!(error = %error, "refreshing an issuer's keys failed; the cached keys stand");
                Err(KeyError::UnknownKey)
            }
            Err(error) => Err(KeyError::Unreachable(error)),
        }
    }

    /// `Some` when the cache can answer: the key, or that the id is unknown to a fresh set
    /// which may not be refreshed yet. `None` when a fetch is needed.
    fn cached(&self, entry: &Issuer, kid: &str) -> Option<Result<IssuerKey, KeyError>> {
        let keys = entry.keys.read().ok()?;
        let set = keys.as_ref()?;
        if set.fetched_at.elapsed() >= self.max_age {
            return None;
        }
        set.keys.get(kid).cloned().map(Ok)
    }

    #[tracing::instrument(skip_all)]
    async fn fetch(&self, issuer: &str) -> anyhow::Result<KeySet> {
        let discovery_url = format!("{issuer}/.well-known/openid-configuration");
        let discovery: Discovery = serde_json::from_slice(&self.get(&discovery_url).await?)
            .map_err(|e| anyhow::anyhow!("the discovery document is not valid: {e}"))?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if discovery.issuer.trim_end_matches('/') != issuer {
            anyhow::bail!("the discovery document names another issuer");
        }
        if !discovery.jwks_uri.starts_with("https://") {
            anyhow::bail!("the discovery document's jwks_uri is not https");
        }
        let raw: RawKeySet = serde_json::from_slice(&self.get(&discovery.jwks_uri).await?)
            .map_err(|e| anyhow::anyhow!("the key set is not valid: {e}"))?;
        let keys = raw
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, usable(&jwk)?)))
            .collect();
        Ok(KeySet {
            keys,
            fetched_at: Instant::now(),
        })
    }

    async fn get(&self, url: &str) -> anyhow::Result<Vec<u8>> {
        let mut response = self.http.get(url).send().await?.error_for_status()?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                anyhow::bail!("the issuer's answer is larger than {MAX_DOCUMENT_BYTES} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The key and its one algorithm, for RSA (RS256) and P-256 (ES256) signature keys; `None` for
/// anything else (encryption keys, symmetric keys, other curves and algorithms).
fn usable(jwk: &Jwk) -> Option<IssuerKey> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        _ => return None,
    };
    let declared = jwk.common.key_algorithm;
    let agrees = match declared {
        None => true,
        Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
        Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
        Some(_) => false,
    };
    if !agrees {
        return None;
    }
    Some(IssuerKey {
        algorithm,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}
