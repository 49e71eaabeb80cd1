//! The operator console at `/ui`, at the HTTP level: sign-in and its cookie, CSRF, the security
//! headers, reach, escaping, stale edits. The same pages in a real browser are in
//! `console_browser.rs`.

use reqwest::header::{self, HeaderMap};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

crate::on_both_backends!(
    signing_in_sets_an_http_only_same_site_strict_cookie_that_holds_no_token,
    the_cookie_is_secure_behind_a_trusted_proxy_that_speaks_https,
    a_bad_token_does_not_sign_in,
    a_sign_in_posted_from_another_site_is_refused,
    every_console_answer_carries_a_strict_csp_and_refuses_framing,
    pages_need_a_session,
    a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing,
    a_toggle_goes_through_the_api_path_and_is_audited,
    a_session_has_exactly_its_tokens_reach,
    revoking_the_token_ends_its_console_sessions,
    signing_out_ends_the_session,
    a_flag_description_with_markup_is_rendered_inert,
    a_stale_toggle_shows_the_conflict_instead_of_overwriting,
    a_bad_rollout_is_explained_next_to_its_field,
    the_kill_switch_needs_a_reason_and_restores,
    a_revealed_secret_is_audited_and_marked_to_hide,
    assets_are_cached_for_a_year_under_their_hash,
);

const FLAGS: &str = "/ui/projects/shop/environments/production/flags";

/// `application/x-www-form-urlencoded` bodies, as a browser's forms send them.
pub trait FormBody {
    fn body_form<T: serde::Serialize + ?Sized>(self, fields: &T) -> Self;
}

impl FormBody for reqwest::RequestBuilder {
    fn body_form<T: serde::Serialize + ?Sized>(self, fields: &T) -> Self {
        self.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap())
    }
}

/// A browser: a session cookie and the CSRF token of the pages it was shown.
struct Browser<'a> {
    app: &'a TestApp,
    cookie: String,
    csrf: String,
}

fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("switchboard_console="))
        .map(str::to_owned)
}

async fn sign_in_response(app: &TestApp, token: &str) -> Response {
    app.client
        .post(app.url("/ui/sign-in"))
        .body_form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

async fn sign_in<'a>(app: &'a TestApp, token: &str) -> Browser<'a> {
    let response = sign_in_response(app, token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let set = cookie_of(response.headers()).expect("a session cookie");
    let cookie = set
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("switchboard_console=")
        .to_owned();
    let mut browser = Browser {
        app,
        cookie,
        csrf: String::new(),
    };
    let page = browser.get("/ui").await;
    assert_eq!(page.status(), StatusCode::OK);
    browser.csrf = csrf_of(&page.text().await.unwrap());
    browser
}

/// The session's CSRF token, from a page's `<meta name="csrf-token">`.
pub fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"<meta name="csrf-token" content=""#)
        .expect("a CSRF token")
        + 33;
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> Response {
        self.app
            .client
            .get(self.app.url(path))
            .header(
                header::COOKIE,
                format!("switchboard_console={}", self.cookie),
            )
            .send()
            .await
            .unwrap()
    }

    /// Posts a form with the session's CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = vec![("_csrf", &self.csrf)];
        form.extend_from_slice(fields);
        self.post_raw(path, &form).await
    }

    async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.app
            .client
            .post(self.app.url(path))
            .header(
                header::COOKIE,
                format!("switchboard_console={}", self.cookie),
            )
            .body_form(form)
            .send()
            .await
            .unwrap()
    }
}

/// `shop` with `production` and `staging`, and a boolean flag `checkout`.
async fn shop(app: &TestApp) {
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    app.create_environment("shop", "staging", None).await;
    app.create_boolean_flag("shop", "checkout").await;
}

async fn flag_state(app: &TestApp, env: &str) -> Value {
    let path = format!("/v1/projects/shop/environments/{env}/flags/checkout");
    app.call(reqwest::Method::GET, &path, None).await
}

