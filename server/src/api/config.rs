//! Configuration: `/v1/projects/{project}/environments/{env}/config[/{key}]`, the diff between
//! two environments and promotion from one to another.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::etag::{etag, if_match};
use super::extract::RollbackBody;
use super::path::{ConfigKeyParam, Env, Project, TypedPath};
use super::reach;
use super::{Page, PageQuery, Routes, ValidJson, ValidQuery};
use crate::auth::{Authorized, Principal, scope};
use crate::domain::{ConfigKey, Scope};
use crate::error::ApiError;
use crate::export::{self, Format};
use crate::state::AppState;
use crate::store::WriteIntent;
use crate::store::config::{self, KeyChange, ResolvedEntry};
use crate::store::promotion::{self, PromotionRequest};

const ENTRY: &str = "/v1/projects/{project}/environments/{env}/config/{key}";

pub fn routes(routes: &mut Routes) {
    routes
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/config",
            list,
        )
        .add(Method::GET, ENTRY, get)
        .add(Method::PUT, ENTRY, put)
        .add(Method::DELETE, ENTRY, remove)
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/config/{key}/versions",
            versions,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/config/{key}/rollback",
            rollback,
        )
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/diff",
            diff,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/promote",
            promote,
        );
}

/// Largest config value, serialized.
pub const MAX_VALUE_BYTES: usize = 65_536;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    format: Option<Format>,
}

#[derive(Serialize)]
struct ResolvedView<'a> {
    project: &'a str,
    environment: &'a str,
    entries: Vec<ResolvedEntry>,
}

/// The resolved configuration with where each value comes from, or (with `format`) an export.
#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::ConfigRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let entries = resolved_for(&state, auth.principal(), &project, &env).await?;
    let Some(format) = query.format else {
        return Ok(HttpResponse::Ok().json(ResolvedView {
            project: &project,
            environment: &env,
            entries,
        }));
    };
    let pairs: Vec<(String, Value)> = entries.into_iter().map(|e| (e.key, e.value)).collect();
    let body = export::render(format, &pairs)
        .map_err(|e| ApiError::invalid("query.format", format!("config keys {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .body(body.as_str().to_owned()))
}

/// A resolved entry with the `ETag` of the environment's own override (`"0"` when inherited).
fn entry_response(env: &str, entry: &ResolvedEntry) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(own_version(env, entry))))
        .json(entry)
}

/// The version of the environment's own override behind `entry` (`0` when inherited).
fn own_version(env: &str, entry: &ResolvedEntry) -> i64 {
    if entry.source == env {
        entry.version
    } else {
        0
    }
}

#[tracing::instrument(skip_all)]
async fn get(
    auth: Authorized<scope::ConfigRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): TypedPath<(Project, Env, ConfigKeyParam)>,
) -> Result<HttpResponse, ApiError> {
    reach::lineage(&state.store, auth.principal(), &project, &env).await?;
    let entry = config::get(&state.store, &project, &env, &key).await?;
    Ok(entry_response(&env, &entry))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    value: Value,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    description: Option<String>,
}

fn check_entry(value: &Value, description: Option<&str>) -> Result<(), ApiError> {
    if value.is_null() {
        return Err(ApiError::invalid(
            "body.value",
            "must not be null; DELETE the key to remove its override",
        ));
    }
    // As an environment variable a string is its own text, and no variable can hold a NUL
    // (inside arrays and objects the JSON text escapes it).
    if value.as_str().is_some_and(|text| text.contains('\0')) {
        return Err(ApiError::invalid(
            "body.value",
            "must not contain a NUL character, which no environment variable can carry",
        ));
    }
    if value.to_string().len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid(
            "body.value",
            format!("must be at most {MAX_VALUE_BYTES} bytes as JSON"),
        ));
    }
    if description.is_some_and(|d| d.chars().count() > 1_000) {
        return Err(ApiError::invalid(
            "body.description",
            "must be at most 1000 characters",
        ));
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
async fn put(
    auth: Authorized<scope::ConfigWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, env, key)): TypedPath<(Project, Env, ConfigKeyParam)>,
    ValidJson(body): ValidJson<PutBody>,
) -> Result<HttpResponse, ApiError> {
    let written = set_value(
        &state,
        &auth.actor,
        (&project, &env, &key),
        body.value,
        body.description,
        if_match(&req)?,
    )
    .await?;
    // The answer describes this write's version, as the transaction left it.
    match written {
        Some(entry) => Ok(entry_response(&env, &entry)),
        None => Err(ApiError::Internal(anyhow::anyhow!(
            "a config key just set has no value"
        ))),
    }
}

