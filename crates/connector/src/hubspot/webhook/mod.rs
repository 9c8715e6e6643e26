//! HubSpot webhook deliveries: parsing the batched events, picking out deals
//! that moved into a won stage, and verifying request signatures.

mod signature;
mod workflow;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

pub use workflow::{WorkflowRecord, parse_workflow_record};

pub use signature::{
    HEADER_REQUEST_TIMESTAMP, HEADER_SIGNATURE, HEADER_SIGNATURE_V3, HEADER_SIGNATURE_VERSION,
    MAX_TIMESTAMP_SKEW, SignatureError, verify_v1, verify_v2, verify_v3,
};

/// The webhook half of `[crm.hubspot]`: what ingress needs to verify and
/// classify deliveries. Flattened into [`HubSpotConfig`](super::HubSpotConfig),
/// so the keys sit in the vendor section beside the API settings.
///
/// `Debug` is safe to log: the secret prints as `[REDACTED]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct WebhookSettings {
    /// App client secret, the key of webhook signatures.
    #[schemars(with = "crate::config::Secret")]
    pub client_secret: SecretString,
    /// Deal stage ids that count as won (default `["closedwon"]`).
    pub won_stages: Vec<String>,
    /// Accept the older v1/v2 signatures (HubSpot's Webhooks API still sends
    /// v1; default true).
    #[serde(deserialize_with = "bool_or_text")]
    pub accept_v1_v2: bool,
    /// Workflow "Send a webhook" actions authenticated by an API key rather
    /// than the app's v3 signature: the key's name, sent as a header or a
    /// query parameter (default `X-Crmerp-Workflow-Key`).
    pub workflow_key_name: String,
    /// That key's value; empty: workflow webhooks must carry the v3 signature.
    #[schemars(with = "crate::config::Secret")]
    pub workflow_key: SecretString,
}

/// A boolean, or its text: flattened into [`HubSpotConfig`](super::HubSpotConfig)
/// the field loses the configuration layer's type hint, so an environment
/// override arriving as `"false"` must still read as a boolean.
fn bool_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrText {
        Bool(bool),
        Text(String),
    }
    match BoolOrText::deserialize(deserializer)? {
        BoolOrText::Bool(value) => Ok(value),
        BoolOrText::Text(text) => text.trim().parse().map_err(serde::de::Error::custom),
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            client_secret: SecretString::default(),
            won_stages: vec!["closedwon".into()],
            accept_v1_v2: true,
            workflow_key_name: "X-Crmerp-Workflow-Key".into(),
            workflow_key: SecretString::default(),
        }
    }
}

impl WebhookSettings {
    /// Checks what webhook ingress needs: the client secret and won stages.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.client_secret.expose_secret().trim().is_empty() {
            return Err(ConfigError::missing("hubspot.client_secret"));
        }
        if !self.workflow_key.expose_secret().is_empty()
            && (self.workflow_key_name.trim().is_empty()
                || !self
                    .workflow_key_name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(ConfigError::invalid(
                "hubspot.workflow_key_name",
                "must be a header or query parameter name (letters, digits, `-`, `_`)",
            ));
        }
        self.validate_won_stages()
    }

    /// Checks the won stages (the API connector needs them too).
    pub(crate) fn validate_won_stages(&self) -> Result<(), ConfigError> {
        if self.won_stages.is_empty() {
            return Err(ConfigError::missing("hubspot.won_stages"));
        }
        if self.won_stages.iter().any(|s| s.trim().is_empty()) {
            return Err(ConfigError::invalid(
                "hubspot.won_stages",
                "contains a blank stage id",
            ));
        }
        Ok(())
    }
}

/// Legacy subscription type of a deal property change.
const DEAL_PROPERTY_CHANGE: &str = "deal.propertyChange";
/// Generic subscription type of a property change (objectTypeId names the type).
const OBJECT_PROPERTY_CHANGE: &str = "object.propertyChange";
/// Object type id of deals.
const DEAL_OBJECT_TYPE_ID: &str = "0-3";
/// The pipeline stage property.
const DEAL_STAGE: &str = "dealstage";

