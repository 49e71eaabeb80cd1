//! Logs, traces and metrics.
//!
//! - Logs: `tracing` to stderr, as text or one JSON object per line (`SWITCHBOARD_LOG_FORMAT`).
//!   Every request runs in a span carrying its request id (also returned as `x-request-id`).
//! - Traces: exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` (or the traces-specific
//!   variable) is set; the exporter reads the other standard `OTEL_*` variables itself, and an
//!   incoming `traceparent` header continues the caller's trace.
//! - Metrics: Prometheus text at `/metrics`: request counts and latency by route pattern (never
//!   the raw path, which would explode cardinality and could carry names) and status, and
//!   refused credentials by reason (`auth_refusals_total`), which are not logged above DEBUG.
//! - What a request logs and records: see [`RequestSpan`].

mod request_span;
mod route;

pub use request_span::RequestSpan;
pub use route::RoutePattern;

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, Settings};

/// Flushes exported traces when dropped at shutdown.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("switchboard: flushing traces failed: {error}");
        }
    }
}

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Installs the global subscriber. Safe to call more than once (later calls change nothing),
/// which tests rely on.
pub fn init(settings: &Settings) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_new(&settings.log)?;
    let fmt = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let mut guard = TelemetryGuard::default();
    let exporting = otlp_configured();
    let otel = if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()
            .map_err(|e| anyhow::anyhow!("OTEL_EXPORTER_OTLP_ENDPOINT: {e}"))?;
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("switchboard")
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("switchboard");
        opentelemetry::global::set_tracer_provider(provider.clone());
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        guard.provider = Some(provider);
        Some(tracing_opentelemetry::layer().with_tracer(tracer))
    } else {
        None
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    // Only the subscriber actually installed decides what request spans carry.
    if installed.is_ok() {
        request_span::set_exporting(exporting);
    }
    Ok(guard)
}

/// The service's Prometheus registry.
#[derive(Clone, Debug)]
pub struct Metrics {
    registry: Registry,
    /// Read through [`RoutePattern::observe`], which resolves each label set once.
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    /// Open `/v1/sdk/stream` connections.
    pub streams: IntGauge,
    /// 401s and 403s by [`AuthRefusal`] reason: refusals are logged at DEBUG only (an anonymous
    /// client must not be able to fill the disk), so this is where an operator sees them.
    refusals: IntCounterVec,
    /// 1 while a dependency (`database`, `redis`) answered its last readiness check, else 0:
    /// a degradation the instance survives shows here without taking it out of service.
    pub dependency_up: IntGaugeVec,
}

/// Why a request's credentials were refused, left in the request's extensions by whoever
/// refused it so that [`observe`] counts the 401 under its reason.
#[derive(Clone, Copy, Debug)]
pub struct AuthRefusal(pub &'static str);

impl Metrics {
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("switchboard".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &["method", "route"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")?;
        let streams = IntGauge::new("sdk_streams_open", "Open server-sent-event streams")?;
        let refusals = IntCounterVec::new(
            Opts::new(
                "auth_refusals_total",
                "Requests refused for their credentials (401) or their reach (403), by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(refusals.clone()))?;
        registry.register(Box::new(streams.clone()))?;
        let dependency_up = IntGaugeVec::new(
            Opts::new(
                "dependency_up",
                "Whether a dependency answered its last readiness check (1) or not (0)",
            ),
            &["dependency"],
        )?;
        registry.register(Box::new(dependency_up.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            streams,
            refusals,
            dependency_up,
        })
    }

    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(error) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(%error, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Counts one request in `http_requests_in_flight` for as long as it lives. Decremented on
/// drop, because a request is not always finished: when the client goes away mid-request, the
/// server drops the request's future where it stands.
struct InFlight(IntGauge);

impl InFlight {
    fn enter(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware: counts and times each request by route pattern and echoes its request id.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let started = Instant::now();
    let in_flight = metrics.as_ref().map(|m| InFlight::enter(&m.in_flight));
    let result = next.call(req).await;
    drop(in_flight);
    let mut response = result?;
    if let Some(m) = &metrics {
        let request = response.request();
        let status = response.status();
        let seconds = started.elapsed().as_secs_f64();
        match request.app_data::<RoutePattern>() {
            Some(route) => route.observe(m, request.method(), status.as_u16(), seconds),
            None => route::observe_unmatched(m, request.method(), status.as_u16(), seconds),
        }
        let refusal = match status {
            StatusCode::UNAUTHORIZED => Some(
                request
                    .extensions()
                    .get::<AuthRefusal>()
                    .map_or("unauthenticated", |refusal| refusal.0),
            ),
            StatusCode::FORBIDDEN => Some("forbidden"),
            _ => None,
        };
        if let Some(reason) = refusal {
            m.refusals.with_label_values(&[reason]).inc();
        }
    }
    let request_id = response
        .request()
        .extensions()
        .get::<tracing_actix_web::RequestId>()
        .and_then(request_id_header);
    if let Some(id) = request_id {
        response.headers_mut().insert(REQUEST_ID.clone(), id);
    }
    Ok(response)
}

/// The request id as a header value, written without an intermediate `String`.
fn request_id_header(id: &tracing_actix_web::RequestId) -> Option<HeaderValue> {
    let mut buffer = [0; uuid::fmt::Hyphenated::LENGTH];
    let text = id.hyphenated().encode_lower(&mut buffer);
    HeaderValue::from_str(text).ok()
}