/// The environment's resolved configuration, for a token that reaches its whole chain.
pub(crate) async fn resolved_for(
    state: &AppState,
    principal: &Principal,
    project: &str,
    env: &str,
) -> Result<Vec<ResolvedEntry>, ApiError> {
    reach::lineage(&state.store, principal, project, env).await?;
    Ok(config::resolved(&state.store, project, env).await?)
}

/// Checks and sets the environment's own value of `key`: the one path of the API's `PUT` and
/// the console's form. Returns the resolved entry as this write left it.
pub(crate) async fn set_value(
    state: &AppState,
    actor: &crate::store::audit::Actor,
    (project, env, key): (&str, &str, &ConfigKeyParam),
    value: Value,
    description: Option<String>,
    expected: Option<i64>,
) -> Result<Option<ResolvedEntry>, ApiError> {
    if !key.0.is_env_var_name() {
        return Err(ApiError::invalid("path.key", ConfigKey::WRITABLE_SHAPE));
    }
    check_entry(&value, description.as_deref())?;
    let change = KeyChange {
        key: key.to_string(),
        value: Some(value),
        description,
    };
    let written = config::change(
        &state.store,
        actor,
        project,
        env,
        change,
        WriteIntent {
            expected,
            action: "config.set",
            comment: "",
        },
    )
    .await?;
    Ok(state.publish(written).await)
}

/// What differs between `from` and `env` (resolved values), for a token reaching both chains.
pub(crate) async fn diff_for(
    state: &AppState,
    principal: &Principal,
    project: &str,
    from: &str,
    env: &str,
) -> Result<promotion::Diff, ApiError> {
    reach::named(principal, from)?;
    reach::lineage(&state.store, principal, project, from).await?;
    reach::lineage(&state.store, principal, project, env).await?;
    Ok(promotion::diff(&state.store, project, from, env).await?)
}

/// Copies `from`'s resolved values into `env` (or, with `dry_run`, says what that would
/// change): the one path of the API's promote and the console's wizard. Values are left out of
/// the answer for a token that may not read them.
pub(crate) async fn promote_from(
    state: &AppState,
    auth: &Authorized<scope::ConfigWrite>,
    (project, env, from): (&str, &str, &str),
    request: PromotionRequest,
) -> Result<promotion::Promotion, ApiError> {
    // The source's resolved values are copied (and a dry run shows them; so does the target's
    // current value): the token must reach both chains.
    reach::named(auth.principal(), from)?;
    reach::lineage(&state.store, auth.principal(), project, from).await?;
    reach::lineage(&state.store, auth.principal(), project, env).await?;
    let committed =
        promotion::promote(&state.store, &auth.actor, project, from, env, request).await?;
    let mut result = state.publish(committed).await;
    if !may_read_values(auth.principal()) {
        // Which keys change is the caller's own write; their values are not.
        for change in &mut result.changes {
            change.before = None;
            change.after = None;
        }
    }
    Ok(result)
}

