//! A flag's state in one environment, the one-line shortcuts operators use (`enable`,
//! `disable`, `rollout`), history and rollback, and the environment's kill switch.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use switchboard_core::{BasisPoints, FieldError, FlagState, FlagType, ValidationErrors};

use super::etag::{etag, if_match};
use super::extract::{OptionalJson, RollbackBody};
use super::path::{Env, FlagKeyParam, Project, TypedPath};
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery};
use crate::auth::{Authorized, scope};
use crate::domain::Scope;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::flag_states::{self, StateView};
use crate::store::kill_switch;
use crate::store::{StoreError, StoreResult, WriteIntent};

const STATE: &str = "/v1/projects/{project}/environments/{env}/flags/{key}";

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, STATE, get)
        .add(Method::PUT, STATE, put)
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/flags/{key}/enable",
            enable,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/flags/{key}/disable",
            disable,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/flags/{key}/rollout",
            rollout,
        )
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/flags/{key}/versions",
            versions,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/flags/{key}/rollback",
            rollback,
        )
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/kill",
            kill_status,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/kill",
            kill,
        )
        .add(
            Method::DELETE,
            "/v1/projects/{project}/environments/{env}/kill",
            restore,
        );
}

type StatePath = TypedPath<(Project, Env, FlagKeyParam)>;

/// How a state change is recorded: its audit action and history comment.
struct Kind<'a> {
    action: &'a str,
    comment: &'a str,
}

fn state_response(view: &StateView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(view.version)))
        .json(view)
}

/// Runs a state change and its post-commit step.
async fn apply(
    state: &AppState,
    auth: &Authorized<scope::FlagsWrite>,
    req: &HttpRequest,
    TypedPath((project, env, key)): StatePath,
    kind: Kind<'_>,
    change: impl Fn(&crate::store::flags::Flag, FlagState) -> StoreResult<FlagState>,
) -> Result<HttpResponse, ApiError> {
    let changed = flag_states::change(
        &state.store,
        &auth.actor,
        &project,
        &env,
        &key,
        WriteIntent {
            expected: if_match(req)?,
            action: kind.action,
            comment: kind.comment,
        },
        change,
    )
    .await?;
    let view = state.publish(changed).await;
    // The answer shows the whole state (rules, the version rolled back to), which a token
    // without `flags:read` could not `GET`: it gets the new version only.
    if !auth.principal().scopes.allows(Scope::FlagsRead) {
        return Ok(HttpResponse::NoContent()
            .insert_header((header::ETAG, etag(view.version)))
            .finish());
    }
    Ok(state_response(&view))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): StatePath,
) -> Result<HttpResponse, ApiError> {
    let view = flag_states::get(&state.store, &project, &env, &key).await?;
    Ok(state_response(&view))
}

#[tracing::instrument(skip_all)]
async fn put(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: StatePath,
    ValidJson(body): ValidJson<FlagState>,
) -> Result<HttpResponse, ApiError> {
    let kind = Kind {
        action: "flag.state.update",
        comment: "",
    };
    apply(&state, &auth, &req, path, kind, |_, _| Ok(body.clone())).await
}

#[tracing::instrument(skip_all)]
async fn enable(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: StatePath,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &auth, &req, path, true).await
}

#[tracing::instrument(skip_all)]
async fn disable(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: StatePath,
) -> Result<HttpResponse, ApiError> {
    set_enabled(&state, &auth, &req, path, false).await
}

/// The one-line toggles: only `enabled` changes; doing it twice records nothing.
async fn set_enabled(
    state: &AppState,
    auth: &Authorized<scope::FlagsWrite>,
    req: &HttpRequest,
    path: StatePath,
    enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let kind = if enabled {
        Kind {
            action: "flag.enable",
            comment: "enabled",
        }
    } else {
        Kind {
            action: "flag.disable",
            comment: "disabled",
        }
    };
    apply(state, auth, req, path, kind, |_, mut s| {
        s.enabled = enabled;
        Ok(s)
    })
    .await
}

