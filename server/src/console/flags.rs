//! `/ui/projects/{project}/environments/{env}/flags`: every flag of the environment at a glance
//! (state, rollout, last change), toggles, rollouts, a new flag, the environment's kill switch,
//! and the change stream that keeps the table live.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use switchboard_core::{BasisPoints, FlagDefinition, Serve};

use super::html::{Page, Seg, esc, field_error, form_problem};
use super::session::{Console, CsrfForm};
use super::{Failure, Problem, env_path, see_other};
use crate::api::flag_states::{self as shared, Target};
use crate::api::path::{Env, FlagKeyParam, Project, TypedPath};
use crate::auth::{Principal, scope};
use crate::domain::Scope;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::environment_flags::{self, EnvironmentFlag};
use crate::store::kill_switch;

type EnvPath = TypedPath<(Project, Env)>;
type FlagPath = TypedPath<(Project, Env, FlagKeyParam)>;

/// Who is looking, for pages rendered after an action as well as on `GET`.
#[derive(Debug)]
pub struct Viewer<'a> {
    pub csrf: &'a str,
    pub who: &'a str,
    pub principal: &'a Principal,
}

impl<S> Console<S> {
    pub fn viewer(&self) -> Viewer<'_> {
        Viewer {
            csrf: self.csrf(),
            who: self.who(),
            principal: self.principal(),
        }
    }
}

/// The tabs of an environment's pages.
pub fn env_tabs(page: &mut Page, project: &str, env: &str, current: &str) {
    page.push(format_args!(
        r#"<nav class="tabs" aria-label="Environment pages"><span class="crumb"><a href="/ui">{p}</a> / {e}</span>"#,
        p = esc(project),
        e = esc(env)
    ));
    for (tab, label) in [
        ("flags", "Flags"),
        ("config", "Config"),
        ("secrets", "Secrets"),
    ] {
        let aria = if tab == current {
            r#" aria-current="page""#
        } else {
            ""
        };
        page.push(format_args!(
            r#"<a href="{href}"{aria}>{label}</a>"#,
            href = env_path(project, env, tab)
        ));
    }
    page.push(format_args!("</nav>"));
}

/// "25 %", "0.5 %": a share in basis points as people write it.
pub fn percent(bp: u32) -> String {
    if bp % 100 == 0 {
        format!("{} %", bp / 100)
    } else {
        format!("{}.{:02} %", bp / 100, bp % 100)
            .replace("0 %", " %")
            .replace(". %", " %")
    }
}

/// What `serve` hands out, readably: `on`, or `on 25 % · off 75 %`.
pub fn serve_text(serve: &Serve) -> String {
    match serve {
        Serve::Variant(variant) => variant.clone(),
        Serve::Split(split) => split
            .split
            .iter()
            .map(|arm| format!("{} {}", arm.variant, percent(arm.weight)))
            .collect::<Vec<_>>()
            .join(" · "),
    }
}

/// The share of callers served the `on` variant by the default serve (a boolean flag's
/// rollout), in basis points.
fn on_share(serve: &Serve) -> Option<u32> {
    match serve {
        Serve::Variant(variant) => Some(if variant == "on" { 10_000 } else { 0 }),
        Serve::Split(split) => Some(
            split
                .split
                .iter()
                .filter(|arm| arm.variant == "on")
                .map(|arm| arm.weight)
                .sum(),
        ),
    }
}

