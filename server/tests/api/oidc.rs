//! Keyless pipelines: trust policies, and CI jobs exchanging their OIDC identity token for a
//! short-lived token (RFC 8693) against a test issuer served over HTTPS with a CA the server is
//! told to trust. Every attack from issue 16 is refused with its reason in the audit log.

mod issuer;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app_with};
pub use issuer::{AUDIENCE, TestIssuer, now};

crate::on_both_backends!(
    an_admin_manages_trust_policies_and_every_change_is_audited,
    policies_that_bind_nothing_but_the_issuer_are_refused_at_creation,
    a_github_job_exchanges_its_token_for_a_short_lived_token_of_the_policy_reach,
    a_gitlab_job_exchanges_an_es256_token_sent_as_json,
    each_attack_is_refused_with_a_clear_reason_in_the_audit_log,
    the_issuer_rotating_its_keys_needs_no_restart,
    cached_keys_keep_verifying_while_the_issuer_is_down,
    unknown_key_ids_refresh_the_issuer_keys_at_a_bounded_rate,
);

/// A server that trusts `issuer`'s CA, with project `shop` and environments `staging` and
/// `production`; `refresh_secs` is `SWITCHBOARD_OIDC_JWKS_REFRESH_SECS`.
pub async fn app_trusting(backend: Backend, issuer: &TestIssuer, refresh_secs: u64) -> TestApp {
    let ca = issuer.ca_file.path().to_path_buf();
    let app = spawn_app_with(backend, |settings| {
        settings.oidc_ca_file = Some(ca);
        settings.oidc_jwks_refresh_secs = refresh_secs;
    })
    .await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", None).await;
    app
}

/// The policy `deploy-production` of `shop` for GitHub repository `org/app` (id 123456): its
/// `production` environment only, reading config and secrets.
pub fn github_policy(issuer: &TestIssuer) -> Value {
    json!({
        "name": "deploy-production",
        "issuer": issuer.url,
        "audiences": [AUDIENCE],
        "bound_claims": {
            "repository_id": "123456",
            "repository_owner_id": "1001",
            "sub": "repo:org/app:**",
            "ref": "refs/heads/main",
            "environment": "production",
        },
        "scopes": ["config:read", "secrets:read"],
        "environments": ["production"],
    })
}

pub async fn create_policy(app: &TestApp, body: Value) -> Value {
    app.call(Method::POST, "/v1/projects/shop/oidc-policies", Some(body))
        .await
}

/// Exchanges `token` with the form body RFC 8693 specifies; status and JSON body.
pub async fn exchange(
    app: &TestApp,
    policy: &str,
    token: &str,
    scope: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("policy", policy),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = post_form(app, &form).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Posts `pairs` as `application/x-www-form-urlencoded` to the token exchange.
async fn post_form(app: &TestApp, pairs: &[(&str, &str)]) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    app.request_as(None, Method::POST, "/v1/auth/token-exchange")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// The newest refused exchange's audit event.
async fn last_refusal(app: &TestApp) -> Value {
    app.audit("action=token.exchange_refused&limit=1")
        .await
        .into_iter()
        .next()
        .expect("a refused exchange is audited")
}

async fn status_of(app: &TestApp, token: &str, path: &str) -> StatusCode {
    app.request_as(Some(token), Method::GET, path)
        .send()
        .await
        .unwrap()
        .status()
}

async fn an_admin_manages_trust_policies_and_every_change_is_audited(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 10).await;

    let created = create_policy(&app, github_policy(&issuer)).await;
    assert_eq!(
        created["ttl_seconds"], 900,
        "15 minutes unless the policy says"
    );
    assert_eq!(created["bound_claims"]["repository_id"], "123456");

    let path = "/v1/projects/shop/oidc-policies/deploy-production";
    let mut changed = github_policy(&issuer);
    changed["ttl_seconds"] = json!(600);
    changed["scopes"] = json!(["secrets:read"]);
    let replaced = app.call(Method::PUT, path, Some(changed)).await;
    assert_eq!(replaced["ttl_seconds"], 600);
    assert_eq!(
        app.call(Method::GET, path, None).await["scopes"],
        json!(["secrets:read"])
    );
    let listed = app
        .call(Method::GET, "/v1/projects/shop/oidc-policies", None)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    assert_eq!(app.delete(path).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.get(path).await, StatusCode::NOT_FOUND).await;
    let actions: Vec<String> = app
        .audit("action=oidc_policy.*")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "oidc_policy.delete",
            "oidc_policy.update",
            "oidc_policy.create"
        ]
    );

    // Managing policies takes the admin scope.
    let (reader, _) = app
        .issue_token(json!({ "name": "reader", "scopes": ["config:read"] }))
        .await;
    let response = app
        .request_as(
            Some(&reader),
            Method::POST,
            "/v1/projects/shop/oidc-policies",
        )
        .json(&github_policy(&issuer))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
}

