//! `/v1/projects[/{project}]`.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::path::{Project, TypedPath};
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery, cursor};
use crate::auth::{Authorized, scope};
use crate::domain::{Access, Slug};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, projects};

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/v1/projects", list)
        .add(Method::POST, "/v1/projects", create)
        .add(Method::GET, "/v1/projects/{project}", get)
        .add(Method::PATCH, "/v1/projects/{project}", update)
        .add(Method::DELETE, "/v1/projects/{project}", delete);
}

pub const MAX_DESCRIPTION: usize = 1_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: Slug,
    #[serde(default)]
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectPatch {
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    confirm: Option<String>,
}

pub fn check_description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid(
            "body.description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    body: Result<ValidJson<NewProject>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    if auth.principal().projects != Access::All {
        return Err(ApiError::Forbidden(
            "creating projects needs a token for all projects".into(),
        ));
    }
    // Only then the body: a token that may not create projects learns nothing about its shape.
    let ValidJson(body) = body?;
    check_description(&body.description)?;
    let project = projects::create(&state.store, &auth.actor, &body.name, &body.description)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => {
                ApiError::Conflict(format!("project '{}' already exists", body.name))
            }
            other => other.into(),
        })?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/projects/{}", project.name)))
        .json(project))
}

#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::AnyToken>,
    state: web::Data<AppState>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let after = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let items = projects::list(
        &state.store,
        &auth.principal().projects,
        after.as_deref(),
        limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |p| p.name.clone())))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::AnyToken>,
    state: web::Data<AppState>,
    TypedPath((name,)): TypedPath<(Project,)>,
) -> Result<HttpResponse, ApiError> {
    let project = projects::get(&state.store, &name)
        .await
        .map_err(|e| not_found(e, &name))?;
    Ok(HttpResponse::Ok().json(project))
}

#[tracing::instrument(skip_all)]
async fn update(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((name,)): TypedPath<(Project,)>,
    ValidJson(body): ValidJson<ProjectPatch>,
) -> Result<HttpResponse, ApiError> {
    if let Some(description) = &body.description {
        check_description(description)?;
    }
    let project = projects::update(
        &state.store,
        &auth.actor,
        &name,
        body.description.as_deref(),
    )
    .await
    .map_err(|e| not_found(e, &name))?;
    Ok(HttpResponse::Ok().json(project))
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((name,)): TypedPath<(Project,)>,
    ValidQuery(query): ValidQuery<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let confirmed = confirmation(query.confirm.as_deref(), &name)?;
    projects::delete(&state.store, &auth.actor, &name, confirmed)
        .await
        .map_err(|e| not_found(e, &name))?;
    Ok(HttpResponse::NoContent().finish())
}

/// `?confirm=` must repeat the resource's name exactly; anything else is a mistake worth a 400.
pub fn confirmation(confirm: Option<&str>, name: &str) -> Result<bool, ApiError> {
    match confirm {
        None => Ok(false),
        Some(value) if value == name => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            "query.confirm",
            format!("must repeat the name '{name}' to confirm"),
        )),
    }
}

fn not_found(error: StoreError, name: &str) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::not_found(format_args!("project '{name}'")),
        other => other.into(),
    }
}
