//! `…/flags/{key}`: one flag in one environment: its rules and default serve in words, a JSON
//! editor for the whole state (validated like the API's `PUT`), and its history, each version
//! with its difference from the one before and a one-click rollback.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use switchboard_core::FlagState;

use super::flags::{Viewer, env_tabs, serve_text};
use super::html::{Page, Seg, esc, form_problem};
use super::session::{Console, CsrfForm};
use super::{Failure, Problem, diff, env_path, see_other};
use crate::api::flag_states::{self as shared, Target};
use crate::api::path::{Env, FlagKeyParam, Project, TypedPath};
use crate::auth::scope;
use crate::domain::Scope;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{flag_states, flags};

type FlagPath = TypedPath<(Project, Env, FlagKeyParam)>;

/// How many versions the history shows.
const HISTORY: usize = 20;

fn pretty(state: &FlagState) -> String {
    serde_json::to_string_pretty(state).unwrap_or_default()
}

fn flag_path(project: &str, env: &str, key: &str) -> String {
    format!("{}/{}", env_path(project, env, "flags"), Seg(key))
}

async fn render(
    viewer: Viewer<'_>,
    state: &AppState,
    (project, env, key): (&str, &str, &str),
    problem: Option<&Problem>,
    draft: Option<&str>,
) -> Result<HttpResponse, Failure> {
    if !viewer.principal.scopes.allows(Scope::FlagsRead) {
        return Err(ApiError::Forbidden("this token lacks the 'flags:read' scope".into()).into());
    }
    let flag = flags::get(&state.store, project, key).await?;
    let view = flag_states::get(&state.store, project, env, key).await?;
    let history = flag_states::versions(&state.store, project, env, key, None, HISTORY + 1).await?;
    let base = flag_path(project, env, key);
    let mut page = Page::new(
        format!("{key} in {env}"),
        Some(viewer.csrf),
        Some(viewer.who),
    );
    env_tabs(&mut page, project, env, "flags");
    let s = &view.state;
    page.push(format_args!(
        r#"<section class="card" id="summary"><h2>Now</h2><p class="muted">{description}</p><dl class="facts"><dt>State</dt><dd>{enabled}{killed}</dd><dt>Default serve</dt><dd>{serve}</dd><dt>Off variant</dt><dd>{off}</dd><dt>Version</dt><dd>{version}</dd></dl><h3>Rules</h3>"#,
        description = esc(flag.definition.description.as_deref().unwrap_or("")),
        enabled = if s.enabled { "on" } else { "off" },
        killed = if view.killed { " (environment killed: serving off)" } else { "" },
        serve = esc(&serve_text(&s.default_serve)),
        off = esc(&s.off_variant),
        version = view.version,
    ));
    if s.rules.is_empty() {
        page.push(format_args!(
            r#"<p class="muted">No rules: everyone gets the default serve.</p>"#
        ));
    } else {
        page.push(format_args!("<ol class=\"rules\">"));
        for rule in &s.rules {
            let conditions = rule
                .conditions
                .iter()
                .map(|c| serde_json::to_string(c).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" and ");
            page.push(format_args!(
                "<li>{label}when <code>{conditions}</code> serve <strong>{serve}</strong></li>",
                label = rule
                    .description
                    .as_deref()
                    .map(|d| format!("{}: ", esc(d)))
                    .unwrap_or_default(),
                conditions = esc(if conditions.is_empty() {
                    "always"
                } else {
                    &conditions
                }),
                serve = esc(&serve_text(&rule.serve)),
            ));
        }
        page.push(format_args!("</ol>"));
    }
    page.push(format_args!("</section>"));

    let text = draft.map_or_else(|| pretty(s), str::to_owned);
    page.push(format_args!(
        r#"<section class="card"><h2><label for="state-json">Edit the state (JSON)</label></h2><form method="post" action="{base}/state" class="stack">{csrf}{problem}<input type="hidden" name="version" value="{version}"><textarea id="state-json" name="state" rows="14" spellcheck="false"{described}>{text}</textarea>{error}<p class="muted">Rules, default serve and off variant, checked like the API's PUT. Saved only if nobody changed the flag since version {version}.</p><button type="submit" class="primary">Save</button></form></section>"#,
        csrf = page.csrf_field(),
        version = view.version,
        text = esc(&text),
        problem = form_problem(problem, "state"),
        error = all_field_errors(problem, "state"),
        described = if problem.is_some_and(|p| p.form == "state") { r#" aria-describedby="state-errors""# } else { "" },
    ));

    page.push(format_args!(
        r#"<section class="card"><h2>History</h2>{problem}"#,
        problem = form_problem(problem, "rollback")
    ));
    if history.is_empty() {
        page.push(format_args!(
            r#"<p class="muted">Never changed in this environment.</p>"#
        ));
    }
    for (index, version) in history.iter().take(HISTORY).enumerate() {
        let before = history
            .get(index + 1)
            .map(|v| pretty(&v.state))
            .unwrap_or_default();
        let rollback = if version.version == view.version {
            r#"<span class="muted">current</span>"#.to_owned()
        } else {
            format!(
                r#"<form method="post" action="{base}/rollback" class="inline">{csrf}<input type="hidden" name="version" value="{v}"><input type="hidden" name="expected" value="{current}"><button type="submit">Roll back to v{v}</button></form>"#,
                csrf = page.csrf_field(),
                v = version.version,
                current = view.version,
            )
        };
        page.push(format_args!(
            r#"<article class="version" id="v{v}"><h3>v{v} <span class="muted">{at} · {actor}{comment}</span></h3>{rollback}<details{open}><summary>Difference from v{prev}</summary>{diff}</details></article>"#,
            v = version.version,
            prev = version.version - 1,
            at = esc(&version.created_at),
            actor = esc(&version.actor),
            comment = if version.comment.is_empty() {
                String::new()
            } else {
                format!(" · {}", esc(&version.comment))
            },
            open = if index == 0 { " open" } else { "" },
            diff = diff::html(&before, &pretty(&version.state)),
        ));
    }
    page.push(format_args!("</section>"));
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    Ok(page.render(status))
}

/// Every field message of a failed JSON edit (they name paths inside the document).
fn all_field_errors(problem: Option<&Problem>, form: &str) -> String {
    let Some(problem) = problem.filter(|p| p.form == form) else {
        return String::new();
    };
    let mut out = String::from(r#"<ul class="field-error" id="state-errors" role="alert">"#);
    for error in &problem.fields {
        out.push_str(&format!(
            "<li><code>{}</code>: {}</li>",
            esc(error.field.strip_prefix("body.").unwrap_or(&error.field)),
            esc(&error.message)
        ));
    }
    out.push_str("</ul>");
    out
}

/// `GET …/flags/{key}`.
#[tracing::instrument(skip_all)]
pub async fn page(
    console: Console<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
) -> Result<HttpResponse, Failure> {
    render(console.viewer(), &state, (&project, &env, &key), None, None).await
}

#[derive(Deserialize)]
pub struct Edit {
    state: String,
    version: Option<i64>,
}

/// `POST …/flags/{key}/state`: the API's `PUT` of the whole state, `If-Match` the version shown.
#[tracing::instrument(skip_all)]
pub async fn edit(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    CsrfForm(form): CsrfForm<Edit>,
) -> Result<HttpResponse, Failure> {
    let result = match crate::api::parse_json::<FlagState>(form.state.as_bytes()) {
        Ok(body) => {
            let target = Target {
                project: &project,
                env: &env,
                key: &key,
                expected: form.version,
            };
            shared::replace(&state, &console.auth.actor, target, body).await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Ok(see_other(&flag_path(&project, &env, &key))),
        Err(error) => {
            let problem = Problem::of("state", error)?;
            render(
                console.viewer(),
                &state,
                (&project, &env, &key),
                Some(&problem),
                Some(&form.state),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct Rollback {
    version: i64,
    expected: Option<i64>,
}

/// `POST …/flags/{key}/rollback`: the API's rollback, guarded by the version the page showed.
#[tracing::instrument(skip_all)]
pub async fn rollback(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    CsrfForm(form): CsrfForm<Rollback>,
) -> Result<HttpResponse, Failure> {
    let target = Target {
        project: &project,
        env: &env,
        key: &key,
        expected: form.expected,
    };
    match shared::roll_back(&state, &console.auth.actor, target, form.version).await {
        Ok(_) => Ok(see_other(&flag_path(&project, &env, &key))),
        Err(error) => {
            let problem = Problem::of("rollback", error)?;
            render(
                console.viewer(),
                &state,
                (&project, &env, &key),
                Some(&problem),
                None,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_message_names_its_path() {
        let problem = Problem {
            form: "state".into(),
            detail: "invalid".into(),
            fields: vec![crate::error::FieldError::new(
                "body.default_serve",
                "is required",
            )],
            status: StatusCode::UNPROCESSABLE_ENTITY,
        };
        let html = all_field_errors(Some(&problem), "state");
        assert!(html.contains("<code>default_serve</code>: is required"));
    }
}
