//! Webhooks v2 of the Pipedrive simulator: every deal create and change is
//! POSTed with the webhook's Basic credentials (Pipedrive signs nothing),
//! retried on failure, and logged.

use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::config::PipedriveConfig;
use crate::config::RetryPolicy;
use crate::delivery::{self, DeliveryLog};
use crate::error::SandboxError;
use crate::util::{read, write};

const WEBHOOK_ID: &str = "55";

/// Target and credentials; changeable at runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Settings {
    target_url: Option<String>,
    http_auth_user: String,
    http_auth_password: String,
}

#[derive(Debug, Clone, Serialize)]
struct Delivery {
    event_id: String,
    entity_id: String,
    action: &'static str,
    attempt: u32,
    status: Option<u16>,
    error: Option<String>,
    delivered: bool,
    time: DateTime<Utc>,
}

struct Inner {
    settings: RwLock<Settings>,
    company_id: u64,
    retry: RetryPolicy,
    client: reqwest::Client,
    log: DeliveryLog<Delivery>,
    shutdown: CancellationToken,
}

pub(super) struct Webhooks {
    inner: Arc<Inner>,
}

impl Webhooks {
    pub(super) fn new(
        config: &PipedriveConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(SandboxError::HttpClient)?;
        let settings = Settings {
            target_url: config.webhook_url.clone(),
            http_auth_user: config.webhook_user.clone(),
            http_auth_password: config.webhook_password.clone(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                settings: RwLock::new(settings),
                company_id: config.company_id,
                retry: config.retry,
                client,
                log: DeliveryLog::default(),
                shutdown,
            }),
        })
    }

    pub(super) fn clear(&self) {
        self.inner.log.clear();
    }

    /// Sends a v2 `deal` event for `record` (with the changed fields' old values).
    pub(super) fn deal_event(&self, action: &'static str, record: &Value, previous: Value) {
        if read(&self.inner.settings).target_url.is_none() {
            return;
        }
        let event_id = uuid::Uuid::new_v4().to_string();
        let entity_id = record["id"].to_string();
        let payload = json!({
            "data": record,
            "previous": previous,
            "meta": {
                "action": action, "entity": "deal", "entity_id": entity_id, "id": event_id,
                "company_id": self.inner.company_id.to_string(), "user_id": "1", "correlation_id": uuid::Uuid::new_v4().to_string(),
                "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "type": "general",
                "version": "2.0", "webhook_id": WEBHOOK_ID, "webhook_owner_id": "1", "change_source": "api",
                "is_bulk_edit": false, "permitted_user_ids": ["1"], "host": "sandbox.pipedrive.com",
            },
        });
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move { inner.deliver(payload, event_id, entity_id, action).await });
    }
}

impl Inner {
    async fn deliver(
        &self,
        payload: Value,
        event_id: String,
        entity_id: String,
        action: &'static str,
    ) {
        let (payload, event_id, entity_id) = (&payload, &event_id, &entity_id);
        delivery::with_retry(self.retry, &self.shutdown, |attempt| async move {
            let settings = read(&self.settings).clone();
            let target = settings.target_url?;
            let mut payload = payload.clone();
            payload["meta"]["attempt"] = json!(attempt + 1);
            let request = self
                .client
                .post(&target)
                .basic_auth(&settings.http_auth_user, Some(&settings.http_auth_password))
                .json(&payload);
            let (status, error, _) = delivery::send(request).await;
            let delivered = error.is_none();
            self.log.push(Delivery {
                event_id: event_id.clone(),
                entity_id: entity_id.clone(),
                action,
                attempt,
                status,
                error,
                delivered,
                time: Utc::now(),
            });
            Some(delivered)
        })
        .await;
    }
}

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/__sandbox/webhooks", get(get_settings).put(put_settings))
        .route(
            "/__sandbox/webhooks/deliveries",
            get(deliveries).delete(clear),
        )
}

/// Body of `PUT /__sandbox/webhooks`; absent credentials keep the current ones.
#[derive(Debug, Deserialize)]
struct Input {
    target_url: Option<String>,
    http_auth_user: Option<String>,
    http_auth_password: Option<String>,
    /// Accepted for symmetry with the HubSpot simulator; Pipedrive signs nothing.
    #[serde(default, rename = "signature")]
    _signature: Option<String>,
}

async fn get_settings(State(shared): State<AppState>) -> Json<Value> {
    let s = read(&shared.webhooks.inner.settings).clone();
    Json(json!({ "target_url": s.target_url, "http_auth_user": s.http_auth_user }))
}

async fn put_settings(State(shared): State<AppState>, body: Bytes) -> Response {
    let input: Input = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({ "error": e.to_string() })),
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
    let mut settings = write(&shared.webhooks.inner.settings);
    settings.target_url = input.target_url;
    if let Some(user) = input.http_auth_user {
        settings.http_auth_user = user;
    }
    if let Some(password) = input.http_auth_password {
        settings.http_auth_password = password;
    }
    tracing::info!(target_url = ?settings.target_url, "Pipedrive webhook target set.");
    Json(json!({ "target_url": settings.target_url, "http_auth_user": settings.http_auth_user }))
        .into_response()
}

async fn deliveries(State(shared): State<AppState>) -> Json<Value> {
    let log = shared.webhooks.inner.log.all();
    Json(json!({ "count": log.len(), "deliveries": log }))
}

async fn clear(State(shared): State<AppState>) -> StatusCode {
    shared.webhooks.clear();
    StatusCode::NO_CONTENT
}
