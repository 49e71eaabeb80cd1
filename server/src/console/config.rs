//! `…/config`: the resolved values with the environment each comes from, an edit form (a JSON
//! value, checked like the API's `PUT`), the difference with another environment, and the
//! promote wizard: a dry run first, showing every change, then the same promotion applied.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::flags::{Viewer, env_tabs};
use super::html::{Page, esc, field_error, form_problem};
use super::session::{Console, CsrfForm};
use super::{Failure, Problem, env_path, see_other};
use crate::api::config::{diff_for, promote_from, resolved_for, set_value};
use crate::api::path::{ConfigKeyParam, Env, PathParam, Project, TypedPath};
use crate::auth::scope;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::environments;
use crate::store::promotion::{Promotion, PromotionRequest};

type EnvPath = TypedPath<(Project, Env)>;

fn compact(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// What the page shows besides the values: a comparison, a dry run, a failed form.
#[derive(Default)]
struct Extras<'a> {
    compare: Option<&'a str>,
    plan: Option<&'a Promotion>,
    problem: Option<&'a Problem>,
}

async fn render(
    viewer: Viewer<'_>,
    state: &AppState,
    (project, env): (&str, &str),
    extras: Extras<'_>,
) -> Result<HttpResponse, Failure> {
    if !viewer.principal.scopes.allows(Scope::ConfigRead) {
        return Err(ApiError::Forbidden("this token lacks the 'config:read' scope".into()).into());
    }
    let problem = extras.problem;
    let entries = resolved_for(state, viewer.principal, project, env).await?;
    let others: Vec<String> = environments::list(&state.store, project, None, 200)
        .await?
        .into_iter()
        .map(|e| e.name)
        .filter(|name| name != env && viewer.principal.environments.allows(name))
        .collect();
    let mut page = Page::new(
        format!("Config of {project}/{env}"),
        Some(viewer.csrf),
        Some(viewer.who),
    );
    env_tabs(&mut page, project, env, "config");
    page.push(format_args!(
        r#"<section class="card"><h2 id="config-heading">Resolved values</h2><div class="scroll"><table id="config" aria-labelledby="config-heading"><thead><tr><th scope="col">Key</th><th scope="col">Value</th><th scope="col">From</th><th scope="col">Changed</th></tr></thead><tbody>"#
    ));
    for entry in &entries {
        let source = if entry.source == env {
            "this environment".to_owned()
        } else {
            format!("inherited from {}", esc(&entry.source))
        };
        page.push(format_args!(
            r#"<tr><th scope="row"><code>{key}</code><div class="muted">{description}</div></th><td><code>{value}</code></td><td>{source}</td><td>{at} <span class="muted">v{version}</span></td></tr>"#,
            key = esc(&entry.key),
            description = esc(&entry.description),
            value = esc(&compact(&entry.value)),
            at = esc(&entry.updated_at),
            version = entry.version,
        ));
    }
    if entries.is_empty() {
        page.push(format_args!(
            r#"<tr><td colspan="4" class="muted">No values.</td></tr>"#
        ));
    }
    page.push(format_args!("</tbody></table></div></section>"));

    page.push(format_args!(
        r#"<section class="card"><h2>Set a value</h2><form method="post" action="{action}" class="stack">{csrf}{problem}<label for="c-key">Key</label><input id="c-key" name="key" required autocomplete="off" spellcheck="false">{key_error}<label for="c-value">Value (JSON: <code>"text"</code>, <code>42</code>, <code>true</code>, …)</label><textarea id="c-value" name="value" rows="3" required spellcheck="false"></textarea>{value_error}<label for="c-description">Description</label><input id="c-description" name="description" autocomplete="off">{description_error}<button type="submit" class="primary">Save</button></form></section>"#,
        action = env_path(project, env, "config"),
        csrf = page.csrf_field(),
        problem = form_problem(problem, "set"),
        key_error = field_error(problem, "set", "key"),
        value_error = field_error(problem, "set", "value"),
        description_error = field_error(problem, "set", "description"),
    ));

    let options = |selected: Option<&str>| -> String {
        others
            .iter()
            .map(|name| {
                format!(
                    r#"<option value="{n}"{sel}>{n}</option>"#,
                    n = esc(name),
                    sel = if Some(name.as_str()) == selected {
                        " selected"
                    } else {
                        ""
                    }
                )
            })
            .collect()
    };
    page.push(format_args!(
        r#"<section class="card"><h2>Compare and promote</h2><form method="get" action="{action}" class="inline"><label for="compare">Compare with</label> <select id="compare" name="compare">{opts}</select> <button type="submit">Show difference</button></form>"#,
        action = env_path(project, env, "config"),
        opts = options(extras.compare),
    ));
    if let Some(from) = extras.compare {
        let diff = diff_for(state, viewer.principal, project, from, env).await?;
        page.push(format_args!(
            r#"<h3>{from} → {env}</h3><ul class="plan">"#,
            from = esc(from),
            env = esc(env)
        ));
        for entry in &diff.added {
            page.push(format_args!(
                "<li><ins>only in {from}: <code>{k}</code> = <code>{v}</code></ins></li>",
                from = esc(from),
                k = esc(&entry.key),
                v = esc(&compact(&entry.value))
            ));
        }
        for entry in &diff.removed {
            page.push(format_args!(
                "<li><del>only in {env}: <code>{k}</code> = <code>{v}</code></del></li>",
                env = esc(env),
                k = esc(&entry.key),
                v = esc(&compact(&entry.value))
            ));
        }
        for entry in &diff.changed {
            page.push(format_args!(
                "<li><code>{k}</code>: <del><code>{to}</code></del> here, <ins><code>{from}</code></ins> in {name}</li>",
                k = esc(&entry.key),
                to = esc(&compact(&entry.to)),
                from = esc(&compact(&entry.from)),
                name = esc(from),
            ));
        }
        if diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty() {
            page.push(format_args!("<li>No difference.</li>"));
        }
        page.push(format_args!("</ul>"));
    }
    page.push(format_args!(
        r#"<form method="post" action="{action}" class="inline">{csrf}{problem}<label for="promote-from">Promote from</label> <select id="promote-from" name="from">{opts}</select><input type="hidden" name="dry_run" value="true"> <button type="submit">Preview (dry run)</button></form>"#,
        action = env_path(project, env, "promote"),
        csrf = page.csrf_field(),
        problem = form_problem(problem, "promote"),
        opts = options(extras.plan.map(|p| p.from.as_str()).or(extras.compare)),
    ));
    if let Some(plan) = extras.plan {
        page.push(format_args!(
            r#"<div id="promotion-plan"><h3>{verb}: {from} → {to}</h3><ul class="plan">"#,
            verb = if plan.dry_run { "Dry run" } else { "Applied" },
            from = esc(&plan.from),
            to = esc(&plan.to),
        ));
        for change in &plan.changes {
            page.push(format_args!(
                "<li>{action} <code>{key}</code>: <del><code>{before}</code></del> → <ins><code>{after}</code></ins></li>",
                action = esc(change.action),
                key = esc(&change.key),
                before = esc(&change.before.as_ref().map(compact).unwrap_or_default()),
                after = esc(&change.after.as_ref().map(compact).unwrap_or_default()),
            ));
        }
        if plan.changes.is_empty() {
            page.push(format_args!("<li>Nothing to change.</li>"));
        }
        page.push(format_args!("</ul>"));
        if plan.dry_run && !plan.changes.is_empty() {
            page.push(format_args!(
                r#"<form method="post" action="{action}">{csrf}<input type="hidden" name="from" value="{from}"><input type="hidden" name="dry_run" value="false"><button type="submit" class="primary">Apply these {n} changes</button></form>"#,
                action = env_path(project, env, "promote"),
                csrf = page.csrf_field(),
                from = esc(&plan.from),
                n = plan.changes.len(),
            ));
        }
        page.push(format_args!("</div>"));
    }
    page.push(format_args!("</section>"));
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    Ok(page.render(status))
}

