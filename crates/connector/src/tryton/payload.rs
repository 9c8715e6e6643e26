//! Tryton record values built from canonical records (pure, so unit-testable).

use chrono::NaiveDate;
use crmerp_proto::{Account, Address, Deal};
use serde_json::{Map, Value, json};

use super::config::CustomerKey;
use super::{SYSTEM, wire};
use crate::ConnectorError;
use crate::mapping::{self, insert_text};

/// Tryton `Char` fields have no size limit, but a CRM can send anything: keep it sane.
const MAX_TEXT_CHARS: usize = 500;

/// A sale line ready to send: the product, its sale unit and the canonical numbers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SaleLine {
    pub(crate) product: i64,
    pub(crate) unit: i64,
    pub(crate) quantity: String,
    pub(crate) unit_price: String,
    pub(crate) description: String,
}

/// Everything a new `sale.sale` needs besides its lines.
#[derive(Debug, Clone)]
pub(crate) struct SaleHeader<'a> {
    pub(crate) party: i64,
    pub(crate) invoice_address: i64,
    pub(crate) shipment_address: i64,
    pub(crate) currency: Option<i64>,
    pub(crate) external_ref: &'a str,
    pub(crate) sale_date: Option<NaiveDate>,
}

/// The search domain finding the party that carries `key`.
pub(crate) fn party_domain(customer_key: CustomerKey, key: &str) -> Value {
    match customer_key {
        CustomerKey::Code => json!([["code", "=", key]]),
        CustomerKey::Identifier => json!([["identifiers.code", "=", key]]),
    }
}

/// `party.party.create` values: name, the key, contact mechanisms and one address.
pub(crate) fn party_values(
    account: &Account,
    name: &str,
    customer_key: CustomerKey,
    key: &str,
    address: Option<Map<String, Value>>,
) -> Value {
    let mut values = Map::new();
    insert_text(&mut values, "name", name, MAX_TEXT_CHARS);
    match customer_key {
        CustomerKey::Code => {
            values.insert("code".into(), json!(key));
        }
        CustomerKey::Identifier => {
            values.insert("identifiers".into(), json!([["create", [{ "code": key }]]]));
        }
    }
    let mechanisms: Vec<Value> = [
        ("email", account.email.trim()),
        ("phone", account.phone.trim()),
        ("website", account.domain.trim()),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(kind, value)| json!({ "type": kind, "value": value }))
    .collect();
    if !mechanisms.is_empty() {
        values.insert("contact_mechanisms".into(), json!([["create", mechanisms]]));
    }
    if let Some(address) = address {
        values.insert("addresses".into(), json!([["create", [address]]]));
    }
    Value::Object(values)
}

/// True when the address has something to ship to.
pub(crate) fn has_address(address: Option<&Address>) -> bool {
    address.is_some_and(|a| {
        [&a.line1, &a.line2, &a.city, &a.postal_code]
            .iter()
            .any(|s| !s.trim().is_empty())
    })
}

/// `party.address` values. Tryton's `street` is multi-line; the region has no
/// free-text field (subdivisions are records), so it is left out.
pub(crate) fn address_values(address: &Address, country: Option<i64>) -> Map<String, Value> {
    let mut values = Map::new();
    insert_text(
        &mut values,
        "party_name",
        &address.addressee,
        MAX_TEXT_CHARS,
    );
    let street = [address.line1.trim(), address.line2.trim()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    insert_text(&mut values, "street", &street, MAX_TEXT_CHARS);
    insert_text(
        &mut values,
        "postal_code",
        &address.postal_code,
        MAX_TEXT_CHARS,
    );
    insert_text(&mut values, "city", &address.city, MAX_TEXT_CHARS);
    if let Some(country) = country {
        values.insert("country".into(), json!(country));
    }
    values
}

/// True when a stored party address (as read with `street`, `postal_code`,
/// `city`, `country.code`) is the canonical `address`.
pub(crate) fn same_address(stored: &Value, address: &Address) -> bool {
    let wanted = address_values(address, None);
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let fields_match = ["street", "postal_code", "city"]
        .iter()
        .all(|key| text(stored, key) == text(&Value::Object(wanted.clone()), key));
    let stored_country = stored
        .get("country.")
        .and_then(|c| c.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let country = address.country_code.trim();
    fields_match
        && (country.is_empty()
            || stored_country.is_empty()
            || stored_country.eq_ignore_ascii_case(country))
}

/// A line's canonical numbers, checked for Tryton: the quantity is a `Float`
/// field (so it must be an exact JSON number), the price a `Decimal`.
pub(crate) fn line_numbers(
    line: &crmerp_proto::LineItem,
    endpoint: &str,
) -> Result<(String, String), ConnectorError> {
    let (quantity, price) = mapping::line_numbers(SYSTEM, line, endpoint)?;
    mapping::json_number(SYSTEM, &quantity, "line_items.quantity", endpoint)?;
    Ok((quantity, price))
}

/// `sale.sale.create` values with the lines created inline.
pub(crate) fn sale_values(
    deal: &Deal,
    header: &SaleHeader<'_>,
    lines: &[SaleLine],
    endpoint: &str,
) -> Result<Value, ConnectorError> {
    let mut values = Map::new();
    values.insert("party".into(), json!(header.party));
    values.insert("invoice_address".into(), json!(header.invoice_address));
    values.insert("shipment_address".into(), json!(header.shipment_address));
    if let Some(currency) = header.currency {
        values.insert("currency".into(), json!(currency));
    }
    values.insert("reference".into(), json!(header.external_ref));
    insert_text(&mut values, "description", &deal.name, MAX_TEXT_CHARS);
    if let Some(day) = header.sale_date {
        values.insert("sale_date".into(), wire::date(day));
    }
    let origin = deal
        .r#ref
        .as_ref()
        .map(|r| format!("Created from {} {} {}", r.system, r.object_type, r.id))
        .unwrap_or_else(|| format!("Created from {}", header.external_ref));
    values.insert("comment".into(), json!(origin));
    let mut created = Vec::with_capacity(lines.len());
    for line in lines {
        let quantity =
            mapping::json_number(SYSTEM, &line.quantity, "line_items.quantity", endpoint)?;
        let mut value = Map::new();
        value.insert("type".into(), json!("line"));
        value.insert("product".into(), json!(line.product));
        value.insert("unit".into(), json!(line.unit));
        value.insert("quantity".into(), quantity);
        value.insert("unit_price".into(), wire::decimal(&line.unit_price));
        insert_text(&mut value, "description", &line.description, MAX_TEXT_CHARS);
        created.push(Value::Object(value));
    }
    values.insert("lines".into(), json!([["create", created]]));
    Ok(Value::Object(values))
}

#[cfg(test)]
mod tests;
