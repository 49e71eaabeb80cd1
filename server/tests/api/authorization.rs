//! The authorization matrix: every route of the server's route table, asked by no token, by a
//! token of another project, by a token of another environment, by a token of the right
//! environment that lacks the route's scope, and by a token holding each single scope.
//!
//! The rows are checked against `switchboard_server::api::routes().table()` (the same table
//! the contract test holds `openapi.yaml` to), so a route cannot be added without saying here
//! which scope it needs; a row for a route that no longer exists fails too. "Allowed" means
//! the request got past authorization: any answer but 401 and 403 (the fixtures' names do not
//! exist, so most allowed requests answer 404 or 422 and change nothing).

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app};

crate::on_both_backends!(every_route_answers_each_kind_of_caller_as_its_row_says);

/// What a route requires of a token.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Needs {
    /// No token at all (probes, metrics, the spec).
    Nothing,
    /// Any valid token; what it reveals is filtered by the token's reach.
    AnyToken,
    Scope(&'static str),
    /// The scope, with a token for every environment of the project: a definition or a
    /// segment is served by all of them.
    Everywhere(&'static str),
    /// The scope, with a token for every project.
    AllProjects(&'static str),
}

use Needs::{AllProjects, AnyToken, Everywhere, Nothing, Scope};

/// One row per route of the route table: `(method, path, what it needs)`.
#[rustfmt::skip] // One row per line reads as the table it is.
const ROWS: &[(&str, &str, Needs)] = &[
    ("GET", "/v1/sdk/snapshot", Scope("flags:read")),
    ("POST", "/v1/evaluate", Scope("flags:evaluate")),
    ("POST", "/ofrep/v1/evaluate/flags", Scope("flags:evaluate")),
    ("POST", "/ofrep/v1/evaluate/flags/{key}", Scope("flags:evaluate")),
    ("GET", "/v1/sdk/stream", Scope("flags:read")),
    ("GET", "/healthz", Nothing),
    ("GET", "/readyz", Nothing),
    ("GET", "/metrics", Nothing),
    ("GET", "/openapi.yaml", Nothing),
    ("GET", "/v1/projects", AnyToken),
    ("POST", "/v1/projects", AllProjects("admin")),
    ("GET", "/v1/projects/{project}", AnyToken),
    ("PATCH", "/v1/projects/{project}", Scope("admin")),
    ("DELETE", "/v1/projects/{project}", Scope("admin")),
    ("GET", "/v1/projects/{project}/environments", AnyToken),
    ("POST", "/v1/projects/{project}/environments", Scope("admin")),
    ("GET", "/v1/projects/{project}/environments/{env}", AnyToken),
    ("PATCH", "/v1/projects/{project}/environments/{env}", Scope("admin")),
    ("DELETE", "/v1/projects/{project}/environments/{env}", Scope("admin")),
    ("GET", "/v1/projects/{project}/flags", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/flags", Everywhere("flags:write")),
    ("GET", "/v1/projects/{project}/flags/{key}", Scope("flags:read")),
    ("PUT", "/v1/projects/{project}/flags/{key}", Everywhere("flags:write")),
    ("DELETE", "/v1/projects/{project}/flags/{key}", Everywhere("flags:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/config", Scope("config:read")),
    ("GET", "/v1/projects/{project}/environments/{env}/config/{key}", Scope("config:read")),
    ("PUT", "/v1/projects/{project}/environments/{env}/config/{key}", Scope("config:write")),
    ("DELETE", "/v1/projects/{project}/environments/{env}/config/{key}", Scope("config:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/config/{key}/versions", Scope("config:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/config/{key}/rollback", Scope("config:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/diff", Scope("config:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/promote", Scope("config:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/secrets", Scope("secrets:read")),
    ("GET", "/v1/projects/{project}/environments/{env}/secrets/export", Scope("secrets:read")),
    ("GET", "/v1/projects/{project}/environments/{env}/secrets/{name}", Scope("secrets:read")),
    ("PUT", "/v1/projects/{project}/environments/{env}/secrets/{name}", Scope("secrets:write")),
    ("DELETE", "/v1/projects/{project}/environments/{env}/secrets/{name}", Scope("secrets:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/secrets/{name}/versions", Scope("secrets:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/secrets/{name}/rollback", Scope("secrets:write")),
    ("POST", "/v1/admin/master-key/rotate", AllProjects("admin")),
    ("GET", "/v1/projects/{project}/environments/{env}/flags/{key}", Scope("flags:read")),
    ("PUT", "/v1/projects/{project}/environments/{env}/flags/{key}", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/enable", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/disable", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/rollout", Scope("flags:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/flags/{key}/versions", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/rollback", Scope("flags:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/kill", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/kill", Scope("flags:write")),
    ("DELETE", "/v1/projects/{project}/environments/{env}/kill", Scope("flags:write")),
    ("GET", "/v1/projects/{project}/segments", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/segments", Everywhere("flags:write")),
    ("GET", "/v1/projects/{project}/segments/{name}", Scope("flags:read")),
    ("PUT", "/v1/projects/{project}/segments/{name}", Everywhere("flags:write")),
    ("DELETE", "/v1/projects/{project}/segments/{name}", Everywhere("flags:write")),
    ("GET", "/v1/tokens", Scope("admin")),
    ("POST", "/v1/tokens", Scope("admin")),
    ("GET", "/v1/tokens/current", AnyToken),
    ("GET", "/v1/tokens/{id}", Scope("admin")),
    ("DELETE", "/v1/tokens/{id}", Scope("admin")),
    ("GET", "/v1/audit", Scope("admin")),
    ("GET", "/v1/projects/{project}/environments/{env}/flags/{key}/plans", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/plans", Scope("flags:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}/start", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}/pause", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}/resume", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}/skip", Scope("flags:write")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/plans/{id}/abort", Scope("flags:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/schedules", Scope("flags:read")),
    ("GET", "/v1/projects/{project}/environments/{env}/flags/{key}/schedules", Scope("flags:read")),
    ("POST", "/v1/projects/{project}/environments/{env}/flags/{key}/schedules", Scope("flags:write")),
    ("GET", "/v1/projects/{project}/environments/{env}/flags/{key}/schedules/{id}", Scope("flags:read")),
    ("DELETE", "/v1/projects/{project}/environments/{env}/flags/{key}/schedules/{id}", Scope("flags:write")),
    ("POST", "/v1/auth/token-exchange", Nothing),
    ("GET", "/v1/projects/{project}/oidc-policies", Scope("admin")),
    ("POST", "/v1/projects/{project}/oidc-policies", Scope("admin")),
    ("GET", "/v1/projects/{project}/oidc-policies/{policy}", Scope("admin")),
    ("PUT", "/v1/projects/{project}/oidc-policies/{policy}", Scope("admin")),
    ("DELETE", "/v1/projects/{project}/oidc-policies/{policy}", Scope("admin")),
    ("GET", "/v1/projects/{project}/webhooks", Everywhere("admin")),
    ("POST", "/v1/projects/{project}/webhooks", Everywhere("admin")),
    ("GET", "/v1/projects/{project}/webhooks/{webhook}", Everywhere("admin")),
    ("PATCH", "/v1/projects/{project}/webhooks/{webhook}", Everywhere("admin")),
    ("DELETE", "/v1/projects/{project}/webhooks/{webhook}", Everywhere("admin")),
    ("POST", "/v1/projects/{project}/webhooks/{webhook}/rotate-secret", Everywhere("admin")),
    ("GET", "/v1/projects/{project}/webhooks/{webhook}/deliveries", Everywhere("admin")),
    ("POST", "/v1/projects/{project}/webhooks/{webhook}/deliveries/{delivery}/redeliver", Everywhere("admin")),
];

const SCOPES: [&str; 8] = [
    "flags:read",
    "flags:evaluate",
    "flags:write",
    "config:read",
    "config:write",
    "secrets:read",
    "secrets:write",
    "admin",
];

/// Routes that take their project and environment from the query string.
const QUERY_TARGETED: [&str; 5] = [
    "/v1/sdk/snapshot",
    "/v1/evaluate",
    "/v1/sdk/stream",
    "/ofrep/v1/evaluate/flags",
    "/ofrep/v1/evaluate/flags/{key}",
];

/// Whether holding `scope` grants `required`: itself, `admin` everything, `flags:read` also
/// `flags:evaluate`.
fn grants(scope: &str, required: &str) -> bool {
    scope == required || scope == "admin" || (scope == "flags:read" && required == "flags:evaluate")
}

/// `HEAD` is registered with every `GET` by the route table itself and answered by the same
/// handler (the contract test holds the two sets equal), so a `GET` row stands for both.
#[test]
fn every_route_has_exactly_one_row_in_the_matrix() {
    let served: BTreeSet<(String, String)> = switchboard_server::api::routes()
        .table()
        .into_iter()
        .filter(|(method, _)| method != "HEAD")
        .collect();
    let rows: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|(method, path, _)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(rows.len(), ROWS.len(), "a route has two rows");
    let missing: Vec<_> = served.difference(&rows).collect();
    let stale: Vec<_> = rows.difference(&served).collect();
    assert!(missing.is_empty(), "routes without a row: {missing:?}");
    assert!(stale.is_empty(), "rows without a route: {stale:?}");
}

/// The route's concrete path for project `shop`, environment `production`.
fn concrete(method: &str, template: &str) -> String {
    let path = template
        .replace("{project}", "shop")
        .replace("{env}", "production")
        .replace("{key}", "no-such-key")
        .replace("{name}", "NO_SUCH_NAME")
        .replace("{id}", "00000000-0000-7000-8000-000000000000")
        .replace("{webhook}", "00000000-0000-7000-8000-000000000000")
        .replace("{delivery}", "msg_00000000000000000000000000000000");
    if QUERY_TARGETED.contains(&template) {
        format!("{path}?project=shop&environment=production")
    } else if template == "/v1/audit" {
        format!("{path}?project=shop")
    } else if template.ends_with("/diff") {
        format!("{path}?from=production")
    } else {
        // Deletes of what holds data are refused without a confirmation: nothing is lost.
        let _ = method;
        path
    }
}

/// Whether the route names a project (in its path or query) or an environment.
fn names_project(template: &str) -> bool {
    template.contains("{project}") || QUERY_TARGETED.contains(&template) || template == "/v1/audit"
}

fn names_environment(template: &str, needs: Needs) -> bool {
    template.contains("{env}")
        || QUERY_TARGETED.contains(&template)
        || matches!(needs, Everywhere(_) | AllProjects(_))
}

/// The scope a route needs, if it needs one.
fn required(needs: Needs) -> Option<&'static str> {
    match needs {
        Scope(scope) | Everywhere(scope) | AllProjects(scope) => Some(scope),
        Nothing | AnyToken => None,
    }
}

async fn status(app: &TestApp, token: Option<&str>, method: &str, template: &str) -> StatusCode {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let path = concrete(method.as_str(), template);
    let mut request = app.request_as(token, method.clone(), &path);
    if [Method::POST, Method::PUT, Method::PATCH].contains(&method) {
        request = request.json(&json!({}));
    }
    // Only the status is read: a stream that was let in stays open until dropped.
    request.send().await.unwrap().status()
}

fn allowed(status: StatusCode) -> bool {
    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN
}

/// A token for `scopes` on one project and environment (`*` for all).
async fn token(app: &TestApp, scopes: &[&str], project: &str, env: &str) -> String {
    let (token, _) = app
        .issue_token(json!({
            "name": format!("matrix {project}/{env} {}", scopes.join(" ")),
            "scopes": scopes,
            "projects": [project],
            "environments": [env],
        }))
        .await;
    // Verified once now. actix polls a handler's extractors together: a token's first
    // verification waits on the database while a malformed body fails at once, so a cold
    // token may see the body's 422 before its own 403 (SECURITY.md, known gaps). The matrix
    // is about what a token may do, so it asks with verified tokens.
    let current = app
        .request_as(Some(&token), Method::GET, "/v1/tokens/current")
        .send()
        .await
        .unwrap();
    assert_eq!(current.status(), StatusCode::OK);
    token
}

async fn every_route_answers_each_kind_of_caller_as_its_row_says(backend: Backend) {
    let app = spawn_app(backend).await;
    for project in ["shop", "other"] {
        app.create_project(project).await;
        app.create_environment(project, "production", None).await;
        app.create_environment(project, "staging", None).await;
        // Something to lose: deleting the environment or project needs a confirmation.
        let path = format!("/v1/projects/{project}/environments/production/config/keep");
        app.call(Method::PUT, &path, Some(json!({ "value": 1 })))
            .await;
    }
    let wrong_project = token(&app, &["admin"], "other", "production").await;
    let wrong_environment = token(&app, &["admin"], "shop", "staging").await;
    let mut single = Vec::new();
    for scope in SCOPES {
        single.push((scope, token(&app, &[scope], "shop", "production").await));
    }

    let mut failures = Vec::new();
    let mut expect = |what: &str, method: &str, path: &str, got: StatusCode, ok: bool| {
        if !ok {
            failures.push(format!("{method} {path} {what}: got {got}"));
        }
    };
    for &(method, template, needs) in ROWS {
        let anonymous = status(&app, None, method, template).await;
        match needs {
            Nothing => expect(
                "without a token",
                method,
                template,
                anonymous,
                allowed(anonymous),
            ),
            _ => expect(
                "without a token (401)",
                method,
                template,
                anonymous,
                anonymous == StatusCode::UNAUTHORIZED,
            ),
        }
        if needs == Nothing {
            continue;
        }
        if names_project(template) || matches!(needs, AllProjects(_)) {
            let got = status(&app, Some(&wrong_project), method, template).await;
            let ok = got == StatusCode::FORBIDDEN;
            expect(
                "with another project's token (403)",
                method,
                template,
                got,
                ok,
            );
        }
        if names_environment(template, needs) {
            let got = status(&app, Some(&wrong_environment), method, template).await;
            let ok = got == StatusCode::FORBIDDEN;
            expect(
                "with another environment's token (403)",
                method,
                template,
                got,
                ok,
            );
        }
        if let Some(required) = required(needs) {
            // Every scope of the right project and environment but the one it needs.
            let others: Vec<&str> = SCOPES
                .into_iter()
                .filter(|s| !grants(s, required))
                .collect();
            let lacking = token(&app, &others, "shop", "production").await;
            let got = status(&app, Some(&lacking), method, template).await;
            let ok = got == StatusCode::FORBIDDEN;
            expect("lacking its scope (403)", method, template, got, ok);
        }
        for (scope, token) in &single {
            let got = status(&app, Some(token), method, template).await;
            // The single-scope tokens reach one environment of one project.
            let should = match needs {
                Nothing | AnyToken => true,
                Scope(required) => grants(scope, required),
                Everywhere(_) | AllProjects(_) => false,
            };
            let what = format!(
                "with only '{scope}' ({})",
                if should { "allowed" } else { "403" }
            );
            let ok = if should {
                allowed(got)
            } else {
                got == StatusCode::FORBIDDEN
            };
            expect(&what, method, template, got, ok);
        }
        let wide = match needs {
            Everywhere(scope) => Some(token(&app, &[scope], "shop", "*").await),
            AllProjects(scope) => Some(token(&app, &[scope], "*", "*").await),
            _ => None,
        };
        if let Some(wide) = wide {
            let got = status(&app, Some(&wide), method, template).await;
            expect(
                "with a token wide enough (allowed)",
                method,
                template,
                got,
                allowed(got),
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
