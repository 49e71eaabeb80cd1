//! Operational endpoints, open without a token: liveness, readiness, metrics, the contract.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::Routes;
use crate::state::AppState;

pub fn routes(routes: &mut Routes) {
    routes
        .add(Method::GET, "/healthz", healthz)
        .add(Method::GET, "/readyz", readyz)
        .add(Method::GET, "/metrics", metrics)
        .add(Method::GET, "/openapi.yaml", openapi);
}

/// The contract, compiled in so the running server always serves its own.
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");

/// Alive: the process answers. Says nothing about its dependencies (that is `/readyz`).
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready: the database answers and, when configured, Redis does.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = state.store.ping().await.is_ok();
    let redis = match &state.redis {
        Some(redis) => Some(redis.ping().await.is_ok()),
        None => None,
    };
    let ready = database && redis.unwrap_or(true);
    let word = |up: bool| if up { "ok" } else { "unavailable" };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {
            "database": word(database),
            "redis": redis.map_or("not configured", word),
        }
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}
