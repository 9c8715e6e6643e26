//! Validation and server-computed fields of customers, inventory items and sales orders.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::error::NsError;
use super::store::{NetSuiteData, Record, RecordType};
use crate::util::rfc3339_secs;

/// Fields the server owns; values sent by clients are ignored.
const READ_ONLY: [&str; 6] = [
    "id",
    "links",
    "createdDate",
    "lastModifiedDate",
    "total",
    "status",
];

/// Status of a new sales order.
const NEW_ORDER_STATUS: &str = "Pending Fulfillment";

/// Merges `body` into `existing` (or a new record), validates the result and fills in the
/// computed fields. `existing_id` is the record being updated, if any.
pub(crate) fn prepare(
    record_type: RecordType,
    data: &NetSuiteData,
    existing: Option<(u64, &Record)>,
    body: Record,
    now: DateTime<Utc>,
) -> Result<Record, NsError> {
    let mut record = existing
        .map(|(_, record)| record.clone())
        .unwrap_or_default();
    for (name, value) in body {
        if READ_ONLY.contains(&name.as_str()) {
            continue;
        }
        if value.is_null() {
            record.remove(&name);
        } else {
            record.insert(name, value);
        }
    }
    check_external_id(record_type, data, existing.map(|(id, _)| id), &mut record)?;
    match record_type {
        RecordType::Customer => prepare_customer(&mut record)?,
        RecordType::InventoryItem => {
            prepare_item(data, existing.map(|(id, _)| id), &mut record)?;
        }
        RecordType::SalesOrder => prepare_order(data, existing.is_none(), &mut record, now)?,
        // NetSuite makes these by transforming a sales order, never by a plain create.
        RecordType::ItemFulfillment | RecordType::Invoice if existing.is_none() => {
            return Err(NsError::user_error(format!(
                "An {} is created from a sales order (the sandbox's fulfilment endpoint), not by POST.",
                record_type.name()
            )));
        }
        RecordType::ItemFulfillment | RecordType::Invoice => {}
    }
    let stamp = json!(rfc3339_secs(now));
    if existing.is_none() {
        record.insert("createdDate".to_owned(), stamp.clone());
    }
    record.insert("lastModifiedDate".to_owned(), stamp);
    Ok(record)
}

fn check_external_id(
    record_type: RecordType,
    data: &NetSuiteData,
    own_id: Option<u64>,
    record: &mut Record,
) -> Result<(), NsError> {
    let external_id = match record.get("externalId") {
        None => return Ok(()),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        Some(_) => {
            return Err(NsError::user_error("Invalid value for field externalId.").at("externalId"));
        }
    };
    record.insert("externalId".to_owned(), Value::String(external_id.clone()));
    match data.id_by_external_id(record_type, &external_id) {
        Some(other) if Some(other) != own_id => Err(NsError::user_error(format!(
            "A record with the external ID \"{external_id}\" already exists."
        ))
        .at("externalId")),
        _ => Ok(()),
    }
}

fn non_empty_text(record: &Record, field: &str) -> Option<String> {
    match record.get(field) {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        _ => None,
    }
}

fn missing_fields(labels: &[&str]) -> NsError {
    NsError::user_error(format!("Please enter value(s) for: {}.", labels.join(", ")))
}

fn prepare_customer(record: &mut Record) -> Result<(), NsError> {
    let is_person = record
        .get("isPerson")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if is_person {
        let missing: Vec<&str> = [("firstName", "First Name"), ("lastName", "Last Name")]
            .into_iter()
            .filter(|(field, _)| non_empty_text(record, field).is_none())
            .map(|(_, label)| label)
            .collect();
        if !missing.is_empty() {
            return Err(missing_fields(&missing));
        }
    } else if non_empty_text(record, "companyName").is_none() {
        return Err(missing_fields(&["Company Name"]));
    }
    if !record.contains_key("entityId") {
        let name = non_empty_text(record, "companyName").unwrap_or_else(|| {
            format!(
                "{} {}",
                non_empty_text(record, "firstName").unwrap_or_default(),
                non_empty_text(record, "lastName").unwrap_or_default()
            )
        });
        record.insert("entityId".to_owned(), json!(name));
    }
    if !record.contains_key("subsidiary") {
        record.insert("subsidiary".to_owned(), json!({ "id": "1" }));
    }
    if let Some(address_book) = record.get("addressBook")
        && !address_book.get("items").is_some_and(Value::is_array)
    {
        return Err(
            NsError::user_error("Invalid value for sublist addressBook.").at("addressBook"),
        );
    }
    Ok(())
}

fn prepare_item(
    data: &NetSuiteData,
    own_id: Option<u64>,
    record: &mut Record,
) -> Result<(), NsError> {
    let Some(name) = non_empty_text(record, "itemId") else {
        return Err(missing_fields(&["Item Name/Number"]));
    };
    if data
        .item_by_name(&name)
        .is_some_and(|other| Some(other) != own_id)
    {
        return Err(NsError::user_error(
            "The item name you have chosen is already used. Go back, change the name and resubmit.",
        )
        .at("itemId"));
    }
    if !record.contains_key("displayName") {
        record.insert("displayName".to_owned(), json!(name));
    }
    if let Some(price) = record.get("basePrice") {
        let price = number(price).ok_or_else(|| {
            NsError::user_error("Invalid number for field basePrice.").at("basePrice")
        })?;
        record.insert("basePrice".to_owned(), json!(price));
    }
    Ok(())
}

