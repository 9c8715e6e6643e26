//! NetSuite as an [`OrderStatusSource`]: the sales order and the item
//! fulfillments created from it (REST record service), mapped through
//! [`FulfilmentFields`](super::FulfilmentFields):
//!
//! 1. the order `status`, when it maps to `cancelled` or `exception`;
//! 2. else the item fulfillments' combined status: each by `shipStatus`
//!    (Picked, Packed, Shipped), delivered when the configured delivery-date
//!    field is set; the least advanced wins, some delivered is partially
//!    delivered;
//! 3. else the order `status`.
//!
//! Every package of a fulfillment with a tracking number is one shipment,
//! with the fulfillment's ship method as carrier.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, Shipment, timestamp_from};
use serde::Deserialize;
use serde_json::Value;

use super::fulfilment::{FulfilmentFields, ORDER_STATUSES, SHIP_STATUSES};
use super::payload::check_internal_id;
use super::{NetSuiteErp, RECORD_PATH, SYSTEM, record_ref};
use crate::endpoint;
use crate::http_kit::Endpoint;
use crate::ports::OrderStatusSource;
use crate::status_map::{FulfilmentStatus, StatusOverrides, combine, progress};
use crate::{CallLog, ConnectorError, ErrorCategory};

const ENDPOINT_ORDER_STATUS: Endpoint = endpoint!(GET "/services/rest/record/v1/salesOrder/{id}");
const ENDPOINT_FULFILLMENTS: Endpoint =
    endpoint!(GET "/services/rest/record/v1/itemFulfillment?q=createdFrom ANY_OF");
const ENDPOINT_FULFILLMENT: Endpoint =
    endpoint!(GET "/services/rest/record/v1/itemFulfillment/{id}");

