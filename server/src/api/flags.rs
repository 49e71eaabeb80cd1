//! `/v1/projects/{project}/flags[/{key}]`: flag definitions, one per project.
//!
//! Writes need `flags:write` for every environment of the project, because a definition is
//! served in all of them.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_core::{FlagDefinition, FlagType, Variant};

use super::etag::{etag, if_match};
use super::path::{FlagKeyParam, Project, TypedPath};
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery, cursor};
use crate::auth::{Authorized, Principal, scope};
use crate::domain::Access;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{StoreError, flags};

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/v1/projects/{project}/flags", list)
        .add(Method::POST, "/v1/projects/{project}/flags", create)
        .add(Method::GET, "/v1/projects/{project}/flags/{key}", get)
        .add(Method::PUT, "/v1/projects/{project}/flags/{key}", update)
        .add(Method::DELETE, "/v1/projects/{project}/flags/{key}", delete);
}

/// What a definition body holds; `variants` may be left out for a boolean flag (`on`/`off`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionBody {
    #[serde(default, deserialize_with = "super::extract::non_null")]
    key: Option<String>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    description: Option<String>,
    #[serde(rename = "type")]
    flag_type: FlagType,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    variants: Option<Vec<Variant>>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    owner: Option<String>,
    /// Evaluable with client-side keys (`flags:evaluate`); off when left out.
    #[serde(default)]
    client_visible: bool,
}

impl DefinitionBody {
    fn into_definition(self, key: String) -> FlagDefinition {
        let variants = match (self.variants, self.flag_type) {
            (Some(variants), _) => variants,
            (None, FlagType::Boolean) => FlagDefinition::boolean(&key).variants,
            (None, _) => Vec::new(),
        };
        FlagDefinition {
            key,
            description: self.description,
            flag_type: self.flag_type,
            variants,
            tags: self.tags,
            owner: self.owner,
            client_visible: self.client_visible,
        }
    }
}

/// Definitions and segments are project-wide: changing them needs a token for every environment.
pub fn require_all_environments(principal: &Principal) -> Result<(), ApiError> {
    if principal.environments == Access::All {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "changing a project-wide definition needs a token for all environments".into(),
        ))
    }
}

fn flag_response(status: actix_web::http::StatusCode, flag: &flags::Flag) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(flag.version)))
        .json(flag)
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    body: Result<ValidJson<DefinitionBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    // Only then the body: a token that may not write here learns nothing about its shape.
    let ValidJson(body) = body?;
    let Some(key) = body.key.clone() else {
        return Err(ApiError::invalid("body.key", "is required"));
    };
    let definition = body.into_definition(key.clone());
    let flag = create_flag(&state, &auth.actor, &project, definition).await?;
    let mut response = flag_response(actix_web::http::StatusCode::CREATED, &flag);
    if let Ok(location) =
        header::HeaderValue::from_str(&format!("/v1/projects/{project}/flags/{key}"))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Creates a flag definition and publishes it: the path the API and the console share. The
/// caller has checked [`require_all_environments`].
pub(crate) async fn create_flag(
    state: &AppState,
    actor: &crate::store::audit::Actor,
    project: &str,
    definition: FlagDefinition,
) -> Result<flags::Flag, ApiError> {
    let key = definition.key.clone();
    let created = flags::create(&state.store, actor, project, definition)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ApiError::Conflict(format!(
                "flag '{key}' already exists in project '{project}'"
            )),
            other => other.into(),
        })?;
    Ok(state.publish(created).await)
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
    let items = flags::list(&state.store, &project, after.as_deref(), limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |f| f.definition.key.clone())))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, key)): TypedPath<(Project, FlagKeyParam)>,
) -> Result<HttpResponse, ApiError> {
    let flag = flags::get(&state.store, &project, &key).await?;
    Ok(flag_response(actix_web::http::StatusCode::OK, &flag))
}

#[tracing::instrument(skip_all)]
async fn update(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, key)): TypedPath<(Project, FlagKeyParam)>,
    body: Result<ValidJson<DefinitionBody>, ApiError>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let ValidJson(body) = body?;
    if body.key.as_ref().is_some_and(|k| k.as_str() != &*key) {
        return Err(ApiError::invalid(
            "body.key",
            "a flag's key cannot change; create a new flag instead",
        ));
    }
    let definition = body.into_definition(key.to_string());
    let updated = flags::update(
        &state.store,
        &auth.actor,
        &project,
        &key,
        definition,
        if_match(&req)?,
    )
    .await?;
    let flag = state.publish(updated).await;
    Ok(flag_response(actix_web::http::StatusCode::OK, &flag))
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, key)): TypedPath<(Project, FlagKeyParam)>,
) -> Result<HttpResponse, ApiError> {
    require_all_environments(auth.principal())?;
    let deleted = flags::delete(&state.store, &auth.actor, &project, &key).await?;
    state.publish(deleted).await;
    Ok(HttpResponse::NoContent().finish())
}
