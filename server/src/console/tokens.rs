//! `/ui/tokens`: issue (the token shown once, with a copy button), list and revoke, within the
//! signed-in token's reach: the API's `/v1/tokens` rules, through the same functions.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::html::{Page, Seg, esc, field_error, form_problem};
use super::session::{Console, CsrfForm};
use super::{Failure, Problem, see_other};
use crate::api::tokens::{IssueBody, issue_token, reachable, revoke_token};
use crate::auth::scope;
use crate::domain::Scope;
use crate::state::AppState;
use crate::store::tokens;

/// How many tokens the page lists.
const SHOWN: usize = 200;

async fn render(
    console: &Console<scope::Admin>,
    state: &AppState,
    problem: Option<&Problem>,
    issued: Option<&str>,
) -> Result<HttpResponse, Failure> {
    let records = tokens::list(&state.store, None, SHOWN).await?;
    let mut page = Page::new("Tokens", Some(console.csrf()), Some(console.who()));
    if let Some(token) = issued {
        page.push(format_args!(
            r#"<section class="card issued" role="status"><h2>New token</h2><p>Shown once: copy it now.</p><output id="new-token" class="token">{token}</output> <button type="button" data-copy="new-token">Copy</button></section>"#,
            token = esc(token)
        ));
    }
    page.push(format_args!(
        r#"<section class="card"><h2 id="tokens-heading">Tokens</h2>{problem}<div class="scroll"><table aria-labelledby="tokens-heading"><thead><tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Reach</th><th scope="col">Expires</th><th scope="col">State</th></tr></thead><tbody>"#,
        problem = form_problem(problem, "revoke"),
    ));
    for record in reachable(console.principal(), &records) {
        let view = record.view();
        let action = if view.revoked_at.is_some() {
            r#"<span class="muted">revoked</span>"#.to_owned()
        } else if view.id == console.principal().token_id {
            r#"<span class="muted">this session's token</span>"#.to_owned()
        } else {
            format!(
                r#"<form method="post" action="/ui/tokens/{id}/revoke" class="inline">{csrf}<button type="submit" class="danger" aria-label="Revoke {name}">Revoke</button></form>"#,
                id = Seg(&view.id),
                name = esc(&view.name),
                csrf = page.csrf_field(),
            )
        };
        page.push(format_args!(
            r#"<tr><th scope="row">{name}<div class="muted">{id}</div></th><td>{scopes}</td><td>{projects} / {environments}</td><td>{expires}</td><td>{action}</td></tr>"#,
            name = esc(&view.name),
            id = esc(&view.id),
            scopes = esc(&view
                .scopes
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")),
            projects = esc(&view.projects.join(", ")),
            environments = esc(&view.environments.join(", ")),
            expires = esc(&view.expires_at),
        ));
    }
    page.push(format_args!("</tbody></table></div></section>"));
    let scopes: String = Scope::ALL
        .iter()
        .map(|s| {
            format!(
                r#"<label class="check"><input type="checkbox" name="scopes" value="{n}"> {n}</label>"#,
                n = esc(s.name())
            )
        })
        .collect();
    page.push(format_args!(
        r#"<section class="card"><h2>Issue a token</h2><form method="post" action="/ui/tokens" class="stack">{csrf}{problem}<label for="t-name">Name</label><input id="t-name" name="name" required maxlength="200" autocomplete="off">{name_error}<fieldset><legend>Scopes</legend>{scopes}</fieldset>{scopes_error}<label for="t-projects">Projects (comma-separated, <code>*</code> for all)</label><input id="t-projects" name="projects" value="*">{projects_error}<label for="t-envs">Environments (comma-separated, <code>*</code> for all)</label><input id="t-envs" name="environments" value="*">{envs_error}<label for="t-ttl">Lifetime in days</label><input id="t-ttl" name="ttl_days" type="number" min="1" max="3650" value="90">{ttl_error}<button type="submit" class="primary">Issue</button></form></section>"#,
        csrf = page.csrf_field(),
        problem = form_problem(problem, "issue"),
        name_error = field_error(problem, "issue", "name"),
        scopes_error = field_error(problem, "issue", "scopes"),
        projects_error = field_error(problem, "issue", "projects"),
        envs_error = field_error(problem, "issue", "environments"),
        ttl_error = field_error(problem, "issue", "ttl_seconds"),
    ));
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    Ok(page.render(status))
}

/// `GET /ui/tokens`.
#[tracing::instrument(skip_all)]
pub async fn page(
    console: Console<scope::Admin>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    render(&console, &state, None, None).await
}

fn names(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /ui/tokens`: the API's issue; the form's repeated `scopes` fields become the list.
#[tracing::instrument(skip_all)]
pub async fn issue(
    console: Console<scope::Admin>,
    state: web::Data<AppState>,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<HttpResponse, Failure> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let ttl_seconds = match field("ttl_days").trim() {
        "" => None,
        days => Some(days.parse::<u64>().map_or(0, |d| d.saturating_mul(86_400))),
    };
    let body = IssueBody {
        name: field("name").to_owned(),
        scopes: fields
            .iter()
            .filter(|(n, _)| n == "scopes")
            .map(|(_, v)| v.clone())
            .collect(),
        projects: names(field("projects")),
        environments: names(field("environments")),
        ttl_seconds,
    };
    match issue_token(&state, &console.auth, body).await {
        Ok((_, token)) => render(&console, &state, None, Some(&token)).await,
        Err(error) => {
            let problem = Problem::of("issue", error)?;
            render(&console, &state, Some(&problem), None).await
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Nothing {}

/// `POST /ui/tokens/{id}/revoke`: the API's revoke (and every token it issued).
#[tracing::instrument(skip_all)]
pub async fn revoke(
    console: Console<scope::Admin>,
    state: web::Data<AppState>,
    path: web::Path<String>,
    _form: CsrfForm<Nothing>,
) -> Result<HttpResponse, Failure> {
    match revoke_token(&state, &console.auth, &path).await {
        Ok(_) => Ok(see_other("/ui/tokens")),
        Err(error) => {
            let problem = Problem::of("revoke", error)?;
            render(&console, &state, Some(&problem), None).await
        }
    }
}
