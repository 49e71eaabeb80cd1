//! `…/secrets`: names, versions and who changed them; a new value (never pre-filled); one
//! value revealed on an explicit click, audited like the API's read, and hidden again by the
//! script after 30 seconds. The page with a revealed value is `Cache-Control: no-store`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::flags::{Viewer, env_tabs};
use super::html::{Page, Seg, esc, field_error, form_problem};
use super::session::{Console, CsrfForm};
use super::{Failure, Problem, env_path, see_other};
use crate::api::path::{Env, PathParam, Project, SecretName, TypedPath};
use crate::auth::scope;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::secrets;

type EnvPath = TypedPath<(Project, Env)>;

/// How long a revealed value stays on screen.
const REVEAL_SECS: u32 = 30;

async fn render(
    viewer: Viewer<'_>,
    state: &AppState,
    (project, env): (&str, &str),
    problem: Option<&Problem>,
    revealed: Option<(&str, &str)>,
) -> Result<HttpResponse, Failure> {
    if !viewer.principal.scopes.allows(Scope::SecretsRead) {
        return Err(ApiError::Forbidden("this token lacks the 'secrets:read' scope".into()).into());
    }
    let items = secrets::list(&state.store, project, env).await?;
    let mut page = Page::new(
        format!("Secrets of {project}/{env}"),
        Some(viewer.csrf),
        Some(viewer.who),
    );
    env_tabs(&mut page, project, env, "secrets");
    page.push(format_args!(
        r#"<section class="card"><h2 id="secrets-heading">Secrets</h2>{problem}<div class="scroll"><table aria-labelledby="secrets-heading"><thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Changed</th><th scope="col">Value</th></tr></thead><tbody>"#,
        problem = form_problem(problem, "reveal"),
    ));
    for item in &items {
        let value = match revealed {
            Some((name, value)) if name == item.name => format!(
                r#"<output class="revealed" data-hide-after="{REVEAL_SECS}" aria-live="polite">{}</output>"#,
                esc(value)
            ),
            _ => format!(
                r#"<form method="post" action="{action}/{name}/reveal" class="inline">{csrf}<button type="submit" aria-label="Reveal {label}">Reveal</button></form>"#,
                action = env_path(project, env, "secrets"),
                name = Seg(&item.name),
                label = esc(&item.name),
                csrf = page.csrf_field(),
            ),
        };
        page.push(format_args!(
            r#"<tr id="secret-{id}"><th scope="row"><code>{name}</code></th><td>v{version}</td><td>{at} <span class="muted">by {by}</span></td><td>{value}</td></tr>"#,
            id = Seg(&item.name),
            name = esc(&item.name),
            version = item.version,
            at = esc(&item.updated_at),
            by = esc(&item.updated_by),
        ));
    }
    if items.is_empty() {
        page.push(format_args!(
            r#"<tr><td colspan="4" class="muted">No secrets in this environment.</td></tr>"#
        ));
    }
    page.push(format_args!("</tbody></table></div></section>"));
    page.push(format_args!(
        r#"<section class="card"><h2>Set a value</h2><form method="post" action="{action}" class="stack" autocomplete="off">{csrf}{problem}<label for="secret-name">Name</label><input id="secret-name" name="name" required autocomplete="off" spellcheck="false">{name_error}<label for="secret-value">New value</label><input id="secret-value" name="value" type="password" required autocomplete="new-password">{value_error}<button type="submit" class="primary">Save new version</button></form></section>"#,
        action = env_path(project, env, "secrets"),
        csrf = page.csrf_field(),
        problem = form_problem(problem, "set"),
        name_error = field_error(problem, "set", "name"),
        value_error = field_error(problem, "set", "value"),
    ));
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    Ok(page.render(status))
}

/// `GET …/secrets`.
#[tracing::instrument(skip_all)]
pub async fn page(
    console: Console<scope::SecretsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
) -> Result<HttpResponse, Failure> {
    render(console.viewer(), &state, (&project, &env), None, None).await
}

#[derive(Deserialize)]
pub struct Set {
    name: String,
    value: Zeroizing<String>,
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Set(***)")
    }
}

/// `POST …/secrets`: a new version of a secret, checked like the API's `PUT`.
#[tracing::instrument(skip_all)]
pub async fn set(
    console: Console<scope::SecretsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    CsrfForm(form): CsrfForm<Set>,
) -> Result<HttpResponse, Failure> {
    let result = match SecretName::parse(form.name.trim()) {
        Some(name) => crate::api::secrets::write_value(
            &state,
            &console.auth.actor,
            (&project, &env, &name),
            &form.value,
            false,
            None,
        )
        .await
        .map_err(|e| match e {
            // The API names the path segment; here the name is a field of the form.
            ApiError::Unprocessable { detail, errors } => ApiError::Unprocessable {
                detail: detail.replace("path.name", "name"),
                errors: errors
                    .into_iter()
                    .map(|mut e| {
                        if e.field == "path.name" {
                            e.field = "name".into();
                        }
                        e
                    })
                    .collect(),
            },
            other => other,
        }),
        None => Err(ApiError::invalid("name", SecretName::SHAPE)),
    };
    match result {
        Ok(_) => Ok(see_other(&env_path(&project, &env, "secrets"))),
        Err(error) => {
            let problem = Problem::of("set", error)?;
            render(
                console.viewer(),
                &state,
                (&project, &env),
                Some(&problem),
                None,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST …/secrets/{name}/reveal`: the API's audited read, shown once on this page.
#[tracing::instrument(skip_all)]
pub async fn reveal(
    console: Console<scope::SecretsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, name)): TypedPath<(Project, Env, SecretName)>,
    _form: CsrfForm<Nothing>,
) -> Result<HttpResponse, Failure> {
    match secrets::read(
        &state.store,
        &state.keyring,
        &console.auth.actor,
        &project,
        &env,
        &name,
    )
    .await
    {
        Ok((meta, value)) => {
            render(
                console.viewer(),
                &state,
                (&project, &env),
                None,
                Some((&meta.name, value.expose())),
            )
            .await
        }
        Err(error) => {
            let problem = Problem::of("reveal", error.into())?;
            render(
                console.viewer(),
                &state,
                (&project, &env),
                Some(&problem),
                None,
            )
            .await
        }
    }
}
