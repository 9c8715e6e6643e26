//! Webhooks v2 of the Pipedrive simulator: every deal create and change is
//! POSTed with the webhook's Basic credentials (Pipedrive signs nothing),
//! through the kit's emitter (retried, logged).

use std::sync::Arc;

use axum::Router;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::config::PipedriveConfig;
use crate::error::SandboxError;
use crate::kit::emitter::{self, Attempt, Emitter};

const WEBHOOK_ID: &str = "55";

/// Target and credentials; changeable at runtime. The password is never shown.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Settings {
    target_url: Option<String>,
    http_auth_user: String,
    #[serde(skip)]
    http_auth_password: String,
}

/// Body of `PUT /__sandbox/webhooks`; absent credentials keep the current ones.
#[derive(Debug, Deserialize)]
pub(super) struct Input {
    target_url: Option<String>,
    http_auth_user: Option<String>,
    http_auth_password: Option<String>,
    /// Accepted for symmetry with the HubSpot simulator; Pipedrive signs nothing.
    #[serde(default, rename = "signature")]
    _signature: Option<String>,
}

impl emitter::Settings for Settings {
    type Input = Input;

    fn input_target(input: &Input) -> Option<&str> {
        input.target_url.as_deref()
    }

    fn apply(&self, input: Input) -> Self {
        Self {
            target_url: input.target_url,
            http_auth_user: input
                .http_auth_user
                .unwrap_or_else(|| self.http_auth_user.clone()),
            http_auth_password: input
                .http_auth_password
                .unwrap_or_else(|| self.http_auth_password.clone()),
        }
    }
}

/// What the delivery log says of an event.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    event_id: String,
    entity_id: String,
    action: &'static str,
}

pub(super) struct Webhooks {
    emitter: Arc<Emitter<Settings, About>>,
    company_id: u64,
}

impl Webhooks {
    pub(super) fn new(
        config: &PipedriveConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let settings = Settings {
            target_url: config.webhook_url.clone(),
            http_auth_user: config.webhook_user.clone(),
            http_auth_password: config.webhook_password.clone(),
        };
        Ok(Self {
            emitter: Emitter::new(
                "pipedrive",
                settings,
                config.retry,
                config.request_timeout,
                shutdown,
            )?,
            company_id: config.company_id,
        })
    }

    /// `/__sandbox/webhooks` and its delivery log.
    pub(super) fn routes(&self) -> Router {
        self.emitter.routes()
    }

    pub(super) fn clear(&self) {
        self.emitter.clear();
    }

    /// Sends a v2 `deal` event for `record` (with the changed fields' old values).
    pub(super) fn deal_event(&self, action: &'static str, record: &Value, previous: Value) {
        if self.emitter.settings().target_url.is_none() {
            return;
        }
        let event_id = uuid::Uuid::new_v4().to_string();
        let entity_id = record["id"].to_string();
        let payload = json!({
            "data": record,
            "previous": previous,
            "meta": {
                "action": action, "entity": "deal", "entity_id": entity_id, "id": event_id,
                "company_id": self.company_id.to_string(), "user_id": "1", "correlation_id": uuid::Uuid::new_v4().to_string(),
                "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true), "type": "general",
                "version": "2.0", "webhook_id": WEBHOOK_ID, "webhook_owner_id": "1", "change_source": "api",
                "is_bulk_edit": false, "permitted_user_ids": ["1"], "host": "sandbox.pipedrive.com",
            },
        });
        let about = About {
            event_id,
            entity_id,
            action,
        };
        let emitter = Arc::clone(&self.emitter);
        let attempt = move |settings: &Settings, attempt: u32| {
            let target = settings.target_url.clone()?;
            let mut payload = payload.clone();
            payload["meta"]["attempt"] = json!(attempt + 1);
            let request = emitter
                .client()
                .post(&target)
                .basic_auth(&settings.http_auth_user, Some(&settings.http_auth_password))
                .json(&payload);
            Some(Attempt { target, request })
        };
        self.emitter
            .spawn(about, attempt, emitter::success_is_delivery);
    }
}