/// A collection page of ids.
#[derive(Debug, Deserialize)]
struct Ids {
    #[serde(default)]
    items: Vec<IdOnly>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

/// The status of ERP `value`: a plain name, or a `{"id","refName"}` object
/// tried by id then by name.
fn resolve_either(
    overrides: &StatusOverrides,
    defaults: &[(&str, FulfilmentStatus)],
    value: &Value,
) -> Option<FulfilmentStatus> {
    match value {
        Value::String(name) => crate::status_map::resolve(overrides, defaults, name),
        Value::Object(map) => ["id", "refName"].iter().find_map(|key| {
            map.get(*key)
                .and_then(Value::as_str)
                .and_then(|code| crate::status_map::resolve(overrides, defaults, code))
        }),
        _ => None,
    }
}

fn code_text(value: &Value) -> String {
    match value {
        Value::String(name) => name.clone(),
        Value::Object(map) => map
            .get("refName")
            .or_else(|| map.get("id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The canonical status of `order` and its `fulfillments` (see the module docs).
pub(crate) fn status_of(
    fields: &FulfilmentFields,
    prefix: &str,
    order: &Value,
    fulfillments: &[Value],
) -> OrderStatusChanged {
    let order_status = resolve_either(&fields.order_statuses, ORDER_STATUSES, &order["status"]);
    let mut changed_at = time(&order["lastModifiedDate"]);
    let mut statuses = Vec::new();
    let mut shipments = Vec::new();
    for fulfillment in fulfillments {
        changed_at = changed_at.max(time(&fulfillment["lastModifiedDate"]));
        let Some(mut status) = resolve_either(
            &fields.ship_statuses,
            SHIP_STATUSES,
            &fulfillment["shipStatus"],
        ) else {
            tracing::warn!(
                ship_status = code_text(&fulfillment["shipStatus"]),
                "NetSuite ship status without a mapping; ignored."
            );
            continue;
        };
        let delivered = (!fields.delivered_date_field.is_empty())
            .then(|| fulfillment[fields.delivered_date_field.as_str()].as_str())
            .flatten()
            .and_then(|day| day.parse::<NaiveDate>().ok());
        if delivered.is_some() && progress(status) >= progress(FulfilmentStatus::Dispatched) {
            status = FulfilmentStatus::Delivered;
        }
        statuses.push(status);
        if progress(status) < progress(FulfilmentStatus::Dispatched) {
            continue;
        }
        let carrier = code_text(&fulfillment["shipMethod"]);
        let id = fulfillment["id"].as_str().unwrap_or_default();
        for package in fulfillment["package"]["items"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let tracking = package["packageTrackingNumber"]
                .as_str()
                .unwrap_or_default();
            if tracking.is_empty() {
                continue;
            }
            shipments.push(Shipment {
                r#ref: (!id.is_empty()).then(|| record_ref("itemFulfillment", id)),
                carrier: carrier.clone(),
                tracking_number: tracking.to_owned(),
                // NetSuite records a delivery day, not a time: midnight UTC.
                delivered_at: delivered
                    .and_then(|day| day.and_hms_opt(0, 0, 0))
                    .map(|at| timestamp_from(at.and_utc())),
                ..Shipment::default()
            });
        }
    }
    let status = order_status
        .filter(|s| progress(*s) == 0)
        .or_else(|| combine(statuses))
        .or(order_status)
        .map_or(OrderStatus::Received, OrderStatus::from);
    let external_id = order["externalId"].as_str().unwrap_or_default();
    let mut changed = OrderStatusChanged {
        order: Some(record_ref(
            "salesOrder",
            order["id"].as_str().unwrap_or_default(),
        )),
        order_number: order["tranId"].as_str().unwrap_or_default().to_owned(),
        external_ref: external_id
            .strip_prefix(prefix)
            .unwrap_or(external_id)
            .to_owned(),
        changed_at: changed_at.map(timestamp_from),
        shipments,
        reason: match status {
            OrderStatus::Exception | OrderStatus::Cancelled => {
                format!("NetSuite order status {}", code_text(&order["status"]))
            }
            _ => String::new(),
        },
        ..OrderStatusChanged::default()
    };
    changed.set_status(status);
    changed
}

#[async_trait]
impl OrderStatusSource for NetSuiteErp {
    async fn order_status(
        &self,
        order: &RecordRef,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError> {
        let id = check_internal_id(&order.id, "sales order", &ENDPOINT_ORDER_STATUS)?;
        let path = format!("{RECORD_PATH}/salesOrder/{id}");
        let record: Value = match self
            .call(
                calls,
                &ENDPOINT_ORDER_STATUS,
                &path,
                &[("fields", "tranId,externalId,status,lastModifiedDate")],
                None,
            )
            .await
        {
            Ok(response) => response.json(SYSTEM, &ENDPOINT_ORDER_STATUS)?,
            Err(err) if err.category == ErrorCategory::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let q = format!("createdFrom ANY_OF [{id}]");
        let ids: Ids = self
            .call(
                calls,
                &ENDPOINT_FULFILLMENTS,
                &format!("{RECORD_PATH}/itemFulfillment"),
                &[("q", &q)],
                None,
            )
            .await?
            .json(SYSTEM, &ENDPOINT_FULFILLMENTS)?;
        let mut fulfillments = Vec::with_capacity(ids.items.len());
        for item in &ids.items {
            let fulfillment_id =
                check_internal_id(&item.id, "item fulfillment", &ENDPOINT_FULFILLMENT)?;
            let mut fulfillment: Value = self
                .call(
                    calls,
                    &ENDPOINT_FULFILLMENT,
                    &format!("{RECORD_PATH}/itemFulfillment/{fulfillment_id}"),
                    &[("expandSubResources", "true")],
                    None,
                )
                .await?
                .json(SYSTEM, &ENDPOINT_FULFILLMENT)?;
            fulfillment["id"] = Value::String(fulfillment_id.to_owned());
            fulfillments.push(fulfillment);
        }
        let mut record = record;
        record["id"] = Value::String(id.to_owned());
        Ok(Some(status_of(
            &self.config.fulfilment,
            &self.config.external_id_prefix,
            &record,
            &fulfillments,
        )))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fulfillments_decide_unless_the_order_is_cancelled() {
        let fields = FulfilmentFields::default();
        let order = json!({"id": "20001", "tranId": "SO1001", "externalId": "crm-hubspot-deal-1",
                           "status": {"id": "B", "refName": "Pending Fulfillment"},
                           "lastModifiedDate": "2026-01-01T10:00:00Z"});
        let received = status_of(&fields, "crm-", &order, &[]);
        assert_eq!(received.status(), OrderStatus::Received);
        assert_eq!(received.external_ref, "hubspot-deal-1");
        assert_eq!(received.order_number, "SO1001");

        let packed = json!({"id": "30001", "shipStatus": {"id": "B", "refName": "Packed"},
                            "lastModifiedDate": "2026-01-02T10:00:00Z"});
        let shipped = json!({"id": "30002", "shipStatus": {"id": "C", "refName": "Shipped"},
                             "shipMethod": {"id": "7", "refName": "UPS Ground"},
                             "package": {"items": [{"packageTrackingNumber": "1Z1"}, {"packageTrackingNumber": "1Z2"}]}});
        let both = status_of(&fields, "crm-", &order, &[packed.clone(), shipped.clone()]);
        assert_eq!(both.status(), OrderStatus::Packed, "the least advanced");
        assert_eq!(both.shipments.len(), 2, "one per package");
        assert_eq!(both.shipments[0].carrier, "UPS Ground");
        assert_eq!(
            both.changed_at.map(|t| t.seconds),
            Some(1_767_348_000),
            "the latest change"
        );

        let mut delivered = shipped.clone();
        delivered["custbody_crmerp_delivered_date"] = json!("2026-01-03");
        let partly = status_of(&fields, "crm-", &order, &[delivered.clone(), shipped]);
        assert_eq!(partly.status(), OrderStatus::PartiallyDelivered);
        let all = status_of(&fields, "crm-", &order, &[delivered]);
        assert_eq!(all.status(), OrderStatus::Delivered);
        assert!(all.shipments[0].delivered_at.is_some());

        let mut cancelled = order.clone();
        cancelled["status"] = json!("Cancelled");
        assert_eq!(
            status_of(&fields, "crm-", &cancelled, &[packed]).status(),
            OrderStatus::Cancelled
        );

        let mut custom = FulfilmentFields::default();
        custom
            .ship_statuses
            .insert("B".into(), FulfilmentStatus::Picking);
        let only_packed = json!({"shipStatus": {"id": "B", "refName": "Packed"}});
        assert_eq!(
            status_of(&custom, "", &order, &[only_packed]).status(),
            OrderStatus::Picking
        );
    }
}
