//! `/healthz`, `/readyz` and `/metrics` for monitoring.
//!
//! The shared admin router answers `/readyz` from one flag; monitoring also
//! needs Postgres and NATS to serve its API, so its readiness checks both on
//! every probe and names the dependency that fails. Kubernetes then stops
//! routing to a replica that cannot answer instead of letting it answer 503s.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crmerp_service_kit::Readiness;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::Problem;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Probe {
    /// The event log.
    pub pool: PgPool,
    /// The NATS connection JetStream uses.
    pub nats: async_nats::Client,
    /// Set once the event-log consumers are bound.
    pub ingest: Readiness,
    /// How long Postgres may take to answer.
    pub timeout: Duration,
    /// Why alerting is off, or `None` when it is on. Shown, never a reason to
    /// stop routing: the API serves without alerts.
    pub alerting_off: Option<&'static str>,
}

/// One dependency's state.
#[derive(Debug, Serialize)]
pub struct Check {
    /// `postgres`, `nats` or `ingest`.
    pub name: &'static str,
    /// True when it can serve.
    pub ok: bool,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Probe {
    /// `"alerting": "on"`, or `"off"` with `"alerting_reason"`.
    fn alerting(&self) -> serde_json::Value {
        match self.alerting_off {
            None => serde_json::json!({"alerting": "on"}),
            Some(reason) => serde_json::json!({"alerting": "off", "alerting_reason": reason}),
        }
    }

    /// Checks every dependency now.
    pub async fn check(&self) -> Vec<Check> {
        let postgres =
            match tokio::time::timeout(self.timeout, sqlx::query("SELECT 1").execute(&self.pool))
                .await
            {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(error.to_string()),
                Err(_) => Some(format!("no answer within {:?}", self.timeout)),
            };
        let nats = match self.nats.connection_state() {
            async_nats::connection::State::Connected => None,
            other => Some(format!("connection {other}")),
        };
        let ingest = (!self.ingest.is_ready())
            .then(|| "the event-log consumers are not bound yet".to_owned());
        [("postgres", postgres), ("nats", nats), ("ingest", ingest)]
            .into_iter()
            .map(|(name, error)| Check {
                name,
                ok: error.is_none(),
                error,
            })
            .collect()
    }
}

/// The 503 answer: a problem naming what fails, with every check.
#[derive(Serialize)]
struct NotReady<'a> {
    #[serde(flatten)]
    problem: Problem<'a>,
    checks: Vec<Check>,
    #[serde(flatten)]
    alerting: serde_json::Value,
}

async fn readyz(State(probe): State<Probe>) -> Response {
    let checks = probe.check().await;
    let failing: Vec<String> = checks
        .iter()
        .filter_map(|c| c.error.as_ref().map(|error| format!("{}: {error}", c.name)))
        .collect();
    if failing.is_empty() {
        let mut body = probe.alerting();
        body["status"] = "ready".into();
        body["checks"] = serde_json::to_value(&checks).unwrap_or_default();
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    tracing::warn!(failing = ?failing, "Not ready.");
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let body = NotReady {
        problem: Problem::new(
            status,
            "unavailable",
            "Not ready",
            format!("not ready: {}", failing.join("; ")),
        ),
        checks,
        alerting: probe.alerting(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(crate::error::PROBLEM_JSON),
    );
    response
}

/// `/healthz` (the process answers), `/readyz` (it can serve) and `/metrics`.
pub fn admin_router(probe: Probe, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(probe)
        .route(
            "/metrics",
            get(move || {
                let body = metrics
                    .as_ref()
                    .map(PrometheusHandle::render)
                    .unwrap_or_default();
                async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body) }
            }),
        )
}
