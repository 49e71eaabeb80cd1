//! Console sessions: a token pasted once at sign-in, then an opaque cookie.
//!
//! The token never leaves the server again: the cookie holds 32 random bytes, and the session
//! they name lives in this instance's memory, keyed by their SHA-256 (a memory dump shows no
//! usable cookie), holding the token (zeroized when dropped) and the session's CSRF token. Every
//! request re-verifies the token through the same path as the API's bearer tokens
//! ([`TokenService::authenticate`](crate::auth::TokenService::authenticate)), so a revoked or
//! expired token ends its console sessions at once, and the session's reach is exactly the
//! token's: the same [`Authorized::check`] decides. A session ends at sign-out, after
//! `console_session_secs`, or at the token's expiry, whichever comes first.
//!
//! The cookie is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's page sends
//! it), limited to `/ui`, and `Secure` when the request came over TLS or, behind a trusted
//! proxy, over `https`. Sessions are per instance: several instances behind a load balancer
//! need sticky sessions for `/ui`, and a restart signs everyone out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::Failure;
use crate::auth::{AuthError, Authorized, Principal, scope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::now_micros;

/// The session cookie's name.
pub const COOKIE: &str = "switchboard_console";

/// One signed-in browser.
pub struct Session {
    /// The token pasted at sign-in; re-verified on every request.
    token: Zeroizing<String>,
    /// Sent back with every state-changing form (`_csrf`) or script request (`X-CSRF-Token`).
    pub csrf: String,
    /// Microseconds; the earlier of the session lifetime and the token's expiry.
    pub expires_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(***)")
    }
}

/// Every session of this instance.
pub struct Sessions {
    map: moka::sync::Cache<[u8; 32], Arc<Session>>,
    lifetime: Duration,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("count", &self.map.entry_count())
            .finish()
    }
}

fn random_text() -> String {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    URL_SAFE_NO_PAD.encode(bytes.as_ref())
}

fn fingerprint(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    pub fn new(lifetime: Duration) -> Self {
        Self {
            map: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(lifetime)
                .build(),
            lifetime,
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Opens a session for a verified token; returns the cookie value.
    pub fn open(&self, token: Zeroizing<String>, principal: &Principal) -> (String, Arc<Session>) {
        let cookie = random_text();
        let lifetime = i64::try_from(self.lifetime.as_micros()).unwrap_or(i64::MAX);
        let session = Arc::new(Session {
            token,
            csrf: random_text(),
            expires_at: now_micros()
                .saturating_add(lifetime)
                .min(principal.expires_at),
        });
        self.map.insert(fingerprint(&cookie), session.clone());
        (cookie, session)
    }

    /// The live session the request's cookie names.
    pub fn find(&self, req: &HttpRequest) -> Option<Arc<Session>> {
        let cookie = cookie_value(req)?;
        let key = fingerprint(cookie);
        let session = self.map.get(&key)?;
        if session.expires_at <= now_micros() {
            self.map.invalidate(&key);
            return None;
        }
        Some(session)
    }

    /// Ends the request's session, if any.
    pub fn close(&self, req: &HttpRequest) {
        if let Some(cookie) = cookie_value(req) {
            self.map.invalidate(&fingerprint(cookie));
        }
    }
}

/// The session cookie's value, from the `Cookie` header(s).
fn cookie_value(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Whether the browser reached us over TLS (directly, or through a trusted proxy that says so).
fn over_tls(req: &HttpRequest, trust_proxy_headers: bool) -> bool {
    if trust_proxy_headers {
        req.connection_info().scheme() == "https"
    } else {
        req.app_config().secure()
    }
}

/// The `Set-Cookie` value that opens (`Some(value)`) or clears (`None`) the session cookie.
pub fn set_cookie(
    req: &HttpRequest,
    trust_proxy_headers: bool,
    value: Option<(&str, Duration)>,
) -> String {
    let secure = if over_tls(req, trust_proxy_headers) {
        "; Secure"
    } else {
        ""
    };
    match value {
        Some((value, max_age)) => format!(
            "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            max_age.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// A signed-in request whose token holds scope `S` for the route's `{project}` and `{env}`.
/// A request without a live session is sent to the sign-in page.
#[derive(Debug)]
pub struct Console<S> {
    pub auth: Authorized<S>,
    pub session: Arc<Session>,
}

impl<S> Console<S> {
    pub fn principal(&self) -> &Principal {
        self.auth.principal()
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf
    }

    pub fn who(&self) -> &str {
        &self.auth.principal().name
    }
}

impl<S: scope::Requirement + 'static> FromRequest for Console<S> {
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Failure>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let (state, sessions) = parts(&req)?;
            let session = sessions.find(&req).ok_or(Failure::SignIn)?;
            let principal = match state.tokens.authenticate(&session.token).await {
                Ok(principal) => principal,
                Err(AuthError::Store(error)) => return Err(ApiError::from(error).into()),
                Err(_) => {
                    // Revoked or expired: the session ends with its token.
                    sessions.close(&req);
                    return Err(Failure::SignIn);
                }
            };
            let auth = Authorized::<S>::check(&req, principal, state.settings.trust_proxy_headers)?;
            Ok(Console { auth, session })
        })
    }
}

fn parts(req: &HttpRequest) -> Result<(web::Data<AppState>, web::Data<Sessions>), Failure> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let sessions = req
        .app_data::<web::Data<Sessions>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("console sessions missing")))?;
    Ok((state, sessions))
}

/// A state-changing form, accepted only with the session's CSRF token in its `_csrf` field
/// (compared in constant time). A POST handler of the console takes its body only through
/// this, so none can forget the check. `T` ignores the `_csrf` field.
pub struct CsrfForm<T>(pub T);

impl<T> std::fmt::Debug for CsrfForm<T> {
    // A form may hold a secret's new value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfForm(***)")
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = Failure;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Failure>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let (_, sessions) = parts(&req)?;
            let body = Zeroizing::new(
                body.await
                    .map_err(|_| ApiError::bad_request("body", "could not be read"))?
                    .to_vec(),
            );
            let Some(session) = sessions.find(&req) else {
                return Err(Failure::SignIn);
            };
            check_csrf(&session, &body)?;
            let form = serde_urlencoded::from_bytes::<T>(&body)
                .map_err(|_| ApiError::bad_request("body", "is not the form this page sends"))?;
            Ok(CsrfForm(form))
        })
    }
}

fn check_csrf(session: &Session, body: &[u8]) -> Result<(), ApiError> {
    let given = form_urlencoded::parse(body)
        .find(|(name, _)| name == "_csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(session.csrf.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the form's CSRF token is missing or not this session's; reload the page".into(),
        ))
    }
}
