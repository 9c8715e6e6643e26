//! HubSpot-only control endpoints: webhook target and delivery log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::webhooks::WebhookSettings;
use crate::config::SignatureMode;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/__sandbox/webhooks", get(get_settings).put(put_settings))
        .route(
            "/__sandbox/webhooks/deliveries",
            get(list_deliveries).delete(clear_deliveries),
        )
}

/// Body of `PUT /__sandbox/webhooks`; an absent `signature` keeps the current mode.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsInput {
    target_url: Option<String>,
    signature: Option<SignatureMode>,
}

async fn get_settings(State(shared): State<AppState>) -> Json<WebhookSettings> {
    Json(shared.webhooks.settings())
}

async fn put_settings(State(shared): State<AppState>, body: Bytes) -> Response {
    let input: SettingsInput = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(error) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": error.to_string() })),
            )
                .into_response();
        }
    };
    if let Some(url) = &input.target_url
        && reqwest::Url::parse(url).is_err()
    {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": format!("invalid target_url {url:?}") })),
        )
            .into_response();
    }
    let current = shared.webhooks.settings();
    let settings = WebhookSettings {
        target_url: input.target_url,
        signature: input.signature.unwrap_or(current.signature),
    };
    tracing::info!(target_url = ?settings.target_url, signature = %settings.signature, "Webhook target set.");
    shared.webhooks.set_settings(settings.clone());
    Json(settings).into_response()
}

async fn list_deliveries(State(shared): State<AppState>) -> Response {
    let deliveries = shared.webhooks.deliveries();
    Json(json!({ "count": deliveries.len(), "deliveries": deliveries })).into_response()
}

async fn clear_deliveries(State(shared): State<AppState>) -> StatusCode {
    shared.webhooks.clear_deliveries();
    StatusCode::NO_CONTENT
}
