//! Fulfilment of a sales order as Order Management records it, driven by the
//! sandbox's `POST /__sandbox/orders/{OrderKey, HeaderId or OrderNumber}/fulfilment`.
//! Each step sets the fulfillment lines' `StatusCode` (visible on
//! `salesOrdersForOrderHub/{key}` and its `child/lines`) and sends
//! `FulfillLineStatusUpdate`:
//!
//! | step | lines | order |
//! |---|---|---|
//! | `picking`, `packed` | `AWAIT_SHIP` | |
//! | `dispatched` | `SHIPPED`, `ShippedQuantity`, `ShippingCarrier`, `TrackingNumber` | |
//! | `invoiced` | `BILLED` | `CLOSED` |
//!
//! Order Management records neither proof of delivery nor payment, so
//! `delivered` and `paid` are refused.

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::Shared;
use super::events::LINE_STATUS;
use crate::kit::fulfilment::{Advance, Fulfil, Refused, Step};

impl Fulfil for Shared {
    fn advance(self: &Arc<Self>, order: &str, step: &Advance) -> Result<Value, Refused> {
        let (line_status, header_status) = match step.status {
            Step::Picking | Step::Packed => ("AWAIT_SHIP", None),
            Step::Dispatched => ("SHIPPED", None),
            Step::Invoiced => ("BILLED", Some("CLOSED")),
            Step::Delivered | Step::Paid => {
                return Err(Refused::conflict(
                    "Order Management records neither proof of delivery nor payment",
                ));
            }
        };
        let shipment = match step.status {
            Step::Dispatched => Some(step.shipment()?),
            _ => None,
        };
        let mut data = self.data.write();
        let key = data
            .order_by_key(order)
            .or_else(|| {
                data.orders
                    .iter()
                    .find(|o| o.get("OrderNumber").and_then(Value::as_str) == Some(order))
            })
            .and_then(|o| o.get("HeaderId").cloned())
            .ok_or_else(|| Refused::missing(format!("no sales order {order}")))?;
        let record = data
            .orders
            .iter_mut()
            .find(|o| o.get("HeaderId") == Some(&key))
            .ok_or_else(|| Refused::missing(format!("no sales order {order}")))?;
        if step.status == Step::Invoiced && record.get("StatusCode") == Some(&json!("CLOSED")) {
            return Err(Refused::conflict(format!(
                "sales order {order} is already closed"
            )));
        }
        for line in record
            .get_mut("lines")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            line.insert("StatusCode".into(), json!(line_status));
            if let Some((carrier, tracking)) = shipment {
                let ordered = line.get("OrderedQuantity").cloned().unwrap_or(json!(0));
                line.insert("ShippedQuantity".into(), ordered);
                line.insert("ShippingCarrier".into(), json!(carrier));
                line.insert("TrackingNumber".into(), json!(tracking));
            }
        }
        if let Some(status) = header_status {
            record.insert("StatusCode".into(), json!(status));
        }
        record.insert(
            "LastUpdateDate".into(),
            json!(Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        let record = record.clone();
        drop(data);
        self.events.order(LINE_STATUS, &record);
        Ok(Value::Object(record))
    }
}
