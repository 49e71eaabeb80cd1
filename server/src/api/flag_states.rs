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
use crate::store::audit::Actor;
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

/// Which flag state a change is aimed at, and the version the writer last saw (`If-Match`).
pub(crate) struct Target<'a> {
    pub project: &'a str,
    pub env: &'a str,
    pub key: &'a str,
    pub expected: Option<i64>,
}

/// Runs a state change and its post-commit step: the one path every door (the API, the
/// console) changes a flag's state through.
async fn change_state(
    state: &AppState,
    actor: &Actor,
    target: Target<'_>,
    kind: Kind<'_>,
    change: impl Fn(&crate::store::flags::Flag, FlagState) -> StoreResult<FlagState>,
) -> Result<StateView, ApiError> {
    let changed = flag_states::change(
        &state.store,
        actor,
        target.project,
        target.env,
        target.key,
        WriteIntent {
            expected: target.expected,
            action: kind.action,
            comment: kind.comment,
        },
        change,
    )
    .await?;
    Ok(state.publish(changed).await)
}

/// The API's answer to a state change.
fn changed_response(auth: &Authorized<scope::FlagsWrite>, view: &StateView) -> HttpResponse {
    // The answer shows the whole state (rules, the version rolled back to), which a token
    // without `flags:read` could not `GET`: it gets the new version only.
    if !auth.principal().scopes.allows(Scope::FlagsRead) {
        return HttpResponse::NoContent()
            .insert_header((header::ETAG, etag(view.version)))
            .finish();
    }
    state_response(view)
}

fn target<'a>(
    req: &HttpRequest,
    TypedPath((project, env, key)): &'a StatePath,
) -> Result<Target<'a>, ApiError> {
    Ok(Target {
        project,
        env,
        key,
        expected: if_match(req)?,
    })
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
    let view = replace(&state, &auth.actor, target(&req, &path)?, body).await?;
    Ok(changed_response(&auth, &view))
}

/// Replaces the whole state (rules, default serve, off variant).
pub(crate) async fn replace(
    state: &AppState,
    actor: &Actor,
    target: Target<'_>,
    body: FlagState,
) -> Result<StateView, ApiError> {
    let kind = Kind {
        action: "flag.state.update",
        comment: "",
    };
    change_state(state, actor, target, kind, |_, _| Ok(body.clone())).await
}

#[tracing::instrument(skip_all)]
async fn enable(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: StatePath,
) -> Result<HttpResponse, ApiError> {
    let view = set_enabled(&state, &auth.actor, target(&req, &path)?, true).await?;
    Ok(changed_response(&auth, &view))
}

#[tracing::instrument(skip_all)]
async fn disable(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    path: StatePath,
) -> Result<HttpResponse, ApiError> {
    let view = set_enabled(&state, &auth.actor, target(&req, &path)?, false).await?;
    Ok(changed_response(&auth, &view))
}

/// The one-line toggles: only `enabled` changes; doing it twice records nothing.
pub(crate) async fn set_enabled(
    state: &AppState,
    actor: &Actor,
    target: Target<'_>,
    enabled: bool,
) -> Result<StateView, ApiError> {
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
    change_state(state, actor, target, kind, |_, mut s| {
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
    let view = roll_out(
        &state,
        &auth.actor,
        target(&req, &path)?,
        share,
        body.variant,
        body.otherwise,
    )
    .await?;
    Ok(changed_response(&auth, &view))
}

/// Serves `variant` (default `on`) to `share` and `otherwise` (default `off`) to the rest.
pub(crate) async fn roll_out(
    state: &AppState,
    actor: &Actor,
    target: Target<'_>,
    share: BasisPoints,
    variant: Option<String>,
    otherwise: Option<String>,
) -> Result<StateView, ApiError> {
    let comment = format!(
        "rollout to {}.{:02} %",
        share.get() / 100,
        share.get() % 100
    );
    let kind = Kind {
        action: "flag.rollout",
        comment: &comment,
    };
    change_state(state, actor, target, kind, |flag, mut s| {
        let boolean = flag.definition.flag_type == FlagType::Boolean;
        let pick = |given: Option<String>, default: &str, field: &str| match given {
            Some(v) => Ok(v),
            None if boolean => Ok(default.to_owned()),
            None => Err(StoreError::Invalid(ValidationErrors(vec![
                FieldError::new(field, "is required for a non-boolean flag"),
            ]))),
        };
        let on = pick(variant.clone(), "on", "variant")?;
        let off = pick(otherwise.clone(), "off", "otherwise")?;
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
    path: StatePath,
    ValidJson(body): ValidJson<RollbackBody>,
) -> Result<HttpResponse, ApiError> {
    let view = roll_back(&state, &auth.actor, target(&req, &path)?, body.version).await?;
    Ok(changed_response(&auth, &view))
}

/// Stores the state of `version` again, as a new version.
pub(crate) async fn roll_back(
    state: &AppState,
    actor: &Actor,
    target: Target<'_>,
    version: i64,
) -> Result<StateView, ApiError> {
    let old = flag_states::state_at(
        &state.store,
        target.project,
        target.env,
        target.key,
        version,
    )
    .await?;
    let comment = format!("rollback to version {version}");
    let kind = Kind {
        action: "flag.rollback",
        comment: &comment,
    };
    change_state(state, actor, target, kind, |_, _| Ok(old.clone())).await
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
    let view = pull_kill_switch(&state, &auth.actor, &project, &env, &reason).await?;
    Ok(HttpResponse::build(StatusCode::OK).json(view))
}

/// Pulls the environment's kill switch, recording `reason` (at most 1000 characters).
pub(crate) async fn pull_kill_switch(
    state: &AppState,
    actor: &Actor,
    project: &str,
    env: &str,
    reason: &str,
) -> Result<kill_switch::KillSwitch, ApiError> {
    if reason.chars().count() > 1_000 {
        return Err(ApiError::invalid(
            "body.reason",
            "must be at most 1000 characters",
        ));
    }
    let pulled = kill_switch::set_kill(&state.store, actor, project, env, true, reason).await?;
    Ok(state.publish(pulled).await)
}

/// Releases the kill switch: each flag serves its stored state again, exactly as before.
#[tracing::instrument(skip_all)]
async fn restore(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
) -> Result<HttpResponse, ApiError> {
    let view = release_kill_switch(&state, &auth.actor, &project, &env).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Releases the environment's kill switch.
pub(crate) async fn release_kill_switch(
    state: &AppState,
    actor: &Actor,
    project: &str,
    env: &str,
) -> Result<kill_switch::KillSwitch, ApiError> {
    let released = kill_switch::set_kill(&state.store, actor, project, env, false, "").await?;
    Ok(state.publish(released).await)
}