/// Renders the flags page, with the problem of a failed action when there is one.
async fn render(
    viewer: Viewer<'_>,
    state: &AppState,
    project: &str,
    env: &str,
    problem: Option<&Problem>,
) -> Result<HttpResponse, Failure> {
    if !viewer.principal.scopes.allows(Scope::FlagsRead) {
        return Err(ApiError::Forbidden("this token lacks the 'flags:read' scope".into()).into());
    }
    let flags = environment_flags::list(&state.store, project, env).await?;
    let kill = kill_switch::get_kill(&state.store, project, env).await?;
    let mut page = Page::new(
        format!("Flags of {project}/{env}"),
        Some(viewer.csrf),
        Some(viewer.who),
    );
    env_tabs(&mut page, project, env, "flags");
    kill_section(&mut page, project, env, &kill, problem);
    page.push(format_args!(
        r#"<section class="card"><h2 id="flags-heading">Flags</h2>{problem}<div class="scroll"><table id="flags" aria-labelledby="flags-heading" data-live="{live}"><thead><tr><th scope="col">Flag</th><th scope="col">State</th><th scope="col">Rollout</th><th scope="col">Last change</th><th scope="col">Set rollout</th></tr></thead><tbody>"#,
        live = env_path(project, env, "live"),
        problem = form_problem(problem, "flags"),
    ));
    for flag in &flags {
        row(&mut page, project, env, flag, problem);
    }
    if flags.is_empty() {
        page.push(format_args!(
            r#"<tr><td colspan="5" class="muted">No flags yet: create one below.</td></tr>"#
        ));
    }
    page.push(format_args!("</tbody></table></div></section>"));
    create_section(&mut page, project, env, problem);
    let status = problem.map_or(StatusCode::OK, |p| p.status);
    Ok(page.render(status))
}

fn row(
    page: &mut Page,
    project: &str,
    env: &str,
    flag: &EnvironmentFlag,
    problem: Option<&Problem>,
) {
    let key = &flag.definition.key;
    let view = &flag.state;
    let form = format!("flag-{key}");
    let base = format!("{}/{}", env_path(project, env, "flags"), Seg(key));
    let (badge, class) = match (view.killed, view.state.enabled) {
        (true, _) => ("killed", "badge killed"),
        (false, true) => ("on", "badge on"),
        (false, false) => ("off", "badge off"),
    };
    let rollout = match on_share(&view.state.default_serve) {
        Some(bp) if flag.definition.variants.iter().any(|v| v.key == "on") => format!(
            r#"<meter min="0" max="100" value="{value}" aria-label="Rollout of {key}"></meter> <span class="share">{text}</span>"#,
            value = f64::from(bp) / 100.0,
            key = esc(key),
            text = esc(&serve_text(&view.state.default_serve)),
        ),
        _ => esc(&serve_text(&view.state.default_serve)).to_string(),
    };
    let changed = match &view.updated_at {
        Some(at) => format!(
            r#"<time datetime="{at}">{short}</time> <span class="muted">v{version}</span>"#,
            at = esc(at),
            short = esc(at.get(..16).unwrap_or(at).replace('T', " ").as_str()),
            version = view.version
        ),
        None => r#"<span class="muted">never</span>"#.to_owned(),
    };
    let current = on_share(&view.state.default_serve).unwrap_or(0);
    page.push(format_args!(
        r#"<tr id="flag-{id}"><th scope="row"><a href="{base}">{key}</a><div class="muted desc">{description}</div></th><td><span class="{class}">{badge}</span><form method="post" action="{base}/toggle" class="inline" data-inline>{csrf}<input type="hidden" name="version" value="{version}"><input type="hidden" name="enabled" value="{next}"><button type="submit" aria-label="{verb} {key}">{verb}</button></form></td><td>{rollout}</td><td>{changed}</td><td><form method="post" action="{base}/rollout" class="inline" data-inline>{csrf}<input type="hidden" name="version" value="{version}"><label class="sr-only" for="pct-{id}">Rollout percentage of {key}</label><input id="pct-{id}" name="percentage" type="number" min="0" max="100" step="0.01" value="{pct}" inputmode="decimal" required><button type="submit">Set</button>{error}</form></td></tr>"#,
        id = Seg(key),
        key = esc(key),
        description = esc(flag.definition.description.as_deref().unwrap_or("")),
        csrf = page.csrf_field(),
        version = view.version,
        next = !view.state.enabled,
        verb = if view.state.enabled { "Turn off" } else { "Turn on" },
        pct = f64::from(current) / 100.0,
        error = field_error(problem, &form, "percentage")
            + &form_problem(problem, &form),
    ));
}

