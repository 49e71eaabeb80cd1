//! `/ui/sign-in` and `/ui/sign-out`: a token pasted once opens a session ([`super::session`]).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::html::{Page, esc};
use super::session::{CsrfForm, Sessions, set_cookie};
use super::{Failure, see_other};
use crate::state::AppState;

fn page(message: Option<&str>, status: StatusCode) -> HttpResponse {
    let mut page = Page::new("Sign in", None, None);
    let error = message
        .map(|m| {
            format!(
                r#"<span class="field-error" id="token-error" role="alert">{}</span>"#,
                esc(m)
            )
        })
        .unwrap_or_default();
    page.push(format_args!(
        r#"<form method="post" action="/ui/sign-in" class="card narrow">
<p>Paste an API token. It stays on the server: this browser keeps only a session cookie, with exactly the token's reach.</p>
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required spellcheck="false"{described}>
{error}
<button type="submit" class="primary">Sign in</button>
</form>"#,
        described = if message.is_some() { r#" aria-describedby="token-error""# } else { "" },
    ));
    page.render(status)
}

/// `GET /ui/sign-in`.
pub async fn form() -> HttpResponse {
    page(None, StatusCode::OK)
}

#[derive(Deserialize)]
pub struct SignIn {
    token: Zeroizing<String>,
}

/// `POST /ui/sign-in`: verifies the token like any API request, then opens a session.
#[tracing::instrument(skip_all)]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    web::Form(form): web::Form<SignIn>,
) -> HttpResponse {
    // No session yet, so no CSRF token: another site's page must not sign this browser in
    // (with the other site's token). Browsers send `Origin` on every cross-site POST.
    if !same_origin(&req) {
        return page(
            Some("sign in from this server's own page"),
            StatusCode::FORBIDDEN,
        );
    }
    let token = Zeroizing::new(form.token.trim().to_owned());
    let principal = match state.tokens.authenticate(&token).await {
        Ok(principal) => principal,
        Err(crate::auth::AuthError::Store(_)) => {
            return page(
                Some("the database is unavailable; retry shortly"),
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
        Err(refused) => return page(Some(&refused.to_string()), StatusCode::UNAUTHORIZED),
    };
    let (cookie, session) = sessions.open(token, &principal);
    let remaining = session
        .expires_at
        .saturating_sub(crate::store::now_micros())
        / 1_000_000;
    let max_age = std::time::Duration::from_secs(u64::try_from(remaining).unwrap_or(0));
    let mut response = see_other("/ui");
    if let Ok(value) = header::HeaderValue::from_str(&set_cookie(
        &req,
        state.settings.trust_proxy_headers,
        Some((&cookie, max_age)),
    )) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether a POST without a session came from one of our own pages: its `Origin` (sent by
/// browsers on every POST) names this host. A request without `Origin` is not from a browser
/// form on another site.
fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = req.connection_info().host().to_owned();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /ui/sign-out`: ends the session and clears the cookie.
pub async fn sign_out(
    req: HttpRequest,
    state: web::Data<AppState>,
    sessions: web::Data<Sessions>,
    _form: CsrfForm<Nothing>,
) -> Result<HttpResponse, Failure> {
    sessions.close(&req);
    let mut response = see_other("/ui/sign-in");
    if let Ok(value) =
        header::HeaderValue::from_str(&set_cookie(&req, state.settings.trust_proxy_headers, None))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}
