//! openapi.yaml and the server agree on what a valid request body is. Clients generate code and
//! validate requests from the spec: a body the spec allows but the server refuses breaks them,
//! and a body the server takes although the spec forbids it is a rule nobody can see.
//!
//! The property test generates bodies from each write route's request schema (valid ones, and
//! valid ones with one thing changed: a `null`, a wrong type, a whole-number float, a string one
//! character too long, a missing or an extra property) and checks that the server accepts a body
//! exactly when the `jsonschema` crate says it is valid. "Accepts" means the body passed input
//! validation: 2xx, or 404/409/412 about the state of the data. The seed is fixed, so a run is
//! repeatable; the defects found this way have sentence tests of their own below.

use proptest::prelude::*;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, spawn_app};
use crate::on_both_backends;

/// Bodies generated per route: as many valid as changed ones.
const CASES_PER_ROUTE: usize = 8;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => resolve(spec, spec.pointer(&reference[1..]).unwrap()),
        None => schema,
    }
}

/// Values that keep a generated body about data that exists (a parent environment, a variant of
/// the flag), keyed by property name: the schema says what is well-formed, not what exists.
type Pools = &'static [(&'static str, fn() -> Vec<Value>)];

fn pool(pools: Pools, property: &str) -> Option<Vec<Value>> {
    pools
        .iter()
        .find(|(name, _)| *name == property)
        .map(|(_, values)| values())
}

fn pick(values: Vec<Value>) -> BoxedStrategy<Value> {
    proptest::sample::select(values).boxed()
}

/// A strategy for values valid under `schema`.
fn valid(spec: &Value, schema: &Value, pools: Pools) -> BoxedStrategy<Value> {
    let schema = resolve(spec, schema);
    // `allOf: [base, {required: [...]}]` without a type of its own: the base with more required
    // properties. (An `allOf` beside a type holds conditions the pools already satisfy.)
    if let Some(parts) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|_| schema.get("type").is_none())
    {
        let mut merged = resolve(spec, &parts[0]).clone();
        for part in &parts[1..] {
            let extra = part["required"].as_array().cloned().unwrap_or_default();
            let required = merged["required"].as_array().cloned().unwrap_or_default();
            merged["required"] = Value::Array(required.into_iter().chain(extra).collect());
        }
        return valid(spec, &merged, pools);
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return pick(values.clone());
    }
    if let Some(value) = schema.get("const") {
        return Just(value.clone()).boxed();
    }
    if let Some(branches) = schema.get("oneOf").or(schema.get("anyOf")) {
        let branches = branches.as_array().unwrap();
        if schema.get("type").is_none() {
            let options: Vec<_> = branches.iter().map(|b| valid(spec, b, pools)).collect();
            return proptest::strategy::Union::new(options).boxed();
        }
        // Branches that refine this schema: merge one of them in (an object's choice of
        // required property, an access list of `*` or of names).
        let options: Vec<_> = branches
            .iter()
            .enumerate()
            .map(|(chosen, branch)| {
                let mut merged = schema.clone();
                merged.as_object_mut().unwrap().remove("oneOf");
                merged.as_object_mut().unwrap().remove("anyOf");
                for (key, value) in branch.as_object().unwrap() {
                    merged[key] = value.clone();
                }
                // Exactly one branch of a `oneOf` of required properties: leave the others out.
                if schema.get("oneOf").is_some() {
                    let others: Vec<Value> = branches
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != chosen)
                        .flat_map(|(_, b)| b["required"].as_array().cloned().unwrap_or_default())
                        .collect();
                    merged["x-absent"] = Value::Array(others);
                }
                valid(spec, &merged, pools)
            })
            .collect();
        return proptest::strategy::Union::new(options).boxed();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => object(spec, schema, pools),
        Some("array") => {
            let min = schema["minItems"].as_u64().unwrap_or(0) as usize;
            let max = schema["maxItems"].as_u64().map_or(min + 2, |m| m as usize);
            let items = valid(spec, &schema["items"], pools);
            proptest::collection::vec(items, min..=max.min(min + 2))
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => string(schema),
        Some("integer") => {
            let min = schema["minimum"].as_i64().unwrap_or(0);
            let max = schema["maximum"].as_i64().unwrap_or(min + 3);
            // The bounds themselves, something in between, and each as a whole-number float.
            let whole = vec![min, (min + max) / 2, max];
            (proptest::sample::select(whole), any::<bool>())
                .prop_map(|(n, as_float)| if as_float { json!(n as f64) } else { json!(n) })
                .boxed()
        }
        Some("number") => {
            let (min, max) = (schema["minimum"].as_f64(), schema["maximum"].as_f64());
            let numbers: Vec<Value> = [0.0, 0.07, 12.25, 33.33, 100.0]
                .into_iter()
                .filter(|n| min.is_none_or(|m| *n >= m) && max.is_none_or(|m| *n <= m))
                .map(|n| json!(n))
                .collect();
            pick(numbers)
        }
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        // Any JSON value (but `null`, which no untyped property of a request allows).
        _ => pick(vec![
            json!(1),
            json!("text"),
            json!(true),
            json!({ "a": [1] }),
            json!([1, 2]),
        ]),
    }
}

