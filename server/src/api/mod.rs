//! HTTP handlers. Each resource module mounts its own routes through [`Routes`], which also
//! records every `(method, path)` so a test can hold the server and `openapi.yaml` to the same
//! list.

mod audit;
mod config;
mod environments;
mod etag;
mod extract;
mod flag_states;
mod flags;
mod projects;
mod sdk;
mod secrets;
mod segments;
mod stream;
mod system;
mod tokens;

pub use extract::{Page, PageQuery, ValidJson, ValidQuery, cursor};

use actix_web::http::{Method, header};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};

use crate::error::ApiError;

/// Collects routes grouped by path (actix matches a path to one resource, which then picks the
/// method), in registration order: a literal segment must be added before a `{param}` sibling.
#[derive(Default)]
pub struct Routes {
    resources: Vec<(String, Resource, Vec<Method>)>,
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
        let position = self.resources.iter().position(|(p, _, _)| p == path);
        let (_, resource, methods) = match position {
            Some(index) => self.resources.remove(index),
            None => (path.to_owned(), web::resource(path), Vec::new()),
        };
        let resource = resource.route(web::method(method.clone()).to(handler));
        let mut methods = methods;
        methods.push(method);
        let entry = (path.to_owned(), resource, methods);
        match position {
            Some(index) => self.resources.insert(index, entry),
            None => self.resources.push(entry),
        }
        self
    }

    /// Every `(METHOD, path)` pair, in registration order.
    pub fn table(&self) -> Vec<(String, String)> {
        self.resources
            .iter()
            .flat_map(|(path, _, methods)| {
                methods.iter().map(move |m| (m.to_string(), path.clone()))
            })
            .collect()
    }

    /// Mounts the routes; a known path with an unsupported method answers 405 with `Allow`.
    pub fn register(self, cfg: &mut web::ServiceConfig) {
        for (_, resource, methods) in self.resources {
            let allow = methods
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            cfg.service(resource.default_service(web::to(move || {
                let allow = allow.clone();
                async move {
                    let mut response =
                        actix_web::ResponseError::error_response(&ApiError::MethodNotAllowed);
                    if let Ok(value) = header::HeaderValue::from_str(&allow) {
                        response.headers_mut().insert(header::ALLOW, value);
                    }
                    response
                }
            })));
        }
    }
}

/// All routes of the API.
pub fn routes() -> Routes {
    let mut routes = Routes::default();
    // The SDK's hot path first: actix tries resources in registration order, and every
    // `{param}` pattern tried before a match costs a regex search.
    sdk::routes(&mut routes);
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
    audit::routes(&mut routes);
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
