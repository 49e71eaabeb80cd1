//! Tokens: issuing, verifying, revoking, and the request extractor built on them.
//!
//! A token is a JWT signed by the server with HS256 under a key kept in the database (wrapped by
//! the master keyring). Verification pins the algorithm and checks signature, `exp`, `nbf`, `aud`
//! and `iss`, then the stored record: a token whose record is revoked or gone is refused. The
//! record, not the JWT, says what the token may do.
//!
//! Verified tokens are cached (bounded, keyed by SHA-256 of the token, never the token itself),
//! so a token seen before costs a hash and a map lookup instead of a signature check and a
//! database read. Each cached verification carries the cache *epoch* read before its record was
//! fetched; a revocation bumps the epoch, which makes every entry verified before it stale. The
//! instance that revokes bumps it at once; other instances bump it within a second through
//! [`TokenService::watch_revocations`]. Comparing epochs taken *before* the database read (rather
//! than clearing the map) closes the race where a verification that read the record just before
//! a revocation is stored just after the cache was cleared.

mod extract;

pub use extract::{Authorized, scope};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Access, Scope, ScopeSet};
use crate::shutdown::Shutdown;
use crate::store::audit::Actor;
use crate::store::signing_keys::SigningKey;
use crate::store::tokens::{self, TokenRecord};
use crate::store::{Store, StoreError, now_micros};

const AUDIENCE: &str = "switchboard";
const ISSUER: &str = "switchboard";
/// Clock skew tolerated on `exp`/`nbf` between instances.
const LEEWAY_SECS: u64 = 5;
const CACHE_CAPACITY: u64 = 100_000;

/// The authenticated caller: what its token may do. Built from the stored record.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: String,
    pub name: String,
    pub scopes: ScopeSet,
    pub projects: Access,
    pub environments: Access,
    /// Microseconds since the epoch.
    pub expires_at: i64,
}

impl Principal {
    fn from_record(record: &TokenRecord) -> Self {
        Self {
            token_id: record.id.clone(),
            name: record.name.clone(),
            scopes: record.scope_set(),
            projects: record.projects.clone(),
            environments: record.environments.clone(),
            expires_at: record.expires_at,
        }
    }
}

/// Why a token was refused; the message is safe to show (it never contains the token).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    #[error("token has expired")]
    Expired,
    #[error("token has been revoked")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthError {
    /// The `reason` label of `switchboard_auth_refusals_total` (README, metrics).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_or_malformed",
            AuthError::Invalid("bad signature") => "bad_signature",
            AuthError::Invalid(_) => "invalid",
            AuthError::Expired => "expired",
            AuthError::Revoked => "revoked",
            AuthError::Store(_) => "unavailable",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    jti: String,
    sub: String,
    aud: String,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    /// Informational copy of the scopes; the stored record is authoritative.
    scp: Vec<Scope>,
}

/// What a new token may do and for how long.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub projects: Access,
    pub environments: Access,
    pub ttl_secs: u64,
}

/// Issues and verifies tokens; shared by all workers.
/// What the [`Authorized`] extractor needs, registered as app data of its own so that `auth`
/// does not depend on the application state.
#[derive(Debug, Clone)]
pub struct Authenticator {
    pub tokens: Arc<TokenService>,
    /// Whether `X-Forwarded-For` names the client (the audit log's source address).
    pub trust_proxy_headers: bool,
}

pub struct TokenService {
    store: Store,
    keys: Vec<SigningKey>,
    /// Verified tokens by SHA-256 of the token, with the epoch read before the record was.
    cache: moka::sync::Cache<[u8; 32], (u64, Arc<Principal>)>,
    /// Bumped by every revocation seen; entries from an older epoch are not trusted.
    epoch: AtomicU64,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("keys", &self.keys)
            .field("cached", &self.cache.entry_count())
            .finish()
    }
}

impl TokenService {
    /// `keys` newest first; the first one signs.
    pub fn new(store: Store, keys: Vec<SigningKey>) -> Self {
        Self {
            store,
            keys,
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                // Bounds how long a record change other than revocation (none exist today)
                // could go unseen.
                .time_to_live(Duration::from_secs(300))
                .build(),
            epoch: AtomicU64::new(0),
        }
    }

