//! Pipedrive webhooks v2: the payload and the deal-won test. Pipedrive signs
//! nothing; the endpoint is protected by the webhook's HTTP Basic credentials.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::config::{ConfigError, check_not_blank};

/// The webhook half of `[crm.pipedrive]`: the HTTP Basic credentials the
/// webhook was created with. Flattened into
/// [`PipedriveConfig`](super::PipedriveConfig), so the keys sit in the vendor
/// section beside the API settings.
///
/// `Debug` is safe to log: the password prints as `[REDACTED]`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct WebhookSettings {
    /// Basic-auth user Pipedrive sends webhooks with (`http_auth_user` of the webhook).
    pub webhook_user: String,
    /// Basic-auth password of webhooks (`http_auth_password`).
    #[schemars(with = "crate::config::Secret")]
    pub webhook_password: SecretString,
}

impl WebhookSettings {
    /// Checks what webhook ingress needs: both credentials.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_not_blank("pipedrive.webhook_user", &self.webhook_user)?;
        if self.webhook_password.expose_secret().is_empty() {
            return Err(ConfigError::missing("pipedrive.webhook_password"));
        }
        Ok(())
    }
}

/// True for a deal created or changed: the only notices that can carry a
/// win. Any other (`person.create`, `deal.delete`, ...) is one no flow takes.
pub fn is_deal_notice(hook: &WebhookV2) -> bool {
    hook.meta.entity == "deal" && matches!(hook.meta.action.as_str(), "create" | "change")
}

/// A v2 delivery: `{"data", "previous", "meta"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookV2 {
    /// The object after the change (null for deletes).
    #[serde(default)]
    pub data: Value,
    /// The changed fields' previous values (null for creates).
    #[serde(default)]
    pub previous: Value,
    /// What happened.
    pub meta: Meta,
}

/// `meta` of a v2 delivery (only the keys we read).
#[derive(Debug, Clone, Deserialize)]
pub struct Meta {
    /// `create`, `change` or `delete`.
    pub action: String,
    /// `deal`, `person`, ...
    pub entity: String,
    /// The object's id, as a string.
    pub entity_id: String,
    /// The event id.
    #[serde(default)]
    pub id: String,
    /// The company (account) id.
    #[serde(default)]
    pub company_id: Value,
    /// When the change happened (ISO 8601).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Must be `2.0`.
    pub version: String,
}

/// A won deal found in a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealWonNotice {
    /// The deal id.
    pub deal_id: String,
    /// The company id.
    pub company_id: String,
    /// Stable across re-sends of this win: `won_time` (a new win has a new one), else the event id.
    pub won_key: String,
    /// When it happened, as Pipedrive said.
    pub timestamp: Option<String>,
}

/// A body that is not a webhooks v2 payload.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not JSON of the v2 shape.
    #[error("not a Pipedrive webhook: {0}")]
    Json(#[from] serde_json::Error),
    /// A v1 webhook (subscribe with `version: "2.0"`).
    #[error("webhook version {0} is not supported; create the webhook with version 2.0")]
    Version(String),
}

/// Parses a delivery.
pub fn parse(body: &[u8]) -> Result<WebhookV2, WebhookError> {
    let hook: WebhookV2 = serde_json::from_slice(body)?;
    if hook.meta.version != "2.0" {
        return Err(WebhookError::Version(hook.meta.version));
    }
    Ok(hook)
}

/// The deal win this delivery reports, if any: a deal whose `status` became `won`.
pub fn deal_won(hook: &WebhookV2) -> Option<DealWonNotice> {
    let meta = &hook.meta;
    if !is_deal_notice(hook) {
        return None;
    }
    if hook.data.get("status").and_then(Value::as_str) != Some("won") {
        return None;
    }
    // A change that did not touch the status (e.g. our own write-back) is no new win.
    if meta.action == "change"
        && hook
            .previous
            .get("status")
            .is_none_or(|s| s.as_str() == Some("won"))
    {
        return None;
    }
    let won_time = hook
        .data
        .get("won_time")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Some(DealWonNotice {
        deal_id: meta.entity_id.clone(),
        company_id: match &meta.company_id {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        },
        won_key: if won_time.is_empty() {
            meta.id.clone()
        } else {
            won_time.to_owned()
        },
        timestamp: meta.timestamp.clone(),
    })
}

/// `(user, password)` of an `Authorization: Basic` header.
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = String::from_utf8(BASE64.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Abridged from the "Guide for Webhooks v2" sample of an updated deal.
    const CHANGE: &str = r#"{
      "data": {"id": 42, "title": "Acme deal", "status": "won", "won_time": "2026-11-20T10:00:00Z", "custom_fields": {}},
      "previous": {"status": "open"},
      "meta": {"action": "change", "entity": "deal", "entity_id": "42", "id": "7c2b4c9e-0000-4000-8000-000000000001",
               "company_id": "7734", "user_id": "123", "timestamp": "2026-11-20T10:00:01.000Z", "version": "2.0",
               "webhook_id": "55", "change_source": "app", "attempt": 1, "is_bulk_edit": false}
    }"#;

    #[test]
    fn a_status_change_to_won_is_a_win() {
        let hook = parse(CHANGE.as_bytes()).expect("parses");
        let notice = deal_won(&hook).expect("won");
        assert_eq!(notice.deal_id, "42");
        assert_eq!(notice.company_id, "7734");
        assert_eq!(notice.won_key, "2026-11-20T10:00:00Z");
    }

    #[test]
    fn other_changes_are_not_wins() {
        let write_back = CHANGE.replace(
            r#""previous": {"status": "open"}"#,
            r#""previous": {"custom_fields": {}}"#,
        );
        assert!(deal_won(&parse(write_back.as_bytes()).expect("parses")).is_none());
        let lost = CHANGE.replace(r#""status": "won""#, r#""status": "lost""#);
        assert!(deal_won(&parse(lost.as_bytes()).expect("parses")).is_none());
        assert!(parse(CHANGE.replace("\"2.0\"", "\"1.0\"").as_bytes()).is_err());
        assert!(parse(b"{}").is_err());
    }

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            basic_credentials("Basic dXNlcjpwYTpzcw=="),
            Some(("user".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
    }
}