fn string(schema: &Value) -> BoxedStrategy<Value> {
    let pattern = schema["pattern"].as_str().unwrap_or_default();
    if pattern.starts_with("^[a-z0-9]") {
        return pick(vec![json!("shop"), json!("staging")]);
    }
    if pattern.starts_with("^[A-Za-z0-9]") {
        return pick(vec![json!("on"), json!("off")]);
    }
    let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
    let mut strings = vec![json!("text"), json!(" é ")];
    if min == 0 {
        strings.push(json!(""));
    }
    if let Some(max) = schema["maxLength"].as_u64() {
        // Exactly as long as allowed, in characters of two bytes each.
        strings.push(json!("é".repeat(max as usize)));
    }
    pick(strings)
}

fn object(spec: &Value, schema: &Value, pools: Pools) -> BoxedStrategy<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let absent: Vec<&str> = schema["x-absent"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let properties = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = properties
        .iter()
        .filter(|(name, _)| !absent.contains(&name.as_str()))
        .map(|(name, property)| {
            let value = match pool(pools, name) {
                Some(values) => pick(values),
                None => valid(spec, property, pools),
            };
            let is_required = required.contains(&name.as_str());
            let name = name.clone();
            let field = value.prop_map(move |value| (name.clone(), value));
            if is_required {
                field.prop_map(Some).boxed()
            } else {
                proptest::option::of(field).boxed()
            }
        })
        .collect();
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect()))
        .boxed()
}

/// One change to a body's top-level object.
type Change = Box<dyn Fn(&mut serde_json::Map<String, Value>)>;

