//! `/webhooks/businesscentral`: Business Central webhook notifications.
//!
//! - `?validationToken=...` (on subscribe and on every renewal): answered
//!   200 `text/plain` with the token at once, before anything else, so BC's
//!   5-second handshake never waits on NATS.
//! - A notification POST `{"value":[...]}`: every item's `clientState` must be
//!   the configured one (constant time), else 401. Each `salesOrders(<id>)`
//!   change becomes an `OrderStatusChanged` with status UNSPECIFIED (BC sends
//!   ids only; the flow reads the order back); a `salesShipments(<id>)` change
//!   carries the shipment as `shipments[0].ref` and no order; a `collection`
//!   notice (BC coalesced more than 1,000 changes) carries `order.object_type`
//!   `collection` and `order.id` = the notice's `resource` (entity set plus
//!   `$filter` on the change time), for the flow to list and read back.
//!   Changes of other entity sets are stored as unroutable.
//!
//! BC deletes a subscription on any answer other than 2xx, 408, 429 or 5xx,
//! so an outage of the event store answers 503 (BC retries for 36 hours).
//! A wrong `clientState` answers 401, which deletes that subscription: it was
//! created with another secret, and the subscription keeper creates it anew.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use chrono::Utc;
use crmerp_connector::businesscentral::webhook::{self, Notification, NotificationError};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use sha2::{Digest as _, Sha256};

use super::{Shared, SourceState};
use crate::error::IngressError;
use crate::events::fulfilment::{self, Kind, Notice};
use crate::events::unroutable::UnroutableNotice;
use crate::{BusinessCentralIngress, Settings};

pub(crate) const SYSTEM: &str = "businesscentral";
/// Longest validation token echoed (BC sends a GUID-sized one).
const MAX_TOKEN: usize = 1024;

/// The Business Central route, with `[ingress.businesscentral]`.
pub(crate) fn routes(shared: &Shared, settings: &Settings) -> Router {
    Router::new()
        .route("/webhooks/businesscentral", post(receive).get(receive))
        .with_state(SourceState::new(
            shared,
            settings.ingress.businesscentral.clone(),
        ))
}

async fn receive(
    State(state): State<SourceState<BusinessCentralIngress>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngressError> {
    let settings = state.settings()?;
    if let Some(token) = query.get("validationToken") {
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(IngressError::Malformed(
                "validationToken is empty or too long".into(),
            ));
        }
        tracing::info!(
            source = SYSTEM,
            "Answered a subscription validation handshake."
        );
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token.clone(),
        )
            .into_response());
    }
    let body = super::body(body)?;
    super::guards::require_json(&headers)?;
    let notifications =
        webhook::parse_notifications(&body, &settings.client_state).map_err(|e| match e {
            NotificationError::Malformed(why) => IngressError::Malformed(why),
            NotificationError::ClientState(_) => IngressError::InvalidCredentials,
        })?;
    let mut notices = Vec::new();
    let mut others = Vec::new();
    for notification in &notifications {
        match normalise(notification) {
            Some(notice) => notices.push(notice),
            None => others.push(unroutable_notice(notification)),
        }
    }
    let accepted = fulfilment::publish_with_unroutable(
        &state.shared.publisher,
        &state.shared.warned_types,
        SYSTEM,
        &notices,
        &others,
    )
    .await?;
    Ok((StatusCode::OK, Json(accepted)).into_response())
}

/// `api/v2.0/companies(<company>)/<entity set>[(<id>)][?...]`, split.
#[derive(Debug, PartialEq, Eq)]
struct Resource<'a> {
    company: &'a str,
    entity_set: &'a str,
    id: Option<&'a str>,
}

fn parse_resource(resource: &str) -> Option<Resource<'_>> {
    let path = resource.split('?').next().unwrap_or_default();
    let mut segments = path.trim_matches('/').split('/');
    let company = segments
        .find_map(|s| s.strip_prefix("companies("))?
        .strip_suffix(')')?;
    let last = segments.next()?;
    let (entity_set, id) = match last.split_once('(') {
        Some((set, rest)) => (set, Some(rest.strip_suffix(')')?)),
        None => (last, None),
    };
    Some(Resource {
        company,
        entity_set,
        id,
    })
}

