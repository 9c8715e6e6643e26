//! `GET /readyz`: ready only while NATS is connected and the streams are
//! declared, so Kubernetes stops routing webhooks to a replica that would
//! answer every one of them 503. The answer names each dependency's state.

use async_nats::connection::State as NatsState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use crmerp_service_kit::Readiness;
use serde_json::json;

/// What readiness looks at.
#[derive(Clone)]
struct Dependencies {
    client: async_nats::Client,
    /// Set once the streams and buckets are declared.
    streams: Readiness,
}

/// The `/readyz` route.
pub(crate) fn router(client: async_nats::Client, streams: Readiness) -> Router {
    Router::new()
        .route("/readyz", get(readyz))
        .with_state(Dependencies { client, streams })
}

async fn readyz(State(deps): State<Dependencies>) -> Response {
    let nats = match deps.client.connection_state() {
        NatsState::Connected => "connected",
        NatsState::Disconnected => "disconnected",
        NatsState::Pending => "connecting",
    };
    let streams = if deps.streams.is_ready() {
        "declared"
    } else {
        "not_declared"
    };
    let dependencies = json!({ "nats": nats, "streams": streams });
    if nats == "connected" && streams == "declared" {
        return (
            StatusCode::OK,
            Json(json!({ "status": "ready", "dependencies": dependencies })),
        )
            .into_response();
    }
    let detail = if nats == "connected" {
        "The JetStream streams are not declared yet.".to_owned()
    } else {
        format!("NATS is {nats}: webhooks cannot be stored and are answered 503.")
    };
    let problem = json!({
        "type": "urn:crmerp:problem:not_ready",
        "title": "Not ready",
        "status": 503,
        "detail": detail,
        "code": "not_ready",
        "dependencies": dependencies,
    });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(problem)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}