/// Removes the environment's own override; the key falls back to the parent's value, if any.
#[tracing::instrument(skip_all)]
async fn remove(
    auth: Authorized<scope::ConfigWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, env, key)): TypedPath<(Project, Env, ConfigKeyParam)>,
) -> Result<HttpResponse, ApiError> {
    let change = KeyChange {
        key: key.to_string(),
        value: None,
        description: None,
    };
    let written = config::change(
        &state.store,
        &auth.actor,
        &project,
        &env,
        change,
        WriteIntent {
            expected: if_match(&req)?,
            action: "config.remove",
            comment: "",
        },
    )
    .await?;
    state.publish(written).await;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip_all)]
async fn versions(
    _auth: Authorized<scope::ConfigRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): TypedPath<(Project, Env, ConfigKeyParam)>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let before = query.numeric_cursor()?;
    let items = config::versions(&state.store, &project, &env, &key, before, limit).await?;
    Ok(HttpResponse::Ok().json(Page::new(items, limit, |v| v.version.to_string())))
}

/// Makes an earlier version current again (a new version; rolling back to a removal removes).
#[tracing::instrument(skip_all)]
async fn rollback(
    auth: Authorized<scope::ConfigWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, env, key)): TypedPath<(Project, Env, ConfigKeyParam)>,
    ValidJson(body): ValidJson<RollbackBody>,
) -> Result<HttpResponse, ApiError> {
    let (value, description) =
        config::value_at(&state.store, &project, &env, &key, body.version).await?;
    let change = KeyChange {
        key: key.to_string(),
        value,
        description: Some(description),
    };
    let comment = format!("rollback to version {}", body.version);
    let written = config::change(
        &state.store,
        &auth.actor,
        &project,
        &env,
        change,
        WriteIntent {
            expected: if_match(&req)?,
            action: "config.rollback",
            comment: &comment,
        },
    )
    .await?;
    let entry = state.publish(written).await;
    // The answer shows the value rolled back to (or the parent's, after rolling back to a
    // removal): only to a token that could GET it.
    if !may_read_values(auth.principal())
        || reach::lineage(&state.store, auth.principal(), &project, &env)
            .await
            .is_err()
    {
        let version = entry.as_ref().map_or(0, |e| own_version(&env, e));
        return Ok(HttpResponse::NoContent()
            .insert_header((header::ETAG, etag(version)))
            .finish());
    }
    match entry {
        Some(entry) => Ok(entry_response(&env, &entry)),
        // Rolled back to a removal with nothing inherited.
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    from: String,
}

/// What differs between `from` and this environment (resolved values).
#[tracing::instrument(skip_all)]
async fn diff(
    auth: Authorized<scope::ConfigRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidQuery(query): ValidQuery<DiffQuery>,
) -> Result<HttpResponse, ApiError> {
    // Both sides are resolved values: the token must reach both chains.
    Ok(HttpResponse::Ok()
        .json(diff_for(&state, auth.principal(), &project, &query.from, &env).await?))
}

/// Whether answers may carry config values: a write-only token learns nothing by writing
/// that it could not `GET`.
fn may_read_values(principal: &Principal) -> bool {
    principal.scopes.allows(Scope::ConfigRead)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromoteBody {
    from: String,
    #[serde(default, deserialize_with = "super::extract::non_null")]
    keys: Option<Vec<String>>,
    #[serde(default)]
    remove_missing: bool,
    #[serde(default)]
    dry_run: bool,
}

/// Copies `from`'s resolved values into this environment: all differing keys or the listed
/// ones, atomically. `dry_run` returns exactly the changes a real run would apply now.
#[tracing::instrument(skip_all)]
async fn promote(
    auth: Authorized<scope::ConfigWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidJson(body): ValidJson<PromoteBody>,
) -> Result<HttpResponse, ApiError> {
    let request = PromotionRequest {
        keys: body.keys,
        remove_missing: body.remove_missing,
        dry_run: body.dry_run,
    };
    let result = promote_from(&state, &auth, (&project, &env, &body.from), request).await?;
    Ok(HttpResponse::Ok().json(result))
}
