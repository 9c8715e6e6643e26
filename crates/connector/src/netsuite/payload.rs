//! NetSuite request bodies and external ids built from canonical records.

use chrono::NaiveDate;
use crmerp_proto::{Account, Address, Deal};
use serde_json::{Map, Value, json};

use super::SYSTEM;
use crate::{ConnectorError, ErrorCategory, ErrorKind, decimal};

/// NetSuite's `otherRefNum` (PO/check number) length limit.
const MAX_OTHER_REF_CHARS: usize = 45;
/// NetSuite's transaction memo length limit.
const MAX_MEMO_CHARS: usize = 999;
/// A generous bound on external ids (NetSuite does not document one for REST).
const MAX_EXTERNAL_ID_LEN: usize = 255;

/// A "the record lacks data" error with the field to add.
pub(crate) fn missing(endpoint: &str, field: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::MissingData,
        SYSTEM,
        endpoint,
        message,
    )
    .with_resolution(format!("add_missing_field:{field}"))
}

fn invalid(endpoint: &str, message: impl Into<String>) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::Validation,
        SYSTEM,
        endpoint,
        message,
    )
}

/// NetSuite external ids may only hold letters, digits, `_` and `-`.
fn check_external_id(value: String, endpoint: &str) -> Result<String, ConnectorError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_EXTERNAL_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(value)
    } else {
        Err(invalid(
            endpoint,
            format!(
                "external id {value:?} must be 1-{MAX_EXTERNAL_ID_LEN} letters, digits, `_` or `-`"
            ),
        )
        .with_resolution("fix_external_ref"))
    }
}

/// `<prefix><crm system>-<object type>-<crm id>`, e.g. `hubspot-company-123`.
pub(crate) fn customer_external_id(
    prefix: &str,
    account: &Account,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    let r = account
        .r#ref
        .as_ref()
        .filter(|r| !r.system.is_empty() && !r.object_type.is_empty() && !r.id.is_empty())
        .ok_or_else(|| missing(endpoint, "account.ref", "the account has no CRM reference"))?;
    check_external_id(
        format!("{prefix}{}-{}-{}", r.system, r.object_type, r.id),
        endpoint,
    )
}

/// `<prefix><external ref>`: the order's external id.
pub(crate) fn order_external_id(
    prefix: &str,
    external_ref: &str,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    check_external_id(format!("{prefix}{external_ref}"), endpoint)
}

/// Internal ids go into URL paths and bodies: digits and letters only.
pub(crate) fn check_internal_id<'a>(
    id: &'a str,
    what: &str,
    endpoint: &str,
) -> Result<&'a str, ConnectorError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(id)
    } else {
        Err(
            invalid(endpoint, format!("invalid NetSuite {what} id {id:?}"))
                .with_resolution(super::errors::FIX_ERP_REFERENCE),
        )
    }
}

/// `POST /customer` body; empty optional fields are left out.
pub(crate) fn customer_body(
    account: &Account,
    external_id: &str,
    subsidiary: Option<&str>,
) -> Value {
    let mut body = Map::new();
    body.insert("companyName".into(), json!(account.name.trim()));
    body.insert("externalId".into(), json!(external_id));
    insert_if(&mut body, "email", &account.email);
    insert_if(&mut body, "phone", &account.phone);
    if let Some(id) = subsidiary {
        body.insert("subsidiary".into(), json!({ "id": id }));
    }
    Value::Object(body)
}

/// `POST /salesOrder` body. `item_ids[i]` is the NetSuite item of line `i`.
pub(crate) fn order_body(
    deal: &Deal,
    customer_id: &str,
    external_id: &str,
    item_ids: &[String],
    today: NaiveDate,
    endpoint: &str,
) -> Result<Value, ConnectorError> {
    let mut items = Vec::with_capacity(deal.line_items.len());
    for (line, item_id) in deal.line_items.iter().zip(item_ids) {
        let quantity = number(&line.quantity, "line_items.quantity", endpoint)?;
        let price = line
            .unit_price
            .as_ref()
            .filter(|p| !p.amount.is_empty())
            .ok_or_else(|| {
                missing(
                    endpoint,
                    "line_items.unit_price",
                    format!("line {:?} has no unit price", line.sku),
                )
            })?;
        let rate = number(&price.amount, "line_items.unit_price", endpoint)?;
        items.push(json!({ "item": { "id": item_id }, "quantity": quantity, "rate": rate }));
    }
    let mut body = Map::new();
    body.insert("entity".into(), json!({ "id": customer_id }));
    body.insert("externalId".into(), json!(external_id));
    body.insert(
        "tranDate".into(),
        json!(today.format("%Y-%m-%d").to_string()),
    );
    insert_if(
        &mut body,
        "otherRefNum",
        &truncate(&deal.name, MAX_OTHER_REF_CHARS),
    );
    let deal_ref = deal
        .r#ref
        .as_ref()
        .map(|r| format!("{} {} {}", r.system, r.object_type, r.id));
    let memo = format!(
        "Created from {}",
        deal_ref.unwrap_or_else(|| external_id.to_owned())
    );
    body.insert("memo".into(), json!(truncate(&memo, MAX_MEMO_CHARS)));
    body.insert("item".into(), json!({ "items": items }));
    if let Some(address) = deal.shipping_address.as_ref().and_then(shipping_address) {
        body.insert("shippingAddress".into(), address);
    }
    Ok(Value::Object(body))
}

/// The `shippingAddress` subrecord; `None` when the address is empty.
fn shipping_address(a: &Address) -> Option<Value> {
    let mut body = Map::new();
    insert_if(&mut body, "addressee", &a.addressee);
    insert_if(&mut body, "addr1", &a.line1);
    insert_if(&mut body, "addr2", &a.line2);
    insert_if(&mut body, "city", &a.city);
    insert_if(&mut body, "state", &a.region);
    insert_if(&mut body, "zip", &a.postal_code);
    insert_if(&mut body, "country", &a.country_code);
    (!body.is_empty()).then_some(Value::Object(body))
}

fn number(
    canonical: &str,
    field: &str,
    endpoint: &str,
) -> Result<serde_json::Number, ConnectorError> {
    if canonical.trim().is_empty() {
        return Err(missing(endpoint, field, format!("`{field}` is empty")));
    }
    decimal::to_json_number(canonical).ok_or_else(|| {
        invalid(
            endpoint,
            format!("`{field}` {canonical:?} is not a number NetSuite can take exactly"),
        )
    })
}

fn insert_if(body: &mut Map<String, Value>, key: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        body.insert(key.into(), json!(value));
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.trim().chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests;
