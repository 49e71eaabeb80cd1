//! `/v1/projects/{project}/segments[/{name}]`: reusable sets of conditions.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_core::{Condition, Segment};

use super::etag::{etag, if_match};
use super::flags::require_all_environments;
use super::path::{Project, SegmentName, TypedPath};
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery, cursor};
use crate::auth::{Authorized, scope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::segments::{self, StoredSegment};

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/v1/projects/{project}/segments", list)
        .add(Method::POST, "/v1/projects/{project}/segments", create)
        .add(Method::GET, "/v1/projects/{project}/segments/{name}", get)
        .add(
            Method::PUT,
            "/v1/projects/{project}/segments/{name}",
            update,
        )
        .add(
            Method::DELETE,
            "/v1/projects/{project}/segments/{name}",
            delete,
        );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    conditions: Vec<Condition>,
}

fn segment_response(status: StatusCode, segment: &StoredSegment) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(segment.version)))
        .json(segment)
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    body: Result<ValidJson<SegmentBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    // Only then the body: a token that may not write here learns nothing about its shape.
    let ValidJson(body) = body?;
    let Some(name) = body.name else {
        return Err(ApiError::invalid("body.name", "is required"));
    };
    let segment = Segment {
        name: name.clone(),
        description: body.description,
        conditions: body.conditions,
    };
    let created = segments::create(&state.store, &auth.actor, &project, segment)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ApiError::Conflict(format!(
                "segment '{name}' already exists in project '{project}'"
            )),
            other => other.into(),
        })?;
    let created = state.publish(created).await;
    let mut response = segment_response(StatusCode::CREATED, &created);
    if let Ok(location) =
        header::HeaderValue::from_str(&format!("/v1/projects/{project}/segments/{name}"))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[tracing::instrument(skip_all)]
async fn list(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let items = segments::list(&state.store, &project, after.as_deref(), limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |s| s.segment.name.clone())))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, name)): TypedPath<(Project, SegmentName)>,
) -> Result<HttpResponse, ApiError> {
    let segment = segments::get(&state.store, &project, &name).await?;
    Ok(segment_response(StatusCode::OK, &segment))
}

#[tracing::instrument(skip_all)]
async fn update(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, name)): TypedPath<(Project, SegmentName)>,
    body: Result<ValidJson<SegmentBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let ValidJson(body) = body?;
    if body.name.as_ref().is_some_and(|n| n.as_str() != &*name) {
        return Err(ApiError::invalid(
            "body.name",
            "a segment's name cannot change",
        ));
    }
    let segment = Segment {
        name: name.to_string(),
        description: body.description,
        conditions: body.conditions,
    };
    let updated = segments::update(
        &state.store,
        &auth.actor,
        &project,
        &name,
        segment,
        if_match(&req)?,
    )
    .await?;
    let updated = state.publish(updated).await;
    Ok(segment_response(StatusCode::OK, &updated))
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, name)): TypedPath<(Project, SegmentName)>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let deleted = segments::delete(&state.store, &auth.actor, &project, &name).await?;
    state.publish(deleted).await;
    Ok(HttpResponse::NoContent().finish())
}