async fn policies_that_bind_nothing_but_the_issuer_are_refused_at_creation(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 10).await;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = github_policy(&issuer);
        change(&mut body);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "no bound claims",
            with(&|b| b["bound_claims"] = json!({})),
            "body.bound_claims",
        ),
        (
            "a wildcard subject",
            with(&|b| b["bound_claims"] = json!({ "sub": "repo:*", "ref": "refs/heads/main" })),
            "body.bound_claims",
        ),
        (
            "an id claim by glob",
            with(&|b| b["bound_claims"] = json!({ "repository_id": "12*" })),
            "body.bound_claims",
        ),
        (
            "plain http",
            with(&|b| b["issuer"] = json!("http://gitlab.example.com")),
            "body.issuer",
        ),
        (
            "no audience",
            with(&|b| b["audiences"] = json!([])),
            "body.audiences",
        ),
        (
            "longer than an hour",
            with(&|b| b["ttl_seconds"] = json!(3601)),
            "body.ttl_seconds",
        ),
        (
            "admin",
            with(&|b| b["scopes"] = json!(["admin"])),
            "body.scopes[0]",
        ),
        (
            "an environment the project lacks",
            with(&|b| b["environments"] = json!(["prodution"])),
            "body.environments[0]",
        ),
    ];
    for (case, body, field) in cases {
        let response = app.post("/v1/projects/shop/oidc-policies", body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field, "{case}: {problem}");
    }
    assert!(app.audit("action=oidc_policy.*").await.is_empty());
}

