//! HTTP handlers. Each resource module mounts its own routes through [`Routes`], which also
//! records every `(method, path)` so a test can hold the server and `openapi.yaml` to the same
//! list.

pub(crate) mod audit;
pub(crate) mod config;
pub mod cors;
pub mod deadline;
mod environments;
pub(crate) mod etag;
mod extract;
pub(crate) mod flag_states;
pub(crate) mod flags;
pub mod idempotency;
mod ofrep;
mod oidc_policies;
pub(crate) mod path;
mod projects;
pub(crate) mod reach;
mod release_plans;
mod scheduled_changes;
mod sdk;
pub(crate) mod secrets;
mod segments;
mod serde_errors;
pub(crate) mod stream;
mod system;
mod token_exchange;
pub(crate) mod tokens;
mod webhooks;

pub use extract::{Page, PageQuery, ValidJson, ValidQuery, cursor, parse_json};

use actix_web::http::{Method, header};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, Route, web};

use crate::error::ApiError;
use crate::telemetry::RoutePattern;

/// Collects routes grouped by path, in registration order, and mounts them as a tree of
/// scopes (see [`Routes::register`]).
#[derive(Default)]
pub struct Routes {
    resources: Vec<(String, Vec<(Method, Route)>)>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.table()).finish()
    }
}

impl Routes {
    pub fn add<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        // HEAD answers wherever GET does (load balancers health-check with it): the same
        // handler, whose body actix leaves out while keeping the headers. Added here so that
        // no GET route can be registered without it.
        let head = (method == Method::GET)
            .then(|| (Method::HEAD, web::method(Method::HEAD).to(handler.clone())));
        let route = (method.clone(), web::method(method).to(handler));
        let added = std::iter::once(route).chain(head);
        match self.resources.iter_mut().find(|(p, _)| p == path) {
            Some((_, routes)) => routes.extend(added),
            None => self.resources.push((path.to_owned(), added.collect())),
        }
        self
    }

    /// Every `(METHOD, path)` pair, in registration order, HEAD included (openapi.yaml lists
    /// the GET; the contract test checks that each GET has its HEAD).
    pub fn table(&self) -> Vec<(String, String)> {
        self.resources
            .iter()
            .flat_map(|(path, routes)| {
                routes
                    .iter()
                    .map(move |(method, _)| (method.to_string(), path.clone()))
            })
            .collect()
    }

    /// Mounts the routes; a known path with an unsupported method answers 405 with `Allow`.
    ///
    /// Paths are mounted as a tree: one `web::scope` per shared leading segment, so a request
    /// walks down its own path instead of being tried against every route. actix tries the
    /// services of a level in order and every `{param}` pattern it tries costs a regex search;
    /// flat, a secret read ran dozens of them (≈ 18 % of the server's CPU). At each level the
    /// literal segments come before the `{param}` ones, in registration order, so that
    /// `/tokens/current` wins over `/tokens/{id}`.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        let mut root = Node::default();
        for (path, routes) in self.resources {
            let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            root.insert(&segments, &path, routes);
        }
        root.mount_children(cfg);
    }
}

/// One path segment of the route tree: the routes of the path ending here, and the longer
/// paths below it.
#[derive(Default)]
struct Node {
    segment: String,
    /// The full path pattern of the routes ending here (what metrics and spans are labelled
    /// with).
    pattern: String,
    routes: Vec<(Method, Route)>,
    children: Vec<Node>,
}

impl Node {
    fn insert(&mut self, segments: &[&str], pattern: &str, routes: Vec<(Method, Route)>) {
        let Some((first, rest)) = segments.split_first() else {
            pattern.clone_into(&mut self.pattern);
            self.routes.extend(routes);
            return;
        };
        let index = match self.children.iter().position(|c| c.segment == *first) {
            Some(index) => index,
            None => {
                self.children.push(Node {
                    segment: (*first).to_owned(),
                    ..Node::default()
                });
                self.children.len() - 1
            }
        };
        if let Some(child) = self.children.get_mut(index) {
            child.insert(rest, pattern, routes);
        }
    }

    fn mount_children(self, cfg: &mut web::ServiceConfig) {
        let (literal, param): (Vec<Node>, Vec<Node>) = self
            .children
            .into_iter()
            .partition(|c| !c.segment.starts_with('{'));
        for child in literal.into_iter().chain(param) {
            let path = format!("/{}", child.segment);
            if child.children.is_empty() {
                cfg.service(resource(&path, &child.pattern, child.routes));
            } else {
                cfg.service(web::scope(&path).configure(move |inner| {
                    if !child.routes.is_empty() {
                        inner.service(resource("", &child.pattern, child.routes));
                    }
                    Node {
                        routes: Vec::new(),
                        ..child
                    }
                    .mount_children(inner);
                }));
            }
        }
    }
}

/// A resource answering `routes`, and 405 with `Allow` for any other method. It carries its
/// full `pattern` as app data ([`RoutePattern`]): the telemetry labels the request with it after
/// routing, instead of walking the route map again for `match_pattern`.
fn resource(path: &str, pattern: &str, routes: Vec<(Method, Route)>) -> Resource {
    let allow = routes
        .iter()
        .map(|(method, _)| method.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let resource = routes.into_iter().fold(
        web::resource(path).app_data(RoutePattern::new(pattern)),
        |resource, (_, route)| resource.route(route),
    );
    resource.default_service(web::to(move || {
        let allow = allow.clone();
        async move {
            let mut response =
                actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
            if let Ok(value) = header::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            response
        }
    }))
}

/// All routes of the API.
pub fn routes() -> Routes {
    let mut routes = Routes::default();
    // The SDK's hot path first: within a level of the route tree actix tries services in
    // registration order.
    sdk::routes(&mut routes);
    ofrep::routes(&mut routes);
    stream::routes(&mut routes);
    system::routes(&mut routes);
    projects::routes(&mut routes);
    environments::routes(&mut routes);
    flags::routes(&mut routes);
    config::routes(&mut routes);
    secrets::routes(&mut routes);
    flag_states::routes(&mut routes);
    segments::routes(&mut routes);
    tokens::routes(&mut routes);
    token_exchange::routes(&mut routes);
    oidc_policies::routes(&mut routes);
    audit::routes(&mut routes);
    release_plans::routes(&mut routes);
    scheduled_changes::routes(&mut routes);
    webhooks::routes(&mut routes);
    routes
}

/// The answer for paths no route matches.
pub async fn unknown_route(req: HttpRequest) -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::NotFound(format!(
        "no route for {} {}",
        req.method(),
        req.path()
    )))
}
