//! The operator console at `/ui`: server-rendered pages in the same binary as the API.
//!
//! # Why server-rendered HTML and a small script of our own
//! Operators use the console under pressure, often from a phone during an incident, and it
//! must ship inside the one binary with no Node.js step at build time. Pages are rendered here
//! from the same store functions as the API (a page costs one or two queries and a string
//! build, no JSON round trips from a client); every action is a plain HTML form that works
//! without script, answered with a redirect (post/redirect/get) or the page again with the
//! problem next to the field. A ~150-line script (`assets/console.js`, no dependencies, no
//! build) adds what plain HTML cannot: forms submitted without a page reload, the flags table
//! kept live from the change stream, a revealed secret hidden again after 30 s and a copy
//! button. A single-page app would need a JS build, a bundle larger than a whole page here,
//! and a second rendering of every resource.
//!
//! # Security
//! - Sign-in takes a token once; the session cookie carries no token ([`session`]).
//! - Every request re-verifies the token and checks the route against its reach through
//!   [`Authorized::check`](crate::auth::Authorized), like the API; every write goes through
//!   the same shared function as the API's handler (store, audit, publish).
//! - Every state-changing form carries the session's CSRF token ([`session::CsrfForm`]).
//! - A strict Content-Security-Policy (`default-src 'self'`, no inline script or style),
//!   `X-Frame-Options: DENY`, `Referrer-Policy: same-origin`, `X-Content-Type-Options`.
//! - Every value a page shows is escaped ([`html::esc`]).
//!
//! # Layout
//! [`session`] (sign-in, cookie, CSRF), [`html`] (escaping, the page shell), [`assets`]
//! (embedded CSS and script), then one file per page: [`projects`], [`flags`] (the flags table,
//! toggles, rollouts, the kill switch and the live stream), [`flag`] (one flag: rules, JSON
//! editor, history with diffs, rollback), [`secrets`], [`config`], [`audit`], [`tokens`].

mod assets;
mod audit;
mod config;
mod diff;
mod flag;
mod flags;
mod html;
mod projects;
mod secrets;
pub mod session;
mod sign_in;
mod tokens;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpResponse, ResponseError, web};

use crate::error::{ApiError, FieldError};
pub use session::Sessions;

/// The Content-Security-Policy of every console answer: nothing but this origin, no inline
/// script or style, no framing, forms only to ourselves.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// Mounts `/ui`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    const ENV: &str = "/projects/{project}/environments/{env}";
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    cfg.service(
        web::scope("/ui")
            .wrap(headers)
            .route("", web::get().to(projects::index))
            .route("/", web::get().to(projects::index))
            .route("/sign-in", web::get().to(sign_in::form))
            .route("/sign-in", web::post().to(sign_in::submit))
            .route("/sign-out", web::post().to(sign_in::sign_out))
            .route("/assets/{name}", web::get().to(assets::serve))
            .route("/audit", web::get().to(audit::page))
            .route("/tokens", web::get().to(tokens::page))
            .route("/tokens", web::post().to(tokens::issue))
            .route("/tokens/{id}/revoke", web::post().to(tokens::revoke))
            .route(&format!("{ENV}/flags"), web::get().to(flags::page))
            .route(&format!("{ENV}/flags"), web::post().to(flags::create))
            .route(&format!("{ENV}/live"), web::get().to(flags::live))
            .route(&format!("{ENV}/kill"), web::post().to(flags::kill))
            .route(&format!("{ENV}/restore"), web::post().to(flags::restore))
            .route(&format!("{ENV}/flags/{{key}}"), web::get().to(flag::page))
            .route(
                &format!("{ENV}/flags/{{key}}/toggle"),
                web::post().to(flags::toggle),
            )
            .route(
                &format!("{ENV}/flags/{{key}}/rollout"),
                web::post().to(flags::rollout),
            )
            .route(
                &format!("{ENV}/flags/{{key}}/state"),
                web::post().to(flag::edit),
            )
            .route(
                &format!("{ENV}/flags/{{key}}/rollback"),
                web::post().to(flag::rollback),
            )
            .route(&format!("{ENV}/secrets"), web::get().to(secrets::page))
            .route(&format!("{ENV}/secrets"), web::post().to(secrets::set))
            .route(
                &format!("{ENV}/secrets/{{name}}/reveal"),
                web::post().to(secrets::reveal),
            )
            .route(&format!("{ENV}/config"), web::get().to(config::page))
            .route(&format!("{ENV}/config"), web::post().to(config::set))
            .route(&format!("{ENV}/promote"), web::post().to(config::promote)),
    );
}

/// Why a console request did not get its page: no session (sent to sign in) or a refusal or
/// failure, shown as a page with the same words the API would use.
#[derive(Debug)]
pub enum Failure {
    SignIn,
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure::Api(error)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        Failure::Api(error.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::SignIn => f.write_str("sign in first"),
            Failure::Api(error) => error.fmt(f),
        }
    }
}

impl ResponseError for Failure {
    fn status_code(&self) -> StatusCode {
        match self {
            Failure::SignIn => StatusCode::SEE_OTHER,
            Failure::Api(error) => error.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Failure::SignIn => see_other("/ui/sign-in"),
            Failure::Api(error) => {
                let status = error.status_code();
                let mut page =
                    html::Page::new(status.canonical_reason().unwrap_or("Error"), None, None);
                page.push(format_args!(
                    r#"<p class="problem" role="alert">{}</p><p><a href="/ui">Back to the projects</a></p>"#,
                    html::esc(&error.shown_detail())
                ));
                page.render(status)
            }
        }
    }
}

/// A failed action, shown on the page it came from: the form it concerns, the general
/// message and the message of each field.
#[derive(Debug)]
pub struct Problem {
    pub form: String,
    pub detail: String,
    pub fields: Vec<FieldError>,
    pub status: StatusCode,
}

impl Problem {
    /// The problem of a failed action on `form`. Failures that are not about the input
    /// (refusals, outages) stay failures: they get their own page.
    pub fn of(form: impl Into<String>, error: ApiError) -> Result<Self, Failure> {
        let status = error.status_code();
        match status {
            StatusCode::BAD_REQUEST
            | StatusCode::UNPROCESSABLE_ENTITY
            | StatusCode::CONFLICT
            | StatusCode::PRECONDITION_FAILED
            | StatusCode::NOT_FOUND => Ok(Problem {
                form: form.into(),
                detail: error.shown_detail(),
                fields: error.errors().to_vec(),
                status,
            }),
            _ => Err(Failure::Api(error)),
        }
    }

    /// The message for `field` of `form` (a field error named `body.<field>` or `<field>`).
    pub fn message_for(&self, form: &str, field: &str) -> Option<&str> {
        if self.form != form {
            return None;
        }
        self.fields
            .iter()
            .find(|e| {
                let name = e.field.strip_prefix("body.").unwrap_or(&e.field);
                name == field
                    || name.starts_with(&format!("{field}."))
                    || name.starts_with(&format!("{field}["))
            })
            .map(|e| e.message.as_str())
    }
}

/// `303 See Other` to `location` (post/redirect/get).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The page of an environment's resource (`flags`, `secrets`, `config`).
pub fn env_path(project: &str, env: &str, page: &str) -> String {
    format!(
        "/ui/projects/{}/environments/{}/{page}",
        html::Seg(project),
        html::Seg(env)
    )
}
