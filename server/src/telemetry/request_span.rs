//! The span every request runs in, and the one line its outcome is logged with.
//!
//! tracing-actix-web's default span records `http.target` as the path *with its query string*
//! (where a careless client puts `?access_token=...`) and the error's `Display` and `Debug` as
//! `exception.message`/`exception.details` (where a validation message may quote a submitted
//! value); its default feature also logs every 4xx at WARN, so an anonymous client can fill the
//! disk. This builder records the route pattern and the path only, the problem's `type` slug
//! instead of its text, logs client errors at DEBUG (with a once-a-minute INFO summary of how
//! many there were) and server errors at ERROR.
//!
//! It is on every request's path, so it costs what its readers need (issue 21): nothing at a
//! level that is off, three fields formatted once for the log layer, and the OpenTelemetry
//! fields (route, name, status, parent context) only when spans are exported.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{Error, HttpMessage};
use opentelemetry::propagation::Extractor;
use tracing::Span;
use tracing::field::Empty;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::RoutePattern;
use crate::error::ApiError;

/// How often, at most, the count of client errors is logged at INFO.
const SUMMARY_INTERVAL_SECS: u64 = 60;

/// Client errors since the last summary, and when that summary was written (Unix seconds).
static CLIENT_ERRORS: AtomicU64 = AtomicU64::new(0);
static LAST_SUMMARY: AtomicU64 = AtomicU64::new(0);

/// Whether spans are exported (an OTLP endpoint is configured); set once by `telemetry::init`.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Tells the request spans that an exporter records them, so they carry the OpenTelemetry
/// fields (route, name, status) too.
pub(super) fn set_exporting(exporting: bool) {
    EXPORTING.store(exporting, Ordering::Relaxed);
}

/// The [`RootSpanBuilder`] of the service; see the module documentation.
#[derive(Debug)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        // Field values are only evaluated for a span some layer records: at a level that is
        // off and without an exporter, a request pays for a level check. Without an exporter
        // the log layer is the only reader: it gets the fields a log line needs, formatted
        // once, and nothing is recorded later (the lines written at the end of a request carry
        // their status, problem and route themselves).
        let id = || RequestIdField(request.extensions().get::<RequestId>().copied());
        if !EXPORTING.load(Ordering::Relaxed) {
            return tracing::info_span!(
                "HTTP request",
                http.method = %request.method().as_str(),
                // The path without the query string: values in a query never reach a log.
                http.target = %request.path(),
                request_id = %id(),
            );
        }
        // The route is not known before routing; it is recorded when the request ends.
        let span = tracing::info_span!(
            "HTTP request",
            http.method = %request.method().as_str(),
            http.route = Empty,
            http.target = %request.path(),
            http.status_code = Empty,
            otel.name = Empty,
            otel.kind = "server",
            otel.status_code = Empty,
            request_id = %id(),
            // The problem `type` slug, never the detail, which may describe submitted input.
            exception.message = Empty,
        );
        if !span.is_disabled() {
            // Continue the caller's trace when it sent a `traceparent`.
            let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
                propagator.extract(&Headers(request.headers()))
            });
            let _ = span.set_parent(parent);
        }
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(response) => (response.status(), response.response().error()),
            Err(error) => (error.as_response_error().status_code(), Some(error)),
        };
        let problem = error.map(|error| match error.as_error::<ApiError>() {
            Some(api) => api.slug(),
            None => "http",
        });
        let route = route_of(outcome);
        if EXPORTING.load(Ordering::Relaxed) && !span.is_disabled() {
            record_outcome(&span, outcome, route, status, problem);
        }
        let problem = problem.unwrap_or("none");
        if status.is_server_error() {
            tracing::error!(parent: &span, status = status.as_u16(), problem, route, "request failed");
        } else if status.is_client_error() {
            tracing::debug!(parent: &span, status = status.as_u16(), problem, route, "request refused");
            count_client_error();
        } else if status == StatusCode::SWITCHING_PROTOCOLS {
            tracing::debug!(parent: &span, "protocol switched");
        }
    }
}

/// The request id as a span field, formatted (without allocating) only if a layer records it.
struct RequestIdField(Option<RequestId>);

impl std::fmt::Display for RequestIdField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(id) => std::fmt::Display::fmt(&id.hyphenated(), f),
            None => Ok(()),
        }
    }
}

/// The route the request matched (its resource's [`RoutePattern`]), or `unmatched`.
fn route_of<B>(outcome: &Result<ServiceResponse<B>, Error>) -> &str {
    outcome
        .as_ref()
        .ok()
        .and_then(|response| response.request().app_data::<RoutePattern>())
        .map_or("unmatched", RoutePattern::as_str)
}

/// What an exported span learns when the request ends: its route and OpenTelemetry name
/// (`METHOD /route`), its status, and the problem slug of an error.
fn record_outcome<B>(
    span: &Span,
    outcome: &Result<ServiceResponse<B>, Error>,
    route: &str,
    status: StatusCode,
    problem: Option<&str>,
) {
    span.record("http.route", route);
    let method = outcome
        .as_ref()
        .map_or("", |response| response.request().method().as_str());
    span.record("otel.name", format_args!("{method} {route}"));
    span.record("http.status_code", status.as_u16());
    let otel_status = if status.is_server_error() {
        "ERROR"
    } else {
        "OK"
    };
    span.record("otel.status_code", otel_status);
    if let Some(problem) = problem {
        span.record("exception.message", problem);
    }
}

/// Counts a client error and, at most once a minute, logs how many there were at INFO: an
/// operator sees a flood without the flood being written line by line.
fn count_client_error() {
    CLIENT_ERRORS.fetch_add(1, Ordering::Relaxed);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let last = LAST_SUMMARY.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= SUMMARY_INTERVAL_SECS
        && LAST_SUMMARY
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        let count = CLIENT_ERRORS.swap(0, Ordering::Relaxed);
        tracing::info!(
            client_errors = count,
            interval_secs = SUMMARY_INTERVAL_SECS,
            "client errors (4xx) since the last summary; each is logged at DEBUG"
        );
    }
}

/// Request headers as an OpenTelemetry propagation carrier.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}
