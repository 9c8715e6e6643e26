//! The service-endpoint webhook of the Dataverse simulator: a `Win` step on
//! opportunity posting the `RemoteExecutionContext` with the endpoint's
//! `HttpHeader` key (Dataverse signs nothing), through the kit's emitter.

use std::sync::Arc;

use axum::Router;
use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::config::Dynamics365Config;
use crate::error::SandboxError;
use crate::kit::emitter::{Emitter, Target};

/// What the delivery log says of a step execution.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    request_id: String,
    opportunity_id: String,
}

pub(super) struct Webhooks {
    emitter: Arc<Emitter<Target, About>>,
    header: String,
    secret: String,
    organization_id: String,
}

impl Webhooks {
    pub(super) fn new(
        config: &Dynamics365Config,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let settings = Target {
            target_url: config.webhook_url.clone(),
        };
        Ok(Self {
            emitter: Emitter::new(
                "dynamics365",
                settings,
                config.retry,
                config.request_timeout,
                shutdown,
            )?,
            header: config.webhook_header.clone(),
            secret: config.webhook_secret.clone(),
            organization_id: config.organization_id.clone(),
        })
    }

    /// `/__sandbox/webhooks` and its delivery log.
    pub(super) fn routes(&self) -> Router {
        self.emitter.routes()
    }

    pub(super) fn clear(&self) {
        self.emitter.clear();
    }

    /// Runs the registered `Win` step for `opportunity_id`.
    pub(super) fn won(&self, opportunity_id: &str) {
        if self.emitter.settings().target_url.is_none() {
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
            "OrganizationId": self.organization_id, "OrganizationName": "crmerpsandbox",
            "OutputParameters": [], "OwningExtension": {"Id": "0d365000-0000-4000-8000-0000000000e1", "LogicalName": "sdkmessageprocessingstep", "Name": "crmerp: Win of opportunity"},
            "PostEntityImages": [], "PreEntityImages": [],
            "PrimaryEntityId": opportunity_id, "PrimaryEntityName": "opportunity",
            "RequestId": request_id, "SecondaryEntityName": "none", "SharedVariables": [], "Stage": 40,
            "UserId": "0d365000-0000-4000-8000-0000000000a1",
        })
        .to_string();
        let headers = [
            ("Content-Type", "application/json"),
            (self.header.as_str(), self.secret.as_str()),
            ("x-request-id", request_id.as_str()),
            (
                "x-ms-dynamics-organization",
                "crmerpsandbox.crm.dynamics.com",
            ),
            ("x-ms-dynamics-entity-name", "opportunity"),
            ("x-ms-dynamics-request-name", "Win"),
            ("x-ms-correlation-request-id", request_id.as_str()),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned()));
        let about = About {
            request_id,
            opportunity_id: opportunity_id.to_owned(),
        };
        self.emitter.post(about, headers.into(), context);
    }
}
