//! Secrets: `/v1/projects/{project}/environments/{env}/secrets[/{name}]`, the pipeline export,
//! and master-key rotation.
//!
//! Values leave the server only in the answer to an explicit, audited read or export, with
//! `Cache-Control: no-store`; they are never echoed by writes, never logged, never cached.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use super::etag::{etag, if_match};
use super::extract::RollbackBody;
use super::path::{Env, Project, SecretName, TypedPath};
use super::{Routes, ValidJson, ValidQuery};
use crate::auth::{Authorized, scope};
use crate::domain::{Access, ConfigKey};
use crate::error::ApiError;
use crate::export::{self, Format};
use crate::secrets::SecretValue;
use crate::state::AppState;
use crate::store::{EnvPath, WriteIntent, config, secrets};

const SECRET: &str = "/v1/projects/{project}/environments/{env}/secrets/{name}";

pub fn routes(routes: &mut Routes) {
    routes
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/secrets",
            list,
        )
        // Literal before `{name}`: actix matches in registration order.
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/secrets/export",
            export_all,
        )
        .add(Method::GET, SECRET, read)
        .add(Method::PUT, SECRET, write)
        .add(Method::DELETE, SECRET, delete)
        .add(
            Method::GET,
            "/v1/projects/{project}/environments/{env}/secrets/{name}/versions",
            versions,
        )
        .add(
            Method::POST,
            "/v1/projects/{project}/environments/{env}/secrets/{name}/rollback",
            rollback,
        )
        .add(Method::POST, "/v1/admin/master-key/rotate", rotate);
}

/// Largest secret value, in characters: openapi.yaml's `maxLength`, which counts characters.
pub const MAX_SECRET_CHARS: usize = 65_536;

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

#[tracing::instrument(skip_all)]
async fn list(
    _auth: Authorized<scope::SecretsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
) -> Result<HttpResponse, ApiError> {
    let items = secrets::list(&state.store, &project, &env).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

#[derive(Serialize)]
struct SecretRead<'a> {
    name: &'a str,
    version: i64,
    value: &'a str,
}

/// The secret's value; the read is audited.
#[tracing::instrument(skip_all)]
async fn read(
    auth: Authorized<scope::SecretsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, name)): TypedPath<(Project, Env, SecretName)>,
) -> Result<HttpResponse, ApiError> {
    let (meta, value) = secrets::read(
        &state.store,
        &state.keyring,
        &auth.actor,
        &project,
        &env,
        &name,
    )
    .await?;
    let body = Zeroizing::new(
        serde_json::to_vec(&SecretRead {
            name: &meta.name,
            version: meta.version,
            value: value.expose(),
        })
        .map_err(|e| ApiError::Internal(e.into()))?,
    );
    Ok(no_store(
        HttpResponse::Ok()
            .insert_header((header::ETAG, etag(meta.version)))
            .content_type("application/json")
            .body(body.to_vec()),
    ))
}

/// The value arrives in the body only (never a URL), and is zeroized once sealed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteBody {
    value: Zeroizing<String>,
    /// An empty value is refused unless asked for: an unset shell variable piped into a
    /// write would otherwise blank the secret without a word.
    #[serde(default)]
    allow_empty: bool,
}

impl std::fmt::Debug for WriteBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteBody(***)")
    }
}

#[tracing::instrument(skip_all)]
async fn write(
    auth: Authorized<scope::SecretsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, env, name)): TypedPath<(Project, Env, SecretName)>,
    ValidJson(body): ValidJson<WriteBody>,
) -> Result<HttpResponse, ApiError> {
    let meta = write_value(
        &state,
        &auth.actor,
        (&project, &env, &name),
        &body.value,
        body.allow_empty,
        if_match(&req)?,
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(meta.version)))
        .json(meta))
}

/// Checks and stores a new value of a secret: the one path of the API's `PUT` and the console's
/// form. `expected` is the version the writer last saw (`If-Match`).
pub(crate) async fn write_value(
    state: &AppState,
    actor: &crate::store::audit::Actor,
    (project, env, name): (&str, &str, &SecretName),
    value: &str,
    allow_empty: bool,
    expected: Option<i64>,
) -> Result<secrets::SecretMeta, ApiError> {
    if !name.0.is_env_var_name() {
        return Err(ApiError::invalid("path.name", ConfigKey::WRITABLE_SHAPE));
    }
    if value.is_empty() && !allow_empty {
        return Err(ApiError::invalid(
            "body.value",
            "must not be empty unless allow_empty is true",
        ));
    }
    if value.contains('\0') {
        return Err(ApiError::invalid(
            "body.value",
            "must not contain a NUL character, which no environment variable can carry",
        ));
    }
    if value.chars().count() > MAX_SECRET_CHARS {
        return Err(ApiError::invalid(
            "body.value",
            format!("must be at most {MAX_SECRET_CHARS} characters"),
        ));
    }
    let value = SecretValue::new(value.to_owned());
    Ok(secrets::write(
        &state.store,
        &state.keyring,
        actor,
        EnvPath {
            project,
            environment: env,
        },
        name,
        &value,
        WriteIntent {
            expected,
            action: "secret.write",
            comment: "",
        },
    )
    .await?)
}