async fn signing_in_sets_an_http_only_same_site_strict_cookie_that_holds_no_token(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let response = sign_in_response(&app, &app.admin_token).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/ui");
    let cookie = cookie_of(response.headers()).unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains(&app.admin_token));
    let admin_part = app.admin_token.split('.').nth(1).unwrap();
    assert!(!cookie.contains(admin_part), "the cookie carries the token");
}

async fn the_cookie_is_secure_behind_a_trusted_proxy_that_speaks_https(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.trust_proxy_headers = true).await;
    let response = app
        .client
        .post(app.url("/ui/sign-in"))
        .header("X-Forwarded-Proto", "https")
        .body_form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    let cookie = cookie_of(response.headers()).unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

async fn a_bad_token_does_not_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = sign_in_response(&app, "not-a-token-at-all").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie_of(response.headers()).is_none());
    let body = response.text().await.unwrap();
    assert!(body.contains("invalid token"), "{body}");
    assert!(!body.contains("not-a-token-at-all"), "the input is echoed");
}

async fn a_sign_in_posted_from_another_site_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .post(app.url("/ui/sign-in"))
        .header(header::ORIGIN, "https://evil.example")
        .body_form(&[("token", app.admin_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(cookie_of(response.headers()).is_none());
}

async fn every_console_answer_carries_a_strict_csp_and_refuses_framing(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let browser = sign_in(&app, &app.admin_token).await;
    for path in ["/ui/sign-in", "/ui", FLAGS] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
        let html = response.text().await.unwrap();
        assert!(!html.contains("<script>"), "inline script in {path}");
        assert!(!html.contains(" style="), "inline style in {path}");
    }
}

async fn pages_need_a_session(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    for path in ["/ui", FLAGS, "/ui/audit", "/ui/tokens"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(response.headers()[header::LOCATION], "/ui/sign-in");
    }
    // A bearer token is not a session: the console never reads Authorization.
    let response = app.get(FLAGS).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

async fn a_form_without_the_sessions_csrf_token_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let browser = sign_in(&app, &app.admin_token).await;
    let toggle = format!("{FLAGS}/checkout/toggle");
    let missing = browser.post_raw(&toggle, &[("enabled", "true")]).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let wrong = browser
        .post_raw(&toggle, &[("_csrf", "forged"), ("enabled", "true")])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // Another session's token is not this session's.
    let other = sign_in(&app, &app.admin_token).await;
    let crossed = browser
        .post_raw(&toggle, &[("_csrf", &other.csrf), ("enabled", "true")])
        .await;
    assert_eq!(crossed.status(), StatusCode::FORBIDDEN);
    assert_eq!(flag_state(&app, "production").await["enabled"], false);
    for (path, fields) in [
        (FLAGS.to_owned(), vec![("key", "sneaky")]),
        (
            "/ui/projects/shop/environments/production/kill".to_owned(),
            vec![("reason", "x"), ("confirm", "yes")],
        ),
        (
            "/ui/tokens".to_owned(),
            vec![("name", "x"), ("scopes", "admin")],
        ),
        ("/ui/sign-out".to_owned(), vec![]),
    ] {
        let response = browser.post_raw(&path, &fields).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let kill = app
        .call(
            reqwest::Method::GET,
            "/v1/projects/shop/environments/production/kill",
            None,
        )
        .await;
    assert_eq!(kill["killed"], false);

    let done = browser.post(&toggle, &[("enabled", "true")]).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(flag_state(&app, "production").await["enabled"], true);
}

async fn a_toggle_goes_through_the_api_path_and_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let (token, _) = app
        .issue_token(json!({ "name": "operator-ana", "scopes": ["flags:read", "flags:write"] }))
        .await;
    let browser = sign_in(&app, &token).await;
    let response = browser
        .post(&format!("{FLAGS}/checkout/toggle"), &[("enabled", "true")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], FLAGS);
    let events = app.audit("action=flag.enable").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["actor"]["name"], "operator-ana");
    assert_eq!(events[0]["environment"], "production");
    // Served at once, like an API write: the SDK snapshot has it.
    let (sdk, _) = app
        .issue_token(
            json!({ "name": "sdk", "scopes": ["flags:read"], "environments": ["production"] }),
        )
        .await;
    let snapshot: Value = app
        .request_as(
            Some(&sdk),
            reqwest::Method::GET,
            "/v1/sdk/snapshot?project=shop&environment=production",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let checkout = snapshot["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == "checkout")
        .unwrap()
        .clone();
    assert_eq!(checkout["state"]["enabled"], true, "{checkout}");
}

async fn a_session_has_exactly_its_tokens_reach(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let (token, _) = app
        .issue_token(json!({
            "name": "staging-only",
            "scopes": ["flags:read", "flags:write"],
            "projects": ["shop"],
            "environments": ["staging"],
        }))
        .await;
    let browser = sign_in(&app, &token).await;
    let staging = browser
        .get("/ui/projects/shop/environments/staging/flags")
        .await;
    assert_eq!(staging.status(), StatusCode::OK);
    let production = browser.get(FLAGS).await;
    assert_eq!(production.status(), StatusCode::FORBIDDEN);
    let text = production.text().await.unwrap();
    assert!(text.contains("may not access environment"), "{text}");
    let toggle = browser
        .post(&format!("{FLAGS}/checkout/toggle"), &[("enabled", "true")])
        .await;
    assert_eq!(toggle.status(), StatusCode::FORBIDDEN);
    assert_eq!(flag_state(&app, "production").await["enabled"], false);
    // Scopes too: no secrets:read, no secrets page; no admin, no audit log or tokens.
    for path in [
        "/ui/projects/shop/environments/staging/secrets",
        "/ui/audit",
        "/ui/tokens",
    ] {
        assert_eq!(
            browser.get(path).await.status(),
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Creating a flag is project-wide: refused to a token for one environment.
    let create = browser
        .post(
            "/ui/projects/shop/environments/staging/flags",
            &[("key", "new-one")],
        )
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
}

async fn revoking_the_token_ends_its_console_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let (token, id) = app
        .issue_token(json!({ "name": "soon-revoked", "scopes": ["flags:read"] }))
        .await;
    let browser = sign_in(&app, &token).await;
    assert_eq!(browser.get(FLAGS).await.status(), StatusCode::OK);
    app.call(reqwest::Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    let after = browser.get(FLAGS).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(after.headers()[header::LOCATION], "/ui/sign-in");
}

async fn signing_out_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser = sign_in(&app, &app.admin_token).await;
    let out = browser.post("/ui/sign-out", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let cleared = cookie_of(out.headers()).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // The old cookie is dead on the server, not only in the browser.
    let after = browser.get("/ui").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

async fn a_flag_description_with_markup_is_rendered_inert(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    app.call(
        reqwest::Method::POST,
        "/v1/projects/shop/flags",
        Some(json!({
            "key": "xss",
            "type": "boolean",
            "description": "<script>alert('pwned')</script><img src=x onerror=alert(1)>",
        })),
    )
    .await;
    let browser = sign_in(&app, &app.admin_token).await;
    for path in [FLAGS.to_owned(), format!("{FLAGS}/xss")] {
        let html = browser.get(&path).await.text().await.unwrap();
        assert!(!html.contains("<script>alert"), "{path}");
        assert!(!html.contains("<img src=x"), "{path}");
        assert!(
            html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"),
            "{path}: the description is not shown escaped"
        );
    }
}

async fn a_stale_toggle_shows_the_conflict_instead_of_overwriting(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let browser = sign_in(&app, &app.admin_token).await;
    // The page was rendered at version 0; someone else enables the flag meanwhile.
    app.call(
        reqwest::Method::POST,
        "/v1/projects/shop/environments/production/flags/checkout/rollout",
        Some(json!({ "percentage": 50 })),
    )
    .await;
    let stale = browser
        .post(
            &format!("{FLAGS}/checkout/rollout"),
            &[("percentage", "10"), ("version", "0")],
        )
        .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let html = stale.text().await.unwrap();
    assert!(html.contains(r#"class="problem""#), "no conflict shown");
    assert!(html.contains("version"), "{html}");
    // The other person's 50 % stands.
    let state = flag_state(&app, "production").await;
    assert_eq!(
        state["default_serve"]["split"][0]["weight"], 5000,
        "{state}"
    );
}

async fn a_bad_rollout_is_explained_next_to_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let browser = sign_in(&app, &app.admin_token).await;
    let response = browser
        .post(
            &format!("{FLAGS}/checkout/rollout"),
            &[("percentage", "250")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    let row = &html[html.find(r#"<tr id="flag-checkout">"#).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("must be 0 to 100 in steps of 0.01"), "{row}");
    assert!(!html.contains("250"), "the value is echoed");
}

async fn the_kill_switch_needs_a_reason_and_restores(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let browser = sign_in(&app, &app.admin_token).await;
    let kill = "/ui/projects/shop/environments/production/kill";
    let no_reason = browser
        .post(kill, &[("reason", " "), ("confirm", "yes")])
        .await;
    assert_eq!(no_reason.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let unconfirmed = browser.post(kill, &[("reason", "payments down")]).await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let status = "/v1/projects/shop/environments/production/kill";
    assert_eq!(
        app.call(reqwest::Method::GET, status, None).await["killed"],
        false
    );

    let pulled = browser
        .post(kill, &[("reason", "payments down"), ("confirm", "yes")])
        .await;
    assert_eq!(pulled.status(), StatusCode::SEE_OTHER);
    let state = app.call(reqwest::Method::GET, status, None).await;
    assert_eq!(state["killed"], true);
    assert_eq!(state["reason"], "payments down");
    let page = browser.get(FLAGS).await.text().await.unwrap();
    assert!(page.contains("Kill switch pulled"));
    assert!(page.contains("payments down"));

    let restored = browser
        .post("/ui/projects/shop/environments/production/restore", &[])
        .await;
    assert_eq!(restored.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.call(reqwest::Method::GET, status, None).await["killed"],
        false
    );
}

async fn a_revealed_secret_is_audited_and_marked_to_hide(backend: Backend) {
    let app = spawn_app(backend).await;
    shop(&app).await;
    let browser = sign_in(&app, &app.admin_token).await;
    let secrets = "/ui/projects/shop/environments/production/secrets";
    let set = browser
        .post(
            secrets,
            &[("name", "STRIPE_KEY"), ("value", "sk_live_hunter2")],
        )
        .await;
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    let listed = browser.get(secrets).await.text().await.unwrap();
    assert!(listed.contains("STRIPE_KEY"));
    assert!(
        !listed.contains("sk_live_hunter2"),
        "a value is shown unasked"
    );
    assert!(app.audit("action=secret.read").await.is_empty());

    let revealed = browser
        .post(&format!("{secrets}/STRIPE_KEY/reveal"), &[])
        .await;
    assert_eq!(revealed.status(), StatusCode::OK);
    assert_eq!(revealed.headers()[header::CACHE_CONTROL], "no-store");
    let html = revealed.text().await.unwrap();
    assert!(
        html.contains(r#"data-hide-after="30" aria-live="polite">sk_live_hunter2</output>"#),
        "{html}"
    );
    assert_eq!(app.audit("action=secret.read").await.len(), 1);
}

async fn assets_are_cached_for_a_year_under_their_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let html = app
        .client
        .get(app.url("/ui/sign-in"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for ext in ["css", "js"] {
        let start = html.find("/ui/assets/console.").unwrap();
        let candidates: Vec<&str> = html[start..]
            .split('"')
            .filter(|s| s.starts_with("/ui/assets/") && s.ends_with(ext))
            .collect();
        let path = candidates
            .first()
            .copied()
            .or_else(|| {
                html.split('"')
                    .find(|s| s.starts_with("/ui/assets/") && s.ends_with(ext))
            })
            .unwrap();
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
    }
    let old = app
        .client
        .get(app.url("/ui/assets/console.000000000000.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
}
