//! Dataverse service-endpoint webhooks: the JSON `RemoteExecutionContext` a
//! registered step posts. Dataverse signs nothing; the endpoint authenticates
//! with its configured `HttpHeader` or `WebhookKey` (`?code=`).

use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;

/// The webhook half of `[crm.dynamics365]`: the service endpoint's key, as
/// registered. Flattened into [`Dynamics365Config`](super::Dynamics365Config),
/// so the keys sit in the vendor section beside the API settings.
///
/// `Debug` is safe to log: secrets print as `[REDACTED]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct WebhookSettings {
    /// `HttpHeader` authentication: the header name of the endpoint's key.
    pub webhook_header_name: String,
    /// `HttpHeader` authentication: the header's value.
    #[schemars(with = "crate::config::Secret")]
    pub webhook_header_value: SecretString,
    /// `WebhookKey` authentication: the `code` query value.
    #[schemars(with = "crate::config::Secret")]
    pub webhook_key: SecretString,
}

impl WebhookSettings {
    /// True when a webhook authentication is configured.
    pub fn is_configured(&self) -> bool {
        !self.webhook_header_value.expose_secret().is_empty()
            || !self.webhook_key.expose_secret().is_empty()
    }
}

/// The keys of `RemoteExecutionContext` we read.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecutionContext {
    /// `Win`, `Update`, ...
    pub message_name: String,
    /// `opportunity`, ...
    pub primary_entity_name: String,
    /// The row id.
    pub primary_entity_id: String,
    /// The org.
    #[serde(default)]
    pub organization_id: String,
    /// Stays the same across Dataverse's re-sends of one operation.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The operation's correlation id.
    #[serde(default)]
    pub correlation_id: String,
    /// When the operation ran.
    #[serde(default)]
    pub operation_created_on: Option<String>,
    /// `[{key:"Target", value:{Attributes:[{key,value}]}}]`.
    #[serde(default)]
    pub input_parameters: Vec<KeyValue>,
    /// `[{key:"PostImage", value:{Attributes:[...]}}]`.
    #[serde(default)]
    pub post_entity_images: Vec<KeyValue>,
}

/// One `{key, value}` entry of a collection.
#[derive(Debug, Clone, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
}

/// A won opportunity found in a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealWonNotice {
    /// The opportunity id.
    pub opportunity_id: String,
    /// The org id.
    pub organization_id: String,
    /// Stable across re-sends of this operation.
    pub operation_id: String,
    /// When it happened, if said.
    pub occurred_at: Option<String>,
}

/// Parses a delivery body.
pub fn parse(body: &[u8]) -> Result<ExecutionContext, serde_json::Error> {
    serde_json::from_slice(body)
}

/// `statecode` of an entity in `entries` under `key` (an `OptionSetValue`).
fn statecode(entries: &[KeyValue], key: &str) -> Option<i64> {
    let entity = &entries.iter().find(|e| e.key == key)?.value;
    let attribute = entity["Attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == "statecode")?;
    attribute["value"]["Value"]
        .as_i64()
        .or_else(|| attribute["value"].as_i64())
}

/// True when the step fired on an opportunity: any of its messages may carry
/// a win. A step on another table is one no flow takes.
pub fn is_opportunity(context: &ExecutionContext) -> bool {
    context.primary_entity_name == "opportunity"
}

/// The operation's id, stable across Dataverse's retries of one delivery:
/// the request id, else the correlation id.
pub fn operation_id(context: &ExecutionContext) -> String {
    context
        .request_id
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| context.correlation_id.clone())
}

/// The win this delivery reports: the `Win` message, or an update of an
/// opportunity whose target or post image has `statecode` 1 (Won).
pub fn deal_won(context: &ExecutionContext) -> Option<DealWonNotice> {
    if !is_opportunity(context) {
        return None;
    }
    let won = context.message_name == "Win"
        || statecode(&context.input_parameters, "Target") == Some(1)
        || statecode(&context.post_entity_images, "PostImage") == Some(1);
    won.then(|| DealWonNotice {
        opportunity_id: context.primary_entity_id.to_ascii_lowercase(),
        organization_id: context.organization_id.to_ascii_lowercase(),
        operation_id: operation_id(context),
        occurred_at: context.operation_created_on.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abridged from the "Use webhooks" sample RemoteExecutionContext (an Update
    /// step with a post image).
    const UPDATE: &str = r#"{
      "BusinessUnitId": "5f5d3a0e-0000-0000-0000-000000000001", "CorrelationId": "c5b7a1d2-0000-0000-0000-000000000002",
      "Depth": 1, "InitiatingUserId": "11111111-0000-0000-0000-000000000003",
      "InputParameters": [{"key": "Target", "value": {"__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
        "Attributes": [{"key": "statecode", "value": {"__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 1}}],
        "Id": "9E9D8B6C-0000-0000-0000-000000000004", "LogicalName": "opportunity"}}],
      "MessageName": "Update", "Mode": 1, "OperationCreatedOn": "/Date(1763630000000)/", "OperationId": "o-1",
      "OrganizationId": "AB12CD34-0000-0000-0000-000000000005", "OrganizationName": "contoso",
      "PostEntityImages": [], "PreEntityImages": [], "PrimaryEntityId": "9E9D8B6C-0000-0000-0000-000000000004",
      "PrimaryEntityName": "opportunity", "RequestId": "r-1", "Stage": 40, "UserId": "11111111-0000-0000-0000-000000000003"
    }"#;

    #[test]
    fn an_update_to_won_is_a_win_and_others_are_not() {
        let context = parse(UPDATE.as_bytes()).expect("parses");
        let notice = deal_won(&context).expect("won");
        assert_eq!(
            notice.opportunity_id,
            "9e9d8b6c-0000-0000-0000-000000000004"
        );
        assert_eq!(notice.operation_id, "r-1");
        let open = UPDATE.replace("\"Value\": 1", "\"Value\": 0");
        assert!(deal_won(&parse(open.as_bytes()).expect("parses")).is_none());
        let account = UPDATE.replace(
            "\"PrimaryEntityName\": \"opportunity\"",
            "\"PrimaryEntityName\": \"account\"",
        );
        assert!(deal_won(&parse(account.as_bytes()).expect("parses")).is_none());
        assert!(parse(b"[]").is_err());
    }
}
