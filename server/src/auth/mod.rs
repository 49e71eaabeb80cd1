//! Tokens: issuing, verifying, revoking, and the request extractor built on them.
//!
//! A token is a JWT signed by the server with HS256 under a key kept in the database (wrapped by
//! the master keyring). Verification pins the algorithm and checks signature, `exp`, `nbf`, `aud`
//! and `iss`, then the stored record: a token whose record is revoked or gone is refused. The
//! record, not the JWT, says what the token may do.
//!
//! Lifetimes nest: a token issued by a token never outlives it (its expiry is clamped to its
//! issuer's), and revoking a token revokes every token it issued, transitively, in one
//! transaction. Tokens issued from the host (the first admin token, `bootstrap-token`) have no
//! issuer.
//!
//! Verified tokens are cached (bounded; see [`verified`]), so a token seen before costs a fast
//! hash, a map lookup and a constant-time compare instead of a signature check and a database
//! read. A cached verification is *fresh* for `SWITCHBOARD_TOKEN_CACHE_TTL_SECS`; after
//! that the record is read again, but when the database cannot answer the cached verification
//! still stands until the token's own `exp`: an outage of any length must not log every SDK out.
//! Revocation does not depend on that freshness: every instance keeps the set of revoked,
//! unexpired token ids (its own revocations at once, other instances' within a second through
//! [`TokenService::watch_revocations`]) and checks it on every request, cached or not. Because
//! the set is checked *after* a verification is cached too, a verification that read the record
//! just before a revocation cannot outlive it. The set survives an outage, so revocations seen
//! before it still apply during it.

mod extract;
mod verified;

