//! Fulfilment of a sales order as NetSuite records it, driven by the sandbox's
//! `POST /__sandbox/orders/{id, tranId or eid:externalId}/fulfilment`. NetSuite's
//! item fulfillment has exactly the pick, pack, ship states:
//!
//! | step | records |
//! |---|---|
//! | `picking` | an `itemFulfillment` (`createdFrom` the order) with `shipStatus` `A` Picked |
//! | `packed` | its `shipStatus` `B` Packed |
//! | `dispatched` | `shipStatus` `C` Shipped, `shipMethod`, `package` with `packageTrackingNumber`; the order `Pending Billing` with `linkedTrackingNumbers` |
//! | `delivered` | the fulfillment's custom field `custbody_crmerp_delivered_date` (NetSuite has no delivery state) |
//! | `invoiced` | an `invoice` (`Open`, `amountRemaining`); the order `Billed` |
//! | `paid` | the invoice `Paid In Full`, `amountRemaining` 0 |
//!
//! Every record written fires the User Event script ([`super::events`]).

use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::Shared;
use super::store::{NetSuiteData, Record, RecordType};
use crate::kit::fulfilment::{Advance, Fulfil, Refused, Step};
use crate::util::rfc3339_secs;

/// What `advance` wrote: `(event type, record type, id)`.
type Written = (&'static str, RecordType, u64);

impl Fulfil for Shared {
    fn advance(self: &Arc<Self>, order: &str, step: &Advance) -> Result<Value, Refused> {
        let mut data = self.data.write();
        let order_id = locate_order(&data, order)
            .ok_or_else(|| Refused::missing(format!("no sales order {order}")))?;
        let written = apply(&mut data, order_id, step)?;
        let mut shown = Vec::with_capacity(written.len());
        for (event_type, record_type, id) in written {
            let record = data.get(record_type, id);
            self.events
                .after_submit(event_type, record_type, id, record);
            shown.push(
                json!({ "recordType": record_type.name(), "id": id.to_string(), "fields": record }),
            );
        }
        Ok(Value::Array(shown))
    }
}

/// A sales order by internal id, `eid:` external id or `tranId`.
fn locate_order(data: &NetSuiteData, key: &str) -> Option<u64> {
    let by_id = key
        .parse::<u64>()
        .ok()
        .filter(|id| data.get(RecordType::SalesOrder, *id).is_some());
    let by_external = key
        .strip_prefix("eid:")
        .and_then(|external| data.id_by_external_id(RecordType::SalesOrder, external));
    by_id.or(by_external).or_else(|| {
        data.records(RecordType::SalesOrder)
            .find(|(_, record)| record.get("tranId").and_then(Value::as_str) == Some(key))
            .map(|(id, _)| id)
    })
}

/// The record of `record_type` made from the order, if any.
fn made_from(data: &NetSuiteData, record_type: RecordType, order_id: u64) -> Option<(u64, Record)> {
    let order = order_id.to_string();
    data.records(record_type)
        .find(|(_, record)| record["createdFrom"]["id"].as_str() == Some(order.as_str()))
        .map(|(id, record)| (id, record.clone()))
}

/// A new transaction made from the order (its customer, a `createdFrom` link).
fn transformed(order_id: u64, order: &Record) -> Record {
    let now = Utc::now();
    let mut record = Record::new();
    record.insert(
        "createdFrom".into(),
        json!({ "id": order_id.to_string(), "refName": order.get("tranId") }),
    );
    record.insert(
        "entity".into(),
        order.get("entity").cloned().unwrap_or(Value::Null),
    );
    record.insert("tranDate".into(), json!(now.date_naive().to_string()));
    record.insert("createdDate".into(), json!(rfc3339_secs(now)));
    record
}

/// Saves `record` as new (`create`) or over `existing` (`edit`).
fn save(
    data: &mut NetSuiteData,
    record_type: RecordType,
    existing: Option<u64>,
    mut record: Record,
) -> Written {
    record.insert("lastModifiedDate".into(), json!(rfc3339_secs(Utc::now())));
    match existing {
        Some(id) => {
            data.replace(record_type, id, record);
            ("edit", record_type, id)
        }
        None => ("create", record_type, data.insert(record_type, record)),
    }
}

fn ship_status(id: &str, name: &str) -> Value {
    json!({ "id": id, "refName": name })
}

fn apply(data: &mut NetSuiteData, order_id: u64, step: &Advance) -> Result<Vec<Written>, Refused> {
    let order = data
        .get(RecordType::SalesOrder, order_id)
        .cloned()
        .ok_or_else(|| Refused::missing("no such sales order"))?;
    let fulfillment = made_from(data, RecordType::ItemFulfillment, order_id);
    let (fulfillment_id, mut fulfillment_record) = match fulfillment {
        Some((id, record)) => (Some(id), record),
        None => (None, transformed(order_id, &order)),
    };
    let mut written = Vec::new();
    match step.status {
        Step::Picking | Step::Packed => {
            let (id, name) = if step.status == Step::Picking {
                ("A", "Picked")
            } else {
                ("B", "Packed")
            };
            fulfillment_record.insert("shipStatus".into(), ship_status(id, name));
            fulfillment_record.insert(
                "item".into(),
                order.get("item").cloned().unwrap_or(Value::Null),
            );
            written.push(save(
                data,
                RecordType::ItemFulfillment,
                fulfillment_id,
                fulfillment_record,
            ));
        }
        Step::Dispatched => {
            let (carrier, tracking) = step.shipment()?;
            fulfillment_record.insert("shipStatus".into(), ship_status("C", "Shipped"));
            fulfillment_record.insert(
                "item".into(),
                order.get("item").cloned().unwrap_or(Value::Null),
            );
            fulfillment_record.insert("shipMethod".into(), json!({ "refName": carrier }));
            fulfillment_record.insert(
                "package".into(),
                json!({ "items": [{ "packageTrackingNumber": tracking, "packageWeight": 1.0 }] }),
            );
            written.push(save(
                data,
                RecordType::ItemFulfillment,
                fulfillment_id,
                fulfillment_record,
            ));
            let mut order = order;
            order.insert("status".into(), json!("Pending Billing"));
            order.insert("linkedTrackingNumbers".into(), json!(tracking));
            written.push(save(data, RecordType::SalesOrder, Some(order_id), order));
        }
        Step::Delivered => {
            if fulfillment_record["shipStatus"]["id"] != "C" {
                return Err(Refused::conflict("the sales order is not shipped"));
            }
            fulfillment_record.insert(
                "custbody_crmerp_delivered_date".into(),
                json!(Utc::now().date_naive().to_string()),
            );
            written.push(save(
                data,
                RecordType::ItemFulfillment,
                fulfillment_id,
                fulfillment_record,
            ));
        }
        Step::Invoiced => {
            if made_from(data, RecordType::Invoice, order_id).is_some() {
                return Err(Refused::conflict("the sales order is already billed"));
            }
            let mut invoice = transformed(order_id, &order);
            let total = order.get("total").cloned().unwrap_or(json!(0));
            invoice.insert(
                "item".into(),
                order.get("item").cloned().unwrap_or(Value::Null),
            );
            invoice.insert("total".into(), total.clone());
            invoice.insert("amountRemaining".into(), total);
            invoice.insert("status".into(), json!("Open"));
            written.push(save(data, RecordType::Invoice, None, invoice));
            let mut order = order;
            order.insert("status".into(), json!("Billed"));
            written.push(save(data, RecordType::SalesOrder, Some(order_id), order));
        }
        Step::Paid => {
            let (id, mut invoice) = made_from(data, RecordType::Invoice, order_id)
                .ok_or_else(|| Refused::conflict("the sales order is not billed"))?;
            invoice.insert("amountRemaining".into(), json!(0));
            invoice.insert("status".into(), json!("Paid In Full"));
            written.push(save(data, RecordType::Invoice, Some(id), invoice));
        }
    }
    Ok(written)
}
