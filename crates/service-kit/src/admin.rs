//! Admin endpoints every service exposes: `/healthz`, `/readyz`, `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Whether the service can do useful work (e.g. NATS connected, consumer bound).
///
/// Liveness (`/healthz`) only says the process answers; readiness (`/readyz`)
/// says it should receive traffic.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A new, not-yet-ready flag.
    pub fn new() -> Self {
        Self::default()
    }
    /// Marks the service ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }
    /// True when ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
struct AdminState {
    readiness: Readiness,
    metrics: Option<PrometheusHandle>,
}

/// Installs the process-wide Prometheus recorder for the `metrics` facade.
///
/// Returns `None` when a recorder is already installed (a second service in
/// the same test process); metrics then go to the first recorder.
/// Must be called inside a Tokio runtime: it spawns the recorder's upkeep,
/// which drains histogram samples even when nobody scrapes `/metrics` (without
/// it every sample is kept until the next scrape, an unbounded growth).
pub fn install_metrics() -> Option<PrometheusHandle> {
    let handle = prometheus_builder().install_recorder().ok()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            ticker.tick().await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}

/// Bucket bounds (seconds) of every `*_seconds` histogram: vendor calls and
/// whole-event processing, from a fast local answer to a slow ERP create.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The exporter's configuration: `*_seconds` metrics are real histograms
/// (`_bucket` series), so `histogram_quantile` works and sums across replicas;
/// summaries (the exporter's default) can do neither.
fn prometheus_builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), LATENCY_BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new())
}

/// The admin routes, to merge into a service's router or serve on their own.
pub fn router(readiness: Readiness, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AdminState { readiness, metrics })
}

/// `/healthz` and `/metrics` only, for a service that answers `/readyz` itself
/// (e.g. with the state of each dependency).
pub fn liveness_and_metrics_router(metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .with_state(AdminState {
            readiness: Readiness::new(),
            metrics,
        })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn render_metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let body = state
        .metrics
        .as_ref()
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Logs where a listener is bound, in the one shape harnesses and `make run` parse:
/// `{"message":"Listening.","listener":"<name>","addr":"<ip:port>"}`.
pub fn announce_listener(listener: &str, addr: SocketAddr) {
    tracing::info!(listener, addr = %addr, "Listening.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_metrics_are_exported_as_histograms_with_buckets() {
        let recorder = prometheus_builder().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("crmerp_vendor_call_seconds", "system" => "netsuite").record(0.2);
        });
        let text = handle.render();
        assert!(
            text.contains("# TYPE crmerp_vendor_call_seconds histogram"),
            "{text}"
        );
        assert!(
            text.contains("crmerp_vendor_call_seconds_bucket{system=\"netsuite\",le=\"0.25\"} 1"),
            "{text}"
        );
    }
}