/// The webhook body could not be read as HubSpot events.
#[derive(Debug, thiserror::Error)]
#[error("malformed HubSpot webhook body: {0}")]
pub struct WebhookError(#[from] serde_json::Error);

/// One event of a HubSpot webhook delivery (a JSON array of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// Event id; HubSpot does not guarantee it is unique.
    pub event_id: u64,
    /// Subscription that produced the event.
    #[serde(default)]
    pub subscription_id: u64,
    /// HubSpot account (portal) id.
    #[serde(default)]
    pub portal_id: u64,
    /// App id.
    #[serde(default)]
    pub app_id: u64,
    /// When the change happened, in epoch milliseconds.
    pub occurred_at: i64,
    /// e.g. `deal.propertyChange`, `object.propertyChange`, `contact.creation`.
    pub subscription_type: String,
    /// Delivery attempt, starting at 0.
    #[serde(default)]
    pub attempt_number: u32,
    /// The changed object's id.
    pub object_id: u64,
    /// Object type id on generic (`object.*`) events, e.g. `0-3` for deals.
    #[serde(default)]
    pub object_type_id: Option<String>,
    /// What caused the change, e.g. `CRM`, `API`.
    #[serde(default)]
    pub change_source: Option<String>,
    /// e.g. `NEW` on creation events.
    #[serde(default)]
    pub change_flag: Option<String>,
    /// Who made the change, e.g. `userId:123`.
    #[serde(default)]
    pub source_id: Option<String>,
    /// Changed property, on property-change events.
    #[serde(default)]
    pub property_name: Option<String>,
    /// New property value, on property-change events.
    #[serde(default)]
    pub property_value: Option<String>,
    /// Surviving object of a merge.
    #[serde(default)]
    pub primary_object_id: Option<u64>,
    /// Objects merged away.
    #[serde(default)]
    pub merged_object_ids: Vec<u64>,
}

/// A deal moved into a won stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealWonNotice {
    /// The HubSpot deal id.
    pub deal_id: String,
    /// The won stage it moved into.
    pub stage: String,
    /// HubSpot's event id.
    pub event_id: String,
    /// HubSpot account (portal) id.
    pub portal_id: u64,
    /// When the stage changed.
    pub occurred_at: DateTime<Utc>,
}

impl DealWonNotice {
    /// A key stable across HubSpot's redeliveries of the same change, for
    /// de-duplication (`Nats-Msg-Id`). `eventId` alone is not guaranteed unique,
    /// while moving the deal out of and back into the stage yields a new key.
    pub fn dedup_key(&self) -> String {
        format!(
            "hubspot:{}:deal:{}:{}:{}",
            self.portal_id,
            self.deal_id,
            self.stage,
            self.occurred_at.timestamp_millis()
        )
    }
}

/// Parses a delivery body: a JSON array of events (HubSpot batches up to 100).
pub fn parse_events(body: &[u8]) -> Result<Vec<WebhookEvent>, WebhookError> {
    Ok(serde_json::from_slice(body)?)
}

/// True for a deal property change, legacy (`deal.propertyChange`) or generic
/// (`object.propertyChange` of type `0-3`): the only subscription types that
/// can carry a deal won. Any other type is one no flow takes.
pub fn is_deal_change(event: &WebhookEvent) -> bool {
    match event.subscription_type.as_str() {
        DEAL_PROPERTY_CHANGE => true,
        OBJECT_PROPERTY_CHANGE => event.object_type_id.as_deref() == Some(DEAL_OBJECT_TYPE_ID),
        _ => false,
    }
}

/// Keeps only changes of `dealstage` into one of `won_stages`, from legacy
/// `deal.propertyChange` or generic `object.propertyChange` (type `0-3`) events,
/// dropping repeats of the same change within the batch.
pub fn deal_won_notices(events: &[WebhookEvent], won_stages: &[String]) -> Vec<DealWonNotice> {
    let mut notices: Vec<DealWonNotice> = Vec::new();
    // A batch may repeat a change; keys seen so far keep the scan linear.
    let mut seen = std::collections::HashSet::new();
    for event in events {
        if !is_deal_change(event) || event.property_name.as_deref() != Some(DEAL_STAGE) {
            continue;
        }
        let Some(stage) = event.property_value.as_deref() else {
            continue;
        };
        if !won_stages.iter().any(|won| won == stage) {
            continue;
        }
        let Some(occurred_at) = DateTime::from_timestamp_millis(event.occurred_at) else {
            tracing::warn!(
                event_id = event.event_id,
                occurred_at = event.occurred_at,
                "Ignoring a HubSpot event with an impossible timestamp."
            );
            continue;
        };
        let notice = DealWonNotice {
            deal_id: event.object_id.to_string(),
            stage: stage.to_owned(),
            event_id: event.event_id.to_string(),
            portal_id: event.portal_id,
            occurred_at,
        };
        if seen.insert(notice.dedup_key()) {
            notices.push(notice);
        }
    }
    notices
}

#[cfg(test)]
mod tests;