/// `body` with one thing changed, chosen by `choice`: the change may or may not make it invalid;
/// the schema decides.
fn changed(spec: &Value, schema: &Value, mut body: Value, choice: usize) -> Value {
    // Every other change is made deeper down, when there is something deeper.
    if choice % 2 == 1 {
        if let Some(changed) = change_nested(body.clone(), choice / 2) {
            return changed;
        }
    }
    let mut schema = resolve(spec, schema).clone();
    if let Some(parts) = schema
        .get("allOf")
        .and_then(Value::as_array)
        .filter(|_| schema.get("type").is_none())
    {
        schema = resolve(spec, &parts[0]).clone();
    }
    let properties: Vec<(String, Value)> = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|(name, property)| (name, resolve(spec, &property).clone()))
        .collect();
    let Some(object) = body.as_object_mut() else {
        return body;
    };
    let mut changes: Vec<Change> = vec![
        Box::new(|o| {
            o.insert("unexpected".into(), json!(1));
        }),
        Box::new(|o| o.clear()),
    ];
    for (name, property) in properties {
        let kind = property["type"].as_str().unwrap_or_default().to_owned();
        let n = name.clone();
        changes.push(Box::new(move |o| {
            o.insert(n.clone(), Value::Null);
        }));
        let n = name.clone();
        changes.push(Box::new(move |o| {
            // A number where a string (or any value) is expected, else a string.
            let wrong = if kind == "string" || kind.is_empty() {
                json!(5)
            } else {
                json!("5")
            };
            o.insert(n.clone(), wrong);
        }));
        let n = name.clone();
        changes.push(Box::new(move |o| {
            o.remove(&n);
        }));
        if property["type"] == "integer" {
            let n = name.clone();
            let max = property["maximum"].as_i64();
            let min = property["minimum"].as_i64();
            changes.push(Box::new(move |o| {
                o.insert(n.clone(), json!(1.5));
            }));
            let n = name.clone();
            changes.push(Box::new(move |o| {
                o.insert(n.clone(), json!(max.unwrap_or(3) as f64));
            }));
            let n = name.clone();
            changes.push(Box::new(move |o| {
                let outside = max.map_or(min.unwrap_or(0) - 1, |max| max + 1);
                o.insert(n.clone(), json!(outside));
            }));
        }
        if property["type"] == "number" {
            let n = name.clone();
            changes.push(Box::new(move |o| {
                o.insert(n.clone(), json!(12.345));
            }));
        }
        if let Some(max) = property["maxLength"].as_u64() {
            let n = name.clone();
            changes.push(Box::new(move |o| {
                o.insert(n.clone(), json!("é".repeat(max as usize + 1)));
            }));
        }
        if property["type"] == "array" {
            let n = name.clone();
            changes.push(Box::new(move |o| {
                o.insert(n.clone(), json!([null]));
            }));
        }
    }
    changes[choice % changes.len()](object);
    body
}

