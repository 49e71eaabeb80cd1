//! What SDKs call: `GET /v1/sdk/snapshot` (the environment's snapshot, for local evaluation) and
//! `POST /v1/evaluate` (server-side evaluation for one context).
//!
//! Both answer from [`crate::snapshots`], never from the database: the snapshot body, its gzip
//! copy and its ETag were built once when the environment last changed, and evaluation uses the
//! snapshot compiled at the same time, so the server evaluates exactly what a client holding the
//! same snapshot would.
//!
//! An SDK token names one project and one environment, so it needs no parameters; a token that
//! reaches several must say which with `?project=&environment=`.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use serde::Deserialize;
use switchboard_core::Context;

use super::{Routes, ValidJson, ValidQuery};
use crate::auth::{Authorized, Principal, scope};
use crate::domain::{Access, Scope};
use crate::error::{ApiError, FieldError};
use crate::snapshots::EnvironmentSnapshot;
use crate::state::AppState;

pub fn routes(routes: &mut Routes) {
    routes.add(Method::GET, "/v1/sdk/snapshot", snapshot).add(
        Method::POST,
        "/v1/evaluate",
        evaluate,
    );
}

/// Attributes per evaluation context; the body limit bounds the rest.
const MAX_ATTRIBUTES: usize = 100;
/// Flag keys per evaluation request.
const MAX_FLAGS: usize = 1_000;

/// `?project=&environment=`: optional for a token that names exactly one of each.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Target {
    project: Option<String>,
    environment: Option<String>,
}

impl Target {
    /// The parameters given some other way (OFREP reads its own query).
    pub(super) fn new(project: Option<String>, environment: Option<String>) -> Self {
        Self {
            project,
            environment,
        }
    }

    /// The environment the request is about: the parameters, else the token's only project and
    /// environment; it must be within the token's reach.
    pub(super) fn select<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> Result<(&'a str, &'a str), ApiError> {
        let project = self
            .project
            .as_deref()
            .or_else(|| only(&principal.projects));
        let environment = self
            .environment
            .as_deref()
            .or_else(|| only(&principal.environments));
        let (project, environment) = match (project, environment) {
            (Some(project), Some(environment)) => (project, environment),
            (project, environment) => {
                let missing = [
                    project.is_none().then_some("project"),
                    environment.is_none().then_some("environment"),
                ];
                let errors: Vec<FieldError> = missing
                    .into_iter()
                    .flatten()
                    .map(|name| {
                        FieldError::new(
                            format!("query.{name}"),
                            "required: this token reaches more than one; name the one to use",
                        )
                    })
                    .collect();
                return Err(ApiError::BadRequest {
                    detail: errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    errors,
                });
            }
        };
        if !principal.projects.allows(project) {
            return Err(ApiError::Forbidden(format!(
                "this token may not access project '{project}'"
            )));
        }
        if !principal.environments.allows(environment) {
            return Err(ApiError::Forbidden(format!(
                "this token may not access environment '{environment}'"
            )));
        }
        Ok((project, environment))
    }
}

fn only(access: &Access) -> Option<&str> {
    match access {
        Access::Only(names) if names.len() == 1 => names.first().map(|n| n.as_str()),
        _ => None,
    }
}

pub(super) async fn cached(
    state: &AppState,
    project: &str,
    environment: &str,
) -> Result<std::sync::Arc<EnvironmentSnapshot>, ApiError> {
    state
        .snapshots
        .get(project, environment)
        .await?
        .ok_or_else(|| ApiError::not_found(format_args!("environment '{project}/{environment}'")))
}

