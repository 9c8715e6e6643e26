//! `POST /webhooks/netsuite`: status changes of sales orders and item
//! fulfilments, posted by the SuiteScript 2.1 user-event script shipped in
//! `deploy/netsuite/crmerp_fulfilment_ue.js`.
//!
//! NetSuite has no webhook signature of its own, so the script signs:
//! `X-Crmerp-Timestamp` (Unix seconds) and `X-Crmerp-Signature`, the lowercase
//! hex HMAC-SHA256 of `<timestamp>.<raw body>` under the shared secret (a
//! NetSuite API secret on that side, `ingress.netsuite.secret` here). A
//! timestamp outside the replay window is refused, so a captured post cannot
//! be replayed later; within it, the body's `eventId` de-duplicates re-sends.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_proto::{OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

use super::auth::{bytes_match, header, hmac_sha256};
use super::{Shared, SourceState};
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::fulfilment::{self, Kind, Notice};
use crate::{NetSuiteIngress, Settings, StatusName};

pub(crate) const SYSTEM: &str = "netsuite";
/// Unix seconds at signing.
pub(crate) const HEADER_TIMESTAMP: &str = "x-crmerp-timestamp";
/// Hex HMAC-SHA256 of `<timestamp>.<body>`.
pub(crate) const HEADER_SIGNATURE: &str = "x-crmerp-signature";

/// The NetSuite route, with `[ingress.netsuite]`.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/netsuite", post(receive))
        .with_state(SourceState::new(shared, settings.ingress.netsuite.clone()))
}

/// What the script posts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Post {
    account: String,
    /// `<recordType>:<id>:<lastmodifieddate>`: the same for re-sends of one save.
    event_id: String,
    /// `salesorder` or `itemfulfillment`.
    record_type: String,
    #[serde(default)]
    changed_at: Option<DateTime<Utc>>,
    sales_order: SalesOrder,
    #[serde(default)]
    fulfillment: Option<Fulfillment>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SalesOrder {
    id: String,
    #[serde(default)]
    tran_id: String,
    #[serde(default)]
    external_id: String,
    /// `orderstatus` code (A-H).
    #[serde(default)]
    status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fulfillment {
    id: String,
    /// `shipstatus` code (A picked, B packed, C shipped).
    ship_status: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_numbers: Vec<String>,
}

/// Checks the timestamp window, then the signature, in constant time.
pub(crate) fn verify(
    settings: &NetSuiteIngress,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), IngressError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(IngressError::MissingSignature);
    };
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| IngressError::StaleTimestamp)?;
    let age = now.timestamp().saturating_sub(sent).unsigned_abs();
    if age > settings.replay_window.as_secs() {
        return Err(IngressError::StaleTimestamp);
    }
    let expected = hex::encode(hmac_sha256(
        settings.secret.expose_secret().as_bytes(),
        &[timestamp.trim().as_bytes(), b".", body],
    ));
    let presented = signature.trim().to_ascii_lowercase();
    if bytes_match(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(IngressError::InvalidSignature)
    }
}

