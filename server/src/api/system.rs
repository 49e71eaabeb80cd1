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

/// Ready: this instance can serve its traffic, which it can once started. A dependency that
/// is down is reported in the body (and in `switchboard_dependency_up`), not as `503`: see
/// `crate::readiness` for why. Answers the last background check, so it never waits.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let report = state.readiness.report();
    HttpResponse::Ok().json(json!({
        "status": if report.degraded() { "degraded" } else { "ready" },
        "checks": {
            "database": report.database.as_str(),
            "redis": report.redis.as_str(),
        }
    }))
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