/// A JSON number, or a string holding one.
pub(crate) fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
    .filter(|number: &f64| number.is_finite())
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// Resolves a reference (`{"id"}`, `{"externalId"}` or a bare id) to a record id.
/// On failure returns the key to report.
fn resolve(data: &NetSuiteData, target: RecordType, value: &Value) -> Result<u64, String> {
    let key = |value: Option<&Value>| match value {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    if let Some(external_id) = key(value.get("externalId")) {
        return data
            .id_by_external_id(target, &external_id)
            .ok_or(external_id);
    }
    let raw = key(value.get("id"))
        .or_else(|| key(Some(value)))
        .unwrap_or_default();
    raw.parse::<u64>()
        .ok()
        .filter(|id| data.get(target, *id).is_some())
        .ok_or(raw)
}

fn prepare_order(
    data: &NetSuiteData,
    creating: bool,
    record: &mut Record,
    now: DateTime<Utc>,
) -> Result<(), NsError> {
    let entity = record
        .get("entity")
        .ok_or_else(|| missing_fields(&["Customer"]))?;
    let customer_id = resolve(data, RecordType::Customer, entity)
        .map_err(|key| NsError::invalid_reference("entity", &key, "entity"))?;
    let customer = data.get(RecordType::Customer, customer_id);
    let customer_name = customer
        .and_then(|customer| {
            customer
                .get("companyName")
                .or_else(|| customer.get("entityId"))
        })
        .cloned()
        .unwrap_or(Value::Null);
    record.insert(
        "entity".to_owned(),
        json!({ "id": customer_id.to_string(), "refName": customer_name }),
    );
    if !record.contains_key("subsidiary")
        && let Some(subsidiary) = customer.and_then(|customer| customer.get("subsidiary"))
    {
        record.insert("subsidiary".to_owned(), subsidiary.clone());
    }

    let lines = record
        .get("item")
        .and_then(|item| item.get("items"))
        .and_then(Value::as_array)
        .filter(|lines| !lines.is_empty())
        .ok_or_else(|| {
            NsError::user_error("You must enter at least one line item for this transaction.")
                .at("item")
        })?;
    let mut normalized = Vec::with_capacity(lines.len());
    let mut total = 0.0;
    for (index, line) in lines.iter().enumerate() {
        let mut line = line.as_object().cloned().unwrap_or_default();
        let path = format!("item.items[{index}].item");
        let reference = line.get("item").cloned().unwrap_or(Value::Null);
        let item_id = resolve(data, RecordType::InventoryItem, &reference)
            .map_err(|key| NsError::invalid_reference("item", &key, path.clone()))?;
        let item = data.get(RecordType::InventoryItem, item_id);
        let field = |name: &str| item.and_then(|item| item.get(name)).cloned();
        let quantity = match line.get("quantity") {
            None => 1.0,
            Some(value) => number(value).ok_or_else(|| {
                NsError::user_error("Invalid number for field quantity.")
                    .at(format!("item.items[{index}].quantity"))
            })?,
        };
        let rate = match line.get("rate") {
            None => field("basePrice").as_ref().and_then(number).unwrap_or(0.0),
            Some(value) => number(value).ok_or_else(|| {
                NsError::user_error("Invalid number for field rate.")
                    .at(format!("item.items[{index}].rate"))
            })?,
        };
        let amount = round2(quantity * rate);
        total += amount;
        line.insert(
            "item".to_owned(),
            json!({ "id": item_id.to_string(), "refName": field("itemId") }),
        );
        line.insert("line".to_owned(), json!(index + 1));
        line.insert("quantity".to_owned(), json!(quantity));
        line.insert("rate".to_owned(), json!(rate));
        line.insert("amount".to_owned(), json!(amount));
        if !line.contains_key("description")
            && let Some(description) = field("displayName")
        {
            line.insert("description".to_owned(), description);
        }
        normalized.push(Value::Object(line));
    }
    record.insert("item".to_owned(), json!({ "items": normalized }));
    record.insert("total".to_owned(), json!(round2(total)));

    match record.get("tranDate") {
        None => {
            record.insert("tranDate".to_owned(), json!(now.date_naive().to_string()));
        }
        Some(Value::String(date)) if NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok() => {}
        Some(_) => {
            return Err(
                NsError::user_error("Invalid date value for field tranDate.").at("tranDate"),
            );
        }
    }
    for field in ["shippingAddress", "billingAddress"] {
        if record.get(field).is_some_and(|value| !value.is_object()) {
            return Err(
                NsError::user_error(format!("Invalid value for subrecord {field}.")).at(field),
            );
        }
    }
    if creating {
        record.insert("status".to_owned(), json!(NEW_ORDER_STATUS));
    }
    Ok(())
}
