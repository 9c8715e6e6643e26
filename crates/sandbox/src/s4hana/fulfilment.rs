//! Fulfilment of a sales order as `API_SALES_ORDER_SRV` shows it, driven by the
//! sandbox's `POST /__sandbox/orders/{SalesOrder or PurchaseOrderByCustomer}/fulfilment`.
//! S/4HANA keeps picking, packing and the tracking number on the outbound
//! delivery (`API_OUTBOUND_DELIVERY_SRV`, not simulated); the sales order shows
//! the status fields:
//!
//! | step | `A_SalesOrder` (and its items) | events |
//! |---|---|---|
//! | `picking`, `packed` | `OverallSDProcessStatus` `B`, `OverallTotalDeliveryStatus` `B` (items `SDProcessStatus`, `DeliveryStatus`) | `SalesOrder.Changed.v1` |
//! | `dispatched` | `OverallTotalDeliveryStatus` `C` (goods issued) | `SalesOrder.Changed.v1` |
//! | `invoiced` | `OverallOrdReltdBillgStatus` `C`, `OverallSDProcessStatus` `C` | `BillingDocument.Created.v1`, `SalesOrder.Changed.v1` |
//!
//! `delivered` and `paid` change nothing a sales order shows, so they are refused.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::Shared;
use super::events::{BILLING_CREATED, ORDER_CHANGED};
use super::store::{Entity, now_offset, text};
use crate::kit::fulfilment::{Advance, Fulfil, Refused, Step};

/// Status fields and their new values.
type Fields = &'static [(&'static str, &'static str)];

/// First billing document number.
const FIRST_BILLING_DOCUMENT: u64 = 90_000_000;

impl Fulfil for Shared {
    fn advance(self: &Arc<Self>, order: &str, step: &Advance) -> Result<Value, Refused> {
        let mut data = self.data.write();
        let index = data
            .sales_orders
            .iter()
            .position(|o| {
                text(o, "SalesOrder") == Some(order)
                    || text(o, "PurchaseOrderByCustomer") == Some(order)
            })
            .ok_or_else(|| Refused::missing(format!("no sales order {order}")))?;
        let number = text(&data.sales_orders[index], "SalesOrder")
            .unwrap_or_default()
            .to_owned();
        let (header, items): (Fields, Fields) = match step.status {
            Step::Picking | Step::Packed => (
                &[
                    ("OverallSDProcessStatus", "B"),
                    ("OverallTotalDeliveryStatus", "B"),
                ],
                &[("SDProcessStatus", "B"), ("DeliveryStatus", "B")],
            ),
            Step::Dispatched => {
                step.shipment()?;
                (
                    &[("OverallTotalDeliveryStatus", "C")],
                    &[("DeliveryStatus", "C")],
                )
            }
            Step::Invoiced => {
                if text(&data.sales_orders[index], "OverallOrdReltdBillgStatus") == Some("C") {
                    return Err(Refused::conflict(format!(
                        "sales order {number} is already billed"
                    )));
                }
                (
                    &[
                        ("OverallOrdReltdBillgStatus", "C"),
                        ("OverallSDProcessStatus", "C"),
                    ],
                    &[("OrderRelatedBillingStatus", "C"), ("SDProcessStatus", "C")],
                )
            }
            Step::Delivered | Step::Paid => {
                return Err(Refused::conflict(
                    "an S/4HANA sales order shows neither proof of delivery nor payment",
                ));
            }
        };
        for item in data
            .items
            .iter_mut()
            .filter(|i| text(i, "SalesOrder") == Some(number.as_str()))
        {
            set(item, items);
        }
        let order_entity = &mut data.sales_orders[index];
        set(order_entity, header);
        order_entity.insert("LastChangeDateTime".into(), now_offset());
        let order_entity = order_entity.clone();
        let billed = data
            .sales_orders
            .iter()
            .filter(|o| text(o, "OverallOrdReltdBillgStatus") == Some("C"))
            .count();
        drop(data);
        if step.status == Step::Invoiced {
            let document = (FIRST_BILLING_DOCUMENT + billed as u64).to_string();
            let mut billing = Map::new();
            billing.insert("BillingDocument".into(), json!(document));
            billing.insert("BillingDocumentType".into(), json!("F2"));
            billing.insert(
                "SalesOrganization".into(),
                order_entity["SalesOrganization"].clone(),
            );
            billing.insert("SoldToParty".into(), order_entity["SoldToParty"].clone());
            billing.insert("SalesOrder".into(), json!(number));
            self.events.emit(BILLING_CREATED, &document, billing);
        }
        self.events.order(ORDER_CHANGED, &order_entity);
        Ok(Value::Object(order_entity))
    }
}

fn set(entity: &mut Entity, fields: Fields) {
    for (key, value) in fields {
        entity.insert((*key).into(), json!(value));
    }
}
