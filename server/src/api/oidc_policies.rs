//! `/v1/projects/{project}/oidc-policies[/{policy}]`: the trust policies that let CI jobs
//! exchange their OIDC identity token for a short-lived token (see [`crate::oidc`]). Admin
//! scope on the project; an admin can only grant environments its own token reaches.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};

use super::path::{PolicyName, Project, TypedPath};
use super::{Routes, ValidJson};
use crate::auth::{Authorized, Principal, scope};
use crate::domain::Access;
use crate::error::{ApiError, FieldError};
use crate::oidc::policy::{PolicyBody, PolicySpec, TrustPolicy};
use crate::state::AppState;
use crate::store::{StoreError, environments, oidc};

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/v1/projects/{project}/oidc-policies", list)
        .add(Method::POST, "/v1/projects/{project}/oidc-policies", create)
        .add(
            Method::GET,
            "/v1/projects/{project}/oidc-policies/{policy}",
            get,
        )
        .add(
            Method::PUT,
            "/v1/projects/{project}/oidc-policies/{policy}",
            replace,
        )
        .add(
            Method::DELETE,
            "/v1/projects/{project}/oidc-policies/{policy}",
            delete,
        );
}

#[derive(serde::Serialize)]
struct Items {
    items: Vec<crate::oidc::policy::PolicyView>,
}

/// The grant must be within the caller's reach, and name environments of the project (a
/// typo would make a policy that works nowhere and says nothing): refused by position.
async fn check_grant(
    state: &AppState,
    principal: &Principal,
    project: &str,
    spec: &PolicySpec,
) -> Result<(), ApiError> {
    if !principal.environments.covers(&spec.environments) {
        return Err(ApiError::Forbidden(
            "a policy can only grant environments the caller's token reaches".into(),
        ));
    }
    let Access::Only(names) = &spec.environments else {
        return Ok(());
    };
    let mut errors = Vec::new();
    for (index, env) in names.iter().enumerate() {
        match environments::get(&state.store, project, env.as_str()).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => errors.push(FieldError::new(
                format!("body.environments[{index}]"),
                "no such environment in this project",
            )),
            Err(other) => return Err(other.into()),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::unprocessable(errors))
}

fn policy_not_found(error: StoreError, project: &str, name: &str) -> ApiError {
    match error {
        StoreError::NotFound => {
            ApiError::not_found(format_args!("trust policy '{name}' of project '{project}'"))
        }
        StoreError::Absent(what) => ApiError::not_found(what),
        other => other.into(),
    }
}

/// The policy, if the caller reaches every environment it grants; otherwise reported absent,
/// like tokens outside a caller's reach.
async fn reachable(
    state: &AppState,
    principal: &Principal,
    project: &str,
    name: &str,
) -> Result<TrustPolicy, ApiError> {
    let policy = oidc::get(&state.store, project, name)
        .await
        .map_err(|e| policy_not_found(e, project, name))?;
    if principal.environments.covers(&policy.spec.environments) {
        Ok(policy)
    } else {
        Err(policy_not_found(StoreError::NotFound, project, name))
    }
}

fn answer(status: actix_web::http::StatusCode, policy: &TrustPolicy) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::LOCATION,
            format!(
                "/v1/projects/{}/oidc-policies/{}",
                policy.project, policy.name
            ),
        ))
        .json(policy.view())
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
    ValidJson(body): ValidJson<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let (name, spec) = body.parse().map_err(ApiError::unprocessable)?;
    check_grant(&state, auth.principal(), &project, &spec).await?;
    let policy = oidc::create(&state.store, &auth.actor, &project, &name, &spec)
        .await
        .map_err(|e| match e {
            StoreError::Conflict => ApiError::Conflict(format!(
                "trust policy '{name}' already exists in project '{project}'"
            )),
            other => policy_not_found(other, &project, name.as_str()),
        })?;
    Ok(answer(actix_web::http::StatusCode::CREATED, &policy))
}

#[tracing::instrument(skip_all)]
async fn replace(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, name)): TypedPath<(Project, PolicyName)>,
    ValidJson(body): ValidJson<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let (body_name, spec) = body.parse().map_err(ApiError::unprocessable)?;
    if body_name.as_str() != &*name {
        return Err(ApiError::invalid(
            "body.name",
            "must equal the policy's name in the path (policies cannot be renamed)",
        ));
    }
    reachable(&state, auth.principal(), &project, &name).await?;
    check_grant(&state, auth.principal(), &project, &spec).await?;
    let policy = oidc::replace(&state.store, &auth.actor, &project, &name, &spec)
        .await
        .map_err(|e| policy_not_found(e, &project, &name))?;
    Ok(answer(actix_web::http::StatusCode::OK, &policy))
}

#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project,)): TypedPath<(Project,)>,
) -> Result<HttpResponse, ApiError> {
    // An unknown project answers 404, not an empty list.
    crate::store::projects::get(&state.store, &project)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found(format_args!("project '{project}'")),
            other => other.into(),
        })?;
    let policies = oidc::list(&state.store, &project).await?;
    Ok(HttpResponse::Ok().json(Items {
        items: policies
            .iter()
            .filter(|p| auth.principal().environments.covers(&p.spec.environments))
            .map(TrustPolicy::view)
            .collect(),
    }))
}

#[tracing::instrument(skip_all)]
async fn get(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, name)): TypedPath<(Project, PolicyName)>,
) -> Result<HttpResponse, ApiError> {
    let policy = reachable(&state, auth.principal(), &project, &name).await?;
    Ok(HttpResponse::Ok().json(policy.view()))
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    TypedPath((project, name)): TypedPath<(Project, PolicyName)>,
) -> Result<HttpResponse, ApiError> {
    reachable(&state, auth.principal(), &project, &name).await?;
    oidc::delete(&state.store, &auth.actor, &project, &name)
        .await
        .map_err(|e| policy_not_found(e, &project, &name))?;
    Ok(HttpResponse::NoContent().finish())
}
