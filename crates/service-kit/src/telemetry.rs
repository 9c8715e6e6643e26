//! Logs and traces: one init function per process, returning a guard.
//!
//! Logs are JSON lines on stdout (one event per line, fields flattened) so that
//! `make run`, test harnesses and log shippers read the same format; `pretty`
//! is available for humans. Each line carries the trace and span ids of its
//! span and is redacted (see [`crate::redact`]). When an OTLP endpoint is
//! configured, spans are also exported over OTLP/HTTP; W3C trace context is
//! the global propagator either way.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::Deserialize;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::log_format::{RedactingJson, RedactingWriter};

/// Log output format.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (default; what harnesses and shippers parse).
    #[default]
    Json,
    /// Human-readable multi-field lines.
    Pretty,
}

/// Telemetry settings, section `[telemetry]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
pub struct TelemetrySettings {
    /// Log format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// Default filter when `RUST_LOG` is unset, e.g. `info`.
    #[serde(default = "default_filter")]
    pub log_filter: String,
    /// OTLP/HTTP traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`. Off when unset.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
}

fn default_filter() -> String {
    "info".to_owned()
}

/// Telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed.
    #[error("cannot install the tracing subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
}

/// Flushes exported spans when dropped (or explicitly with [`TelemetryGuard::shutdown`]).
#[must_use = "dropping the guard flushes and stops span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Flushes and stops the exporter.
    pub fn shutdown(mut self) {
        self.flush();
    }

    fn flush(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("Span exporter did not shut down cleanly: {error}");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Installs the global subscriber for `service`. Call once, first thing in `main`.
pub fn init(service: &str, settings: &TelemetrySettings) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(settings.log_filter.as_str()));
    // Both formats pass through the redaction rules of `crate::redact`.
    let fmt_layer = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(RedactingJson)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .pretty()
            .with_writer(RedactingWriter(std::io::stdout))
            .boxed(),
    };

    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    // Spans always get OpenTelemetry ids, exported or not: log lines carry
    // trace ids and the W3C context propagates through this service even
    // when only its neighbours export.
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel_layer =
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.to_owned()));
    let provider = Some(provider);

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}
