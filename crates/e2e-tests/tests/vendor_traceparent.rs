//! Outbound vendor calls carry the W3C `traceparent` of the deal's trace, so
//! the ERP and CRM calls are part of it (and a tracing-aware vendor or proxy
//! can continue it).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use crmerp_connector::CallLog;
use crmerp_connector::http_client::execute;
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test]
async fn a_vendor_call_carries_the_trace_of_the_current_span() -> anyhow::Result<()> {
    // A vendor that remembers the traceparent it was sent.
    let seen: Arc<Mutex<Option<String>>> = Arc::default();
    let router = Router::new().route(
        "/record",
        get({
            let seen = Arc::clone(&seen);
            move |headers: HeaderMap| async move {
                *seen.lock().unwrap() = headers
                    .get("traceparent")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/record", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });

    // What every service's telemetry::init installs.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let span = tracing::info_span!("flow.process");
    let trace_id = span.context().span().span_context().trace_id().to_string();
    let response = execute(
        &CallLog::new(),
        "netsuite",
        "GET /record",
        reqwest::Client::new().get(&url),
    )
    .instrument(span)
    .await?;
    assert!(response.is_success());

    let traceparent = seen.lock().unwrap().clone().unwrap_or_default();
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")),
        "traceparent {traceparent:?} is not in trace {trace_id}"
    );
    Ok(())
}
