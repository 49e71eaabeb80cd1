//! `/v1/projects/{project}/environments[/{env}]`.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::double_option;
use super::path::{Env, Project, TypedPath};
use super::projects::{check_description, confirmation};
use super::reach;
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery, cursor};
use crate::auth::{Authorized, scope};
use crate::domain::Slug;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::store::environments::{self, EnvironmentPatch, NewEnvironment};

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/v1/projects/{project}/environments", list)
        .add(Method::POST, "/v1/projects/{project}/environments", create)
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}",
            get,
        )
        .add(
            Method::PATCH,
            "/v1/projects/{project}/environments/{env}",
            update,
        )
        .add(
            Method::DELETE,
            "/v1/projects/{project}/environments/{env}",
            delete,
        );
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEnvironmentBody {
    name: Slug,
    #[serde(default)]
    description: String,
    parent: Option<Slug>,
    position: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentPatchBody {
    description: Option<String>,
    /// Absent: unchanged; `null`: no parent; a name: that parent.
    #[serde(default, deserialize_with = "double_option")]
    parent: Option<Option<Slug>>,
    position: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteQuery {
    confirm: Option<String>,
}

const MAX_POSITION: i64 = 1_000_000;

fn check_position(position: Option<i64>) -> Result<(), ApiError> {
    match position {
        Some(p) if !(0..=MAX_POSITION).contains(&p) => Err(ApiError::invalid(
            "body.position",
            format!("must be between 0 and {MAX_POSITION}"),
        )),
        _ => Ok(()),
    }
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    ValidJson(body): ValidJson<NewEnvironmentBody>,
) -> Result<HttpResponse, ApiError> {
    check_description(&body.description)?;
    check_position(body.position)?;
    reach::named(auth.principal(), body.name.as_str())?;
    // The new environment inherits its parent's values: the token must reach the parent too.
    if let Some(parent) = &body.parent {
        reach::named(auth.principal(), parent.as_str())?;
    }
    let new = NewEnvironment {
        name: &body.name,
        description: &body.description,
        parent: body.parent.as_ref(),
        position: body.position,
    };
    let committed = environments::create(&state.store, &auth.actor, &project, new)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ApiError::Conflict(format!(
                "environment '{}' already exists in project '{project}'",
                body.name
            )),
            StoreError::NotFound => ApiError::not_found(format_args!("project '{project}'")),
            StoreError::Refused(detail) => ApiError::invalid("body.parent", detail),
            other => other.into(),
        })?;
    let created = state.publish(committed).await;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/v1/projects/{project}/environments/{}", created.name),
        ))
        .json(created))
}

#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::AnyToken>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let after = match query.cursor.as_deref() {
        Some(raw) => {
            let decoded = cursor::decode(raw)?;
            let parsed = decoded.split_once(':').and_then(|(position, name)| {
                Some((position.parse::<i64>().ok()?, name.to_owned()))
            });
            Some(parsed.ok_or_else(|| {
                ApiError::bad_request("query.cursor", "not a cursor this server issued")
            })?)
        }
        None => None,
    };
    let items = environments::list(&state.store, &project, after, limit)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format_args!("project '{project}'")),
            other => other.into(),
        })?;
    // The cursor follows the unfiltered order so that pages stay stable.
    let page = Page::new(items, limit, |e| format!("{}:{}", e.position, e.name));
    let allowed = &auth.principal().environments;
    let page = Page {
        items: page
            .items
            .into_iter()
            .filter(|e| allowed.allows(&e.name))
            .collect(),
        next_cursor: page.next_cursor,
    };
    Ok(HttpResponse::Ok().json(page))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::AnyToken>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
) -> Result<HttpResponse, ApiError> {
    let environment = environments::get(&state.store, &project, &env)
        .await
        .map_err(|e| not_found(e, &project, &env))?;
    Ok(HttpResponse::Ok().json(environment))
}

#[tracing::instrument(skip_all)]
async fn update(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidJson(body): ValidJson<EnvironmentPatchBody>,
) -> Result<HttpResponse, ApiError> {
    if let Some(description) = &body.description {
        check_description(description)?;
    }
    check_position(body.position)?;
    // A new parent is inherited from: the token must reach it too.
    if let Some(Some(parent)) = &body.parent {
        reach::named(auth.principal(), parent.as_str())?;
    }
    let patch = EnvironmentPatch {
        description: body.description.as_deref(),
        parent: body.parent.as_ref().map(Option::as_ref),
        position: body.position,
    };
    let committed = environments::update(&state.store, &auth.actor, &project, &env, patch)
        .await
        .map_err(|e| match e {
            StoreError::Refused(detail) => ApiError::invalid("body.parent", detail),
            other => not_found(other, &project, &env),
        })?;
    let updated = state.publish(committed).await;
    Ok(HttpResponse::Ok().json(updated))
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidQuery(query): ValidQuery<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let confirmed = confirmation(query.confirm.as_deref(), &env)?;
    let committed = environments::delete(&state.store, &auth.actor, &project, &env, confirmed)
        .await
        .map_err(|e| not_found(e, &project, &env))?;
    state.publish(committed).await;
    Ok(HttpResponse::NoContent().finish())
}

fn not_found(error: StoreError, project: &str, env: &str) -> ApiError {
    match error {
        StoreError::NotFound => {
            ApiError::not_found(format_args!("environment '{env}' in project '{project}'"))
        }
        other => other.into(),
    }
}
