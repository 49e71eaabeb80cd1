//! `openapi.yaml` is the contract: the server's routes and the spec's operations must be the
//! same set, and every operation must describe its parameters, errors and security.

use std::collections::BTreeSet;

use serde_json::Value;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    serde_norway::from_str(&text).expect("openapi.yaml is valid YAML")
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
const OPEN_ROUTES: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.yaml",
    // The subject token is the credential (RFC 8693).
    "/v1/auth/token-exchange",
];

fn spec_operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

#[test]
fn every_route_is_in_the_spec_and_every_spec_operation_is_served() {
    type Operations = BTreeSet<(String, String)>;
    let (head, served): (Operations, Operations) = switchboard_server::api::routes()
        .table()
        .into_iter()
        .partition(|(method, _)| method == "HEAD");
    // openapi.yaml says once, in its description, that HEAD answers wherever GET does; the
    // table must hold exactly that, so HEAD is not listed per operation.
    let paths_of = |set: &Operations, wanted: &str| -> BTreeSet<String> {
        set.iter()
            .filter(|(method, _)| method == wanted)
            .map(|(_, path)| path.clone())
            .collect()
    };
    assert_eq!(
        paths_of(&head, "HEAD"),
        paths_of(&served, "GET"),
        "HEAD must be served exactly where GET is"
    );
    let documented = spec_operations(&spec());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.yaml: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "in openapi.yaml but not served: {unserved:?}"
    );
}

/// Resolves a local `$ref` (`#/components/...`) or returns the value itself.
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.trim_start_matches('#');
            spec.pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"))
        }
        None => value,
    }
}

#[test]
fn every_operation_declares_its_path_parameters_errors_and_security() {
    let spec = spec();
    assert!(spec["components"]["securitySchemes"]["bearer"].is_object());
    for (path, item) in spec["paths"].as_object().unwrap() {
        let path_params: BTreeSet<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let what = format!("{} {path}", method.to_uppercase());
            assert!(operation["operationId"].is_string(), "{what}: operationId");
            assert!(operation["summary"].is_string(), "{what}: summary");
            let declared: BTreeSet<String> = item["parameters"]
                .as_array()
                .into_iter()
                .chain(operation["parameters"].as_array())
                .flatten()
                .map(|p| resolve(&spec, p))
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(declared, path_params, "{what}: path parameters");

            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{what}: responses"));
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{what}: a success response"
            );
            for (code, response) in responses {
                // OFREP's evaluation failures (400, 404) have the protocol's own JSON shape.
                let ofrep_failure = path.starts_with("/ofrep/") && (code == "400" || code == "404");
                if (code.starts_with('4') || code.starts_with('5')) && !ofrep_failure {
                    let response = resolve(&spec, response);
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{what}: {code} must be problem+json"
                    );
                }
            }
            let open = OPEN_ROUTES.contains(&path.as_str());
            let security = operation.get("security").or(spec.get("security"));
            let secured = security
                .and_then(Value::as_array)
                .is_some_and(|s| !s.is_empty());
            assert_eq!(secured, !open, "{what}: security");
            if secured {
                assert!(responses.contains_key("401"), "{what}: documents 401");
                assert!(responses.contains_key("403"), "{what}: documents 403");
            }
        }
    }
}

/// The schema the spec gives for `method template` answering `status`, as a standalone schema
/// whose `$ref`s resolve inside the spec.
fn response_schema(spec: &Value, method: &str, template: &str, status: u16) -> Value {
    let operation = &spec["paths"][template][method.to_lowercase()];
    let response = resolve(spec, &operation["responses"][status.to_string()]);
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {template} {status}: no content"));
    let media = content
        .get("application/json")
        .or_else(|| content.get("application/problem+json"))
        .unwrap_or_else(|| panic!("{method} {template} {status}: no JSON content"));
    let mut schema = media["schema"].clone();
    schema["components"] = spec["components"].clone();
    schema
}

