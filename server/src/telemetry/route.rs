//! The route a request matched, as its resource's app data, with the metric handles of its
//! label sets resolved once.
//!
//! Labelling a request by route used to cost two walks of actix's route map (`match_pattern`,
//! once before routing for the span and once after it for the metrics, each allocating the
//! pattern), then for each metric a hash of the label strings and a look-up under the
//! registry's lock, with the method and status turned into new `String`s. Each resource now
//! carries its pattern ([`RoutePattern`], registered in `api::resource`), and the first request
//! with a given method and status resolves that label set's counter and histogram, which every
//! later one reuses: no allocation, no string hashing. Routes are built per worker, so the
//! little lock around a route's resolved handles is only ever taken by one thread.

use std::sync::{Arc, RwLock};

use actix_web::http::Method;
use prometheus::{Histogram, IntCounter};

use super::Metrics;

/// A resource's full path pattern, e.g. `/v1/projects/{project}`.
#[derive(Clone, Debug)]
pub struct RoutePattern(Arc<Route>);

#[derive(Debug)]
struct Route {
    pattern: Box<str>,
    resolved: RwLock<Vec<Resolved>>,
}

/// One label set's handles.
#[derive(Debug)]
struct Resolved {
    method: Method,
    status: u16,
    requests: IntCounter,
    latency: Histogram,
}

/// How many label sets a route keeps; past that (a client trying odd methods), the rest are
/// resolved through the registry on each request.
const MAX_RESOLVED: usize = 32;

impl RoutePattern {
    pub fn new(pattern: &str) -> Self {
        Self(Arc::new(Route {
            pattern: pattern.into(),
            resolved: RwLock::new(Vec::new()),
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0.pattern
    }

    /// Counts a request and records its latency under this route.
    pub(super) fn observe(&self, metrics: &Metrics, method: &Method, status: u16, seconds: f64) {
        let hit = |resolved: &[Resolved]| {
            resolved
                .iter()
                .find(|r| r.status == status && r.method == method)
                .map(|r| {
                    r.requests.inc();
                    r.latency.observe(seconds);
                })
        };
        if let Ok(resolved) = self.0.resolved.read()
            && hit(&resolved).is_some()
        {
            return;
        }
        let labels = [method.as_str(), &self.0.pattern, &status.to_string()];
        let requests = metrics.requests.with_label_values(&labels);
        let latency = metrics.latency.with_label_values(&labels[..2]);
        requests.inc();
        latency.observe(seconds);
        if let Ok(mut resolved) = self.0.resolved.write()
            && resolved.len() < MAX_RESOLVED
        {
            resolved.push(Resolved {
                method: method.clone(),
                status,
                requests,
                latency,
            });
        }
    }
}

/// Counts a request no route matched (or whose route is unknown), through the registry.
pub(super) fn observe_unmatched(metrics: &Metrics, method: &Method, status: u16, seconds: f64) {
    let status = status.to_string();
    metrics
        .requests
        .with_label_values(&[method.as_str(), "unmatched", &status])
        .inc();
    metrics
        .latency
        .with_label_values(&[method.as_str(), "unmatched"])
        .observe(seconds);
}
