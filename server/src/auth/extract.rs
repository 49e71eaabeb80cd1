//! The extractor that authenticates *and* authorizes a request before a handler runs.
//!
//! A handler declares `auth: Authorized<scope::FlagsWrite>`; the extractor verifies the bearer
//! token, checks the scope, and checks the `{project}` and `{env}` segments of the matched route
//! against the token's projects and environments. A handler that takes `Authorized<_>` cannot
//! forget any of these checks, and a route without it cannot reach the principal at all.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::{AuthError, Principal};
use crate::domain::Scope;
use crate::error::ApiError;
use crate::store::audit::Actor;
use crate::telemetry::AuthRefusal;

/// Compile-time scope requirements for [`Authorized`].
pub mod scope {
    use crate::domain::Scope;

    /// A scope a route requires; `None` means any valid token.
    pub trait Requirement {
        const SCOPE: Option<Scope>;
    }

    macro_rules! requirement {
        ($($name:ident => $scope:expr),* $(,)?) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl Requirement for $name {
                const SCOPE: Option<Scope> = $scope;
            }
        )*};
    }

    requirement! {
        AnyToken => None,
        FlagsRead => Some(Scope::FlagsRead),
        FlagsEvaluate => Some(Scope::FlagsEvaluate),
        FlagsWrite => Some(Scope::FlagsWrite),
        ConfigRead => Some(Scope::ConfigRead),
        ConfigWrite => Some(Scope::ConfigWrite),
        SecretsRead => Some(Scope::SecretsRead),
        SecretsWrite => Some(Scope::SecretsWrite),
        Admin => Some(Scope::Admin),
    }
}

/// An authenticated principal that holds scope `S` for the project and environment in the path.
#[derive(Debug)]
pub struct Authorized<S> {
    pub principal: Arc<Principal>,
    /// Who to record in the audit log for changes made by this request.
    pub actor: Actor,
    _scope: PhantomData<S>,
}

impl<S> Authorized<S> {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

impl<S: scope::Requirement> Authorized<S> {
    /// Checks a verified `principal` against `S`'s scope and the `{project}` and `{env}` of the
    /// matched route, and names the actor to audit. The one check behind both doors: the
    /// bearer-token extractor below and the console's session (`crate::console`).
    pub(crate) fn check(
        req: &HttpRequest,
        principal: Arc<Principal>,
        trust_proxy_headers: bool,
    ) -> Result<Self, ApiError> {
        if let Some(required) = S::SCOPE {
            check_scope(&principal, required)?;
        }
        let path = req.match_info();
        if let Some(project) = path.get("project")
            && !principal.projects.allows(project)
        {
            return Err(ApiError::Forbidden(format!(
                "this token may not access project '{project}'"
            )));
        }
        if let Some(env) = path.get("env")
            && !principal.environments.allows(env)
        {
            return Err(ApiError::Forbidden(format!(
                "this token may not access environment '{env}'"
            )));
        }
        let actor = Actor {
            token_id: Some(principal.token_id.clone()),
            name: principal.name.clone(),
            source_ip: client_ip(req, trust_proxy_headers),
            request_id: req
                .extensions()
                .get::<tracing_actix_web::RequestId>()
                .map(|id| id.to_string()),
        };
        Ok(Authorized {
            principal,
            actor,
            _scope: PhantomData,
        })
    }
}

impl<S: scope::Requirement + 'static> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = req
                .app_data::<web::Data<super::Authenticator>>()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("authenticator missing")))?;
            let token =
                bearer_token(&req).inspect_err(|_| refused(&req, "missing_or_malformed"))?;
            let principal = auth.tokens.authenticate(token).await.map_err(|e| match e {
                AuthError::Store(store) => ApiError::from(store),
                other => {
                    refused(&req, other.reason());
                    ApiError::Unauthorized(other.to_string())
                }
            })?;
            Self::check(&req, principal, auth.trust_proxy_headers)
        })
    }
}

/// Leaves the reason of a 401 for the `auth_refusals_total` counter.
fn refused(req: &HttpRequest, reason: &'static str) {
    req.extensions_mut().insert(AuthRefusal(reason));
}

fn check_scope(principal: &Principal, required: Scope) -> Result<(), ApiError> {
    if principal.scopes.allows(required) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "this token lacks the '{}' scope",
            required.name()
        )))
    }
}

/// The token of `Authorization: Bearer <token>`; on the evaluation routes, else of
/// `X-API-Key: <token>` (the header OpenFeature's OFREP providers send). Only there: the rest
/// of the API (idempotent writes, for one) knows its caller by `Authorization`.
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        let path = req.path();
        if path.starts_with("/ofrep/") || path == "/v1/evaluate" {
            return api_key(req);
        }
        return Err(ApiError::Unauthorized(AuthError::Missing.to_string()));
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("Authorization must be 'Bearer <token>'".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "Authorization must be 'Bearer <token>'".into(),
        ));
    }
    Ok(token.trim())
}

fn api_key(req: &HttpRequest) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get("x-api-key")
        .ok_or_else(|| ApiError::Unauthorized(AuthError::Missing.to_string()))?;
    let token = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed X-API-Key header".into()))?
        .trim();
    if token.is_empty() {
        return Err(ApiError::Unauthorized(AuthError::Missing.to_string()));
    }
    Ok(token)
}

/// The caller's address: the TCP peer, or the proxy-reported client when proxies are trusted.
pub fn client_ip(req: &HttpRequest, trust_proxy_headers: bool) -> Option<String> {
    if trust_proxy_headers {
        req.connection_info()
            .realip_remote_addr()
            .map(str::to_owned)
    } else {
        req.peer_addr().map(|addr| addr.ip().to_string())
    }
}