// DEBUG, not INFO: on the SDK's hot path the request's own span (`RequestSpan`) says all a
// trace needs; a second span per request is work no one reads at the default level.
#[tracing::instrument(level = "debug", skip_all)]
async fn snapshot(
    auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    req: HttpRequest,
    ValidQuery(target): ValidQuery<Target>,
) -> Result<HttpResponse, ApiError> {
    let (project, environment) = target.select(auth.principal())?;
    let entry = cached(&state, project, environment).await?;
    // The snapshot carries inherited config: the token must reach where it comes from.
    super::reach::served(auth.principal(), &entry)?;
    let headers = req.headers();
    let stale = stale_for(&state);
    if super::etag::none_match(headers, &entry.etag)? {
        return Ok(mark_stale(validators(HttpResponse::NotModified(), &entry), stale).finish());
    }
    let mut response = mark_stale(validators(HttpResponse::Ok(), &entry), stale);
    response.content_type(mime_json());
    if accepts_gzip(headers) {
        // Compress leaves a response that already has a Content-Encoding alone.
        response.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static("gzip")));
        Ok(response.body(entry.gzip.clone()))
    } else {
        Ok(response.body(entry.body.clone()))
    }
}

/// How long this instance has gone without reaching the database, when that is longer than
/// three revision checks: what it serves from memory may be out of date. Every answer served
/// from a snapshot (the snapshot itself, evaluations, the stream) carries it the same way.
pub(super) fn stale_for(state: &AppState) -> Option<u64> {
    let since = state.snapshots.since_last_check();
    let allowed =
        std::time::Duration::from_millis(state.settings.sync_interval_ms.saturating_mul(3));
    (since > allowed).then_some(since.as_secs())
}

/// `X-Switchboard-Stale: <seconds>`: served from memory while the database is unreachable.
pub(super) fn mark_stale(
    mut builder: HttpResponseBuilder,
    stale: Option<u64>,
) -> HttpResponseBuilder {
    if let Some(seconds) = stale {
        builder.insert_header(("x-switchboard-stale", seconds.to_string()));
    }
    builder
}

fn mime_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// The headers a 200 and a 304 share (RFC 9110 §15.4.5).
fn validators(
    mut builder: HttpResponseBuilder,
    entry: &EnvironmentSnapshot,
) -> HttpResponseBuilder {
    builder
        .insert_header((header::ETAG, entry.etag.clone()))
        // Cache, but revalidate every time: the 304 is nearly free.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::VARY, HeaderValue::from_static("Accept-Encoding")));
    builder
}

/// Whether `Accept-Encoding` lists `gzip` (or `x-gzip`, or `*`) with a non-zero quality.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).any(|value| {
        let Ok(value) = value.to_str() else {
            return false;
        };
        value.split(',').any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let wanted = ["gzip", "x-gzip", "*"]
                .iter()
                .any(|c| coding.eq_ignore_ascii_case(c));
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            wanted && !refused
        })
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvaluationRequest {
    context: Context,
    /// The flags to evaluate; every flag of the environment when absent.
    #[serde(default, deserialize_with = "super::extract::non_null")]
    flags: Option<Vec<String>>,
}

#[tracing::instrument(level = "debug", skip_all)]
async fn evaluate(
    auth: Authorized<scope::FlagsEvaluate>,
    state: web::Data<AppState>,
    ValidQuery(target): ValidQuery<Target>,
    request: Result<ValidJson<EvaluationRequest>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let (project, environment) = target.select(auth.principal())?;
    // Only then the body: a token of another environment learns nothing about its shape.
    let ValidJson(request) = request?;
    if request.context.attributes().len() > MAX_ATTRIBUTES {
        return Err(ApiError::invalid(
            "body.context.attributes",
            format!("at most {MAX_ATTRIBUTES} attributes"),
        ));
    }
    if request.flags.as_ref().is_some_and(|f| f.len() > MAX_FLAGS) {
        return Err(ApiError::invalid(
            "body.flags",
            format!("at most {MAX_FLAGS} flag keys"),
        ));
    }
    let entry = cached(&state, project, environment).await?;
    // A client-side key (`flags:evaluate` alone) sees the client-visible flags only.
    let body = if auth.principal().scopes.allows(Scope::FlagsRead) {
        entry
            .answers
            .write(&entry.compiled, &request.context, request.flags.as_deref())
    } else {
        entry
            .ofrep
            .client_evaluation(&entry.compiled, &request.context, request.flags.as_deref())
    }
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("serializing evaluations: {e}")))?;
    let mut response = mark_stale(HttpResponse::build(StatusCode::OK), stale_for(&state));
    Ok(response
        .content_type(mime_json())
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body))
}