#[derive(Deserialize)]
pub struct PageQuery {
    compare: Option<String>,
}

/// `GET …/config[?compare=<env>]`.
#[tracing::instrument(skip_all)]
pub async fn page(
    console: Console<scope::ConfigRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    web::Query(query): web::Query<PageQuery>,
) -> Result<HttpResponse, Failure> {
    let extras = Extras {
        compare: query.compare.as_deref().filter(|c| !c.is_empty()),
        ..Extras::default()
    };
    render(console.viewer(), &state, (&project, &env), extras).await
}

#[derive(Deserialize)]
pub struct Set {
    key: String,
    value: String,
    #[serde(default)]
    description: String,
}

/// Renames the API's field names to the form's (`path.key` is the form's `key` here).
fn as_form_fields(error: ApiError) -> ApiError {
    match error {
        ApiError::Unprocessable { detail, errors } | ApiError::BadRequest { detail, errors } => {
            ApiError::Unprocessable {
                detail: detail.replace("path.key", "key"),
                errors: errors
                    .into_iter()
                    .map(|mut e| {
                        if e.field == "path.key" {
                            e.field = "key".into();
                        } else if e.field == "body" {
                            e.field = "value".into();
                        }
                        e
                    })
                    .collect(),
            }
        }
        other => other,
    }
}

