//! `/v1/tokens[/{id}]`: issue, list, inspect and revoke tokens. A token is shown once, in the
//! response that issues it; lists and reads show its record only.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Page, PageQuery, Routes, ValidJson, ValidQuery, cursor};
use crate::auth::{Authorized, Principal, TokenRequest, scope};
use crate::domain::{Access, Scope, ScopeSet};
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use crate::store::tokens::{self, TokenRecord, TokenView};
use crate::store::{StoreError, projects};

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/v1/tokens", list)
        .add(Method::POST, "/v1/tokens", issue)
        // Literal before `{id}`: actix matches in registration order.
        .add(Method::GET, "/v1/tokens/current", current)
        .add(Method::GET, "/v1/tokens/{id}", get)
        .add(Method::DELETE, "/v1/tokens/{id}", revoke);
}

const MAX_NAME: usize = 200;
const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    pub name: String,
    /// Names, parsed in [`IssueBody::into_request`] so that every unknown one is reported, not
    /// only the first.
    pub scopes: Vec<String>,
    #[serde(default = "all")]
    pub projects: Vec<String>,
    #[serde(default = "all")]
    pub environments: Vec<String>,
    #[serde(default, deserialize_with = "super::extract::optional_whole_number")]
    pub ttl_seconds: Option<u64>,
}

/// The scope names a token may be issued with, for error messages.
fn scope_names() -> String {
    Scope::ALL
        .iter()
        .map(|scope| format!("`{}`", scope.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn all() -> Vec<String> {
    vec!["*".to_owned()]
}

#[derive(Debug, Serialize)]
struct Issued {
    /// The bearer token. Shown once; store it now.
    token: String,
    #[serde(flatten)]
    record: TokenView,
}

/// A revoked token's record and the ids of the tokens revoked with it (issued by it, directly
/// or not).
#[derive(Debug, Serialize)]
struct Revoked {
    #[serde(flatten)]
    record: TokenView,
    revoked_with: Vec<String>,
}

impl IssueBody {
    /// Checks every field and reports all problems at once.
    fn into_request(self, default_ttl: u64) -> Result<TokenRequest, ApiError> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        // The limit is on the name as sent (openapi.yaml's `maxLength`), the emptiness check on
        // what is kept (the spec's pattern asks for one non-space character).
        if name.is_empty() || self.name.chars().count() > MAX_NAME {
            errors.push(FieldError::new(
                "body.name",
                format!("must be 1-{MAX_NAME} characters"),
            ));
        }
        if self.scopes.is_empty() {
            errors.push(FieldError::new(
                "body.scopes",
                "must name at least one scope",
            ));
        }
        let mut scopes = Vec::with_capacity(self.scopes.len());
        for (i, name) in self.scopes.iter().enumerate() {
            match Scope::ALL.iter().find(|scope| scope.name() == name) {
                Some(scope) => scopes.push(*scope),
                None => errors.push(FieldError::new(
                    format!("body.scopes[{i}]"),
                    format!("not a scope; expected one of {}", scope_names()),
                )),
            }
        }
        let projects = Access::from_names(&self.projects)
            .map_err(|m| errors.push(FieldError::new("body.projects", m)))
            .ok();
        let environments = Access::from_names(&self.environments)
            .map_err(|m| errors.push(FieldError::new("body.environments", m)))
            .ok();
        let ttl_secs = self.ttl_seconds.unwrap_or(default_ttl);
        if !(60..=MAX_TTL_SECS).contains(&ttl_secs) {
            errors.push(FieldError::new(
                "body.ttl_seconds",
                format!("must be between 60 and {MAX_TTL_SECS}"),
            ));
        }
        match (projects, environments) {
            (Some(projects), Some(environments)) if errors.is_empty() => Ok(TokenRequest {
                name,
                scopes,
                projects,
                environments,
                ttl_secs,
                not_after: None,
            }),
            _ => Err(ApiError::unprocessable(errors)),
        }
    }
}

/// A token bound to a project that does not exist (a typo, most likely) would work nowhere
/// and say nothing: refused, by position (the names are the caller's input). Environments may
/// be named before they exist (a token for the `preview` environment a pipeline creates), so
/// they are not looked up.
async fn refuse_unknown_names(state: &AppState, request: &TokenRequest) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    let Access::Only(projects) = &request.projects else {
        return Ok(());
    };
    for (index, project) in projects.iter().enumerate() {
        match projects::get(&state.store, project.as_str()).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => errors.push(FieldError::new(
                format!("body.projects[{index}]"),
                "no such project",
            )),
            Err(other) => return Err(other.into()),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::unprocessable(errors))
}

/// An issuer may only hand out what it holds itself, and only manage tokens within its reach.
fn covers(
    principal: &Principal,
    scopes: ScopeSet,
    projects: &Access,
    environments: &Access,
) -> bool {
    principal.scopes.covers(scopes)
        && principal.projects.covers(projects)
        && principal.environments.covers(environments)
}

fn within_reach(principal: &Principal, record: &TokenRecord) -> bool {
    covers(
        principal,
        record.scope_set(),
        &record.projects,
        &record.environments,
    )
}

#[tracing::instrument(skip_all)]
async fn issue(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    ValidJson(body): ValidJson<IssueBody>,
) -> Result<HttpResponse, ApiError> {
    let (record, token) = issue_token(&state, &auth, body).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/tokens/{}", record.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(Issued {
            token,
            record: record.view(),
        }))
}

