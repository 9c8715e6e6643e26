//! The receiving side of Business Central webhooks: the validation handshake
//! and notification parsing with the `clientState` check.
//!
//! BC signs nothing; the `clientState` given at subscription time comes back
//! in every notification and is the shared secret. Answer 2xx only for
//! notifications you accept: BC retries 408, 429 and 5xx for 36 hours, and any
//! other non-2xx answer deletes the subscription.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// One change notification.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// The subscription it belongs to.
    pub subscription_id: String,
    /// The changed entity, e.g. `api/v2.0/companies(…)/salesOrders(…)`, or for a
    /// `collection` notice the entity set with a `$filter` on the change time.
    pub resource: String,
    /// `created`, `updated`, `deleted` or `collection`.
    pub change_type: String,
    /// When the change happened.
    #[serde(default)]
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// When the subscription expires.
    #[serde(default)]
    pub expiration_date_time: Option<DateTime<Utc>>,
    #[serde(default)]
    client_state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    value: Vec<Notification>,
}

/// Why a notification POST was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// The body is not BC's `{"value":[…]}`.
    #[error("not a Business Central notification body: {0}")]
    Malformed(String),
    /// A notification carried a missing or wrong `clientState`.
    #[error("clientState mismatch for subscription {0}")]
    ClientState(String),
}

/// The body to answer a validation request with: BC calls the notification URL
/// with `?validationToken=…` and expects 200 with the token as plain text.
pub fn handshake_response(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())
}

/// Parses a notification body and checks every `clientState` in constant time.
pub fn parse_notifications(
    body: &[u8],
    expected_client_state: &SecretString,
) -> Result<Vec<Notification>, NotificationError> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| NotificationError::Malformed(e.to_string()))?;
    let expected = expected_client_state.expose_secret().as_bytes();
    for notification in &envelope.value {
        let given = notification.client_state.as_deref().unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(expected)) {
            return Err(NotificationError::ClientState(
                notification.subscription_id.clone(),
            ));
        }
    }
    Ok(envelope.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_echoes_the_decoded_token() {
        assert_eq!(
            handshake_response(Some("validationToken=a%2Bb%3D&x=1")).as_deref(),
            Some("a+b=")
        );
        assert_eq!(handshake_response(Some("x=1")), None);
        assert_eq!(handshake_response(None), None);
    }

    #[test]
    fn recorded_notification_parses_and_client_state_is_checked() {
        // The documented example (dynamics-subscriptions.md, v2.0).
        let body = br#"{"value":[{"subscriptionId":"webhookItemsId","clientState":"someClientState",
            "expirationDateTime":"2018-10-29T07:52:31Z",
            "resource":"api/v2.0/companies(b18aed47-c385-49d2-b954-dbdf8ad71780)/items(26814998-936a-401c-81c1-0e848a64971d)",
            "changeType":"updated","lastModifiedDateTime":"2018-10-26T12:54:20.467Z"}]}"#;
        let ok = parse_notifications(body, &SecretString::from("someClientState")).expect("ok");
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].change_type, "updated");
        assert!(ok[0].resource.contains("/items("));
        assert_eq!(
            parse_notifications(body, &SecretString::from("other")),
            Err(NotificationError::ClientState("webhookItemsId".into()))
        );
        assert!(matches!(
            parse_notifications(b"[]", &SecretString::from("x")),
            Err(NotificationError::Malformed(_))
        ));
    }
}