fn kill_section(
    page: &mut Page,
    project: &str,
    env: &str,
    kill: &kill_switch::KillSwitch,
    problem: Option<&Problem>,
) {
    if kill.killed {
        page.push(format_args!(
            r#"<section class="card killed-banner" id="kill-switch" role="status"><h2>Kill switch pulled</h2><p>Every flag of {env} serves its off variant. Pulled by {by} at {at}: <q>{reason}</q></p><form method="post" action="{action}" data-inline>{csrf}<button type="submit" class="primary">Restore</button></form></section>"#,
            env = esc(env),
            by = esc(kill.killed_by.as_deref().unwrap_or("?")),
            at = esc(kill.killed_at.as_deref().unwrap_or("?")),
            reason = esc(kill.reason.as_deref().unwrap_or("")),
            action = env_path(project, env, "restore"),
            csrf = page.csrf_field(),
        ));
    } else {
        page.push(format_args!(
            r#"<section class="card" id="kill-switch"><h2>Kill switch</h2><form method="post" action="{action}" class="kill" data-inline>{csrf}{problem}<label for="kill-reason">Reason (recorded in the audit log)</label><input id="kill-reason" name="reason" required maxlength="1000" autocomplete="off">{reason_error}<label class="check"><input type="checkbox" name="confirm" value="yes" required> Every flag of {env} will serve its off variant at once</label><button type="submit" class="danger">Kill {env}</button></form></section>"#,
            action = env_path(project, env, "kill"),
            csrf = page.csrf_field(),
            env = esc(env),
            problem = form_problem(problem, "kill"),
            reason_error = field_error(problem, "kill", "reason"),
        ));
    }
}

fn create_section(page: &mut Page, project: &str, env: &str, problem: Option<&Problem>) {
    page.push(format_args!(
        r#"<section class="card"><h2>New boolean flag</h2><form method="post" action="{action}" class="stack">{csrf}{problem}<label for="new-key">Key</label><input id="new-key" name="key" required maxlength="200" autocomplete="off" spellcheck="false">{key_error}<label for="new-description">Description</label><input id="new-description" name="description" maxlength="1000" autocomplete="off">{description_error}<button type="submit" class="primary">Create flag</button></form></section>"#,
        action = env_path(project, env, "flags"),
        csrf = page.csrf_field(),
        problem = form_problem(problem, "create"),
        key_error = field_error(problem, "create", "key"),
        description_error = field_error(problem, "create", "description"),
    ));
}

/// `GET …/flags`.
#[tracing::instrument(skip_all)]
pub async fn page(
    console: Console<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
) -> Result<HttpResponse, Failure> {
    render(console.viewer(), &state, &project, &env, None).await
}

/// After an action: back to the page (post/redirect/get), or the page again with its problem.
async fn answer<T>(
    result: Result<T, ApiError>,
    form: &str,
    viewer: Viewer<'_>,
    state: &AppState,
    project: &str,
    env: &str,
) -> Result<HttpResponse, Failure> {
    match result {
        Ok(_) => Ok(see_other(&env_path(project, env, "flags"))),
        Err(error) => {
            let problem = Problem::of(form, error)?;
            render(viewer, state, project, env, Some(&problem)).await
        }
    }
}

#[derive(Deserialize)]
pub struct Toggle {
    enabled: bool,
    version: Option<i64>,
}