#[tracing::instrument(skip_all)]
async fn delete(
    auth: Authorized<scope::SecretsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, name)): TypedPath<(Project, Env, SecretName)>,
) -> Result<HttpResponse, ApiError> {
    secrets::delete(
        &state.store,
        &state.keyring,
        &auth.actor,
        &project,
        &env,
        &name,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip_all)]
async fn versions(
    _auth: Authorized<scope::SecretsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, name)): TypedPath<(Project, Env, SecretName)>,
) -> Result<HttpResponse, ApiError> {
    let items = secrets::versions(&state.store, &project, &env, &name).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// Makes an earlier version's value current again, sealed anew as the next version.
#[tracing::instrument(skip_all)]
async fn rollback(
    auth: Authorized<scope::SecretsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    TypedPath((project, env, name)): TypedPath<(Project, Env, SecretName)>,
    ValidJson(body): ValidJson<RollbackBody>,
) -> Result<HttpResponse, ApiError> {
    let old = secrets::value_at(
        &state.store,
        &state.keyring,
        &project,
        &env,
        &name,
        body.version,
    )
    .await?;
    let comment = format!("rollback to version {}", body.version);
    let meta = secrets::write(
        &state.store,
        &state.keyring,
        &auth.actor,
        EnvPath {
            project: &project,
            environment: &env,
        },
        &name,
        &old,
        WriteIntent {
            expected: if_match(&req)?,
            action: "secret.rollback",
            comment: &comment,
        },
    )
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(meta.version)))
        .json(meta))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    format: Option<Format>,
    /// Also include the resolved configuration (needs `config:read`); a secret wins over a
    /// config key of the same name.
    #[serde(default)]
    include_config: bool,
}

/// All of the environment's secrets (optionally with its resolved config) for a pipeline, as
/// dotenv (default), JSON or shell lines. Audited as one read naming every secret.
#[tracing::instrument(skip_all)]
async fn export_all(
    auth: Authorized<scope::SecretsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): TypedPath<(Project, Env)>,
    ValidQuery(query): ValidQuery<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = query.format.unwrap_or(Format::Dotenv);
    let mut pairs: Vec<(String, Value)> = Vec::new();
    if query.include_config {
        if !auth
            .principal()
            .scopes
            .allows(crate::domain::Scope::ConfigRead)
        {
            return Err(ApiError::Forbidden(
                "include_config needs the 'config:read' scope too".into(),
            ));
        }
        // Inherited values are the ancestors' values: the token must reach the whole chain.
        super::reach::lineage(&state.store, auth.principal(), &project, &env).await?;
        pairs = config::resolved(&state.store, &project, &env)
            .await?
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
    }
    let values = secrets::export(&state.store, &state.keyring, &auth.actor, &project, &env).await?;
    for (name, value) in &values {
        pairs.retain(|(key, _)| key != name);
        pairs.push((name.clone(), Value::String(value.expose().to_owned())));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let rendered = export::render(format, &pairs)
        .map_err(|e| ApiError::invalid("query.format", format!("keys {e}")));
    // The copies in `pairs` hold plaintext too: wipe them before answering either way.
    for (_, value) in &mut pairs {
        if let Value::String(text) = value {
            zeroize::Zeroize::zeroize(text);
        }
    }
    let body = rendered?;
    Ok(no_store(
        HttpResponse::Ok()
            .content_type(format.content_type())
            .body(body.as_bytes().to_vec()),
    ))
}

/// Re-wraps every data key under the keyring's active master key (admin, all projects).
#[tracing::instrument(skip_all)]
async fn rotate(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    if auth.principal().projects != Access::All {
        return Err(ApiError::Forbidden(
            "rotating the master key needs an admin token for all projects".into(),
        ));
    }
    let report = secrets::rotate_master_key(&state.store, &state.keyring, &auth.actor).await?;
    Ok(HttpResponse::Ok().json(report))
}