/// Sends a request and checks the answer against the spec; returns the body.
pub(crate) async fn check(
    app: &crate::helpers::TestApp,
    method: reqwest::Method,
    path: &str,
    template: &str,
    body: Option<Value>,
) -> Value {
    let mut request = app.request(method.clone(), path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let schema = response_schema(&spec(), method.as_str(), template, status);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} -> {status}: {errors:?}\n{body}"
    );
    body
}

#[tokio::test]
async fn answers_match_the_schemas_the_spec_documents() {
    use reqwest::Method;
    use serde_json::json;
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    let (p, envs, e) = (
        "/v1/projects/{project}",
        "/v1/projects/{project}/environments",
        "/v1/projects/{project}/environments/{env}",
    );
    // (method, path, documented template, body): successes and failures alike.
    let calls = [
        (Method::GET, "/healthz", "/healthz", None),
        (Method::GET, "/readyz", "/readyz", None),
        (
            Method::POST,
            "/v1/projects",
            "/v1/projects",
            Some(json!({ "name": "shop" })),
        ),
        (
            Method::POST,
            "/v1/projects",
            "/v1/projects",
            Some(json!({ "name": "shop" })),
        ),
        (
            Method::POST,
            "/v1/projects",
            "/v1/projects",
            Some(json!({ "name": "Bad" })),
        ),
        (Method::GET, "/v1/projects", "/v1/projects", None),
        (Method::GET, "/v1/projects/shop", p, None),
        (Method::GET, "/v1/projects/ghost", p, None),
        (
            Method::PATCH,
            "/v1/projects/shop",
            p,
            Some(json!({ "description": "d" })),
        ),
        (
            Method::POST,
            "/v1/projects/shop/environments",
            envs,
            Some(json!({ "name": "staging" })),
        ),
        (
            Method::POST,
            "/v1/projects/shop/environments",
            envs,
            Some(json!({ "name": "production", "parent": "staging" })),
        ),
        (Method::GET, "/v1/projects/shop/environments", envs, None),
        (
            Method::GET,
            "/v1/projects/shop/environments/production",
            e,
            None,
        ),
        (
            Method::PATCH,
            "/v1/projects/shop/environments/production",
            e,
            Some(json!({ "parent": null })),
        ),
        (Method::DELETE, "/v1/projects/shop", p, None),
        (Method::GET, "/v1/tokens", "/v1/tokens", None),
        (
            Method::GET,
            "/v1/tokens/current",
            "/v1/tokens/current",
            None,
        ),
        (Method::GET, "/v1/audit", "/v1/audit", None),
        (Method::GET, "/v1/audit?since=nope", "/v1/audit", None),
    ];
    for (method, path, template, body) in calls {
        check(&app, method, path, template, body).await;
    }
    let issued = check(
        &app,
        Method::POST,
        "/v1/tokens",
        "/v1/tokens",
        Some(json!({ "name": "ci", "scopes": ["secrets:read"], "projects": ["shop"] })),
    )
    .await;
    let id = issued["id"].as_str().unwrap();
    for method in [Method::GET, Method::DELETE] {
        check(
            &app,
            method,
            &format!("/v1/tokens/{id}"),
            "/v1/tokens/{id}",
            None,
        )
        .await;
    }

    // The SDK endpoints, on an environment with a segment and a flag with rules and a split.
    app.create_project("lab").await;
    app.create_environment("lab", "production", None).await;
    let actor = crate::sdk::actor();
    let segment: switchboard_core::Segment = serde_json::from_value(json!({
        "name": "beta", "conditions": [{"attribute": "email", "op": "ends_with", "values": ["@beta.dev"]}]
    }))
    .unwrap();
    switchboard_server::store::segments::create(&app.store, &actor, "lab", segment)
        .await
        .unwrap()
        .without_follow_up();
    let flag = switchboard_core::FlagDefinition::boolean("checkout");
    switchboard_server::store::flags::create(&app.store, &actor, "lab", flag)
        .await
        .unwrap()
        .without_follow_up();
    let state = serde_json::from_value(json!({
        "enabled": true, "off_variant": "off",
        "rules": [{"conditions": [{"op": "in_segment", "values": ["beta"]}], "serve": {"variant": "on"}}],
        "default_serve": {"split": [{"variant": "on", "weight": 2500}, {"variant": "off", "weight": 7500}]}
    }))
    .unwrap();
    crate::sdk::set_state("lab", "production", "checkout", state, &app).await;
    app.snapshots.reload_project("lab").await;
    let (snapshot, evaluate) = ("/v1/sdk/snapshot", "/v1/evaluate");
    let context = json!({"targeting_key": "u1", "attributes": {"email": "a@beta.dev"}});
    let sdk_calls = [
        (
            Method::GET,
            "/v1/sdk/snapshot?project=lab&environment=production",
            snapshot,
            None,
        ),
        (Method::GET, "/v1/sdk/snapshot", snapshot, None),
        (
            Method::GET,
            "/v1/sdk/snapshot?project=lab&environment=qa",
            snapshot,
            None,
        ),
        (
            Method::POST,
            "/v1/evaluate?project=lab&environment=production",
            evaluate,
            Some(json!({ "context": context })),
        ),
        (
            Method::POST,
            "/v1/evaluate?project=lab&environment=production",
            evaluate,
            Some(json!({ "context": {}, "flags": ["checkout", "missing"] })),
        ),
        (
            Method::POST,
            "/v1/evaluate?project=lab&environment=production",
            evaluate,
            Some(json!({ "context": { "targeting_key": 1 } })),
        ),
    ];
    for (method, path, template, body) in sdk_calls {
        check(&app, method, path, template, body).await;
    }

    // OFREP: one flag and every flag, served and failed.
    let (single, bulk) = ("/ofrep/v1/evaluate/flags/{key}", "/ofrep/v1/evaluate/flags");
    let flat = json!({"targetingKey": "u1", "email": "a@beta.dev"});
    let lab = "?project=lab&environment=production";
    let ofrep_calls = [
        (
            format!("/ofrep/v1/evaluate/flags/checkout{lab}"),
            single,
            json!({ "context": flat }),
        ),
        (
            format!("/ofrep/v1/evaluate/flags/checkout{lab}"),
            single,
            json!({ "context": {} }),
        ),
        (
            format!("/ofrep/v1/evaluate/flags/missing{lab}"),
            single,
            json!({ "context": flat }),
        ),
        (
            format!("/ofrep/v1/evaluate/flags/checkout{lab}"),
            single,
            json!({ "context": { "targetingKey": 1 } }),
        ),
        (
            "/ofrep/v1/evaluate/flags?project=lab&environment=qa".to_owned(),
            bulk,
            json!({}),
        ),
        (
            format!("/ofrep/v1/evaluate/flags{lab}"),
            bulk,
            json!({ "context": flat }),
        ),
        (
            format!("/ofrep/v1/evaluate/flags{lab}"),
            bulk,
            json!({ "context": {} }),
        ),
        (
            format!("/ofrep/v1/evaluate/flags{lab}"),
            bulk,
            json!({ "context": [] }),
        ),
    ];
    for (path, template, body) in ofrep_calls {
        check(&app, Method::POST, &path, template, Some(body)).await;
    }
}

