//! `POST /webhooks/s4hana`: SAP S/4HANA Business Events as CloudEvents 1.0
//! over HTTP, pushed by an SAP Event Mesh webhook subscription.
//!
//! Both content modes are read: binary (`ce-id`, `ce-source`, `ce-type`,
//! `ce-time` headers, the body is the event's `data`) and structured
//! (`application/cloudevents+json`, the body is the whole event). Event Mesh
//! authenticates its webhook calls with what the subscription configures; we
//! use authentication type Basic, checked against `[ingress.s4hana]` (the
//! OAuth2 client-credentials type would need ingress to run or trust a token
//! issuer, which it does not).
//!
//! Business events carry ids only: `sap.s4.beh.salesorder.v1.SalesOrder.*`
//! becomes an `OrderStatusChanged` for that order with status UNSPECIFIED;
//! `sap.s4.beh.outbounddelivery.v1.OutboundDelivery.*` one with no order and
//! the delivery as `shipments[0].ref` (`outboundDelivery`). The flow reads
//! either back via OData. Other types are stored as unroutable. The
//! CloudEvent's `source` and `id` (unique per source) are the de-duplication key.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::Value;

use super::auth::{basic_or_bearer, header};
use super::{Shared, SourceState};
use crate::error::IngressError;
use crate::events::Accepted;
use crate::events::fulfilment::{self, Kind, Notice};
use crate::events::unroutable::UnroutableNotice;
use crate::{S4HanaIngress, Settings};

pub(crate) const SYSTEM: &str = "s4hana";
const SALES_ORDER_TYPES: &str = "sap.s4.beh.salesorder.v1.SalesOrder.";
const DELIVERY_TYPES: &str = "sap.s4.beh.outbounddelivery.v1.OutboundDelivery.";

/// The S/4HANA route, with `[ingress.s4hana]`.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/s4hana", post(receive))
        .with_state(SourceState::new(shared, settings.ingress.s4hana.clone()))
}

/// A CloudEvent, whichever mode it came in.
#[derive(Debug, Deserialize)]
struct CloudEvent {
    id: String,
    source: String,
    r#type: String,
    #[serde(default)]
    time: Option<DateTime<Utc>>,
    #[serde(default)]
    data: Value,
}

/// The event of a request: structured when the content type says so, else
/// binary (attributes in `ce-` headers).
fn cloud_event(headers: &HeaderMap, body: &[u8]) -> Result<CloudEvent, IngressError> {
    let structured = header(headers, header::CONTENT_TYPE.as_str()).is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/cloudevents+json")
    });
    let event = if structured {
        serde_json::from_slice(body).map_err(|e| IngressError::Malformed(e.to_string()))?
    } else {
        let attribute = |name: &str| {
            header(headers, name).map(str::to_owned).ok_or_else(|| {
                IngressError::Malformed(format!("binary-mode CloudEvent without {name}"))
            })
        };
        let data: Value =
            serde_json::from_slice(body).map_err(|e| IngressError::Malformed(e.to_string()))?;
        CloudEvent {
            id: attribute("ce-id")?,
            source: attribute("ce-source")?,
            r#type: attribute("ce-type")?,
            time: header(headers, "ce-time")
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.to_utc()),
            data,
        }
    };
    if event.id.is_empty() || event.source.is_empty() || event.r#type.is_empty() {
        return Err(IngressError::Malformed(
            "CloudEvent id, source and type are required".into(),
        ));
    }
    Ok(event)
}

async fn receive(
    State(state): State<SourceState<S4HanaIngress>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), IngressError> {
    let settings = state.settings()?;
    basic_or_bearer(
        &headers,
        &settings.user,
        settings.password.expose_secret(),
        "",
    )?;
    super::guards::require_json(&headers)?;
    let body = super::body(body)?;
    let event = cloud_event(&headers, &body)?;
    let notice = normalise(&event)?;
    let others = if notice.is_none() {
        vec![UnroutableNotice {
            event_type: event.r#type.clone(),
            vendor_event_id: format!("{}:{}", event.source, event.id),
            notice: serde_json::from_slice(&body).unwrap_or(Value::Null),
        }]
    } else {
        Vec::new()
    };
    let notices: Vec<Notice> = notice.into_iter().collect();
    let accepted = fulfilment::publish_with_unroutable(
        &state.shared.publisher,
        &state.shared.warned_types,
        SYSTEM,
        &notices,
        &others,
    )
    .await?;
    Ok((StatusCode::OK, Json(accepted)))
}

/// The read-back notice of a sales order or delivery event; `None` for other types.
fn normalise(event: &CloudEvent) -> Result<Option<Notice>, IngressError> {
    let field = |names: &[&str]| {
        names.iter().find_map(|name| match event.data.get(*name) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        })
    };
    let record = |object_type: &str, id: &str| RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    };
    let mut changed = OrderStatusChanged {
        changed_at: event.time.map(timestamp_from),
        ..OrderStatusChanged::default()
    };
    changed.set_status(OrderStatus::Unspecified);
    let about = if event.r#type.starts_with(SALES_ORDER_TYPES) {
        let id = field(&["SalesOrder"])
            .ok_or_else(|| IngressError::Malformed("data.SalesOrder is required".into()))?;
        changed.order = Some(record("salesOrder", &id));
        format!("order/{id}")
    } else if event.r#type.starts_with(DELIVERY_TYPES) {
        let id = field(&["OutboundDelivery", "DeliveryDocument"])
            .ok_or_else(|| IngressError::Malformed("data.OutboundDelivery is required".into()))?;
        changed.shipments = vec![Shipment {
            r#ref: Some(record("outboundDelivery", &id)),
            ..Shipment::default()
        }];
        format!("delivery/{id}")
    } else {
        return Ok(None);
    };
    Ok(Some(Notice {
        tenant: event.source.trim_matches('/').replace('/', ":"),
        dedup_key: format!("{SYSTEM}:{}:{}", event.source, event.id),
        about,
        occurred_at: event.time.unwrap_or_else(Utc::now),
        kind: Kind::OrderStatus(changed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_structured_modes_read_the_same_event() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("ce-specversion", "1.0"),
            ("ce-id", "ev-1"),
            ("ce-source", "/default/sap.s4.beh/244000000"),
            ("ce-type", "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1"),
            ("ce-time", "2026-12-05T08:00:00Z"),
        ] {
            headers.insert(name, value.parse().expect("header"));
        }
        let binary = cloud_event(&headers, br#"{"SalesOrder":"4711"}"#).expect("binary");
        let mut structured_headers = HeaderMap::new();
        structured_headers.insert(
            "content-type",
            "application/cloudevents+json".parse().expect("header"),
        );
        let structured = cloud_event(
            &structured_headers,
            br#"{"specversion":"1.0","id":"ev-1","source":"/default/sap.s4.beh/244000000",
                "type":"sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1","time":"2026-12-05T08:00:00Z",
                "datacontenttype":"application/json","data":{"SalesOrder":"4711"}}"#,
        )
        .expect("structured");
        for event in [binary, structured] {
            let notice = normalise(&event).expect("valid").expect("routed");
            assert_eq!(
                notice.dedup_key,
                "s4hana:/default/sap.s4.beh/244000000:ev-1"
            );
            let Kind::OrderStatus(changed) = notice.kind else {
                panic!("order status")
            };
            assert_eq!(changed.order.as_ref().expect("order").id, "4711");
            assert_eq!(changed.status(), OrderStatus::Unspecified);
        }
        headers.remove("ce-id");
        assert!(matches!(
            cloud_event(&headers, b"{}"),
            Err(IngressError::Malformed(_))
        ));
    }
}