/// The fulfilment notice of one notification, or `None` when no flow takes it.
fn normalise(notification: &Notification) -> Option<Notice> {
    let resource = parse_resource(&notification.resource)?;
    if !matches!(resource.entity_set, "salesOrders" | "salesShipments") {
        return None;
    }
    let at = notification.last_modified_date_time;
    let occurred_at = at.unwrap_or_else(Utc::now);
    let mut changed = OrderStatusChanged {
        changed_at: at.map(timestamp_from),
        ..OrderStatusChanged::default()
    };
    changed.set_status(OrderStatus::Unspecified);
    let record = |object_type: &str, id: &str| RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    };
    let when = at.map(|t| t.to_rfc3339()).unwrap_or_default();
    let (about, dedup_key) = if notification.change_type.eq_ignore_ascii_case("collection") {
        changed.order = Some(record("collection", &notification.resource));
        let digest = hex::encode(Sha256::digest(notification.resource.as_bytes()));
        (
            format!("collection/{}", resource.entity_set),
            format!("{SYSTEM}:{}:collection:{digest}", resource.company),
        )
    } else {
        let id = resource.id?;
        let key = format!(
            "{SYSTEM}:{}:{}:{id}:{}:{when}",
            resource.company, resource.entity_set, notification.change_type
        );
        if resource.entity_set == "salesOrders" {
            changed.order = Some(record("salesOrder", id));
            (format!("order/{id}"), key)
        } else {
            changed.shipments = vec![Shipment {
                r#ref: Some(record("salesShipment", id)),
                ..Shipment::default()
            }];
            (format!("shipment/{id}"), key)
        }
    };
    Some(Notice {
        tenant: resource.company.to_owned(),
        dedup_key,
        about,
        occurred_at,
        kind: Kind::OrderStatus(changed),
    })
}

fn unroutable_notice(notification: &Notification) -> UnroutableNotice {
    let entity_set = parse_resource(&notification.resource).map_or("unknown", |r| r.entity_set);
    let when = notification
        .last_modified_date_time
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    UnroutableNotice {
        event_type: format!("{entity_set}.{}", notification.change_type),
        vendor_event_id: format!(
            "{}:{}:{}:{when}",
            notification.subscription_id, notification.resource, notification.change_type
        ),
        notice: serde_json::json!({
            "subscriptionId": notification.subscription_id,
            "resource": notification.resource,
            "changeType": notification.change_type,
            "lastModifiedDateTime": notification.last_modified_date_time,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(resource: &str, change_type: &str) -> Notification {
        serde_json::from_value(serde_json::json!({
            "subscriptionId": "sub-1", "resource": resource, "changeType": change_type,
            "lastModifiedDateTime": "2026-12-05T08:00:00Z",
        }))
        .expect("parses")
    }

    #[test]
    fn resources_split_into_company_entity_set_and_id() {
        assert_eq!(
            parse_resource("api/v2.0/companies(c-1)/salesOrders(o-1)"),
            Some(Resource {
                company: "c-1",
                entity_set: "salesOrders",
                id: Some("o-1")
            })
        );
        assert_eq!(
            parse_resource(
                "/api/v2.0/companies(c-1)/salesOrders?$filter=lastModifiedDateTime gt 2026-12-05T08:00:00Z"
            ),
            Some(Resource {
                company: "c-1",
                entity_set: "salesOrders",
                id: None
            })
        );
        assert_eq!(parse_resource("api/v2.0/items(1)"), None);
    }

    #[test]
    fn orders_shipments_and_collections_become_read_back_events() {
        let order = normalise(&notification(
            "api/v2.0/companies(c-1)/salesOrders(o-1)",
            "updated",
        ))
        .expect("an order");
        let Kind::OrderStatus(changed) = order.kind else {
            panic!("order status")
        };
        assert_eq!(changed.status(), OrderStatus::Unspecified);
        assert_eq!(changed.order.expect("order").object_type, "salesOrder");
        assert_eq!(
            order.dedup_key,
            "businesscentral:c-1:salesOrders:o-1:updated:2026-12-05T08:00:00+00:00"
        );

        let shipment = normalise(&notification(
            "api/v2.0/companies(c-1)/salesShipments(s-1)",
            "created",
        ))
        .expect("a shipment");
        let Kind::OrderStatus(changed) = shipment.kind else {
            panic!("order status")
        };
        assert!(changed.order.is_none());
        assert_eq!(changed.shipments[0].r#ref.as_ref().expect("ref").id, "s-1");

        let resource = "api/v2.0/companies(c-1)/salesOrders?$filter=lastModifiedDateTime%20gt%202026-12-05T08:00:00Z";
        let collection = normalise(&notification(resource, "collection")).expect("a collection");
        let Kind::OrderStatus(changed) = collection.kind else {
            panic!("order status")
        };
        let order = changed.order.expect("order");
        assert_eq!(
            (order.object_type.as_str(), order.id.as_str()),
            ("collection", resource)
        );

        assert!(
            normalise(&notification(
                "api/v2.0/companies(c-1)/customers(k-1)",
                "updated"
            ))
            .is_none()
        );
    }
}
