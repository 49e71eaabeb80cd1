//! OpenFeature Remote Evaluation Protocol (OFREP) 0.3.0, so that every OpenFeature SDK (Node,
//! web, Python, Go, Java, .NET, …) evaluates Switchboard flags through its generic OFREP provider:
//! `POST /ofrep/v1/evaluate/flags/{key}` (one flag, for server-side providers) and
//! `POST /ofrep/v1/evaluate/flags` (every flag, for web and mobile providers, which poll it
//! with `If-None-Match`).
//!
//! Both answer from the same in-memory entry and compiled snapshot as `/v1/evaluate` and the
//! client crate; how outcomes map to OFREP's reasons and error codes is in
//! [`crate::snapshots::OfrepAnswers`]. Auth is a token in `Authorization: Bearer` or `X-API-Key`
//! (the providers' header) with `flags:evaluate` (a client-side key: client-visible flags
//! only) or `flags:read` (every flag). Failures of the request itself use OFREP's shape
//! (`errorCode`, `errorDetails`), never a 5xx: unreadable JSON is `PARSE_ERROR`, a context that
//! is not an object, a `targetingKey` that is not a string, too many attributes or too large a
//! body are `INVALID_CONTEXT`. Authentication, reach and rate limiting answer as the rest of
//! the API (problem+json 401/403/429, the statuses the protocol names).

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use switchboard_core::Context;

use super::sdk::{Target, cached, mark_stale, stale_for};
use super::{Routes, ValidQuery};
use crate::auth::{Authorized, Principal, scope};
use crate::domain::Scope;
use crate::error::ApiError;
use crate::rate_limit::TokenBuckets;
use crate::snapshots::{Single, View};
use crate::state::AppState;

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::POST, "/ofrep/v1/evaluate/flags", bulk)
        .add(Method::POST, "/ofrep/v1/evaluate/flags/{key}", single);
}

/// Attributes per context, as on `/v1/evaluate`.
const MAX_ATTRIBUTES: usize = 100;
/// Bytes per request body: a context is a handful of attributes, never a document.
pub const MAX_BODY_BYTES: usize = 32 * 1024;

/// `?project=&environment=` for a token reaching several; OFREP's own `flagConfigEtag` and
/// `flagConfigLastModified` (sent after a change notification) are accepted and not needed:
/// every answer is computed from the current snapshot.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OfrepQuery {
    project: Option<String>,
    environment: Option<String>,
    #[allow(dead_code)]
    flag_config_etag: Option<String>,
    #[allow(dead_code)]
    flag_config_last_modified: Option<String>,
}

/// A failed request in OFREP's shape: `{"key"?, "errorCode", "errorDetails"}`.
struct Failure {
    code: &'static str,
    details: String,
}

impl Failure {
    fn parse(details: &str) -> Self {
        Self {
            code: "PARSE_ERROR",
            details: details.to_owned(),
        }
    }

    fn invalid_context(details: impl Into<String>) -> Self {
        Self {
            code: "INVALID_CONTEXT",
            details: details.into(),
        }
    }

    fn response(self, key: Option<&str>) -> HttpResponse {
        let body = match key {
            Some(key) => serde_json::json!({
                "key": key, "errorCode": self.code, "errorDetails": self.details,
            }),
            None => serde_json::json!({"errorCode": self.code, "errorDetails": self.details}),
        };
        HttpResponse::BadRequest()
            .content_type(mime_json())
            .body(body.to_string())
    }
}

fn mime_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// What every OFREP request checks before its body: the rate limit, then the environment.
fn admit<'a>(
    principal: &'a Principal,
    limits: &TokenBuckets,
    target: &'a Target,
) -> Result<((&'a str, &'a str), View), ApiError> {
    limits
        .take(&principal.token_id)
        .map_err(|wait| ApiError::TooManyRequests {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        })?;
    let place = target.select(principal)?;
    let view = if principal.scopes.allows(Scope::FlagsRead) {
        View::All
    } else {
        View::ClientVisible
    };
    Ok((place, view))
}

/// Reads the body, at most [`MAX_BODY_BYTES`].
async fn read_body(mut payload: web::Payload) -> Result<Result<BytesMut, Failure>, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::bad_request("body", "could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(Err(Failure::invalid_context(format!(
                "the request is larger than {MAX_BODY_BYTES} bytes"
            ))));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(body))
}

