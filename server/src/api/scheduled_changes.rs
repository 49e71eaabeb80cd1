//! `/v1/projects/{project}/environments/{env}/flags/{key}/schedules[/{id}]` and the
//! environment-wide `/v1/projects/{project}/environments/{env}/schedules`: one-off flag state
//! changes at a given time, listed, cancellable (a `DELETE` of a pending one), audited. The
//! scheduler (`scheduler`) applies them.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};

use super::Routes;
use super::extract::{Page, PageQuery, page_of};
use super::path::{Env, FlagKeyParam, Project, ResourceId, TypedPath};
use super::{ValidJson, ValidQuery};
use crate::auth::{Authorized, scope};
use crate::delivery::model::{ScheduleBody, ScheduleSpec};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::now_micros;
use crate::store::scheduled_changes::{self, Schedule};

const SCHEDULES: &str = "/v1/projects/{project}/environments/{env}/flags/{key}/schedules";
const SCHEDULE: &str = "/v1/projects/{project}/environments/{env}/flags/{key}/schedules/{id}";
/// Lists show pending changes first, at most this many.
const LIST_LIMIT: usize = 200;

pub fn routes(routes: &mut Routes) {
    routes
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/schedules",
            list_environment,
        )
        .add(Method::GET, SCHEDULES, list)
        .add(Method::POST, SCHEDULES, create)
        .add(Method::GET, SCHEDULE, get)
        .add(Method::DELETE, SCHEDULE, cancel);
}

type FlagPath = TypedPath<(Project, Env, FlagKeyParam)>;
type SchedulePath = TypedPath<(Project, Env, FlagKeyParam, ResourceId)>;

fn page(
    schedules: &[Schedule],
    query: &PageQuery,
) -> Result<Page<scheduled_changes::ScheduleView>, ApiError> {
    let views = schedules.iter().map(Schedule::view).collect();
    page_of(views, query, |schedule| schedule.id.clone())
}

#[tracing::instrument(skip_all)]
async fn list_environment(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let schedules = scheduled_changes::list(&state.store, &project, &env, None, LIST_LIMIT).await?;
    Ok(HttpResponse::Ok().json(page(&schedules, &query)?))
}

#[tracing::instrument(skip_all)]
async fn list(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let schedules =
        scheduled_changes::list(&state.store, &project, &env, Some(&key), LIST_LIMIT).await?;
    Ok(HttpResponse::Ok().json(page(&schedules, &query)?))
}

#[tracing::instrument(skip_all)]
async fn create(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    ValidJson(body): ValidJson<ScheduleBody>,
) -> Result<HttpResponse, ApiError> {
    let spec = ScheduleSpec::parse(body, Some(now_micros())).map_err(ApiError::from_fields)?;
    let schedule =
        scheduled_changes::create(&state.store, &auth.actor, &project, &env, &key, &spec).await?;
    let location = format!(
        "/v1/projects/{project}/environments/{env}/flags/{key}/schedules/{}",
        schedule.id
    );
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(schedule.view()))
}

#[tracing::instrument(skip_all)]
async fn get(
    _auth: Authorized<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key, id)): SchedulePath,
) -> Result<HttpResponse, ApiError> {
    let schedule = scheduled_changes::get(&state.store, &project, &env, Some(&key), &id).await?;
    Ok(HttpResponse::Ok().json(schedule.view()))
}

/// Cancels a pending change (409 once it ran or was cancelled); answers the cancelled record.
#[tracing::instrument(skip_all)]
async fn cancel(
    auth: Authorized<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key, id)): SchedulePath,
) -> Result<HttpResponse, ApiError> {
    let schedule = scheduled_changes::get(&state.store, &project, &env, Some(&key), &id).await?;
    let cancelled = scheduled_changes::cancel(&state.store, &auth.actor, &schedule).await?;
    Ok(HttpResponse::Ok().json(cancelled.view()))
}
