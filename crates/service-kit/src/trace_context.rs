//! W3C trace context (`traceparent`, `tracestate`) carried in NATS message headers.
//!
//! A publisher calls [`inject`] while its span is current; a consumer calls
//! [`set_parent`] (or [`extract`]) on the span it opens for the message, so
//! one won deal is one trace across ingress, the flow services and
//! monitoring. The W3C propagator is used directly rather than the global
//! one, so propagation works even in processes that never installed a global
//! propagator (tests, tools).

use async_nats::HeaderMap;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The W3C header carrying the trace id, parent span id and sampling flag.
pub const TRACEPARENT: &str = "traceparent";

/// Writes the context of the current span into `headers`.
///
/// Writes nothing when there is no valid current context (no span, or no
/// OpenTelemetry layer installed), so a consumer then starts a new trace.
pub fn inject(headers: &mut HeaderMap) {
    inject_context(&tracing::Span::current().context(), headers);
}

/// Writes `context` into `headers`.
pub fn inject_context(context: &opentelemetry::Context, headers: &mut HeaderMap) {
    if context.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(context, &mut NatsHeaders(headers));
    }
}

/// Reads the remote parent context from message headers (empty when absent or malformed).
pub fn extract(headers: Option<&HeaderMap>) -> opentelemetry::Context {
    match headers {
        Some(headers) => TraceContextPropagator::new().extract(&NatsHeadersRef(headers)),
        None => opentelemetry::Context::new(),
    }
}

/// Makes the trace in `headers` the parent of `span` (call before entering it).
///
/// Does nothing when the headers carry no valid context, so the span stays a root.
pub fn set_parent(span: &tracing::Span, headers: Option<&HeaderMap>) {
    let parent = extract(headers);
    if parent.span().span_context().is_valid() {
        // Only fails when no OpenTelemetry layer is installed; the span is then untraced anyway.
        let _ = span.set_parent(parent);
    }
}

/// The trace id of the current span as 32 hex digits, when it has one.
pub fn current_trace_id() -> Option<String> {
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

struct NatsHeaders<'a>(&'a mut HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value);
    }
}

struct NatsHeadersRef<'a>(&'a HeaderMap);

impl Extractor for NatsHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn remote_context() -> opentelemetry::Context {
        opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c_u128),
            SpanId::from(0xb7ad_6b71_6920_3331_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        ))
    }

    #[test]
    fn a_context_round_trips_through_nats_headers() {
        let mut headers = HeaderMap::new();
        inject_context(&remote_context(), &mut headers);
        assert_eq!(
            headers.get(TRACEPARENT).map(|v| v.as_str()),
            Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        );
        let extracted = extract(Some(&headers));
        let span = extracted.span();
        assert_eq!(
            span.span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert!(span.span_context().is_remote());
    }

    #[test]
    fn nothing_is_injected_without_a_valid_context() {
        let mut headers = HeaderMap::new();
        inject_context(&opentelemetry::Context::new(), &mut headers);
        assert!(headers.is_empty());
        assert!(!extract(None).span().span_context().is_valid());
    }

    #[test]
    fn a_malformed_traceparent_is_ignored() {
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, "00-nonsense");
        assert!(!extract(Some(&headers)).span().span_context().is_valid());
    }

    #[test]
    fn a_span_continues_the_trace_from_headers() {
        use tracing_subscriber::layer::SubscriberExt as _;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let tracer = opentelemetry::trace::TracerProvider::tracer(&provider, "test");
        let subscriber =
            tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
        tracing::subscriber::with_default(subscriber, || {
            let mut headers = HeaderMap::new();
            inject_context(&remote_context(), &mut headers);
            let span = tracing::info_span!("consume");
            set_parent(&span, Some(&headers));
            let _entered = span.enter();
            assert_eq!(
                current_trace_id().as_deref(),
                Some("0af7651916cd43dd8448eb211c80319c")
            );
            // What this span publishes carries the same trace onward.
            let mut onward = HeaderMap::new();
            inject(&mut onward);
            let traceparent = onward.get(TRACEPARENT).map(|v| v.as_str().to_owned());
            assert!(
                traceparent
                    .as_deref()
                    .is_some_and(|t| t.starts_with("00-0af7651916cd43dd8448eb211c80319c-")),
                "{traceparent:?}"
            );
        });
    }
}
