//! `/v1/projects/{project}/webhooks[/{webhook}]`: where a project's audited changes are
//! delivered (see `crate::webhooks`), the delivery log and manual redelivery.
//!
//! Managing webhooks needs `admin` on the project and a token for all its environments: an
//! endpoint receives the events of every environment, whose before/after show their values.
//! Events outside projects (tokens, the master key) go only to endpoints created by a token
//! for all projects, as `/v1/audit` shows them only to such tokens.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::flags::require_all_environments;
use super::path::{DeliveryId, Project, TypedPath, WebhookId};
use super::projects::check_description;
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery, cursor};
use crate::auth::{Authorized, scope};
use crate::domain::Access;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::webhook_deliveries;
use crate::store::webhooks::{self, Endpoint, EndpointPatch, NewEndpoint};
use crate::webhooks::{EndpointUrl, EventFilter, Format, UrlPolicy};

pub fn routes(routes: &mut Routes) {
    const ONE: &str = "/v1/projects/{project}/webhooks/{webhook}";
    routes
        .add(Method::GET, "/v1/projects/{project}/webhooks", list)
        .add(Method::POST, "/v1/projects/{project}/webhooks", create)
        .add(Method::GET, ONE, get)
        .add(Method::PATCH, ONE, update)
        .add(Method::DELETE, ONE, delete)
        .add(
            Method::POST,
            "/v1/projects/{project}/webhooks/{webhook}/rotate-secret",
            rotate_secret,
        )
        .add(
            Method::GET,
            "/v1/projects/{project}/webhooks/{webhook}/deliveries",
            deliveries,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/webhooks/{webhook}/deliveries/{delivery}/redeliver",
            redeliver,
        );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    events: Option<Vec<String>>,
    #[serde(default)]
    format: Format,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookPatch {
    #[serde(default, deserialize_with = "super::extract::non_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    format: Option<Format>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

/// An endpoint with its signing secret: the answer to a creation or a rotation, the only
/// times the secret is shown.
#[derive(Serialize)]
struct WithSecret<'a> {
    #[serde(flatten)]
    endpoint: &'a Endpoint,
    secret: &'a str,
}

fn url(state: &AppState, raw: &str) -> Result<EndpointUrl, ApiError> {
    let policy = UrlPolicy {
        allow_http: state.settings.webhooks.webhooks_allow_http,
        deny_private: state.settings.webhooks.webhooks_deny_private,
    };
    EndpointUrl::parse(raw, policy).map_err(|rule| ApiError::invalid("body.url", rule))
}

fn events(patterns: &[String]) -> Result<EventFilter, ApiError> {
    EventFilter::parse(patterns).map_err(|shape| ApiError::invalid("body.events", shape))
}

/// The answer that shows a secret: never cached, never replayed from the idempotency store.
fn with_secret(status: StatusCode, endpoint: &Endpoint, secret: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(WithSecret { endpoint, secret })
}

fn not_found(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::not_found("webhook"),
        other => other.into(),
    }
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    body: Result<ValidJson<NewWebhook>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    // Only then the body: a token that may not manage webhooks learns nothing about its shape.
    let ValidJson(body) = body?;
    check_description(&body.description)?;
    let new = NewEndpoint {
        url: url(&state, &body.url)?,
        description: body.description,
        events: match &body.events {
            Some(patterns) => events(patterns)?,
            None => EventFilter::all(),
        },
        format: body.format,
        enabled: body.enabled,
        global_events: auth.principal().projects == Access::All,
    };
    let (endpoint, secret) =
        webhooks::create(&state.store, &state.keyring, &auth.actor, &project, new).await?;
    let mut response = with_secret(StatusCode::CREATED, &endpoint, &secret.reveal());
    if let Ok(location) =
        header::HeaderValue::from_str(&format!("/v1/projects/{project}/webhooks/{}", endpoint.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let limit = query.limit()?;
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let items: Vec<Endpoint> = webhooks::list(&state.store, &project)
        .await?
        .into_iter()
        .filter(|e| after.as_deref().is_none_or(|after| e.id.as_str() > after))
        .take(limit)
        .collect();
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |e| e.id.clone())))
}

#[tracing::instrument(skip_all)]
async fn get(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, id)): TypedPath<(Project, WebhookId)>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let endpoint = webhooks::get(&state.store, &project, &id)
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Ok().json(endpoint))
}

#[tracing::instrument(skip_all)]
async fn update(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, id)): TypedPath<(Project, WebhookId)>,
    body: Result<ValidJson<WebhookPatch>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let ValidJson(body) = body?;
    if let Some(description) = &body.description {
        check_description(description)?;
    }
    let patch = EndpointPatch {
        url: body
            .url
            .as_deref()
            .map(|raw| url(&state, raw))
            .transpose()?,
        description: body.description,
        events: body.events.as_deref().map(events).transpose()?,
        format: body.format,
        enabled: body.enabled,
    };
    let endpoint = webhooks::update(&state.store, &auth.actor, &project, &id, patch)
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::Ok().json(endpoint))
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, id)): TypedPath<(Project, WebhookId)>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    webhooks::delete(&state.store, &auth.actor, &project, &id)
        .await
        .map_err(not_found)?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip_all)]
async fn rotate_secret(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, id)): TypedPath<(Project, WebhookId)>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let (endpoint, secret) =
        webhooks::rotate_secret(&state.store, &state.keyring, &auth.actor, &project, &id)
            .await
            .map_err(not_found)?;
    Ok(with_secret(StatusCode::OK, &endpoint, &secret.reveal()))
}

#[tracing::instrument(skip_all)]
async fn deliveries(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, id)): TypedPath<(Project, WebhookId)>,
    ValidQuery(query): ValidQuery<DeliveriesQuery>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let limit = super::extract::page_limit(query.limit)?;
    let before = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let status = match query.status.as_deref() {
        None => None,
        Some(status @ ("pending" | "delivered" | "failed")) => Some(status),
        Some(_) => {
            return Err(ApiError::bad_request(
                "query.status",
                "must be pending, delivered or failed",
            ));
        }
    };
    // Through the project: an endpoint of another project is not found here.
    let endpoint = webhooks::get(&state.store, &project, &id)
        .await
        .map_err(not_found)?;
    let items =
        webhook_deliveries::list(&state.store, &endpoint.id, status, before.as_deref(), limit)
            .await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |d| d.id.clone())))
}

#[tracing::instrument(skip_all)]
async fn redeliver(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, id, delivery)): TypedPath<(Project, WebhookId, DeliveryId)>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let endpoint = webhooks::get(&state.store, &project, &id)
        .await
        .map_err(not_found)?;
    if !webhook_deliveries::redeliver(&state.store, &endpoint.id, &delivery).await? {
        return Err(ApiError::not_found("delivery"));
    }
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "id": delivery.to_string(),
        "status": "pending",
    })))
}