pub use extract::{Authorized, client_ip, scope};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::{Access, Scope, ScopeSet};
use crate::shutdown::Shutdown;
use crate::store::audit::Actor;
use crate::store::signing_keys::SigningKey;
use crate::store::tokens::{self, Federation, TokenRecord};
use crate::store::{Store, StoreError, now_micros};
use verified::VerifiedCache;

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
    /// The issuing token's expiry (microseconds since the epoch), when a token issues it: the
    /// new token's expiry is clamped to it, so that no token outlives its issuer.
    pub not_after: Option<i64>,
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
    /// Verified tokens, with when their record was last read.
    cache: VerifiedCache,
    /// How long a cached verification is trusted without reading the record again (while the
    /// database answers).
    fresh_for: Duration,
    /// Revoked token ids seen by this instance, with their expiry (after which the signature
    /// check refuses them anyway and they are pruned). Checked on every request.
    revoked: RwLock<HashMap<String, i64>>,
    /// Bumped whenever `revoked` gains ids, so that open streams re-check their token at once.
    revocations: tokio::sync::watch::Sender<u64>,
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
    /// `keys` newest first; the first one signs. `fresh_for` is how long a verification is
    /// trusted before its record is read again (`SWITCHBOARD_TOKEN_CACHE_TTL_SECS`).
    pub fn new(store: Store, keys: Vec<SigningKey>, fresh_for: Duration) -> Self {
        Self {
            store,
            keys,
            cache: VerifiedCache::new(CACHE_CAPACITY),
            fresh_for,
            revoked: RwLock::new(HashMap::new()),
            revocations: tokio::sync::watch::Sender::new(0),
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
        crate::store::write_scope::commit(tx).await?;
        Ok(issued)
    }

    /// Issues a token inside the caller's transaction (which also records what led to it, e.g.
    /// a token exchange and its replay marker); `federation` names the trust policy and the
    /// identity it was issued to. The caller commits.
    pub async fn issue_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        actor: &Actor,
        request: TokenRequest,
        federation: Option<Federation>,
    ) -> Result<(TokenRecord, String), StoreError> {
        let (mut record, jwt) = self.sign(actor, request)?;
        record.federation = federation;
        tokens::insert(conn, actor, &record).await?;
        Ok((record, jwt))
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
        let expires_at = now.saturating_add(ttl_micros);
        let record = TokenRecord {
            id: uuid::Uuid::now_v7().to_string(),
            name: request.name,
            scopes: request.scopes,
            projects: request.projects,
            environments: request.environments,
            created_at: now,
            expires_at: request
                .not_after
                .map_or(expires_at, |limit| expires_at.min(limit)),
            revoked_at: None,
            created_by: actor.token_id.clone(),
            federation: None,
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
        let fingerprint = self.cache.slot(token);
        let cached = self.cache.get(fingerprint, token);
        if let Some(verified) = &cached {
            if let Err(refused) = self.standing(&verified.principal) {
                self.cache.invalidate(fingerprint);
                return Err(refused);
            }
            if verified.at.elapsed() < self.fresh_for {
                return Ok(verified.principal.clone());
            }
        }
        let claims = self.verify_signature(token)?;
        let record = match tokens::get(&self.store, &claims.jti).await {
            Ok(record) => record,
            Err(StoreError::NotFound) => {
                self.cache.invalidate(fingerprint);
                return Err(AuthError::Revoked);
            }
            // A token verified before the outage keeps working through it (until its `exp`;
            // the revoked set above still applies). A never-seen token waits for the database.
            Err(StoreError::Unavailable(error)) => match cached {
                Some(verified) => {
                    tracing::debug!(%error, "database unavailable; the cached verification stands");
                    return Ok(verified.principal);
                }
                None => return Err(StoreError::Unavailable(error).into()),
            },
            Err(other) => return Err(other.into()),
        };
        if record.revoked_at.is_some() {
            self.cache.invalidate(fingerprint);
            return Err(AuthError::Revoked);
        }
        let principal = Arc::new(Principal::from_record(&record));
        self.standing(&principal)?;
        self.cache.insert(fingerprint, token, principal.clone());
        Ok(principal)
    }

    /// Whether an already verified principal still holds: not expired, not revoked as far as
    /// this instance knows. Needs no database, so open streams can ask it as often as they like
    /// and it answers during an outage.
    pub fn standing(&self, principal: &Principal) -> Result<(), AuthError> {
        if principal.expires_at <= now_micros() {
            return Err(AuthError::Expired);
        }
        let revoked = self
            .revoked
            .read()
            .map_or(true, |ids| ids.contains_key(&principal.token_id));
        if revoked {
            return Err(AuthError::Revoked);
        }
        Ok(())
    }

    /// Changes whenever this instance learns of a revocation; what open streams wait on.
    pub fn revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
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

    /// Revokes a token and every token it issued (transitively); returns the token's record
    /// followed by those of the tokens revoked with it. This instance refuses them all at once.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let records = tokens::revoke(&self.store, actor, id).await?;
        self.remember_revoked(records.iter().map(|r| (r.id.clone(), r.expires_at)));
        Ok(records)
    }

    /// Adds ids to the revoked set (pruning expired ones) and wakes whoever waits on a change.
    fn remember_revoked(&self, ids: impl IntoIterator<Item = (String, i64)>) {
        let now = now_micros();
        let added = match self.revoked.write() {
            Ok(mut revoked) => {
                revoked.retain(|_, expires_at| *expires_at > now);
                let before = revoked.len();
                revoked.extend(ids.into_iter().filter(|(_, expires_at)| *expires_at > now));
                revoked.len() != before
            }
            // A poisoned set refuses every token (see `standing`): fail closed.
            Err(_) => true,
        };
        if added {
            self.revocations
                .send_modify(|seen| *seen = seen.wrapping_add(1));
        }
    }

    /// Polls the store for revocations made elsewhere and adds them to the revoked set when the
    /// marker changes. Runs until `shutdown` is requested. While the database is down the set
    /// is kept as it was: revocations seen before an outage still apply during it.
    pub async fn watch_revocations(self: Arc<Self>, every: Duration, shutdown: Shutdown) {
        let mut seen = None;
        let mut ticker = tokio::time::interval(every);
        while shutdown.next_tick(&mut ticker).await {
            let marker = match tokens::revocation_marker(&self.store).await {
                Ok(marker) if Some(marker) != seen => marker,
                Ok(_) => continue,
                Err(error) => {
                    tracing::debug!(%error, "revocation check failed");
                    continue;
                }
            };
            match tokens::revoked_ids(&self.store, now_micros()).await {
                Ok(ids) => {
                    self.remember_revoked(ids);
                    seen = Some(marker);
                }
                Err(error) => tracing::debug!(%error, "reading revoked tokens failed"),
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
        // Issued from the host: no issuer to outlive.
        not_after: None,
    }
}
