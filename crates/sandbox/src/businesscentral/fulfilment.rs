//! Fulfilment of a sales order as Business Central records it, driven by the
//! sandbox's `POST /__sandbox/orders/{number or id}/fulfilment`:
//!
//! | step | the record |
//! |---|---|
//! | `picking` | order `status` `Released` (released to the warehouse) |
//! | `packed` | each line's `shipQuantity` (qty. to ship) set to what is left to ship |
//! | `dispatched` | lines `shippedQuantity` = `quantity`, order `fullyShipped`, `shippingAgentCode`, `packageTrackingNumber` |
//! | `delivered` | order `deliveredDate` (BC itself has no delivery state) |
//! | `invoiced` | a posted `salesInvoices` entry (`Open`, `remainingAmount`); the fully shipped and invoiced order is deleted, as BC does on posting |
//! | `paid` | the invoice `Paid`, `remainingAmount` 0 |
//!
//! Every change notifies the `salesOrders` / `salesInvoices` subscribers.

use std::sync::Arc;

use serde_json::{Value, json};

use super::Shared;
use super::notifications::{ChangeType, changed};
use super::store::{BcData, Entity, text};
use crate::kit::fulfilment::{Advance, Fulfil, Refused, Step};

/// First posted invoice number of the number series.
const FIRST_INVOICE: usize = 103_001;
/// Payment terms of the simulated customers.
const PAYMENT_DAYS: i64 = 30;

impl Fulfil for Shared {
    fn advance(self: &Arc<Self>, order: &str, step: &Advance) -> Result<Value, Refused> {
        let mut data = self.data.write();
        if step.status == Step::Paid {
            let invoice = pay(&mut data, order)?;
            drop(data);
            changed(
                self,
                "salesInvoices",
                text(&invoice, "id").unwrap_or_default(),
                ChangeType::Updated,
            );
            return Ok(Value::Object(invoice));
        }
        let mut record = data
            .sales_orders
            .iter()
            .find(|o| {
                text(o, "number") == Some(order)
                    || text(o, "id").is_some_and(|id| id.eq_ignore_ascii_case(order))
            })
            .cloned()
            .ok_or_else(|| Refused::missing(format!("no sales order {order}")))?;
        let id = text(&record, "id").unwrap_or_default().to_owned();
        if step.status == Step::Invoiced {
            ship_all(&mut data, &id);
            let invoice = post_invoice(&mut data, &record);
            data.sales_orders
                .retain(|o| text(o, "id") != Some(id.as_str()));
            data.sales_order_lines
                .retain(|l| text(l, "documentId") != Some(id.as_str()));
            drop(data);
            changed(
                self,
                "salesInvoices",
                text(&invoice, "id").unwrap_or_default(),
                ChangeType::Created,
            );
            changed(self, "salesOrders", &id, ChangeType::Deleted);
            return Ok(Value::Object(invoice));
        }
        match step.status {
            Step::Picking => {
                record.insert("status".into(), json!("Released"));
            }
            Step::Packed => set_lines(&mut data, &id, |line, quantity, shipped| {
                line.insert("shipQuantity".into(), json!(quantity - shipped));
            }),
            Step::Dispatched => {
                let (carrier, tracking) = step.shipment()?;
                ship_all(&mut data, &id);
                record.insert("status".into(), json!("Released"));
                record.insert("fullyShipped".into(), json!(true));
                record.insert("shippingAgentCode".into(), json!(carrier));
                record.insert("packageTrackingNumber".into(), json!(tracking));
            }
            // Delivered (invoicing and payment returned above).
            _ => {
                if record.get("fullyShipped") != Some(&json!(true)) {
                    return Err(Refused::conflict(format!(
                        "sales order {order} is not dispatched"
                    )));
                }
                let today = chrono::Utc::now().date_naive().to_string();
                record.insert("deliveredDate".into(), json!(today));
            }
        }
        data.stamp(&mut record);
        if let Some(slot) = data
            .sales_orders
            .iter_mut()
            .find(|o| text(o, "id") == Some(id.as_str()))
        {
            *slot = record.clone();
        }
        drop(data);
        changed(self, "salesOrders", &id, ChangeType::Updated);
        Ok(Value::Object(record))
    }
}

/// Calls `apply(line, quantity, shipped quantity)` on each line of `order_id`.
fn set_lines(data: &mut BcData, order_id: &str, apply: impl Fn(&mut Entity, f64, f64)) {
    for line in data
        .sales_order_lines
        .iter_mut()
        .filter(|l| text(l, "documentId") == Some(order_id))
    {
        let number = |key: &str| line.get(key).and_then(Value::as_f64).unwrap_or(0.0);
        let (quantity, shipped) = (number("quantity"), number("shippedQuantity"));
        apply(line, quantity, shipped);
    }
}

/// Posts the shipment of everything left to ship.
fn ship_all(data: &mut BcData, order_id: &str) {
    set_lines(data, order_id, |line, quantity, _| {
        line.insert("shippedQuantity".into(), json!(quantity));
        line.insert("shipQuantity".into(), json!(0));
    });
}

/// Posts the invoice of a whole order.
fn post_invoice(data: &mut BcData, order: &Entity) -> Entity {
    let today = chrono::Utc::now().date_naive();
    let total = order
        .get("totalAmountIncludingTax")
        .cloned()
        .unwrap_or(json!(0));
    let mut invoice = Entity::new();
    invoice.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    invoice.insert(
        "number".into(),
        json!(format!(
            "S-INV{}",
            FIRST_INVOICE + data.sales_invoices.len()
        )),
    );
    for key in [
        "externalDocumentNumber",
        "customerId",
        "customerNumber",
        "customerName",
        "totalAmountExcludingTax",
        "totalAmountIncludingTax",
    ] {
        invoice.insert(key.into(), order.get(key).cloned().unwrap_or(Value::Null));
    }
    invoice.insert("orderId".into(), order["id"].clone());
    invoice.insert("orderNumber".into(), order["number"].clone());
    invoice.insert("invoiceDate".into(), json!(today.to_string()));
    invoice.insert("postingDate".into(), json!(today.to_string()));
    invoice.insert(
        "dueDate".into(),
        json!((today + chrono::Duration::days(PAYMENT_DAYS)).to_string()),
    );
    invoice.insert("remainingAmount".into(), total);
    invoice.insert("status".into(), json!("Open"));
    data.stamp(&mut invoice);
    data.sales_invoices.push(invoice.clone());
    invoice
}

/// Applies a full payment to the invoice of `key` (invoice or order number or id).
fn pay(data: &mut BcData, key: &str) -> Result<Entity, Refused> {
    let matches = |i: &Entity| {
        ["number", "id", "orderNumber", "orderId"]
            .iter()
            .any(|field| text(i, field).is_some_and(|v| v.eq_ignore_ascii_case(key)))
    };
    let mut invoice = data
        .sales_invoices
        .iter()
        .find(|i| matches(i))
        .cloned()
        .ok_or_else(|| Refused::missing(format!("no posted sales invoice for {key}")))?;
    invoice.insert("remainingAmount".into(), json!(0));
    invoice.insert("status".into(), json!("Paid"));
    data.stamp(&mut invoice);
    if let Some(slot) = data.sales_invoices.iter_mut().find(|i| matches(i)) {
        *slot = invoice.clone();
    }
    Ok(invoice)
}
