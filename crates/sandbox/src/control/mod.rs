//! The `/__sandbox/` control plane shared by every simulator: fault injection, the request log,
//! state dumps and resets.

mod faults;
mod requests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use faults::FaultInjector;
pub use faults::{FaultBody, FaultSpec, OVERSIZED_BODY_BYTES};
use requests::{RequestLog, RequestRecord};

use crate::conn::ConnHandle;

/// Prefix of the control endpoints; requests under it are never faulted, logged or authenticated.
pub(crate) const CONTROL_PREFIX: &str = "/__sandbox";

/// Renders a vendor's own error response for an injected fault status (with an optional
/// `Retry-After` in seconds).
pub(crate) type FaultRenderer = fn(StatusCode, Option<u64>) -> Response;

/// What each vendor exposes to the control plane.
pub(crate) trait VendorControl: Send + Sync + 'static {
    /// The vendor's whole state as JSON.
    fn dump_state(&self) -> Result<Value, serde_json::Error>;
    /// Clears the vendor's state (and vendor-specific logs).
    fn reset(&self);
}

/// Faults and request log of one simulator.
pub(crate) struct ControlPlane {
    faults: FaultInjector,
    requests: RequestLog,
    render_fault: FaultRenderer,
}

impl ControlPlane {
    /// Creates a control plane whose faults are rendered by `render_fault`.
    pub(crate) fn new(render_fault: FaultRenderer) -> Arc<Self> {
        Arc::new(Self {
            faults: FaultInjector::default(),
            requests: RequestLog::default(),
            render_fault,
        })
    }

    /// Clears faults and the request log.
    pub(crate) fn reset(&self) {
        self.faults.clear();
        self.requests.clear();
    }
}

/// Wraps a vendor router: merges the control endpoints and adds the fault and logging layer.
pub(crate) fn wrap(
    vendor_router: Router,
    plane: Arc<ControlPlane>,
    vendor: Arc<dyn VendorControl>,
) -> Router {
    let state = ControlState {
        plane: Arc::clone(&plane),
        vendor,
    };
    let control = Router::new()
        .route(
            "/__sandbox/faults",
            get(get_faults).post(set_fault).delete(clear_faults),
        )
        .route(
            "/__sandbox/requests",
            get(list_requests).delete(clear_requests),
        )
        .route("/__sandbox/state", get(dump_state))
        .route("/__sandbox/reset", post(reset))
        .with_state(state);
    vendor_router
        .merge(control)
        .layer(middleware::from_fn_with_state(plane, observe))
}

#[derive(Clone)]
struct ControlState {
    plane: Arc<ControlPlane>,
    vendor: Arc<dyn VendorControl>,
}

/// Applies faults to vendor requests and records every vendor request in the log.
async fn observe(State(plane): State<Arc<ControlPlane>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with(CONTROL_PREFIX) {
        return next.run(request).await;
    }
    let started = Instant::now();
    let time = Utc::now();
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);

    let decision = plane.faults.decide(&method, &path);
    let respond_after = decision
        .as_ref()
        .filter(|spec| spec.respond_after_ms > 0)
        .map(|spec| Duration::from_millis(spec.respond_after_ms));
    let (response, status, fault) = match decision {
        None => {
            let response = next.run(request).await;
            let status = response.status().as_u16();
            (response, status, false)
        }
        Some(spec) => {
            if spec.latency_ms > 0 {
                tokio::time::sleep(Duration::from_millis(spec.latency_ms)).await;
            }
            if spec.body != FaultBody::Vendor {
                let response = faulted_body(&spec);
                let status = response.status().as_u16();
                (response, status, true)
            } else if spec.status == 0 {
                drop_connection(&request);
                (StatusCode::SERVICE_UNAVAILABLE.into_response(), 0, true)
            } else if (200..300).contains(&spec.status) {
                let response = next.run(request).await;
                let status = response.status().as_u16();
                (response, status, true)
            } else {
                let status =
                    StatusCode::from_u16(spec.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let response = (plane.render_fault)(status, spec.retry_after_secs);
                (response, status.as_u16(), true)
            }
        }
    };

    plane.requests.push(RequestRecord {
        seq: 0,
        method,
        path,
        query,
        status,
        fault,
        time,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    });
    if let Some(late) = respond_after {
        // Applied and logged already (a client that gives up drops this
        // future); only the answer comes late.
        tokio::time::sleep(late).await;
    }
    response
}

/// The answer of a fault whose body is not the vendor's (see [`FaultBody`]).
fn faulted_body(spec: &FaultSpec) -> Response {
    let status = StatusCode::from_u16(spec.status).unwrap_or(StatusCode::OK);
    let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
    match spec.body {
        FaultBody::Malformed => (status, json, r#"{"id": "1", "items": [{"#).into_response(),
        FaultBody::Oversized => {
            let mut body = Vec::with_capacity(OVERSIZED_BODY_BYTES);
            body.extend_from_slice(br#"{"padding":""#);
            body.resize(OVERSIZED_BODY_BYTES - 2, b'x');
            body.extend_from_slice(br#""}"#);
            (status, json, body).into_response()
        }
        FaultBody::Redirect => (
            status,
            [(
                axum::http::header::LOCATION,
                spec.location.clone().unwrap_or_default(),
            )],
        )
            .into_response(),
        FaultBody::Vendor => status.into_response(),
    }
}

fn drop_connection(request: &Request) {
    match request.extensions().get::<ConnectInfo<ConnHandle>>() {
        Some(ConnectInfo(handle)) => handle.kill(),
        // Only reachable when served without `conn::run_http`; the 503 then stands in.
        None => tracing::warn!("Cannot drop a connection without a connection handle."),
    }
}

fn control_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn get_faults(State(state): State<ControlState>) -> Response {
    Json(state.plane.faults.status()).into_response()
}

async fn set_fault(State(state): State<ControlState>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(error) => return control_error(StatusCode::BAD_REQUEST, error.to_string()),
    };
    if let Err(message) = spec.validate() {
        return control_error(StatusCode::BAD_REQUEST, message);
    }
    tracing::info!(status = spec.status, rate = spec.rate, "Fault set.");
    state.plane.faults.set(spec);
    Json(state.plane.faults.status()).into_response()
}

async fn clear_faults(State(state): State<ControlState>) -> Response {
    state.plane.faults.clear();
    Json(state.plane.faults.status()).into_response()
}

#[derive(Debug, Deserialize)]
struct RequestFilter {
    path_prefix: Option<String>,
    method: Option<String>,
}

async fn list_requests(
    State(state): State<ControlState>,
    Query(filter): Query<RequestFilter>,
) -> Response {
    let requests = state
        .plane
        .requests
        .matching(filter.path_prefix.as_deref(), filter.method.as_deref());
    Json(json!({ "count": requests.len(), "requests": requests })).into_response()
}

async fn clear_requests(State(state): State<ControlState>) -> Response {
    state.plane.requests.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn dump_state(State(state): State<ControlState>) -> Response {
    match state.vendor.dump_state() {
        Ok(value) => Json(value).into_response(),
        Err(error) => {
            tracing::error!(%error, "Failed to serialise state.");
            control_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to serialise state",
            )
        }
    }
}

async fn reset(State(state): State<ControlState>) -> Response {
    state.vendor.reset();
    state.plane.reset();
    tracing::info!("State reset.");
    StatusCode::NO_CONTENT.into_response()
}