/// Sets a property of an object nested in `body` (a rule, a condition, a split: where the
/// schema comes from the core crate's types) to `null`, or adds an unexpected one; `None` when
/// there is no nested object.
fn change_nested(mut body: Value, choice: usize) -> Option<Value> {
    fn objects(value: &Value, at: String, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                found.push(at.clone());
                for (key, v) in map {
                    objects(v, format!("{at}/{key}"), found);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    objects(v, format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    objects(&body, String::new(), &mut found);
    // The body itself is changed by `changed`; only nested objects here.
    found.retain(|at| !at.is_empty());
    let at = found.get(choice % found.len().max(1))?;
    let target = body.pointer_mut(at)?.as_object_mut()?;
    let keys: Vec<String> = target.keys().cloned().collect();
    match keys.get((choice / 7) % (keys.len() + 1)) {
        Some(key) => target.insert(key.clone(), Value::Null),
        None => target.insert("unexpected".into(), json!(1)),
    };
    Some(body)
}

/// One write route: where to send, which operation of the spec describes it, and the pools
/// that keep its generated bodies about data the fixture created.
struct Route {
    method: Method,
    path: &'static str,
    template: &'static str,
    pools: Pools,
}

const P: &str = "/v1/projects/{project}";
const E: &str = "/v1/projects/{project}/environments/{env}";

fn routes() -> Vec<Route> {
    let route = |method, path: &'static str, template: String, pools| Route {
        method,
        path,
        template: Box::leak(template.into_boxed_str()),
        pools,
    };
    vec![
        route(Method::POST, "/v1/projects", "/v1/projects".into(), &[]),
        route(Method::PATCH, "/v1/projects/shop", P.into(), &[]),
        route(
            Method::POST,
            "/v1/projects/shop/environments",
            format!("{P}/environments"),
            &[
                ("name", || vec![json!("qa"), json!("staging")]),
                ("parent", || vec![json!("staging"), Value::Null]),
            ],
        ),
        route(
            Method::PATCH,
            "/v1/projects/shop/environments/production",
            E.into(),
            &[("parent", || vec![json!("staging"), Value::Null])],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/flags",
            format!("{P}/flags"),
            FLAG_POOLS,
        ),
        route(
            Method::PUT,
            "/v1/projects/shop/flags/checkout",
            format!("{P}/flags/{{key}}"),
            FLAG_POOLS,
        ),
        route(
            Method::PUT,
            "/v1/projects/shop/environments/production/flags/checkout",
            format!("{E}/flags/{{key}}"),
            &[
                ("off_variant", || vec![json!("off")]),
                ("split", || {
                    vec![
                        json!([{ "variant": "on", "weight": 10000 }]),
                        json!([{ "variant": "on", "weight": 2500.0 }, { "variant": "off", "weight": 7500 }]),
                    ]
                }),
                ("conditions", || {
                    vec![
                        json!([]),
                        json!([{ "attribute": "plan", "op": "in", "values": ["pro", "team"] }]),
                        json!([{ "op": "in_segment", "values": ["beta"] }]),
                    ]
                }),
            ],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/flags/checkout/rollout",
            format!("{E}/flags/{{key}}/rollout"),
            &[
                ("variant", || vec![json!("on")]),
                ("otherwise", || vec![json!("off")]),
            ],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/flags/checkout/rollback",
            format!("{E}/flags/{{key}}/rollback"),
            &[],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/staging/kill",
            format!("{E}/kill"),
            &[],
        ),
        route(
            Method::PUT,
            "/v1/projects/shop/environments/production/config/greeting",
            format!("{E}/config/{{key}}"),
            &[],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/config/greeting/rollback",
            format!("{E}/config/{{key}}/rollback"),
            &[],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/promote",
            format!("{E}/promote"),
            &[
                ("from", || vec![json!("staging")]),
                ("keys", || vec![json!(["greeting"])]),
            ],
        ),
        route(
            Method::PUT,
            "/v1/projects/shop/environments/production/secrets/API_KEY",
            format!("{E}/secrets/{{name}}"),
            &[],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/secrets/API_KEY/rollback",
            format!("{E}/secrets/{{name}}/rollback"),
            &[],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/segments",
            format!("{P}/segments"),
            SEGMENT_POOLS,
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/flags/checkout/plans",
            format!("{E}/flags/{{key}}/plans"),
            &[
                ("steps", || {
                    vec![
                        json!([{ "percentage": 5, "hold_seconds": 60 }, { "percentage": 100 }]),
                        json!([{ "enabled": true }]),
                    ]
                }),
                ("guards", || vec![json!([])]),
                ("variant", || vec![json!("on")]),
                ("otherwise", || vec![json!("off")]),
            ],
        ),
        route(
            Method::POST,
            "/v1/projects/shop/environments/production/flags/checkout/schedules",
            format!("{E}/flags/{{key}}/schedules"),
            &[
                ("at", || vec![json!("2099-01-01T00:00:00Z")]),
                ("state", || {
                    vec![
                        json!({ "enabled": true, "default_serve": { "variant": "on" }, "off_variant": "off" }),
                    ]
                }),
                ("variant", || vec![json!("on")]),
                ("otherwise", || vec![json!("off")]),
            ],
        ),
        route(
            Method::PUT,
            "/v1/projects/shop/segments/beta",
            format!("{P}/segments/{{name}}"),
            SEGMENT_POOLS,
        ),
        route(
            Method::POST,
            "/v1/projects/shop/webhooks",
            format!("{P}/webhooks"),
            WEBHOOK_POOLS,
        ),
        // No such webhook: a body that passes validation is answered 404.
        route(
            Method::PATCH,
            "/v1/projects/shop/webhooks/0190b3a4-7c1e-7000-8000-000000000000",
            format!("{P}/webhooks/{{webhook}}"),
            WEBHOOK_POOLS,
        ),
        route(Method::POST, "/v1/tokens", "/v1/tokens".into(), &[]),
        route(
            Method::POST,
            "/v1/projects/shop/oidc-policies",
            format!("{P}/oidc-policies"),
            POLICY_POOLS,
        ),
        route(
            Method::PUT,
            "/v1/projects/shop/oidc-policies/deploy",
            format!("{P}/oidc-policies/{{policy}}"),
            POLICY_POOLS,
        ),
        route(
            Method::POST,
            "/v1/evaluate?project=shop&environment=production",
            "/v1/evaluate".into(),
            &[
                ("flags", || vec![json!(["checkout", "missing"]), json!([])]),
                ("attributes", || {
                    vec![json!({}), json!({ "plan": "pro", "age": 30, "beta": true })]
                }),
            ],
        ),
        // A missing flag: a valid context is answered 404, an invalid one 400.
        route(
            Method::POST,
            "/ofrep/v1/evaluate/flags/missing?project=shop&environment=production",
            "/ofrep/v1/evaluate/flags/{key}".into(),
            &[],
        ),
        route(
            Method::POST,
            "/ofrep/v1/evaluate/flags?project=shop&environment=production",
            "/ofrep/v1/evaluate/flags".into(),
            &[],
        ),
    ]
}

/// A policy must anchor the identity and name environments the fixture has (rules beyond the
/// schema, tested in tests/api/oidc.rs).
const POLICY_POOLS: Pools = &[
    ("name", || vec![json!("deploy")]),
    ("issuer", || {
        vec![json!("https://token.actions.githubusercontent.com")]
    }),
    ("audiences", || {
        vec![json!(["https://switchboard.example.com"])]
    }),
    ("bound_claims", || {
        vec![
            json!({ "repository_id": "123456" }),
            json!({ "sub": "repo:org/app:**", "ref": "refs/heads/main" }),
        ]
    }),
    ("environments", || vec![json!(["production"]), json!(["*"])]),
];

const FLAG_POOLS: Pools = &[
    ("key", || vec![json!("checkout")]),
    ("type", || vec![json!("boolean")]),
    ("variants", || {
        vec![json!([{ "key": "on", "value": true }, { "key": "off", "value": false }])]
    }),
];

const WEBHOOK_POOLS: Pools = &[
    ("url", || vec![json!("https://hooks.example.com/in")]),
    ("events", || {
        vec![json!(["*"]), json!(["flag.*", "secret.write"])]
    }),
];

const SEGMENT_POOLS: Pools = &[
    ("name", || vec![json!("beta")]),
    ("conditions", || {
        vec![
            json!([]),
            json!([{ "attribute": "plan", "op": "equals", "values": ["pro"] }]),
        ]
    }),
];

/// The request schema of `method template`, standalone (its `$ref`s resolve inside it).
fn request_schema(spec: &Value, method: &Method, template: &str) -> Value {
    let operation = &spec["paths"][template][method.as_str().to_lowercase()];
    operation["requestBody"]["content"]["application/json"]["schema"].clone()
}

/// Data every route's body can refer to: environments, a flag with a state, a config value and
/// a secret with a first version, a segment.
async fn fixture(app: &TestApp) {
    app.create_project("shop").await;
    app.create_environment("shop", "staging", None).await;
    app.create_environment("shop", "production", Some("staging"))
        .await;
    app.create_boolean_flag("shop", "checkout").await;
    let env = "/v1/projects/shop/environments/production";
    for (path, body) in [
        (format!("{env}/flags/checkout/enable"), None),
        (
            format!("{env}/config/greeting"),
            Some(json!({ "value": "hi" })),
        ),
        (
            "/v1/projects/shop/environments/staging/config/greeting".to_owned(),
            Some(json!({ "value": "hello" })),
        ),
        (
            format!("{env}/secrets/API_KEY"),
            Some(json!({ "value": "s3cr3t" })),
        ),
    ] {
        let method = if body.is_some() {
            Method::PUT
        } else {
            Method::POST
        };
        app.call(method, &path, body).await;
    }
    app.call(
        Method::POST,
        "/v1/projects/shop/segments",
        Some(json!({ "name": "beta", "conditions": [] })),
    )
    .await;
}

on_both_backends!(
    the_server_accepts_a_body_exactly_when_the_spec_says_it_is_valid,
    a_whole_number_written_as_a_float_is_an_integer,
    null_is_refused_where_the_spec_does_not_allow_it,
    a_secret_as_long_as_the_spec_allows_is_stored_whatever_its_bytes,
    rules_that_were_only_prose_are_in_the_schema_and_enforced,
    lengths_in_flag_states_count_characters_as_the_spec_does
);

async fn the_server_accepts_a_body_exactly_when_the_spec_says_it_is_valid(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let spec = spec();
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[13; 32]),
    );
    // Every operation with a JSON body is generated for, so a new route cannot slip past.
    let documented: std::collections::BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        // Its body carries a credential: a body valid by the schema is refused unless its
        // subject token verifies (tests/api/oidc.rs drives that route).
        .filter(|(template, _)| template.as_str() != "/v1/auth/token-exchange")
        .flat_map(|(template, item)| {
            item.as_object()
                .unwrap()
                .iter()
                .filter(|(_, operation)| operation.get("requestBody").is_some())
                .map(|(method, _)| (method.to_uppercase(), template.clone()))
        })
        .collect();
    let generated = routes()
        .iter()
        .map(|route| (route.method.to_string(), route.template.to_owned()))
        .collect();
    assert_eq!(documented, generated, "routes with a JSON body");
    let mut disagreements = Vec::new();
    for route in routes() {
        let schema = request_schema(&spec, &route.method, route.template);
        let mut standalone = schema.clone();
        standalone["components"] = spec["components"].clone();
        let validator = jsonschema::validator_for(&standalone).unwrap();
        let strategy = valid(&spec, &schema, route.pools);
        // Both kinds must be tried, or the route is not tested at all.
        let (mut valid_bodies, mut invalid_bodies) = (0, 0);
        for case in 0..CASES_PER_ROUTE * 2 {
            let body = strategy.new_tree(&mut runner).unwrap().current();
            let body = if case % 2 == 0 {
                body
            } else {
                let choice = any::<usize>().new_tree(&mut runner).unwrap().current();
                changed(&spec, &schema, body, choice)
            };
            let spec_says_valid = validator.is_valid(&body);
            if spec_says_valid {
                valid_bodies += 1;
            } else {
                invalid_bodies += 1;
            }
            let status = app
                .request(route.method.clone(), route.path)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status();
            let accepted = status.is_success()
                || [
                    StatusCode::NOT_FOUND,
                    StatusCode::CONFLICT,
                    StatusCode::PRECONDITION_FAILED,
                ]
                .contains(&status);
            let refused =
                [StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY].contains(&status);
            if (spec_says_valid && !accepted) || (!spec_says_valid && !refused) {
                let shown = body.to_string();
                let shown: String = shown.chars().take(300).collect();
                disagreements.push(format!(
                    "{} {}: spec says {}, server answered {status}: {shown}",
                    route.method,
                    route.path,
                    if spec_says_valid { "valid" } else { "invalid" },
                ));
            }
        }
        assert!(
            valid_bodies > 0 && invalid_bodies > 0,
            "{} {}: {valid_bodies} valid and {invalid_bodies} invalid bodies generated",
            route.method,
            route.path
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

async fn a_whole_number_written_as_a_float_is_an_integer(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let env = "/v1/projects/shop/environments/production";

    let calls = [
        (
            Method::POST,
            format!("{env}/config/greeting/rollback"),
            json!({ "version": 1.0 }),
        ),
        (
            Method::POST,
            format!("{env}/flags/checkout/rollout"),
            json!({ "basis_points": 500.0 }),
        ),
        (Method::PATCH, env.to_owned(), json!({ "position": 2.0 })),
        (
            Method::POST,
            "/v1/tokens".to_owned(),
            json!({ "name": "ci", "scopes": ["flags:read"], "ttl_seconds": 3600.0 }),
        ),
    ];

    for (method, path, body) in calls {
        let response = app
            .request(method.clone(), &path)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path} {body} answered {}",
            response.status()
        );
    }
    let fraction = app
        .post(
            &format!("{env}/config/greeting/rollback"),
            json!({ "version": 1.5 }),
        )
        .await;
    assert_problem(fraction, StatusCode::UNPROCESSABLE_ENTITY).await;
}

async fn null_is_refused_where_the_spec_does_not_allow_it(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let env = "/v1/projects/shop/environments/production";

    let calls = [
        (
            Method::PATCH,
            "/v1/projects/shop".to_owned(),
            json!({ "description": null }),
        ),
        (Method::PATCH, env.to_owned(), json!({ "position": null })),
        (
            Method::POST,
            "/v1/evaluate?project=shop&environment=production".to_owned(),
            json!({ "context": {}, "flags": null }),
        ),
        (
            Method::POST,
            format!("{env}/promote"),
            json!({ "from": "staging", "keys": null }),
        ),
    ];

    for (method, path, body) in calls {
        let response = app.request(method, &path).json(&body).send().await.unwrap();
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            problem["errors"][0]["field"]
                .as_str()
                .unwrap()
                .starts_with("body.")
        );
    }
}

