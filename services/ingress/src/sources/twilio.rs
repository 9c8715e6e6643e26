//! `POST /webhooks/twilio`: Twilio message status callbacks (the
//! `StatusCallback` of a message), form-encoded.
//!
//! `X-Twilio-Signature` is the Base64 HMAC-SHA1, keyed with the account's auth
//! token, of the full URL Twilio called (the public base URL plus path and
//! query) followed by every POST parameter sorted by name, each name then its
//! value. As Twilio's own validators do, the URL is tried as given and with
//! its default port added or removed. `MessageSid` + `MessageStatus` is the
//! de-duplication key: Twilio re-sends the same status of a message on
//! failure, and each new status is a new event.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use chrono::Utc;
use crmerp_proto::{MessageDeliveryState, MessageStatusChanged, timestamp_from};
use secrecy::ExposeSecret as _;

use super::auth::{bytes_match, header, hmac_sha1, require_form};
use super::{Shared, SourceState};
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::fulfilment::{self, Kind, Notice};
use crate::{Settings, TwilioIngress};

pub(crate) const SYSTEM: &str = "twilio";
/// Twilio's signature header.
pub(crate) const HEADER_SIGNATURE: &str = "x-twilio-signature";

/// The Twilio route, with `[ingress.twilio]`.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/twilio", post(receive))
        .with_state(SourceState::new(shared, settings.ingress.twilio.clone()))
}

/// The form's parameters: every value of every name.
pub(crate) fn form_params(body: &[u8]) -> BTreeMap<String, Vec<String>> {
    let mut params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        params
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    params
}

/// Twilio's signature of `url` and `params` under `auth_token`: names sorted,
/// and a name's distinct values sorted, as twilio-python computes it.
pub(crate) fn signature(
    auth_token: &str,
    url: &str,
    params: &BTreeMap<String, Vec<String>>,
) -> String {
    let mut signed = url.to_owned();
    for (name, values) in params {
        let mut values: Vec<&String> = values.iter().collect();
        values.sort();
        values.dedup();
        for value in values {
            signed.push_str(name);
            signed.push_str(value);
        }
    }
    BASE64.encode(hmac_sha1(auth_token.as_bytes(), &[signed.as_bytes()]))
}

/// `url`, and the same with its scheme's default port toggled.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Ok(parsed) = url::Url::parse(url) else {
        return variants;
    };
    // `Url` drops a default port when it parses, so printing it removes one.
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return variants;
    };
    let with_port = format!("{host}:{port}");
    if url.contains(&with_port) {
        variants.push(parsed.to_string());
    } else {
        variants.push(url.replacen(host, &with_port, 1));
    }
    variants.dedup();
    variants
}

/// Checks `X-Twilio-Signature` against `url` and the form in constant time.
pub(crate) fn verify(
    auth_token: &str,
    url: &str,
    params: &BTreeMap<String, Vec<String>>,
    presented: Option<&str>,
) -> Result<(), IngressError> {
    let presented = presented.ok_or(IngressError::MissingSignature)?;
    let matched = url_variants(url).iter().any(|url| {
        bytes_match(
            presented.trim().as_bytes(),
            signature(auth_token, url, params).as_bytes(),
        )
    });
    if matched {
        Ok(())
    } else {
        Err(IngressError::InvalidSignature)
    }
}

async fn receive(
    State(state): State<SourceState<TwilioIngress>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let body = super::body(body)?;
    require_form(&headers)?;
    let params = form_params(&body);
    let url = state.shared.public_url(&uri);
    verify(
        settings.auth_token.expose_secret(),
        &url,
        &params,
        header(&headers, HEADER_SIGNATURE),
    )?;
    let first = |name: &str| {
        params
            .get(name)
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
    };
    if !settings.account_sid.is_empty() && first("AccountSid") != settings.account_sid {
        return Err(IngressError::InvalidCredentials);
    }
    let (message_id, status) = (first("MessageSid"), first("MessageStatus"));
    if message_id.is_empty() || status.is_empty() {
        return Err(IngressError::Malformed(
            "MessageSid and MessageStatus are required".into(),
        ));
    }
    let Some(state_of) = delivery_state(&status) else {
        // Inbound-message states (receiving, received) are not deliveries.
        let accepted = fulfilment::publish(&state.shared.publisher, SYSTEM, &[], 1).await?;
        return Ok((StatusCode::OK, Json(accepted)));
    };
    let now = Utc::now();
    let mut changed = MessageStatusChanged {
        provider: SYSTEM.to_owned(),
        message_id: message_id.clone(),
        error_code: first("ErrorCode"),
        recipient: first("To"),
        reported_at: Some(timestamp_from(now)),
        ..MessageStatusChanged::default()
    };
    changed.set_state(state_of);
    let notice = Notice {
        tenant: first("AccountSid"),
        dedup_key: format!("{SYSTEM}:{message_id}:{status}"),
        about: format!("message/{message_id}"),
        occurred_at: now,
        kind: Kind::MessageStatus(changed),
    };
    let accepted = fulfilment::publish(&state.shared.publisher, SYSTEM, &[notice], 0).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

/// Twilio's `MessageStatus` as a delivery state; `None` for inbound states.
fn delivery_state(status: &str) -> Option<MessageDeliveryState> {
    Some(match status {
        "accepted" | "scheduled" | "queued" | "sending" => MessageDeliveryState::Queued,
        "sent" => MessageDeliveryState::Sent,
        "delivered" | "read" => MessageDeliveryState::Delivered,
        "undelivered" => MessageDeliveryState::Undelivered,
        "failed" | "canceled" => MessageDeliveryState::Failed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn documented_params() -> BTreeMap<String, Vec<String>> {
        form_params(b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212")
    }

    #[test]
    fn twilios_documented_example_vector_verifies() {
        // Twilio's request-validation example (auth token 12345), as in its SDKs' tests.
        let params = documented_params();
        assert_eq!(
            signature("12345", URL, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(verify("12345", URL, &params, Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")).is_ok());
        // With the default port spelled out, as a proxy might pass it on.
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(
            verify(
                "12345",
                with_port,
                &params,
                Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
            )
            .is_ok()
        );
        let mut tampered = params.clone();
        tampered.insert("Digits".into(), vec!["9999".into()]);
        assert!(matches!(
            verify(
                "12345",
                URL,
                &tampered,
                Some("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
            ),
            Err(IngressError::InvalidSignature)
        ));
        assert!(matches!(
            verify("12345", URL, &params, None),
            Err(IngressError::MissingSignature)
        ));
    }

    #[test]
    fn repeated_parameters_sign_their_sorted_distinct_values() {
        // twilio-python's vector for a parameter sent several times.
        let params = form_params(b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234");
        assert_eq!(
            signature("12345", URL, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn statuses_map_to_delivery_states() {
        assert_eq!(
            delivery_state("delivered"),
            Some(MessageDeliveryState::Delivered)
        );
        assert_eq!(
            delivery_state("undelivered"),
            Some(MessageDeliveryState::Undelivered)
        );
        assert_eq!(
            delivery_state("sending"),
            Some(MessageDeliveryState::Queued)
        );
        assert_eq!(delivery_state("received"), None);
    }
}