#[tokio::test]
async fn flag_config_and_secret_answers_match_their_schemas() {
    use reqwest::Method;
    use serde_json::json;
    let app = crate::helpers::spawn_app(crate::helpers::Backend::Sqlite).await;
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", None).await;
    let state = "/v1/projects/shop/environments/production/flags/{key}";
    let env = "/v1/projects/shop/environments/production";
    let config_key = "/v1/projects/{project}/environments/{env}/config/{key}";
    let secret = "/v1/projects/{project}/environments/{env}/secrets/{name}";
    let calls = [
        (
            Method::POST,
            "/v1/projects/shop/flags".to_owned(),
            "/v1/projects/{project}/flags",
            Some(json!({ "key": "new-checkout", "type": "boolean" })),
        ),
        (
            Method::GET,
            "/v1/projects/shop/flags".to_owned(),
            "/v1/projects/{project}/flags",
            None,
        ),
        (
            Method::GET,
            "/v1/projects/shop/flags/new-checkout".to_owned(),
            "/v1/projects/{project}/flags/{key}",
            None,
        ),
        (
            Method::POST,
            format!("{}/enable", state.replace("{key}", "new-checkout")),
            "/v1/projects/{project}/environments/{env}/flags/{key}/enable",
            None,
        ),
        (
            Method::POST,
            format!("{}/rollout", state.replace("{key}", "new-checkout")),
            "/v1/projects/{project}/environments/{env}/flags/{key}/rollout",
            Some(json!({ "percentage": 5 })),
        ),
        (
            Method::GET,
            state.replace("{key}", "new-checkout"),
            "/v1/projects/{project}/environments/{env}/flags/{key}",
            None,
        ),
        (
            Method::GET,
            format!("{}/versions", state.replace("{key}", "new-checkout")),
            "/v1/projects/{project}/environments/{env}/flags/{key}/versions",
            None,
        ),
        (
            Method::POST,
            format!("{env}/kill"),
            "/v1/projects/{project}/environments/{env}/kill",
            Some(json!({ "reason": "test" })),
        ),
        (
            Method::DELETE,
            format!("{env}/kill"),
            "/v1/projects/{project}/environments/{env}/kill",
            None,
        ),
        (
            Method::POST,
            "/v1/projects/shop/segments".to_owned(),
            "/v1/projects/{project}/segments",
            Some(
                json!({ "name": "beta", "conditions": [{ "attribute": "beta", "op": "equals", "values": [true] }] }),
            ),
        ),
        (
            Method::GET,
            "/v1/projects/shop/segments".to_owned(),
            "/v1/projects/{project}/segments",
            None,
        ),
        (
            Method::PUT,
            format!("{env}/config/PORT"),
            config_key,
            Some(json!({ "value": 8080 })),
        ),
        (
            Method::PUT,
            "/v1/projects/shop/environments/staging/config/PORT".to_owned(),
            config_key,
            Some(json!({ "value": 9090 })),
        ),
        (
            Method::GET,
            format!("{env}/config"),
            "/v1/projects/{project}/environments/{env}/config",
            None,
        ),
        (
            Method::GET,
            format!("{env}/config/PORT/versions"),
            "/v1/projects/{project}/environments/{env}/config/{key}/versions",
            None,
        ),
        (
            Method::GET,
            format!("{env}/diff?from=staging"),
            "/v1/projects/{project}/environments/{env}/diff",
            None,
        ),
        (
            Method::POST,
            format!("{env}/promote"),
            "/v1/projects/{project}/environments/{env}/promote",
            Some(json!({ "from": "staging", "dry_run": true })),
        ),
        (
            Method::PUT,
            format!("{env}/secrets/DB_PASSWORD"),
            secret,
            Some(json!({ "value": "hunter2" })),
        ),
        (
            Method::GET,
            format!("{env}/secrets/DB_PASSWORD"),
            secret,
            None,
        ),
        (
            Method::GET,
            format!("{env}/secrets"),
            "/v1/projects/{project}/environments/{env}/secrets",
            None,
        ),
        (
            Method::GET,
            format!("{env}/secrets/DB_PASSWORD/versions"),
            "/v1/projects/{project}/environments/{env}/secrets/{name}/versions",
            None,
        ),
        (
            Method::GET,
            format!("{env}/secrets/export?format=json"),
            "/v1/projects/{project}/environments/{env}/secrets/export",
            None,
        ),
        (
            Method::POST,
            "/v1/admin/master-key/rotate".to_owned(),
            "/v1/admin/master-key/rotate",
            None,
        ),
    ];
    for (method, path, template, body) in calls {
        check(&app, method, &path, template, body).await;
    }
}