/// `{"percentage": 5}` (or `"basis_points": 500`): serve `variant` (default `on`) to that share
/// and `otherwise` (default `off`) to the rest, as the default serve. Rules and `enabled` stay
/// as they are; an existing split keeps its stickiness and salt, so widening only adds users.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RolloutBody {
    #[serde(default, deserialize_with = "super::extract::non_null")]
    percentage: Option<f64>,
    #[serde(default, deserialize_with = "super::extract::optional_whole_number")]
    basis_points: Option<u32>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    variant: Option<String>,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    otherwise: Option<String>,
}

impl RolloutBody {
    fn share(&self) -> Result<BasisPoints, ApiError> {
        match (self.percentage, self.basis_points) {
            (Some(percent), None) => BasisPoints::from_percent(percent).map_err(|_| {
                ApiError::invalid("body.percentage", "must be 0 to 100 in steps of 0.01")
            }),
            (None, Some(bp)) => BasisPoints::try_from(bp)
                .map_err(|_| ApiError::invalid("body.basis_points", "must be 0 to 10000")),
            _ => Err(ApiError::invalid(
                "body.percentage",
                "give exactly one of percentage or basis_points",
            )),
        }
    }
}

#[tracing::instrument(skip_all)]
async fn rollout(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: StatePath,
    ValidJson(body): ValidJson<RolloutBody>,
) -> Result<HttpResponse, ApiError> {
    let share = body.share()?;
    let comment = format!(
        "rollout to {}.{:02} %",
        share.get() / 100,
        share.get() % 100
    );
    let kind = Kind {
        action: "flag.rollout",
        comment: &comment,
    };
    apply(&state, &auth, &req, path, kind, |flag, mut s| {
        let boolean = flag.definition.flag_type == FlagType::Boolean;
        let pick = |given: Option<String>, default: &str, field: &str| match given {
            Some(v) => Ok(v),
            None if boolean => Ok(default.to_owned()),
            None => Err(StoreError::Invalid(ValidationErrors(vec![
                FieldError::new(field, "is required for a non-boolean flag"),
            ]))),
        };
        let on = pick(body.variant.clone(), "on", "variant")?;
        let off = pick(body.otherwise.clone(), "off", "otherwise")?;
        s.default_serve = s.default_serve.rolled_out(&on, &off, share);
        Ok(s)
    })
    .await
}

#[tracing::instrument(skip_all)]
async fn versions(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): StatePath,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let before = query.numeric_cursor()?;
    let items = flag_states::versions(&state.store, &project, &env, &key, before, limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |v| v.version.to_string())))
}

#[tracing::instrument(skip_all)]
async fn rollback(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, env, key)): StatePath,
    ValidJson(body): ValidJson<RollbackBody>,
) -> Result<HttpResponse, ApiError> {
    let old = flag_states::state_at(&state.store, &project, &env, &key, body.version).await?;
    let comment = format!("rollback to version {}", body.version);
    let kind = Kind {
        action: "flag.rollback",
        comment: &comment,
    };
    apply(
        &state,
        &auth,
        &req,
        TypedPath((project, env, key)),
        kind,
        |_, _| Ok(old.clone()),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillBody {
    #[serde(default)]
    reason: String,
}

#[tracing::instrument(skip_all)]
async fn kill_status(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(kill_switch::get_kill(&state.store, &project, &env).await?))
}

/// Pulls the kill switch: every flag of the environment serves its off variant at once.
#[tracing::instrument(skip_all)]
async fn kill(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    OptionalJson(body): OptionalJson<KillBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.unwrap_or_default().reason;
    if reason.chars().count() > 1_000 {
        return Err(ApiError::invalid(
            "body.reason",
            "must be at most 1000 characters",
        ));
    }
    let pulled =
        kill_switch::set_kill(&state.store, &auth.actor, &project, &env, true, &reason).await?;
    let view = state.publish(pulled).await;
    Ok(HttpResponse::build(StatusCode::OK).json(view))
}

/// Releases the kill switch: each flag serves its stored state again, exactly as before.
#[tracing::instrument(skip_all)]
async fn restore(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
) -> Result<HttpResponse, ApiError> {
    let released =
        kill_switch::set_kill(&state.store, &auth.actor, &project, &env, false, "").await?;
    let view = state.publish(released).await;
    Ok(HttpResponse::Ok().json(view))
}
