use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, assert_problem, item_strings, signing_keys_of, spawn_app, spawn_app_with,
};

crate::on_both_backends!(
    an_issued_token_is_shown_once_and_listed_without_its_secret,
    a_revoked_token_is_refused_on_the_next_request,
    a_revocation_on_one_instance_reaches_another,
    tokens_without_the_scope_or_outside_their_projects_are_forbidden,
    a_token_cannot_grant_more_than_its_issuer_holds,
    forged_expired_and_foreign_tokens_are_unauthorized,
    token_requests_are_validated_field_by_field,
);

async fn an_issued_token_is_shown_once_and_listed_without_its_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    // A token names projects and environments that exist (a typo is refused).
    app.create_project("shop").await;
    app.create_environment("shop", "production", None).await;
    let response = app
        .post("/v1/tokens", json!({ "name": "deploy", "scopes": ["secrets:read"], "projects": ["shop"], "environments": ["production"], "ttl_seconds": 3600 }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let issued: Value = response.json().await.unwrap();
    let jwt = issued["token"].as_str().unwrap();
    assert_eq!(jwt.split('.').count(), 3);
    assert_eq!(issued["scopes"], json!(["secrets:read"]));
    assert_eq!(issued["projects"], json!(["shop"]));

    let listed = app.get("/v1/tokens").await.text().await.unwrap();
    assert!(!listed.contains(jwt), "the list must never repeat a token");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let names = item_strings(&listed, "name");
    assert_eq!(names, ["deploy", "initial admin"]);
    assert!(listed["items"][0].get("token").is_none());

    let id = issued["id"].as_str().unwrap();
    let one: Value = app
        .get(&format!("/v1/tokens/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "deploy");
    assert!(one.get("token").is_none());

    let me: Value = app
        .request_as(Some(jwt), Method::GET, "/v1/tokens/current")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], id);
}

async fn a_revoked_token_is_refused_on_the_next_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let (token, id) = app
        .issue_token(json!({ "name": "reader", "scopes": ["flags:read"] }))
        .await;
    let whoami = |token: String| {
        let app = &app;
        async move {
            app.request_as(Some(&token), Method::GET, "/v1/tokens/current")
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(whoami(token.clone()).await.status(), StatusCode::OK);

    let revoked: Value = app
        .delete(&format!("/v1/tokens/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(revoked["revoked_at"].is_string());

    let problem = assert_problem(whoami(token).await, StatusCode::UNAUTHORIZED).await;
    assert!(problem["detail"].as_str().unwrap().contains("revoked"));
    let events = app.audit("action=token.revoke").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], format!("token/{id}"));
}

async fn a_revocation_on_one_instance_reaches_another(backend: Backend) {
    let first = spawn_app(backend).await;
    let database_url = first.settings.database_url.clone();
    let key_file = first.data_dir.path().join("master.key");
    let mut second = spawn_app_with(Backend::Sqlite, |settings| {
        settings.database_url = database_url;
        settings.master_key_file = Some(key_file);
    })
    .await;
    assert!(
        second.admin_token.is_empty(),
        "the store had its first start already"
    );
    second.admin_token = first.admin_token.clone();

    let (token, id) = first
        .issue_token(json!({ "name": "reader", "scopes": ["flags:read"] }))
        .await;
    let on_second = || {
        second
            .request_as(Some(&token), Method::GET, "/v1/tokens/current")
            .send()
    };
    assert_eq!(
        on_second().await.unwrap().status(),
        StatusCode::OK,
        "verified (and cached) on the second instance"
    );

    assert_eq!(
        first.delete(&format!("/v1/tokens/{id}")).await.status(),
        StatusCode::OK
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = on_second().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second instance still accepts a revoked token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn tokens_without_the_scope_or_outside_their_projects_are_forbidden(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_project("shop").await;
    app.create_project("blog").await;
    app.create_environment("shop", "production", None).await;
    app.create_environment("shop", "staging", None).await;
    let (reader, _) = app
        .issue_token(json!({ "name": "sdk", "scopes": ["flags:read"], "projects": ["shop"], "environments": ["production"] }))
        .await;
    let as_reader = |method: Method, path: &str| app.request_as(Some(&reader), method, path).send();

    // Reading what it may reach works; the list shows only that.
    assert_eq!(
        as_reader(Method::GET, "/v1/projects/shop")
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let projects: Value = as_reader(Method::GET, "/v1/projects")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(projects["items"].as_array().unwrap().len(), 1);
    let envs: Value = as_reader(Method::GET, "/v1/projects/shop/environments")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names = item_strings(&envs, "name");
    assert_eq!(names, ["production"]);

    for (method, path) in [
        (Method::GET, "/v1/projects/blog"),
        (Method::GET, "/v1/projects/shop/environments/staging"),
        (Method::DELETE, "/v1/projects/shop"),
        (Method::GET, "/v1/tokens"),
        (Method::GET, "/v1/audit"),
    ] {
        assert_problem(
            as_reader(method, path).await.unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let response = app
        .request_as(Some(&reader), Method::POST, "/v1/projects")
        .json(&json!({ "name": "new" }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
    assert!(problem["detail"].as_str().unwrap().contains("admin"));
}

async fn a_token_cannot_grant_more_than_its_issuer_holds(backend: Backend) {
    let app = spawn_app(backend).await;
    // A token names projects that exist (a typo is refused).
    app.create_project("shop").await;
    let (shop_admin, _) = app
        .issue_token(json!({ "name": "shop admin", "scopes": ["admin"], "projects": ["shop"] }))
        .await;
    let issue = |body: Value| {
        app.request_as(Some(&shop_admin), Method::POST, "/v1/tokens")
            .json(&body)
            .send()
    };

    let ok = issue(json!({ "name": "shop ci", "scopes": ["secrets:read"], "projects": ["shop"] }))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    for body in [
        json!({ "name": "everything", "scopes": ["admin"] }),
        json!({ "name": "other", "scopes": ["flags:read"], "projects": ["blog"] }),
    ] {
        assert_problem(issue(body).await.unwrap(), StatusCode::FORBIDDEN).await;
    }
    // The project admin sees and manages only tokens within its reach.
    let listed: Value = app
        .request_as(Some(&shop_admin), Method::GET, "/v1/tokens")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names = item_strings(&listed, "name");
    assert_eq!(names, ["shop ci", "shop admin"]);
}

async fn forged_expired_and_foreign_tokens_are_unauthorized(backend: Backend) {
    let app = spawn_app(backend).await;
    let keys = signing_keys_of(&app).await;
    let key = &keys[0];
    let (_, id) = app
        .issue_token(json!({ "name": "reader", "scopes": ["flags:read"] }))
        .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |alg: Algorithm, claims: Value| {
        let mut header = Header::new(alg);
        header.kid = Some(key.id.clone());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&key.secret)).unwrap()
    };
    let claims = |overrides: Value| {
        let mut base = json!({ "jti": id, "sub": "reader", "aud": "switchboard", "iss": "switchboard",
                               "iat": now, "nbf": now, "exp": now + 600, "scp": ["flags:read"] });
        for (k, v) in overrides.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    };
    let valid = sign(Algorithm::HS256, claims(json!({})));
    let status = app
        .request_as(Some(&valid), Method::GET, "/v1/tokens/current")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status,
        StatusCode::OK,
        "a correctly signed token for a stored record is accepted"
    );

    let mut tampered = valid.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let cases = [
        ("garbage", "not-a-jwt".to_owned()),
        ("bad signature", tampered),
        (
            "expired",
            sign(
                Algorithm::HS256,
                claims(json!({ "exp": now - 3600, "iat": now - 7200, "nbf": now - 7200 })),
            ),
        ),
        (
            "not yet valid",
            sign(Algorithm::HS256, claims(json!({ "nbf": now + 3600 }))),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::HS256,
                claims(json!({ "aud": "another-service" })),
            ),
        ),
        ("other algorithm", sign(Algorithm::HS512, claims(json!({})))),
        (
            "unknown record",
            sign(
                Algorithm::HS256,
                claims(json!({ "jti": "01000000-0000-7000-8000-000000000000" })),
            ),
        ),
        (
            "no exp",
            sign(Algorithm::HS256, claims(json!({ "exp": null }))),
        ),
    ];
    for (what, token) in cases {
        let response = app
            .request_as(Some(&token), Method::GET, "/v1/tokens/current")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        let text = response.text().await.unwrap();
        assert!(
            !text.contains(&token),
            "{what}: the answer must not echo the token"
        );
    }
    assert_problem(
        app.request_as(None, Method::GET, "/v1/tokens/current")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let basic = app
        .client
        .get(app.url("/v1/tokens/current"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(basic, StatusCode::UNAUTHORIZED).await;
}

async fn token_requests_are_validated_field_by_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let problem = assert_problem(
        app.post(
            "/v1/tokens",
            json!({ "name": "x", "scopes": ["flags:read", "flag:write"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "body.scopes[1]");

    let problem = assert_problem(
        app.post(
            "/v1/tokens",
            json!({ "name": " ", "scopes": [], "projects": ["*", "shop"], "ttl_seconds": 1 }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "body.name",
            "body.scopes",
            "body.projects",
            "body.ttl_seconds"
        ]
    );
    let tokens: Value = app.get("/v1/tokens").await.json().await.unwrap();
    assert_eq!(
        tokens["items"].as_array().unwrap().len(),
        1,
        "nothing was issued"
    );
}
