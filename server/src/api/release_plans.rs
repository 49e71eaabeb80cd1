//! `/v1/projects/{project}/environments/{env}/flags/{key}/plans[/{id}[/start|pause|resume|skip|abort]]`:
//! release plans. Creating one checks every step against the flag now; the commands move it
//! by the same transitions the scheduler makes (see `delivery::lifecycle`), each a flag version
//! and an audit event when it writes the flag.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};

use super::extract::{PageQuery, page_of};
use super::path::{Env, FlagKeyParam, Project, ResourceId, TypedPath};
use super::{Routes, ValidJson, ValidQuery};
use crate::auth::{Authorized, scope};
use crate::delivery::lifecycle::{self, Clock, Command};
use crate::delivery::model::{PlanBody, PlanSpec};
use crate::error::ApiError;
use crate::scheduler::check_interval;
use crate::state::AppState;
use crate::store::audit::Actor;
use crate::store::release_plans::{self, Plan};
use crate::store::{StoreError, now_micros};

const PLANS: &str = "/v1/projects/{project}/environments/{env}/flags/{key}/plans";
const PLAN: &str = "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}";
/// Lists show the newest plans, at most this many.
const LIST_LIMIT: usize = 200;

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, PLANS, list)
        .add(Method::POST, PLANS, create)
        .add(Method::GET, PLAN, get)
        .add(Method::POST, &format!("{PLAN}/start"), start)
        .add(Method::POST, &format!("{PLAN}/pause"), pause)
        .add(Method::POST, &format!("{PLAN}/resume"), resume)
        .add(Method::POST, &format!("{PLAN}/skip"), skip)
        .add(Method::POST, &format!("{PLAN}/abort"), abort);
}

type FlagPath = TypedPath<(Project, Env, FlagKeyParam)>;
type PlanPath = TypedPath<(Project, Env, FlagKeyParam, ResourceId)>;

#[tracing::instrument(skip_all)]
async fn list(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let plans = release_plans::list(&state.store, &project, &env, &key, LIST_LIMIT).await?;
    let views = plans.iter().map(Plan::view).collect();
    Ok(HttpResponse::Ok().json(page_of(views, &query, |plan| plan.id.clone())?))
}

/// Creates a plan (pending, or running at once with `"start": true`).
#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    ValidJson(body): ValidJson<PlanBody>,
) -> Result<HttpResponse, ApiError> {
    let start = body.start;
    let spec = PlanSpec::parse(body, &state.monitoring).map_err(ApiError::from_fields)?;
    let mut plan =
        release_plans::create(&state.store, &auth.actor, &project, &env, &key, &spec).await?;
    if start {
        plan = run(&state, &auth.actor, plan, Command::Start).await?;
    }
    let location = format!(
        "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{}",
        plan.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(plan.view()))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key, id)): PlanPath,
) -> Result<HttpResponse, ApiError> {
    let plan = release_plans::get(&state.store, &project, &env, &key, &id).await?;
    Ok(HttpResponse::Ok().json(plan.view()))
}

/// Applies an operator's command, re-deciding from the newer row when the scheduler (or
/// another operator) moved the plan in between; a command the plan's status does not allow
/// is a 409 that says why.
async fn run(
    state: &AppState,
    actor: &Actor,
    mut plan: Plan,
    command: Command,
) -> Result<Plan, ApiError> {
    for _ in 0..5 {
        let clock = Clock {
            now: now_micros(),
            check_interval: check_interval(state),
        };
        let effect = lifecycle::command(&plan.spec, &plan.progress, command, clock)
            .map_err(ApiError::Conflict)?;
        match release_plans::transition(&state.store, actor, &plan, &effect).await {
            Ok(moved) => return Ok(state.publish(moved).await),
            Err(StoreError::Stale { .. }) => {
                plan = release_plans::get(
                    &state.store,
                    &plan.project,
                    &plan.environment,
                    &plan.flag,
                    &plan.id,
                )
                .await?;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "the plan kept changing while this command was applied; try again".into(),
    ))
}

async fn command(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key, id)): PlanPath,
    command: Command,
) -> Result<HttpResponse, ApiError> {
    let plan = release_plans::get(&state.store, &project, &env, &key, &id).await?;
    let moved = run(&state, &auth.actor, plan, command).await?;
    Ok(HttpResponse::Ok().json(moved.view()))
}

#[tracing::instrument(skip_all)]
async fn start(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    path: PlanPath,
) -> Result<HttpResponse, ApiError> {
    command(auth, state, path, Command::Start).await
}

#[tracing::instrument(skip_all)]
async fn pause(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    path: PlanPath,
) -> Result<HttpResponse, ApiError> {
    command(auth, state, path, Command::Pause).await
}

#[tracing::instrument(skip_all)]
async fn resume(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    path: PlanPath,
) -> Result<HttpResponse, ApiError> {
    command(auth, state, path, Command::Resume).await
}

#[tracing::instrument(skip_all)]
async fn skip(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    path: PlanPath,
) -> Result<HttpResponse, ApiError> {
    command(auth, state, path, Command::Skip).await
}

#[tracing::instrument(skip_all)]
async fn abort(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    path: PlanPath,
) -> Result<HttpResponse, ApiError> {
    command(auth, state, path, Command::Abort).await
}
