//! `/ui/audit`: the audit log, newest first, filtered by project, actor and action, within the
//! token's reach (the API's `GET /v1/audit` rules: the `admin` scope, the same narrowing).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::Failure;
use super::html::{Page, esc};
use super::session::Console;
use crate::auth::scope;
use crate::state::AppState;
use crate::store::audit::{self, Filter};

/// How many events a page shows.
const SHOWN: i64 = 100;

#[derive(Deserialize)]
pub struct Query {
    #[serde(default)]
    project: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
}

fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `GET /ui/audit?project=&actor=&action=`.
#[tracing::instrument(skip_all)]
pub async fn page(
    console: Console<scope::Admin>,
    state: web::Data<AppState>,
    web::Query(query): web::Query<Query>,
) -> Result<HttpResponse, Failure> {
    let filter = crate::api::audit::within_reach(
        console.principal(),
        Filter {
            project: given(&query.project),
            actor: given(&query.actor),
            action: given(&query.action),
            limit: SHOWN,
            ..Filter::default()
        },
    )?;
    let events = audit::list(&state.store, &filter).await?;
    let mut page = Page::new("Audit log", Some(console.csrf()), Some(console.who()));
    page.push(format_args!(
        r#"<form method="get" action="/ui/audit" class="card filters" role="search"><div><label for="f-project">Project</label><input id="f-project" name="project" value="{project}"></div><div><label for="f-actor">Actor (token id or name)</label><input id="f-actor" name="actor" value="{actor}"></div><div><label for="f-action">Action (e.g. <code>flag.*</code>)</label><input id="f-action" name="action" value="{action}"></div><button type="submit">Filter</button></form>"#,
        project = esc(&query.project),
        actor = esc(&query.actor),
        action = esc(&query.action),
    ));
    page.push(format_args!(
        r#"<section class="card"><div class="scroll"><table id="audit"><caption class="sr-only">Audit events, newest first</caption><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Change</th></tr></thead><tbody>"#
    ));
    for event in &events {
        let change = match (&event.before, &event.after) {
            (None, None) => String::new(),
            (before, after) => {
                let text = |v: &Option<serde_json::Value>| {
                    v.as_ref()
                        .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                        .unwrap_or_default()
                };
                format!(
                    "<details><summary>Difference</summary>{}</details>",
                    super::diff::html(&text(before), &text(after))
                )
            }
        };
        page.push(format_args!(
            r#"<tr><td><time datetime="{at}">{at}</time></td><td>{who}</td><td><code>{action}</code></td><td>{target}</td><td>{change}</td></tr>"#,
            at = esc(&event.at),
            who = esc(&event.actor.name),
            action = esc(&event.action),
            target = esc(&event.target),
        ));
    }
    if events.is_empty() {
        page.push(format_args!(
            r#"<tr><td colspan="5" class="muted">No events match.</td></tr>"#
        ));
    }
    page.push(format_args!("</tbody></table></div></section>"));
    Ok(page.render(StatusCode::OK))
}