/// Issues a token within the issuer's reach and lifetime: the one path of the API's `POST` and
/// the console's form. Returns the record and the token (shown once).
pub(crate) async fn issue_token(
    state: &AppState,
    auth: &Authorized<scope::Admin>,
    body: IssueBody,
) -> Result<(TokenRecord, String), ApiError> {
    let mut request = body.into_request(state.settings.token_ttl_secs)?;
    // Clamped rather than refused (as Vault does): the answer's `expires_at` says what was
    // granted, and a default lifetime asked by a short-lived token still works.
    request.not_after = Some(auth.principal().expires_at);
    let wanted = ScopeSet::from_scopes(&request.scopes);
    if !covers(
        auth.principal(),
        wanted,
        &request.projects,
        &request.environments,
    ) {
        return Err(ApiError::Forbidden(
            "a token can only grant scopes, projects and environments its issuer holds".into(),
        ));
    }
    refuse_unknown_names(state, &request).await?;
    let (record, token) = state.tokens.issue(&auth.actor, request).await?;
    Ok((record, token))
}

/// The tokens of `records` that `principal` may see and manage.
pub(crate) fn reachable<'a>(
    principal: &'a Principal,
    records: &'a [TokenRecord],
) -> impl Iterator<Item = &'a TokenRecord> {
    records.iter().filter(|r| within_reach(principal, r))
}

/// Revokes a token within the caller's reach (and every token it issued); the first record
/// is the one asked for.
pub(crate) async fn revoke_token(
    state: &AppState,
    auth: &Authorized<scope::Admin>,
    id: &str,
) -> Result<Vec<TokenRecord>, ApiError> {
    let record = reachable_record(state, auth.principal(), id).await?;
    Ok(state.tokens.revoke(&auth.actor, &record.id).await?)
}

#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    ValidQuery(query): ValidQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit()?;
    let before = query.cursor.as_deref().map(cursor::decode).transpose()?;
    let records = tokens::list(&state.store, before.as_deref(), limit).await?;
    let page = Page::new(records, limit, |r| r.id.clone());
    let items = page
        .items
        .iter()
        .filter(|r| within_reach(auth.principal(), r))
        .map(TokenRecord::view)
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

#[tracing::instrument(skip_all)]
async fn current(
    auth: Authorized<scope::AnyToken>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let record = tokens::get(&state.store, &auth.principal().token_id).await?;
    Ok(HttpResponse::Ok().json(record.view()))
}

async fn reachable_record(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<TokenRecord, ApiError> {
    let not_found = || ApiError::not_found(format_args!("token '{id}'"));
    let record = tokens::get(&state.store, id).await.map_err(|e| match e {
        StoreError::NotFound => not_found(),
        other => other.into(),
    })?;
    // Tokens outside the caller's reach are reported as absent, not as forbidden.
    if within_reach(principal, &record) {
        Ok(record)
    } else {
        Err(not_found())
    }
}

#[tracing::instrument(skip_all)]
async fn get(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = reachable_record(&state, auth.principal(), &path).await?;
    Ok(HttpResponse::Ok().json(record.view()))
}

#[tracing::instrument(skip_all)]
async fn revoke(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let revoked = revoke_token(&state, &auth, &path).await?;
    // The first record is the token asked for; the others were issued by it and went with it.
    let (token, with_it) = revoked
        .split_first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("revocation returned no record")))?;
    Ok(HttpResponse::Ok().json(Revoked {
        record: token.view(),
        revoked_with: with_it.iter().map(|r| r.id.clone()).collect(),
    }))
}
