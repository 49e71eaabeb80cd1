//! `POST /v1/auth/token-exchange`: RFC 8693 token exchange for CI jobs (see [`crate::oidc`]).
//!
//! No bearer token: the subject token *is* the credential. The body is a form
//! (`application/x-www-form-urlencoded`, as RFC 8693 specifies) or the same fields as JSON.
//! The policy is named by the `policy` parameter, `project/name`; RFC 8693's `scope` narrows
//! what the policy grants (scope names and `env:<name>` entries). Unknown parameters are
//! ignored, as OAuth requires. Refusals answer the OAuth error members (`error`,
//! `error_description`) inside the usual problem document.

use actix_web::http::{Method, header};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::Routes;
use crate::auth::client_ip;
use crate::domain::Slug;
use crate::error::ApiError;
use crate::oidc::Refusal;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::token_exchange::{self as exchange, ExchangeError, ExchangeRequest};

pub fn routes(routes: &mut Routes) {
    routes.add(Method::POST, "/v1/auth/token-exchange", exchange_token);
}

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The request's parameters; all optional here so that a missing one is answered as the OAuth
/// `invalid_request` it is, naming the parameter.
#[derive(Deserialize, Default)]
struct Params {
    grant_type: Option<String>,
    subject_token: Option<Zeroizing<String>>,
    subject_token_type: Option<String>,
    requested_token_type: Option<String>,
    policy: Option<String>,
    scope: Option<String>,
}

#[derive(Serialize)]
struct Answer<'a> {
    access_token: &'a str,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: u64,
}

fn refused(refusal: &Refusal) -> ApiError {
    ApiError::OAuth {
        error: refusal.oauth_error(),
        description: refusal.description(),
    }
}

fn invalid(message: &str) -> Refusal {
    Refusal::Request(message.to_owned())
}

/// Reads the form or JSON body; the error names the expected shapes, never the content.
fn parse(req: &HttpRequest, body: &[u8]) -> Result<Params, Refusal> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(body)
            .map_err(|_| invalid("the body is not a valid form of string parameters")),
        "application/json" => serde_json::from_slice(body)
            .map_err(|_| invalid("the body is not a JSON object of string parameters")),
        _ => Err(invalid(
            "send application/x-www-form-urlencoded (RFC 8693) or application/json",
        )),
    }
}

fn request_of(params: Params) -> Result<ExchangeRequest, Refusal> {
    match params.grant_type.as_deref() {
        Some(GRANT_TYPE) => {}
        Some(_) => return Err(Refusal::UnsupportedGrant),
        None => return Err(invalid("grant_type is required")),
    }
    let subject_token = params
        .subject_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("subject_token is required"))?;
    if params.subject_token_type.as_deref() != Some(JWT_TOKEN_TYPE) {
        return Err(invalid(
            "subject_token_type must be urn:ietf:params:oauth:token-type:jwt",
        ));
    }
    if params
        .requested_token_type
        .as_deref()
        .is_some_and(|t| t != ACCESS_TOKEN_TYPE)
    {
        return Err(invalid(
            "requested_token_type, when given, must be urn:ietf:params:oauth:token-type:access_token",
        ));
    }
    let reference = params
        .policy
        .ok_or_else(|| invalid("policy is required: `project/name` of a trust policy"))?;
    let (project, policy) = reference
        .split_once('/')
        .and_then(|(p, n)| Some((Slug::parse(p).ok()?, Slug::parse(n).ok()?)))
        .ok_or_else(|| invalid("policy must be `project/name`, both slugs"))?;
    Ok(ExchangeRequest {
        project,
        policy,
        subject_token,
        scope: params.scope,
    })
}

#[tracing::instrument(skip_all)]
async fn exchange_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let actor = Actor {
        token_id: None,
        name: "oidc".into(),
        source_ip: client_ip(&req, state.settings.trust_proxy_headers),
        request_id: req
            .extensions()
            .get::<tracing_actix_web::RequestId>()
            .map(|id| id.to_string()),
    };
    // A request refused for its shape is audit-logged like any other refusal.
    let request = match parse(&req, &body).and_then(request_of) {
        Ok(request) => request,
        Err(refusal) => {
            exchange::record_refused(&state, &actor, refusal.clone()).await;
            return Err(refused(&refusal));
        }
    };
    let exchanged = exchange::exchange(&state, actor, request)
        .await
        .map_err(|e| match e {
            ExchangeError::Refused(refusal) => refused(&refusal),
            ExchangeError::Store(store) => store.into(),
        })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Answer {
            access_token: &exchanged.access_token,
            issued_token_type: ACCESS_TOKEN_TYPE,
            token_type: "Bearer",
            expires_in: exchanged.expires_in,
        }))
}