/// `POST …/flags/{key}/toggle`: the API's `enable`/`disable`, guarded by the version shown.
#[tracing::instrument(skip_all)]
pub async fn toggle(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    CsrfForm(form): CsrfForm<Toggle>,
) -> Result<HttpResponse, Failure> {
    let target = Target {
        project: &project,
        env: &env,
        key: &key,
        expected: form.version,
    };
    let result = shared::set_enabled(&state, &console.auth.actor, target, form.enabled).await;
    answer(
        result,
        &format!("flag-{}", &*key),
        console.viewer(),
        &state,
        &project,
        &env,
    )
    .await
}

#[derive(Deserialize)]
pub struct Rollout {
    percentage: String,
    version: Option<i64>,
}

/// `POST …/flags/{key}/rollout`: the API's `rollout` with a percentage.
#[tracing::instrument(skip_all)]
pub async fn rollout(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env, key)): FlagPath,
    CsrfForm(form): CsrfForm<Rollout>,
) -> Result<HttpResponse, Failure> {
    let result = match form
        .percentage
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|p| BasisPoints::from_percent(p).ok())
    {
        Some(share) => {
            let target = Target {
                project: &project,
                env: &env,
                key: &key,
                expected: form.version,
            };
            shared::roll_out(&state, &console.auth.actor, target, share, None, None).await
        }
        None => Err(ApiError::invalid(
            "body.percentage",
            "must be 0 to 100 in steps of 0.01",
        )),
    };
    answer(
        result,
        &format!("flag-{}", &*key),
        console.viewer(),
        &state,
        &project,
        &env,
    )
    .await
}

#[derive(Deserialize)]
pub struct NewFlag {
    key: String,
    #[serde(default)]
    description: String,
}

/// `POST …/flags`: a new boolean flag (the API's `POST /v1/projects/{project}/flags`).
#[tracing::instrument(skip_all)]
pub async fn create(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    CsrfForm(form): CsrfForm<NewFlag>,
) -> Result<HttpResponse, Failure> {
    crate::api::flags::require_all_environments(console.principal())?;
    let mut definition = FlagDefinition::boolean(form.key.trim());
    let description = form.description.trim();
    if !description.is_empty() {
        definition.description = Some(description.to_owned());
    }
    let result =
        crate::api::flags::create_flag(&state, &console.auth.actor, &project, definition).await;
    answer(result, "create", console.viewer(), &state, &project, &env).await
}

#[derive(Deserialize)]
pub struct Kill {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST …/kill`: pulls the environment's kill switch; a reason and the confirmation are
/// required here (the API leaves the reason optional for scripts).
#[tracing::instrument(skip_all)]
pub async fn kill(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    CsrfForm(form): CsrfForm<Kill>,
) -> Result<HttpResponse, Failure> {
    let reason = form.reason.trim();
    let result = if reason.is_empty() {
        Err(ApiError::invalid(
            "body.reason",
            "say why, for the audit log",
        ))
    } else if form.confirm.as_deref() != Some("yes") {
        Err(ApiError::invalid("body.confirm", "tick the confirmation"))
    } else {
        shared::pull_kill_switch(&state, &console.auth.actor, &project, &env, reason).await
    };
    answer(result, "kill", console.viewer(), &state, &project, &env).await
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST …/restore`: releases the kill switch.
#[tracing::instrument(skip_all)]
pub async fn restore(
    console: Console<scope::FlagsWrite>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
    _form: CsrfForm<Nothing>,
) -> Result<HttpResponse, Failure> {
    let result = shared::release_kill_switch(&state, &console.auth.actor, &project, &env).await;
    answer(result, "kill", console.viewer(), &state, &project, &env).await
}

/// `GET …/live`: the environment's change stream (the SDK stream's events), which the script
/// follows to refresh the table within a second of anyone's change.
#[tracing::instrument(skip_all)]
pub async fn live(
    console: Console<scope::FlagsRead>,
    state: web::Data<AppState>,
    TypedPath((project, env)): EnvPath,
) -> Result<HttpResponse, Failure> {
    Ok(crate::api::stream::open(&state, &console.auth.principal, &project, &env).await?)
}