async fn a_secret_as_long_as_the_spec_allows_is_stored_whatever_its_bytes(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let path = "/v1/projects/shop/environments/production/secrets/API_KEY";

    // 65 536 characters (the spec's maxLength) of two bytes each.
    let longest = app
        .request(Method::PUT, path)
        .json(&json!({ "value": "é".repeat(65_536) }))
        .send()
        .await
        .unwrap();
    let too_long = app
        .request(Method::PUT, path)
        .json(&json!({ "value": "é".repeat(65_537) }))
        .send()
        .await
        .unwrap();

    assert!(longest.status().is_success(), "{}", longest.status());
    assert_problem(too_long, StatusCode::UNPROCESSABLE_ENTITY).await;
}

/// Whether openapi.yaml's request schema of `method template` allows `body`.
fn spec_allows(spec: &Value, method: &Method, template: &str, body: &Value) -> bool {
    let mut schema = request_schema(spec, method, template);
    schema["components"] = spec["components"].clone();
    jsonschema::validator_for(&schema).unwrap().is_valid(body)
}

async fn rules_that_were_only_prose_are_in_the_schema_and_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let spec = spec();
    let env = "/v1/projects/shop/environments/production";
    let flag_state = format!("{env}/flags/checkout");

    // (method, path, documented template, a body that breaks a rule once stated only in prose)
    let calls = [
        // A flag's key is required on create.
        (
            Method::POST,
            "/v1/projects/shop/flags".to_owned(),
            format!("{P}/flags"),
            json!({ "type": "boolean" }),
        ),
        // A segment's name is required on create.
        (
            Method::POST,
            "/v1/projects/shop/segments".to_owned(),
            format!("{P}/segments"),
            json!({ "conditions": [] }),
        ),
        // Config values are not null.
        (
            Method::PUT,
            format!("{env}/config/greeting"),
            format!("{E}/config/{{key}}"),
            json!({ "value": null }),
        ),
        // Exactly one of percentage and basis_points: neither, and both.
        (
            Method::POST,
            format!("{flag_state}/rollout"),
            format!("{E}/flags/{{key}}/rollout"),
            json!({}),
        ),
        (
            Method::POST,
            format!("{flag_state}/rollout"),
            format!("{E}/flags/{{key}}/rollout"),
            json!({ "percentage": 5, "basis_points": 500 }),
        ),
        // Percentages in steps of 0.01.
        (
            Method::POST,
            format!("{flag_state}/rollout"),
            format!("{E}/flags/{{key}}/rollout"),
            json!({ "percentage": 12.345 }),
        ),
        // A token's projects are slugs (or `*` alone).
        (
            Method::POST,
            "/v1/tokens".to_owned(),
            "/v1/tokens".to_owned(),
            json!({ "name": "ci", "scopes": ["flags:read"], "projects": ["Not A Slug"] }),
        ),
        (
            Method::POST,
            "/v1/tokens".to_owned(),
            "/v1/tokens".to_owned(),
            json!({ "name": "ci", "scopes": ["flags:read"], "projects": ["*", "shop"] }),
        ),
        // A token's name is not only spaces.
        (
            Method::POST,
            "/v1/tokens".to_owned(),
            "/v1/tokens".to_owned(),
            json!({ "name": "   ", "scopes": ["flags:read"] }),
        ),
        // Rollbacks name a version from 1 up.
        (
            Method::POST,
            format!("{env}/config/greeting/rollback"),
            format!("{E}/config/{{key}}/rollback"),
            json!({ "version": 0 }),
        ),
        // A flag's tags are keys; its variants hold values of its type.
        (
            Method::PUT,
            "/v1/projects/shop/flags/checkout".to_owned(),
            format!("{P}/flags/{{key}}"),
            json!({ "type": "boolean", "tags": ["two words"] }),
        ),
        (
            Method::PUT,
            "/v1/projects/shop/flags/checkout".to_owned(),
            format!("{P}/flags/{{key}}"),
            json!({ "type": "boolean", "variants": [{ "key": "on", "value": "yes" }] }),
        ),
        // A condition has values.
        (
            Method::PUT,
            "/v1/projects/shop/segments/beta".to_owned(),
            format!("{P}/segments/{{name}}"),
            json!({ "conditions": [{ "attribute": "plan", "op": "equals" }] }),
        ),
    ];

    for (method, path, template, body) in calls {
        let allowed = spec_allows(&spec, &method, &template, &body);
        let response = app
            .request(method.clone(), &path)
            .json(&body)
            .send()
            .await
            .unwrap();

        assert!(!allowed, "openapi.yaml allows {method} {path} {body}");
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
}