    /// Creates the record (with its audit event) and returns it with the signed JWT. The JWT is
    /// shown to the caller once and never stored.
    pub async fn issue(
        &self,
        actor: &Actor,
        request: TokenRequest,
    ) -> Result<(TokenRecord, String), StoreError> {
        let mut tx = self.store.begin_write().await?;
        let issued = self.sign(actor, request)?;
        tokens::insert(&mut tx, actor, &issued.0).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Issues the first admin token if this store never had one; `None` when it had.
    pub async fn issue_initial_admin(&self) -> Result<Option<String>, StoreError> {
        let mut tx = self.store.begin_write().await?;
        if !tokens::claim_once(&mut tx, "initial-admin-token").await? {
            return Ok(None);
        }
        let actor = Actor::host("first-start");
        let (record, jwt) = self.sign(&actor, admin_request("initial admin"))?;
        tokens::insert(&mut tx, &actor, &record).await?;
        tx.commit().await?;
        Ok(Some(jwt))
    }

    /// Builds the record and signs its JWT; the caller stores the record.
    fn sign(
        &self,
        actor: &Actor,
        request: TokenRequest,
    ) -> Result<(TokenRecord, String), StoreError> {
        let key = self
            .keys
            .first()
            .ok_or_else(|| StoreError::Other(anyhow::anyhow!("no signing key loaded")))?;
        let now = now_micros();
        let ttl_micros =
            i64::try_from(request.ttl_secs).unwrap_or(i64::MAX / 2_000_000) * 1_000_000;
        let record = TokenRecord {
            id: uuid::Uuid::now_v7().to_string(),
            name: request.name,
            scopes: request.scopes,
            projects: request.projects,
            environments: request.environments,
            created_at: now,
            expires_at: now.saturating_add(ttl_micros),
            revoked_at: None,
            created_by: actor.token_id.clone(),
        };
        let claims = Claims {
            jti: record.id.clone(),
            sub: record.name.clone(),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now / 1_000_000,
            nbf: now / 1_000_000,
            exp: record.expires_at / 1_000_000,
            scp: record.scopes.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.id.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.secret))
            .map_err(|e| StoreError::Other(anyhow::anyhow!("signing a token failed: {e}")))?;
        Ok((record, jwt))
    }

    /// Verifies a bearer token and returns its principal.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some((cached_at, principal)) = self.cache.get(&fingerprint)
            && cached_at == epoch
        {
            if principal.expires_at <= now_micros() {
                self.cache.invalidate(&fingerprint);
                return Err(AuthError::Expired);
            }
            return Ok(principal);
        }
        let claims = self.verify_signature(token)?;
        let record = match tokens::get(&self.store, &claims.jti).await {
            Ok(record) => record,
            Err(StoreError::NotFound) => return Err(AuthError::Revoked),
            Err(other) => return Err(other.into()),
        };
        if record.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if record.expires_at <= now_micros() {
            return Err(AuthError::Expired);
        }
        let principal = Arc::new(Principal::from_record(&record));
        self.cache.insert(fingerprint, (epoch, principal.clone()));
        Ok(principal)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid("malformed"))?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Invalid("unexpected algorithm"));
        }
        let kid = header.kid.ok_or(AuthError::Invalid("no key id"))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == kid)
            .ok_or(AuthError::Invalid("unknown key id"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss"]);
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&key.secret), &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
                jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                    AuthError::Invalid("not valid yet")
                }
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    AuthError::Invalid("wrong audience")
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    AuthError::Invalid("bad signature")
                }
                _ => AuthError::Invalid("malformed"),
            })
    }

    /// Revokes a token and forgets every cached verification on this instance.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<TokenRecord, StoreError> {
        let record = tokens::revoke(&self.store, actor, id).await?;
        self.forget_verifications();
        Ok(record)
    }

    /// Makes every verification cached so far stale.
    fn forget_verifications(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.invalidate_all();
    }

    /// Polls the store for revocations made elsewhere and forgets cached verifications when one
    /// appears. Runs until `shutdown` is requested.
    ///
    /// The first successful check always counts as a change: a verification cached before the
    /// watcher's first read could predate a revocation that read already includes.
    pub async fn watch_revocations(self: Arc<Self>, every: Duration, shutdown: Shutdown) {
        let mut seen = None;
        let mut ticker = tokio::time::interval(every);
        while shutdown.next_tick(&mut ticker).await {
            match tokens::revocation_marker(&self.store).await {
                Ok(marker) if Some(marker) != seen => {
                    self.forget_verifications();
                    seen = Some(marker);
                }
                Ok(_) => {}
                Err(error) => tracing::debug!(%error, "revocation check failed"),
            }
        }
    }
}

/// Everything, everywhere: the first token and `bootstrap-token`'s.
pub fn admin_request(name: &str) -> TokenRequest {
    TokenRequest {
        name: name.to_owned(),
        scopes: vec![Scope::Admin],
        projects: Access::All,
        environments: Access::All,
        ttl_secs: 90 * 24 * 3600,
    }
}
