//! `/ui`: the projects the token reaches, each with its environments and their parent chains.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use super::html::{Page, Seg, esc};
use super::session::Console;
use super::{Failure, env_path};
use crate::auth::scope;
use crate::state::AppState;
use crate::store::environments::{self, Environment};
use crate::store::projects;

/// How many projects and environments the index shows (a console, not an export).
const SHOWN: usize = 200;

/// `GET /ui`.
#[tracing::instrument(skip_all)]
pub async fn index(
    console: Console<scope::AnyToken>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, Failure> {
    let principal = console.principal();
    let projects = projects::list(&state.store, &principal.projects, None, SHOWN).await?;
    let mut page = Page::new("Projects", Some(console.csrf()), Some(console.who()));
    if projects.is_empty() {
        page.push(format_args!(
            "<p>This token reaches no project yet. Create one with the API or the CLI.</p>"
        ));
    }
    for project in &projects {
        let envs = environments::list(&state.store, &project.name, None, SHOWN).await?;
        page.push(format_args!(
            r#"<section class="card"><h2>{name}</h2><p class="muted">{description}</p><table><caption class="sr-only">Environments of {name}</caption><thead><tr><th scope="col">Environment</th><th scope="col">Inherits from</th><th scope="col">Pages</th></tr></thead><tbody>"#,
            name = esc(&project.name),
            description = esc(&project.description),
        ));
        for env in &envs {
            let chain = parent_chain(env, &envs);
            let pages = if principal.environments.allows(&env.name) {
                format!(
                    r#"<a href="{flags}">Flags</a> · <a href="{config}">Config</a> · <a href="{secrets}">Secrets</a>"#,
                    flags = env_path(&project.name, &env.name, "flags"),
                    config = env_path(&project.name, &env.name, "config"),
                    secrets = env_path(&project.name, &env.name, "secrets"),
                )
            } else {
                r#"<span class="muted">outside this token's reach</span>"#.to_owned()
            };
            page.push(format_args!(
                r#"<tr id="env-{id}"><th scope="row">{name}</th><td>{chain}</td><td>{pages}</td></tr>"#,
                id = Seg(&env.name),
                name = esc(&env.name),
                chain = if chain.is_empty() {
                    "—".to_owned()
                } else {
                    esc(&chain.join(" → ")).to_string()
                },
            ));
        }
        page.push(format_args!("</tbody></table></section>"));
    }
    Ok(page.render(StatusCode::OK))
}

/// The ancestors of `env`, nearest first, as far as `all` (its project's environments) goes.
fn parent_chain<'a>(env: &'a Environment, all: &'a [Environment]) -> Vec<&'a str> {
    let mut chain = Vec::new();
    let mut parent = env.parent.as_deref();
    while let Some(name) = parent {
        if chain.contains(&name) || chain.len() > all.len() {
            break;
        }
        chain.push(name);
        parent = all
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.parent.as_deref());
    }
    chain
}
