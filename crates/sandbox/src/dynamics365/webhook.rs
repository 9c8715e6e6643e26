//! The service-endpoint webhook of the Dataverse simulator: a `Win` step on
//! opportunity posting the `RemoteExecutionContext` with the endpoint's
//! `HttpHeader` key (Dataverse signs nothing), retried and logged.

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
use super::config::Dynamics365Config;
use crate::config::RetryPolicy;
use crate::delivery::{self, DeliveryLog};
use crate::error::SandboxError;
use crate::util::{read, write};

#[derive(Debug, Clone, Serialize)]
struct Delivery {
    request_id: String,
    opportunity_id: String,
    attempt: u32,
    status: Option<u16>,
    error: Option<String>,
    delivered: bool,
    time: DateTime<Utc>,
}

struct Inner {
    target: RwLock<Option<String>>,
    header: String,
    secret: String,
    organization_id: String,
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
        config: &Dynamics365Config,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(SandboxError::HttpClient)?;
        Ok(Self {
            inner: Arc::new(Inner {
                target: RwLock::new(config.webhook_url.clone()),
                header: config.webhook_header.clone(),
                secret: config.webhook_secret.clone(),
                organization_id: config.organization_id.clone(),
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

    /// Runs the registered `Win` step for `opportunity_id`.
    pub(super) fn won(&self, opportunity_id: &str) {
        if read(&self.inner.target).is_none() {
            return;
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let context = json!({
            "BusinessUnitId": "0d365000-0000-4000-8000-0000000000b1",
            "CorrelationId": uuid::Uuid::new_v4().to_string(),
            "Depth": 1,
            "InitiatingUserId": "0d365000-0000-4000-8000-0000000000a1",
            "InputParameters": [{"key": "Status", "value": {"__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 3}}],
            "IsExecutingOffline": false, "IsInTransaction": false, "IsOfflinePlayback": false, "IsolationMode": 1,
            "MessageName": "Win", "Mode": 1,
            "OperationCreatedOn": format!("/Date({})/", Utc::now().timestamp_millis()),
            "OperationId": uuid::Uuid::new_v4().to_string(),
            "OrganizationId": self.inner.organization_id, "OrganizationName": "crmerpsandbox",
            "OutputParameters": [], "OwningExtension": {"Id": "0d365000-0000-4000-8000-0000000000e1", "LogicalName": "sdkmessageprocessingstep", "Name": "crmerp: Win of opportunity"},
            "PostEntityImages": [], "PreEntityImages": [],
            "PrimaryEntityId": opportunity_id, "PrimaryEntityName": "opportunity",
            "RequestId": request_id, "SecondaryEntityName": "none", "SharedVariables": [], "Stage": 40,
            "UserId": "0d365000-0000-4000-8000-0000000000a1",
        });
        let inner = Arc::clone(&self.inner);
        let opp = opportunity_id.to_owned();
        tokio::spawn(async move { inner.deliver(context.to_string(), request_id, opp).await });
    }
}

impl Inner {
    async fn deliver(&self, body: String, request_id: String, opportunity_id: String) {
        let (body, request_id, opportunity_id) = (&body, &request_id, &opportunity_id);
        delivery::with_retry(self.retry, &self.shutdown, |attempt| async move {
            let target = read(&self.target).clone()?;
            let request = self
                .client
                .post(&target)
                .header("Content-Type", "application/json")
                .header(self.header.as_str(), self.secret.as_str())
                .header("x-request-id", request_id)
                .header(
                    "x-ms-dynamics-organization",
                    "crmerpsandbox.crm.dynamics.com",
                )
                .header("x-ms-dynamics-entity-name", "opportunity")
                .header("x-ms-dynamics-request-name", "Win")
                .header("x-ms-correlation-request-id", request_id)
                .body(body.clone());
            let (status, error, _) = delivery::send(request).await;
            let delivered = error.is_none();
            self.log.push(Delivery {
                request_id: request_id.clone(),
                opportunity_id: opportunity_id.clone(),
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
        .route("/__sandbox/webhooks", get(get_target).put(put_target))
        .route(
            "/__sandbox/webhooks/deliveries",
            get(deliveries).delete(clear),
        )
}

/// Body of `PUT /__sandbox/webhooks`.
#[derive(Debug, Deserialize)]
struct Input {
    target_url: Option<String>,
    /// Accepted for symmetry with the HubSpot simulator; Dataverse signs nothing.
    #[serde(default, rename = "signature")]
    _signature: Option<String>,
}

async fn get_target(State(shared): State<AppState>) -> Json<Value> {
    Json(json!({ "target_url": *read(&shared.webhooks.inner.target) }))
}

async fn put_target(State(shared): State<AppState>, body: Bytes) -> Response {
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
    tracing::info!(target_url = ?input.target_url, "Dataverse webhook target set.");
    *write(&shared.webhooks.inner.target) = input.target_url.clone();
    Json(json!({ "target_url": input.target_url })).into_response()
}

async fn deliveries(State(shared): State<AppState>) -> Json<Value> {
    let log = shared.webhooks.inner.log.all();
    Json(json!({ "count": log.len(), "deliveries": log }))
}

async fn clear(State(shared): State<AppState>) -> StatusCode {
    shared.webhooks.clear();
    StatusCode::NO_CONTENT
}
