//! Logs and traces.
//!
//! Logs go to stdout through `tracing-subscriber`, human-readable or JSON
//! (where each line written inside a span carries `trace_id` and `span_id`),
//! filtered by `RUST_LOG` (or the configured filter). Spans always carry W3C
//! trace context, so a trace id follows a request edge → order →
//! product/payment; they are exported over OTLP/gRPC only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use http::HeaderMap;
use opentelemetry::{Context, global, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

mod logs;

pub use logs::WithTraceIds;

/// The variable that switches OTLP export on, per the OpenTelemetry spec.
pub const OTLP_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// How log lines look.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event, coloured on a terminal.
    #[default]
    Pretty,
    /// One JSON object per event, for log collectors.
    Json,
}

/// The `[telemetry]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    pub log_format: LogFormat,
    /// `tracing` filter directives; `RUST_LOG` overrides them.
    pub log_filter: String,
    /// OTLP/gRPC collector to export spans to; unset, the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` decides, and without it nothing is
    /// exported.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            log_filter: "info".to_owned(),
            otlp_endpoint: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("a global subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the tracer provider alive; dropping it flushes pending spans.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber and propagator. Call once, inside the Tokio
/// runtime (the OTLP exporter needs it).
pub fn init(
    service_name: &'static str,
    config: &TelemetryConfig,
) -> Result<TelemetryGuard, TelemetryError> {
    init_with_writer(service_name, config, std::io::stdout)
}

/// [`init`], writing log lines to `writer` instead of stdout (tests).
pub fn init_with_writer<W>(
    service_name: &'static str,
    config: &TelemetryConfig,
    writer: W,
) -> Result<TelemetryGuard, TelemetryError>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives)?,
        _ => EnvFilter::try_new(&config.log_filter)?,
    };
    let endpoint = config.otlp_endpoint.clone().or_else(|| {
        std::env::var(OTLP_ENDPOINT_ENV)
            .ok()
            .filter(|v| !v.is_empty())
    });
    let provider = tracer_provider(service_name, endpoint)?;
    global::set_text_map_propagator(TraceContextPropagator::new());

    let dispatch = logs::DispatchCell::default();
    let fmt = match config.log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => {
            let json = tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(true);
            tracing_subscriber::fmt::layer()
                .json()
                .with_writer(writer)
                .event_format(logs::WithTraceIds::new(json, dispatch.clone()))
                .boxed()
        }
    };
    // Source locations, threads and busy/idle times would add five
    // attributes to every span; a trace backend needs none of them.
    let otel = tracing_opentelemetry::layer()
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_tracer(provider.tracer(service_name));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .with(dispatch)
        .try_init()?;
    global::set_tracer_provider(provider.clone());
    Ok(TelemetryGuard { provider })
}

/// A provider that always mints trace context (so ids propagate and show in
/// logs) and exports only when asked to.
fn tracer_provider(
    service_name: &'static str,
    otlp_endpoint: Option<String>,
) -> Result<SdkTracerProvider, TelemetryError> {
    use opentelemetry_otlp::WithExportConfig;
    let resource = Resource::builder().with_service_name(service_name).build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = otlp_endpoint {
        // Other settings come from the standard OTEL_EXPORTER_OTLP_* variables.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// The W3C trace context carried by incoming request headers.
pub fn extract_context(headers: &HeaderMap) -> Context {
    bazaar_observe::propagation::extract(headers)
}

/// Writes the current span's trace context into outgoing request headers.
pub fn inject_current_context(headers: &mut HeaderMap) {
    let context = tracing::Span::current().context();
    bazaar_observe::propagation::inject(&context, headers);
}

/// The current span's trace id, when it has one (for error messages and logs).
pub fn current_trace_id() -> Option<String> {
    use opentelemetry::trace::TraceContextExt;
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}