/// `{"context": {...}}` as a [`Context`]; a missing or `null` context is an empty one.
fn parse_context(body: &[u8]) -> Result<Context, Failure> {
    #[derive(Deserialize)]
    struct Request<'a> {
        #[serde(borrow, default)]
        context: Option<&'a RawValue>,
    }
    // Valid JSON of another shape (serde would also read a struct from an array) is an invalid
    // context; anything else is a parse error.
    let shape = || match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => Failure::invalid_context("the body must be an object with a `context` object"),
        Err(_) => Failure::parse("the body is not valid JSON"),
    };
    let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if !object {
        return Err(shape());
    }
    let request: Request<'_> = serde_json::from_slice(body).map_err(|_| shape())?;
    match request.context {
        None => Ok(Context::new()),
        Some(raw) => Context::from_openfeature_json(raw.get(), MAX_ATTRIBUTES)
            .map_err(|e| Failure::invalid_context(e.to_string())),
    }
}

#[tracing::instrument(skip_all)]
async fn single(
    auth: Authorized<scope::FlagsEvaluate>,
    state: web::Data<AppState>,
    limits: web::Data<TokenBuckets>,
    key: web::Path<String>,
    ValidQuery(query): ValidQuery<OfrepQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let target = Target::new(query.project, query.environment);
    let ((project, environment), view) = admit(auth.principal(), &limits, &target)?;
    let key = key.into_inner();
    let context = match read_body(payload).await?.and_then(|b| parse_context(&b)) {
        Ok(context) => context,
        Err(failure) => return Ok(failure.response(Some(&key))),
    };
    let entry = cached(&state, project, environment).await?;
    let (status, body) = match entry.ofrep.single(&entry.compiled, &key, &context, view) {
        Single::Served(body) => (StatusCode::OK, body),
        Single::Failed { not_found, body } if not_found => (StatusCode::NOT_FOUND, body),
        Single::Failed { body, .. } => (StatusCode::BAD_REQUEST, body),
    };
    let mut response = mark_stale(HttpResponse::build(status), stale_for(&state));
    Ok(response
        .content_type(mime_json())
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body))
}

#[tracing::instrument(skip_all)]
async fn bulk(
    auth: Authorized<scope::FlagsEvaluate>,
    state: web::Data<AppState>,
    limits: web::Data<TokenBuckets>,
    req: HttpRequest,
    ValidQuery(query): ValidQuery<OfrepQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let target = Target::new(query.project, query.environment);
    let ((project, environment), view) = admit(auth.principal(), &limits, &target)?;
    let body = match read_body(payload).await? {
        Ok(body) => body,
        Err(failure) => return Ok(failure.response(None)),
    };
    let entry = cached(&state, project, environment).await?;
    let etag = bulk_etag(entry.revision, &entry.etag, view, &body)?;
    let stale = stale_for(&state);
    // Before reading the context: the ETag covers the exact body, so a match means this very
    // request was answered before, for the same snapshot.
    if super::etag::none_match(req.headers(), &etag)? {
        let mut response = mark_stale(HttpResponse::NotModified(), stale);
        return Ok(response.insert_header((header::ETAG, etag)).finish());
    }
    let context = match parse_context(&body) {
        Ok(context) => context,
        Err(failure) => return Ok(failure.response(None)),
    };
    let answer = entry.ofrep.bulk(&entry.compiled, &context, view, b"");
    let mut response = mark_stale(HttpResponse::Ok(), stale);
    Ok(response
        .content_type(mime_json())
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(answer))
}

/// A strong validator of one bulk answer: the snapshot's, what the caller may see, and the
/// request body (the context), `"<revision>-<16 hex digits of SHA-256>"`.
fn bulk_etag(
    revision: u64,
    snapshot: &HeaderValue,
    view: View,
    body: &[u8],
) -> Result<HeaderValue, ApiError> {
    let mut hash = Sha256::new();
    hash.update(snapshot.as_bytes());
    hash.update(match view {
        View::All => b"all\n",
        View::ClientVisible => b"cli\n",
    });
    hash.update(body);
    let digest = hash.finalize();
    let mut tag = format!("\"{revision}-");
    for byte in &digest[..8] {
        tag.push_str(&format!("{byte:02x}"));
    }
    tag.push('"');
    HeaderValue::from_str(&tag).map_err(|e| ApiError::Internal(anyhow::anyhow!("ETag: {e}")))
}
