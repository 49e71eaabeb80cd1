//! `GET /v1/audit`: the audit trail, newest first, filtered by project, actor, action and time.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::extract::page_limit;
use super::{Page, Routes, ValidQuery, cursor};
use crate::auth::{Authorized, Principal, scope};
use crate::domain::Access;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit::{self, Filter};

pub fn routes(routes: &mut Routes) {
    routes.add(Method::GET, "/v1/audit", list);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    project: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// RFC 3339, inclusive.
    since: Option<String>,
    /// RFC 3339, exclusive.
    until: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX))
                .map_err(|_| {
                    ApiError::bad_request(
                        format!("query.{field}"),
                        "must be an RFC 3339 time such as 2026-01-31T12:00:00Z",
                    )
                })
        })
        .transpose()
}

#[tracing::instrument(skip_all)]
async fn list(
    auth: Authorized<scope::Admin>,
    state: web::Data<AppState>,
    ValidQuery(query): ValidQuery<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_limit(query.limit)?;
    let before_id = match query.cursor.as_deref() {
        Some(raw) => Some(cursor::decode(raw)?.parse::<i64>().map_err(|_| {
            ApiError::bad_request("query.cursor", "not a cursor this server issued")
        })?),
        None => None,
    };
    let filter = Filter {
        project: query.project,
        actor: query.actor,
        action: query.action,
        since: parse_time("since", query.since.as_deref())?,
        until: parse_time("until", query.until.as_deref())?,
        before_id,
        limit: i64::try_from(limit).unwrap_or(i64::MAX),
        ..Filter::default()
    };
    let filter = within_reach(auth.principal(), filter)?;
    let events = audit::list(&state.store, &filter).await?;
    Ok(HttpResponse::Ok().json(Page::new(events, limit, |e| e.id.to_string())))
}

/// `filter` narrowed to what `principal` may read: a token limited to some projects reads only
/// their events, one limited to some environments only theirs (before/after carry their
/// values) and the project-wide ones. Shared by the API and the console's audit page.
pub(crate) fn within_reach(principal: &Principal, filter: Filter) -> Result<Filter, ApiError> {
    if let Some(project) = &filter.project
        && !principal.projects.allows(project)
    {
        return Err(ApiError::Forbidden(format!(
            "this token may not access project '{project}'"
        )));
    }
    Ok(Filter {
        projects: match &principal.projects {
            Access::All => None,
            Access::Only(names) => Some(names.iter().map(|n| n.to_string()).collect()),
        },
        environments: match &principal.environments {
            Access::All => None,
            Access::Only(names) => Some(names.iter().map(|n| n.to_string()).collect()),
        },
        ..filter
    })
}