async fn lengths_in_flag_states_count_characters_as_the_spec_does(backend: Backend) {
    let app = spawn_app(backend).await;
    fixture(&app).await;
    let spec = spec();
    let path = "/v1/projects/shop/environments/production/flags/checkout";
    let template = format!("{E}/flags/{{key}}");
    // 128 characters of two bytes each: the spec's maxLength, twice the old byte limit.
    let long = "é".repeat(128);
    let state = json!({
        "enabled": true,
        "off_variant": "off",
        "rules": [{
            "conditions": [{ "attribute": long, "op": "equals", "values": ["x"] }],
            "serve": { "variant": "on" }
        }],
        "default_serve": {
            "split": [{ "variant": "on", "weight": 5000.0 }, { "variant": "off", "weight": 5000 }],
            "stickiness": long,
            "salt": long
        }
    });
    let mut too_long = state.clone();
    too_long["default_serve"]["salt"] = json!("é".repeat(129));

    let accepted = app
        .request(Method::PUT, path)
        .json(&state)
        .send()
        .await
        .unwrap();
    let refused = app
        .request(Method::PUT, path)
        .json(&too_long)
        .send()
        .await
        .unwrap();

    assert!(spec_allows(&spec, &Method::PUT, &template, &state));
    assert!(accepted.status().is_success(), "{}", accepted.status());
    assert!(!spec_allows(&spec, &Method::PUT, &template, &too_long));
    assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
}