async fn receive(
    State(state): State<SourceState<NetSuiteIngress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    let body = super::body(body)?;
    verify(
        settings,
        header(&headers, HEADER_TIMESTAMP),
        header(&headers, HEADER_SIGNATURE),
        &body,
        Utc::now(),
    )?;
    super::guards::require_json(&headers)?;
    let post: Post =
        serde_json::from_slice(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    if !settings.account.is_empty() && !post.account.eq_ignore_ascii_case(&settings.account) {
        return Err(IngressError::InvalidCredentials);
    }
    let notice = normalise(settings, post)?;
    let accepted = fulfilment::publish(&state.shared.publisher, SYSTEM, &[notice], 0).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

fn normalise(settings: &NetSuiteIngress, post: Post) -> Result<Notice, IngressError> {
    if post.event_id.trim().is_empty() || post.sales_order.id.trim().is_empty() {
        return Err(IngressError::Malformed(
            "eventId and salesOrder.id are required".into(),
        ));
    }
    let changed_at = post.changed_at.unwrap_or_else(Utc::now);
    let (status, shipments) = match (post.record_type.as_str(), &post.fulfillment) {
        ("itemfulfillment", Some(fulfillment)) => {
            let status = settings.ship_status(&fulfillment.ship_status);
            (status, shipments(fulfillment, status, changed_at))
        }
        ("itemfulfillment", None) => {
            return Err(IngressError::Malformed(
                "an itemfulfillment post needs fulfillment".into(),
            ));
        }
        ("salesorder", _) => (settings.order_status(&post.sales_order.status), Vec::new()),
        (other, _) => {
            return Err(IngressError::Malformed(format!(
                "recordType {:?} is neither salesorder nor itemfulfillment",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let mut changed = OrderStatusChanged {
        order: Some(RecordRef {
            system: SYSTEM.to_owned(),
            object_type: "salesOrder".to_owned(),
            id: post.sales_order.id.clone(),
        }),
        order_number: post.sales_order.tran_id,
        external_ref: post.sales_order.external_id,
        changed_at: Some(timestamp_from(changed_at)),
        shipments,
        ..OrderStatusChanged::default()
    };
    changed.set_status(status.to_proto());
    Ok(Notice {
        dedup_key: format!("{SYSTEM}:{}:{}", post.account, post.event_id),
        tenant: post.account,
        about: format!("order/{}", post.sales_order.id),
        occurred_at: changed_at,
        kind: Kind::OrderStatus(changed),
    })
}

/// One shipment per tracking number (one without, when there is none yet).
fn shipments(fulfillment: &Fulfillment, status: StatusName, at: DateTime<Utc>) -> Vec<Shipment> {
    let dispatched = matches!(
        status,
        StatusName::Dispatched | StatusName::PartiallyDelivered | StatusName::Delivered
    );
    let base = Shipment {
        r#ref: Some(RecordRef {
            system: SYSTEM.to_owned(),
            object_type: "itemFulfillment".to_owned(),
            id: fulfillment.id.clone(),
        }),
        carrier: fulfillment.carrier.clone(),
        dispatched_at: dispatched.then(|| timestamp_from(at)),
        ..Shipment::default()
    };
    let numbers: Vec<&String> = fulfillment
        .tracking_numbers
        .iter()
        .filter(|n| !n.trim().is_empty())
        .collect();
    if numbers.is_empty() {
        return vec![base];
    }
    numbers
        .into_iter()
        .map(|number| Shipment {
            tracking_number: number.trim().to_owned(),
            ..base.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::OrderStatus;

    fn settings() -> NetSuiteIngress {
        serde_json::from_value(serde_json::json!({ "secret": "ns-secret" })).expect("parses")
    }

    #[test]
    fn the_signature_covers_timestamp_and_body_within_the_window() {
        let settings = settings();
        let now = DateTime::from_timestamp(1_764_921_600, 0).expect("time");
        let body = br#"{"a":1}"#;
        let sign = |ts: &str, body: &[u8]| {
            hex::encode(hmac_sha256(b"ns-secret", &[ts.as_bytes(), b".", body]))
        };
        let ts = "1764921590";
        assert!(verify(&settings, Some(ts), Some(&sign(ts, body)), body, now).is_ok());
        assert!(matches!(
            verify(&settings, Some(ts), Some(&sign(ts, b"{}")), body, now),
            Err(IngressError::InvalidSignature)
        ));
        let old = "1764921000";
        assert!(matches!(
            verify(&settings, Some(old), Some(&sign(old, body)), body, now),
            Err(IngressError::StaleTimestamp)
        ));
        assert!(matches!(
            verify(&settings, None, Some(&sign(ts, body)), body, now),
            Err(IngressError::MissingSignature)
        ));
    }

    #[test]
    fn an_item_fulfilment_maps_its_ship_status_and_tracking_numbers() {
        let post: Post = serde_json::from_value(serde_json::json!({
            "account": "1234567", "eventId": "itemfulfillment:77:1764921600000",
            "recordType": "itemfulfillment", "changedAt": "2026-12-05T08:00:00Z",
            "salesOrder": { "id": "42", "tranId": "SO42", "externalId": "hubspot-deal-1" },
            "fulfillment": { "id": "77", "shipStatus": "C", "carrier": "UPS",
                             "trackingNumbers": ["1Z1", "1Z2"] }
        }))
        .expect("parses");
        let notice = normalise(&settings(), post).expect("valid");
        assert_eq!(
            notice.dedup_key,
            "netsuite:1234567:itemfulfillment:77:1764921600000"
        );
        let Kind::OrderStatus(changed) = notice.kind else {
            panic!("an order status");
        };
        assert_eq!(changed.status(), OrderStatus::Dispatched);
        assert_eq!(changed.order.expect("order").id, "42");
        let numbers: Vec<_> = changed
            .shipments
            .iter()
            .map(|s| s.tracking_number.as_str())
            .collect();
        assert_eq!(numbers, ["1Z1", "1Z2"]);
        assert!(changed.shipments[0].dispatched_at.is_some());
    }
}
