//! `POST /webhooks/oraclefusion`: Oracle Fusion Order Management status
//! callbacks (an Order Management business event relayed by Oracle
//! Integration, or an extension calling out on a status change), one order a
//! post, authenticated by Basic credentials or a bearer token as configured
//! in `[ingress.oraclefusion]`.
//!
//! Body: `{"eventId"?, "HeaderId", "OrderNumber"?, "SourceTransactionNumber"?,
//! "StatusCode", "LastUpdateDate"?, "lines"?: [{"FulfillLineId"?, "StatusCode"?,
//! "Carrier"?, "TrackingNumber"?, "ShipmentId"?}]}`. `StatusCode` maps through
//! `ingress.oraclefusion.statuses`; lines with a tracking number become
//! shipments. `eventId` (else `HeaderId` + status + `LastUpdateDate`) is the
//! de-duplication key.

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
use serde_json::Value;

use super::auth::basic_or_bearer;
use super::{Shared, SourceState};
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::fulfilment::{self, Kind, Notice};
use crate::{OracleFusionIngress, Settings, StatusName};

pub(crate) const SYSTEM: &str = "oraclefusion";

/// The Oracle Fusion route, with `[ingress.oraclefusion]`.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/oraclefusion", post(receive))
        .with_state(SourceState::new(
            shared,
            settings.ingress.oraclefusion.clone(),
        ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Callback {
    #[serde(default, rename = "eventId")]
    event_id: Option<String>,
    /// A number in Oracle's REST payloads; a string is taken too.
    header_id: Value,
    #[serde(default)]
    order_number: String,
    #[serde(default)]
    source_transaction_number: String,
    status_code: String,
    #[serde(default)]
    last_update_date: Option<DateTime<Utc>>,
    #[serde(default, rename = "lines")]
    lines: Vec<Line>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Line {
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
    #[serde(default)]
    shipment_id: Option<Value>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn receive(
    State(state): State<SourceState<OracleFusionIngress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    basic_or_bearer(
        &headers,
        &settings.user,
        settings.password.expose_secret(),
        settings.bearer_token.expose_secret(),
    )?;
    super::guards::require_json(&headers)?;
    let body = super::body(body)?;
    let callback: Callback =
        serde_json::from_slice(&body).map_err(|e| IngressError::Malformed(e.to_string()))?;
    let notice = normalise(settings, callback)?;
    let accepted = fulfilment::publish(&state.shared.publisher, SYSTEM, &[notice], 0).await?;
    Ok((StatusCode::OK, Json(accepted)))
}

fn normalise(settings: &OracleFusionIngress, callback: Callback) -> Result<Notice, IngressError> {
    let header_id = text(&callback.header_id)
        .ok_or_else(|| IngressError::Malformed("HeaderId is required".into()))?;
    if callback.status_code.trim().is_empty() {
        return Err(IngressError::Malformed("StatusCode is required".into()));
    }
    let status = settings.status(callback.status_code.trim());
    let at = callback.last_update_date;
    let dispatched = matches!(
        status,
        StatusName::Dispatched | StatusName::PartiallyDelivered | StatusName::Delivered
    );
    let shipments = callback
        .lines
        .iter()
        .filter(|l| !l.tracking_number.trim().is_empty())
        .map(|l| Shipment {
            r#ref: l.shipment_id.as_ref().and_then(text).map(|id| RecordRef {
                system: SYSTEM.to_owned(),
                object_type: "shipment".to_owned(),
                id,
            }),
            carrier: l.carrier.trim().to_owned(),
            tracking_number: l.tracking_number.trim().to_owned(),
            dispatched_at: at.filter(|_| dispatched).map(timestamp_from),
            ..Shipment::default()
        })
        .collect();
    let mut changed = OrderStatusChanged {
        order: Some(RecordRef {
            system: SYSTEM.to_owned(),
            object_type: "salesOrder".to_owned(),
            id: header_id.clone(),
        }),
        order_number: callback.order_number,
        external_ref: callback.source_transaction_number,
        changed_at: at.map(timestamp_from),
        shipments,
        ..OrderStatusChanged::default()
    };
    changed.set_status(status.to_proto());
    let event = match callback.event_id.filter(|e| !e.trim().is_empty()) {
        Some(id) => id,
        None => format!(
            "{}:{}",
            callback.status_code.trim(),
            at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
    };
    Ok(Notice {
        tenant: "fusion".to_owned(),
        dedup_key: format!("{SYSTEM}:{header_id}:{event}"),
        about: format!("order/{header_id}"),
        occurred_at: at.unwrap_or_else(Utc::now),
        kind: Kind::OrderStatus(changed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::OrderStatus;

    #[test]
    fn a_shipped_callback_maps_status_and_tracking() {
        let settings: OracleFusionIngress =
            serde_json::from_value(serde_json::json!({ "bearer_token": "t" })).expect("parses");
        let callback: Callback = serde_json::from_value(serde_json::json!({
            "HeaderId": 300_000_123, "OrderNumber": "520001", "StatusCode": "SHIPPED",
            "LastUpdateDate": "2026-12-05T08:00:00Z",
            "lines": [{"Carrier": "UPS", "TrackingNumber": "1Z9", "ShipmentId": 88}, {"StatusCode": "AWAIT_SHIPPING"}]
        }))
        .expect("parses");
        let notice = normalise(&settings, callback).expect("valid");
        assert_eq!(
            notice.dedup_key,
            "oraclefusion:300000123:SHIPPED:2026-12-05T08:00:00+00:00"
        );
        let Kind::OrderStatus(changed) = notice.kind else {
            panic!("order status")
        };
        assert_eq!(changed.status(), OrderStatus::Dispatched);
        assert_eq!(changed.order.expect("order").id, "300000123");
        assert_eq!(changed.shipments.len(), 1);
        assert_eq!(changed.shipments[0].tracking_number, "1Z9");
    }
}