async fn a_github_job_exchanges_its_token_for_a_short_lived_token_of_the_policy_reach(
    backend: Backend,
) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 10).await;
    create_policy(&app, github_policy(&issuer)).await;
    app.call(
        Method::PUT,
        "/v1/projects/shop/environments/production/secrets/DB_PASSWORD",
        Some(json!({ "value": "s3cr3t" })),
    )
    .await;
    let token = issuer.sign(&issuer.github_claims("org/app", "123456", "production"));

    let (status, answer) = exchange(&app, "shop/deploy-production", &token, None).await;

    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(
        answer["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let expires_in = answer["expires_in"].as_u64().unwrap();
    assert!((890..=900).contains(&expires_in), "{expires_in}");
    let issued = answer["access_token"].as_str().unwrap();
    let production = "/v1/projects/shop/environments/production/secrets/DB_PASSWORD";
    assert_eq!(status_of(&app, issued, production).await, StatusCode::OK);
    let staging = "/v1/projects/shop/environments/staging/config";
    assert_eq!(
        status_of(&app, issued, staging).await,
        StatusCode::FORBIDDEN
    );
    let write = app
        .request_as(Some(issued), Method::PUT, production)
        .json(&json!({ "value": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);

    // The token's record names the policy and who it was issued to.
    let record: Value = app
        .request_as(Some(issued), Method::GET, "/v1/tokens/current")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        record["federation"],
        json!({
            "policy": "shop/deploy-production",
            "issuer": issuer.url,
            "subject": "repo:org/app:environment:production",
            "repository": "org/app",
            "run_id": "4242",
        })
    );
    assert_eq!(record["projects"], json!(["shop"]));
    let event = &app.audit("action=token.exchange").await[0];
    assert_eq!(event["after"]["outcome"], "issued");
    assert_eq!(event["project"], "shop");
    assert_eq!(
        event["actor"]["name"],
        "oidc:repo:org/app:environment:production"
    );
    let everything = serde_json::to_string(&app.audit("").await).unwrap();
    assert!(
        !everything.contains(&token),
        "the identity token is never recorded"
    );
    assert!(!everything.contains(issued), "nor the issued one");

    // `scope` narrows; asking beyond the policy is refused.
    let token = issuer.sign(&issuer.github_claims("org/app", "123456", "production"));
    let (status, answer) =
        exchange(&app, "shop/deploy-production", &token, Some("config:read")).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let narrowed = answer["access_token"].as_str().unwrap();
    assert_eq!(
        status_of(&app, narrowed, production).await,
        StatusCode::FORBIDDEN
    );
}

async fn a_gitlab_job_exchanges_an_es256_token_sent_as_json(backend: Backend) {
    let issuer = TestIssuer::start().await;
    issuer.rotate("ec-1", "ES256");
    let app = app_trusting(backend, &issuer, 10).await;
    create_policy(
        &app,
        json!({
            "name": "gitlab-deploy",
            "issuer": issuer.url,
            "audiences": [AUDIENCE],
            "bound_claims": { "project_id": "42", "ref": "main", "ref_protected": "true" },
            "scopes": ["config:read"],
            "environments": ["production"],
            "ttl_seconds": 300,
        }),
    )
    .await;
    let token = issuer.sign(&issuer.gitlab_claims("org/app", "42"));

    let response = app
        .request_as(None, Method::POST, "/v1/auth/token-exchange")
        .json(&json!({
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": token,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "policy": "shop/gitlab-deploy",
        }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert!(answer["expires_in"].as_u64().unwrap() <= 300);
    let record: Value = app
        .request_as(
            answer["access_token"].as_str(),
            Method::GET,
            "/v1/tokens/current",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(record["federation"]["repository"], "org/app");
    assert_eq!(record["federation"]["run_id"], "9001");

    // An unprotected ref of the same project does not match.
    let mut claims = issuer.gitlab_claims("org/app", "42");
    claims["ref_protected"] = json!("false");
    let (status, answer) = exchange(&app, "shop/gitlab-deploy", &issuer.sign(&claims), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "invalid_grant");
}

/// What is tried, against which policy, with which token and `scope`; the OAuth error and the
/// audit reason expected.
type Attack<'a> = (&'a str, &'a str, String, Option<&'a str>, &'a str, &'a str);

async fn each_attack_is_refused_with_a_clear_reason_in_the_audit_log(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 10).await;
    create_policy(&app, github_policy(&issuer)).await;
    let mut staging_policy = github_policy(&issuer);
    staging_policy["name"] = json!("deploy-staging");
    staging_policy["bound_claims"]["environment"] = json!("staging");
    staging_policy["environments"] = json!(["staging"]);
    create_policy(&app, staging_policy).await;
    let good = || issuer.github_claims("org/app", "123456", "production");
    let changed = |change: &dyn Fn(&mut Value)| {
        let mut claims = good();
        change(&mut claims);
        claims
    };
    let replayed = issuer.sign(&good());
    let (status, _) = exchange(&app, "shop/deploy-production", &replayed, None).await;
    assert_eq!(status, StatusCode::OK);
    let now = now();
    let production = "shop/deploy-production";
    let staging = "shop/deploy-staging";

    let attacks: Vec<Attack> = vec![
        (
            "wrong audience",
            production,
            issuer.sign(&changed(&|c| c["aud"] = json!("https://elsewhere.test"))),
            None,
            "invalid_grant",
            "wrong_audience",
        ),
        (
            "wrong issuer",
            production,
            issuer.sign(&changed(&|c| {
                c["iss"] = json!("https://token.actions.githubusercontent.com")
            })),
            None,
            "invalid_grant",
            "wrong_issuer",
        ),
        (
            "expired",
            production,
            issuer.sign(&changed(&|c| {
                c["exp"] = json!(now - 120);
                c["iat"] = json!(now - 600);
            })),
            None,
            "invalid_grant",
            "expired",
        ),
        (
            "not yet valid",
            production,
            issuer.sign(&changed(&|c| c["nbf"] = json!(now + 600))),
            None,
            "invalid_grant",
            "not_yet_valid",
        ),
        (
            "issued in the future",
            production,
            issuer.sign(&changed(&|c| c["iat"] = json!(now + 600))),
            None,
            "invalid_grant",
            "not_yet_valid",
        ),
        (
            "unknown kid",
            production,
            issuer.sign_claiming_kid("forged-kid", &good()),
            None,
            "invalid_grant",
            "unknown_key_id",
        ),
        (
            "alg none",
            production,
            issuer.unsigned(&good()),
            None,
            "invalid_grant",
            "algorithm_not_accepted",
        ),
        (
            "HS256 keyed with the public key",
            production,
            issuer.hs256_with_public_key(&good()),
            None,
            "invalid_grant",
            "algorithm_not_accepted",
        ),
        (
            "claim off by one character",
            production,
            issuer.sign(&changed(&|c| c["repository_id"] = json!("123457"))),
            None,
            "invalid_grant",
            "claim_mismatch",
        ),
        (
            "a neighbour matching a careless prefix",
            production,
            issuer.sign(&changed(&|c| {
                c["sub"] = json!("repo:org/app-evil:environment:production")
            })),
            None,
            "invalid_grant",
            "claim_mismatch",
        ),
        (
            "a bound claim missing",
            production,
            issuer.sign(&changed(&|c| {
                c.as_object_mut().unwrap().remove("environment");
            })),
            None,
            "invalid_grant",
            "claim_missing",
        ),
        (
            "replayed jti",
            production,
            replayed.clone(),
            None,
            "invalid_grant",
            "replayed",
        ),
        (
            "a staging job naming the production policy",
            production,
            issuer.sign(&issuer.github_claims("org/app", "123456", "staging")),
            None,
            "invalid_grant",
            "claim_mismatch",
        ),
        (
            "a staging job asking the staging policy for production",
            staging,
            issuer.sign(&issuer.github_claims("org/app", "123456", "staging")),
            Some("env:production"),
            "invalid_scope",
            "scope_not_granted",
        ),
        (
            "a tampered signature",
            production,
            {
                let t = issuer.sign(&good());
                format!("{}AAAA", &t[..t.len() - 4])
            },
            None,
            "invalid_grant",
            "bad_signature",
        ),
        (
            "a policy that does not exist",
            "shop/nope",
            issuer.sign(&good()),
            None,
            "invalid_target",
            "unknown_policy",
        ),
        (
            "not a JWT",
            production,
            "not-a-jwt".to_owned(),
            None,
            "invalid_grant",
            "malformed_token",
        ),
    ];
    for (attack, policy, token, scope, error, reason) in attacks {
        let (status, answer) = exchange(&app, policy, &token, scope).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{attack}: {answer}");
        assert_eq!(answer["error"], error, "{attack}: {answer}");
        assert!(
            answer["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        let event = last_refusal(&app).await;
        assert_eq!(event["after"]["reason"], reason, "{attack}: {event}");
        let recorded = event.to_string();
        assert!(
            !recorded.contains(&token),
            "{attack}: the token is never recorded"
        );
    }
    // The claim that failed is named, never its value.
    let (_, answer) = exchange(
        &app,
        production,
        &issuer.sign(&changed(&|c| c["repository_id"] = json!("999"))),
        None,
    )
    .await;
    assert_eq!(
        answer["error_description"],
        "claim 'repository_id' does not match the policy"
    );
    assert_eq!(last_refusal(&app).await["after"]["claim"], "repository_id");

    // A request without the RFC 8693 parameters is refused (and audited) too.
    let response = post_form(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"], "unsupported_grant_type");
    assert_eq!(
        last_refusal(&app).await["after"]["reason"],
        "unsupported_grant_type"
    );
}

async fn the_issuer_rotating_its_keys_needs_no_restart(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 0).await;
    create_policy(&app, github_policy(&issuer)).await;
    let claims = || issuer.github_claims("org/app", "123456", "production");
    let (status, _) = exchange(
        &app,
        "shop/deploy-production",
        &issuer.sign(&claims()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    issuer.rotate("ec-2", "ES256");

    let (status, answer) = exchange(
        &app,
        "shop/deploy-production",
        &issuer.sign(&claims()),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new key works at once: {answer}"
    );
    let old = issuer.sign_with("rsa-1", &claims());
    let (status, _) = exchange(&app, "shop/deploy-production", &old, None).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the withdrawn key is refused"
    );
    assert_eq!(
        last_refusal(&app).await["after"]["reason"],
        "unknown_key_id"
    );
}

async fn cached_keys_keep_verifying_while_the_issuer_is_down(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend.clone(), &issuer, 0).await;
    create_policy(&app, github_policy(&issuer)).await;
    let claims = || issuer.github_claims("org/app", "123456", "production");
    let (status, _) = exchange(
        &app,
        "shop/deploy-production",
        &issuer.sign(&claims()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    issuer.set_down(true);

    let (status, answer) = exchange(
        &app,
        "shop/deploy-production",
        &issuer.sign(&claims()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // A server that never fetched the keys cannot verify: it says to retry, and why.
    let fresh = app_trusting(backend, &issuer, 0).await;
    create_policy(&fresh, github_policy(&issuer)).await;
    let (status, answer) = exchange(
        &fresh,
        "shop/deploy-production",
        &issuer.sign(&claims()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{answer}");
    assert_eq!(answer["error"], "temporarily_unavailable");
    assert_eq!(
        last_refusal(&fresh).await["after"]["reason"],
        "issuer_unavailable"
    );
}

async fn unknown_key_ids_refresh_the_issuer_keys_at_a_bounded_rate(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let app = app_trusting(backend, &issuer, 3600).await;
    create_policy(&app, github_policy(&issuer)).await;
    let claims = || issuer.github_claims("org/app", "123456", "production");
    let (status, _) = exchange(
        &app,
        "shop/deploy-production",
        &issuer.sign(&claims()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches(), 1);

    for i in 0..5 {
        let forged = issuer.sign_claiming_kid(&format!("forged-{i}"), &claims());
        let (status, _) = exchange(&app, "shop/deploy-production", &forged, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    // Cached keys answer on the hot path without asking the issuer.
    for _ in 0..3 {
        let (status, _) = exchange(
            &app,
            "shop/deploy-production",
            &issuer.sign(&claims()),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(
        issuer.jwks_fetches(),
        1,
        "forged key ids within the refresh interval make no call to the issuer"
    );
}

/// CPU of the whole test process (server and client) per exchange with cached keys, on SQLite:
/// an upper bound of the server's share. A measurement, so run alone (other tests in the same
/// process would be counted): `cargo test -p switchboard-server --test api
/// an_exchange_with_cached_keys -- --ignored --nocapture`. Bounded loosely because test
/// builds are unoptimized; BENCHMARKS.md has the figure.
#[tokio::test]
#[ignore = "a measurement: run alone with --ignored"]
async fn an_exchange_with_cached_keys_costs_little_cpu() {
    const EXCHANGES: u32 = 50;
    let issuer = TestIssuer::start().await;
    let app = app_trusting(Backend::Sqlite, &issuer, 10).await;
    create_policy(&app, github_policy(&issuer)).await;
    let tokens: Vec<String> = (0..=EXCHANGES)
        .map(|_| issuer.sign(&issuer.github_claims("org/app", "123456", "production")))
        .collect();
    let (first, rest) = tokens.split_first().unwrap();
    // Fetches and caches the issuer's keys.
    assert_eq!(
        exchange(&app, "shop/deploy-production", first, None)
            .await
            .0,
        StatusCode::OK
    );
    let fetches = issuer.jwks_fetches();

    let cpu = || {
        let usage =
            nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
        let micros = |t: nix::sys::time::TimeVal| t.tv_sec() * 1_000_000 + t.tv_usec();
        micros(usage.user_time()) + micros(usage.system_time())
    };
    let before = cpu();
    for token in rest {
        let (status, _) = exchange(&app, "shop/deploy-production", token, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let per_exchange = (cpu() - before) / i64::from(EXCHANGES);

    println!("token exchange with cached keys: {per_exchange} µs of process CPU each");
    assert_eq!(
        issuer.jwks_fetches(),
        fetches,
        "no call to the issuer on the hot path"
    );
    assert!(per_exchange < 20_000, "{per_exchange} µs per exchange");
}