/// `POST …/config`: sets the environment's own value (the API's `PUT`).
#[tracing::instrument(skip_all)]
pub async fn set(
    console: Console<scope::ConfigWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    CsrfForm(form): CsrfForm<Set>,
) -> Result<HttpResponse, Failure> {
    let result = async {
        let key = ConfigKeyParam::parse(form.key.trim())
            .ok_or_else(|| ApiError::invalid("key", ConfigKeyParam::SHAPE))?;
        let value: serde_json::Value = crate::api::parse_json(form.value.trim().as_bytes())
            .map_err(|_| {
                ApiError::invalid("value", "must be a JSON value such as \"text\", 42 or true")
            })?;
        let description = Some(form.description.trim().to_owned()).filter(|d| !d.is_empty());
        set_value(
            &state,
            &console.auth.actor,
            (&project, &env, &key),
            value,
            description,
            None,
        )
        .await
    }
    .await
    .map_err(as_form_fields);
    match result {
        Ok(_) => Ok(see_other(&env_path(&project, &env, "config"))),
        Err(error) => {
            let problem = Problem::of("set", error)?;
            let extras = Extras {
                problem: Some(&problem),
                ..Extras::default()
            };
            render(console.viewer(), &state, (&project, &env), extras).await
        }
    }
}

#[derive(Deserialize)]
pub struct Promote {
    from: String,
    dry_run: bool,
}

/// `POST …/promote`: a dry run (the plan, shown with an "apply" button) or the promotion.
#[tracing::instrument(skip_all)]
pub async fn promote(
    console: Console<scope::ConfigWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    CsrfForm(form): CsrfForm<Promote>,
) -> Result<HttpResponse, Failure> {
    let request = PromotionRequest {
        keys: None,
        remove_missing: false,
        dry_run: form.dry_run,
    };
    match promote_from(&state, &console.auth, (&project, &env, &form.from), request).await {
        Ok(plan) => {
            let extras = Extras {
                plan: Some(&plan),
                ..Extras::default()
            };
            render(console.viewer(), &state, (&project, &env), extras).await
        }
        Err(error) => {
            let problem = Problem::of("promote", error)?;
            let extras = Extras {
                problem: Some(&problem),
                ..Extras::default()
            };
            render(console.viewer(), &state, (&project, &env), extras).await
        }
    }
}
