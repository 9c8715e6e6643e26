//! Creating customers, items, sales orders and their lines with BC's checks:
//! unique `number` keys, related records that must exist, unknown properties
//! rejected, and deep inserts that are all-or-nothing.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::error::BcError;
use super::handlers::check_properties;
use super::store::{BcData, CUSTOMER, Entity, ITEM, SALES_ORDER, SALES_ORDER_LINE, text};

/// Properties BC computes; a client may not set them.
const READ_ONLY: &[&str] = &["id", "lastModifiedDateTime", "@odata.etag"];

fn reject_read_only(body: &Map<String, Value>, type_name: &str) -> Result<(), BcError> {
    match body.keys().find(|k| READ_ONLY.contains(&k.as_str())) {
        Some(key) => Err(BcError::bad_request(format!(
            "The property '{key}' on type 'Microsoft.NAV.{type_name}' is read-only."
        ))),
        None => Ok(()),
    }
}

fn number_field(body: &Map<String, Value>, key: &str, default: f64) -> Result<f64, BcError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| bad_value(key)),
        Some(_) => Err(bad_value(key)),
    }
}

fn bad_value(key: &str) -> BcError {
    BcError::bad_request(format!(
        "Cannot convert the literal to the expected type 'Edm.Decimal' for property '{key}'."
    ))
}

fn string_or_empty(entity: &mut Entity, keys: &[&str]) {
    for key in keys {
        entity.entry((*key).to_owned()).or_insert_with(|| json!(""));
    }
}

/// Validates and stores a customer.
pub(super) fn create_customer(
    data: &mut BcData,
    body: Map<String, Value>,
) -> Result<Entity, BcError> {
    check_properties(&body, CUSTOMER, &[], "customer")?;
    reject_read_only(&body, "customer")?;
    let number = match text(&body, "number") {
        Some(n) if !n.trim().is_empty() => {
            if n.len() > 20 {
                return Err(BcError::bad_request(format!(
                    "The length of the string is {}, but it must be less than or equal to 20 characters. Value: {n}",
                    n.len()
                )));
            }
            n.to_uppercase()
        }
        _ => data.next_customer_number(),
    };
    if data
        .customers
        .iter()
        .any(|c| text(c, "number") == Some(&number))
    {
        return Err(BcError::new(
            StatusCode::BAD_REQUEST,
            "Internal_EntityWithSameKeyExists",
            format!(
                "The record in table Customer already exists. Identification fields and values: No.='{number}'"
            ),
        ));
    }
    let mut entity = body;
    entity.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    entity.insert("number".into(), json!(number));
    entity.entry("type").or_insert_with(|| json!("Company"));
    string_or_empty(
        &mut entity,
        &[
            "displayName",
            "addressLine1",
            "addressLine2",
            "city",
            "state",
            "country",
            "postalCode",
            "phoneNumber",
            "email",
            "website",
            "salespersonCode",
            "taxRegistrationNumber",
            "currencyCode",
        ],
    );
    entity.entry("balanceDue").or_insert_with(|| json!(0));
    entity.entry("creditLimit").or_insert_with(|| json!(0));
    entity.entry("taxLiable").or_insert_with(|| json!(false));
    entity.entry("blocked").or_insert_with(|| json!(" "));
    data.stamp(&mut entity);
    data.customers.push(entity.clone());
    Ok(entity)
}

/// Validates and stores an item.
pub(super) fn create_item(data: &mut BcData, body: Map<String, Value>) -> Result<Entity, BcError> {
    check_properties(&body, ITEM, &[], "item")?;
    reject_read_only(&body, "item")?;
    let number = text(&body, "number")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| {
            BcError::bad_request(
                "No. must have a value in Item: No.=''. It cannot be zero or empty.",
            )
        })?
        .to_uppercase();
    if data.item_by_number(&number).is_some() {
        return Err(BcError::new(
            StatusCode::BAD_REQUEST,
            "Internal_EntityWithSameKeyExists",
            format!(
                "The record in table Item already exists. Identification fields and values: No.='{number}'"
            ),
        ));
    }
    let unit_price = number_field(&body, "unitPrice", 0.0)?;
    let mut entity = body;
    entity.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    entity.insert("number".into(), json!(number));
    entity.insert("unitPrice".into(), json!(unit_price));
    entity.entry("type").or_insert_with(|| json!("Inventory"));
    entity.entry("blocked").or_insert_with(|| json!(false));
    entity.entry("inventory").or_insert_with(|| json!(0));
    entity
        .entry("baseUnitOfMeasureCode")
        .or_insert_with(|| json!("PCS"));
    string_or_empty(
        &mut entity,
        &[
            "displayName",
            "displayName2",
            "itemCategoryCode",
            "gtin",
            "taxGroupCode",
        ],
    );
    data.stamp(&mut entity);
    data.items.push(entity.clone());
    Ok(entity)
}

/// A validated line, not yet stored.
fn build_line(
    data: &BcData,
    order_id: &str,
    sequence: u64,
    body: Map<String, Value>,
) -> Result<Entity, BcError> {
    check_properties(&body, SALES_ORDER_LINE, &[], "salesOrderLine")?;
    reject_read_only(&body, "salesOrderLine")?;
    let line_type = text(&body, "lineType").unwrap_or("Item").to_owned();
    let mut entity = body;
    match line_type.as_str() {
        "Item" => {
            let item = match (text(&entity, "itemId"), text(&entity, "lineObjectNumber")) {
                (Some(id), _) => BcData::by_id(&data.items, "id", id)
                    .ok_or_else(|| BcError::related_missing("No.", "Sales Line", id, "Item"))?,
                (None, Some(number)) => data
                    .item_by_number(number)
                    .ok_or_else(|| BcError::related_missing("No.", "Sales Line", number, "Item"))?,
                (None, None) => {
                    return Err(BcError::bad_request(
                        "No. must have a value in Sales Line: Type=Item. It cannot be zero or empty.",
                    ));
                }
            };
            let quantity = number_field(&entity, "quantity", 0.0)?;
            if quantity < 0.0 {
                return Err(BcError::bad_request("Quantity must be positive."));
            }
            let default_price = item.get("unitPrice").and_then(Value::as_f64).unwrap_or(0.0);
            let unit_price = number_field(&entity, "unitPrice", default_price)?;
            let discount = number_field(&entity, "discountAmount", 0.0)?;
            let amount = ((quantity * unit_price - discount) * 100.0).round() / 100.0;
            entity.insert("itemId".into(), item["id"].clone());
            entity.insert("lineObjectNumber".into(), item["number"].clone());
            entity
                .entry("description")
                .or_insert_with(|| item["displayName"].clone());
            entity.insert(
                "unitOfMeasureCode".into(),
                item["baseUnitOfMeasureCode"].clone(),
            );
            entity.insert("quantity".into(), json!(quantity));
            entity.insert("unitPrice".into(), json!(unit_price));
            entity.insert("discountAmount".into(), json!(discount));
            entity.insert("amountExcludingTax".into(), json!(amount));
            entity.insert("amountIncludingTax".into(), json!(amount));
            entity.insert("netAmount".into(), json!(amount));
        }
        "Comment" => {}
        other => {
            return Err(BcError::bad_request(format!(
                "The value '{other}' is not valid for lineType; use Item or Comment in this sandbox."
            )));
        }
    }
    entity.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    entity.insert("documentId".into(), json!(order_id));
    entity.insert("lineType".into(), json!(line_type));
    entity.entry("sequence").or_insert_with(|| json!(sequence));
    entity.insert("shippedQuantity".into(), json!(0));
    entity.insert("invoicedQuantity".into(), json!(0));
    Ok(entity)
}

/// Validates a whole order (lines included) before storing any of it.
pub(super) fn create_order(
    data: &mut BcData,
    mut body: Map<String, Value>,
    currency: &str,
) -> Result<Entity, BcError> {
    let lines = match body.remove("salesOrderLines") {
        None => Vec::new(),
        Some(Value::Array(lines)) => lines,
        Some(_) => return Err(BcError::bad_request("salesOrderLines must be an array.")),
    };
    check_properties(&body, SALES_ORDER, &[], "salesOrder")?;
    reject_read_only(&body, "salesOrder")?;
    let customer = match (text(&body, "customerId"), text(&body, "customerNumber")) {
        (Some(id), _) => BcData::by_id(&data.customers, "id", id)
            .ok_or_else(|| BcError::related_missing("Sell-to Customer No.", "Sales Header", id, "Customer"))?,
        (None, Some(number)) => BcData::by_id(&data.customers, "number", number).ok_or_else(|| {
            BcError::related_missing("Sell-to Customer No.", "Sales Header", number, "Customer")
        })?,
        (None, None) => {
            return Err(BcError::bad_request(
                "Sell-to Customer No. must have a value in Sales Header: Document Type=Order. It cannot be zero or empty.",
            ));
        }
    }
    .clone();
    if text(&body, "externalDocumentNumber").is_some_and(|e| e.chars().count() > 35) {
        return Err(BcError::bad_request(
            "The length of the string is greater than 35 for externalDocumentNumber.",
        ));
    }
    let order_id = uuid::Uuid::new_v4().to_string();
    let mut built = Vec::with_capacity(lines.len());
    for (n, line) in (1u64..).zip(lines) {
        let Value::Object(line) = line else {
            return Err(BcError::bad_request(
                "Each salesOrderLines entry must be an object.",
            ));
        };
        built.push(build_line(data, &order_id, n * 10_000, line)?);
    }
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let mut order = body;
    order.insert("id".into(), json!(order_id));
    if !order.contains_key("number") {
        order.insert("number".into(), json!(data.next_order_number()));
    }
    order
        .entry("externalDocumentNumber")
        .or_insert_with(|| json!(""));
    let order_date = order
        .entry("orderDate")
        .or_insert_with(|| json!(today))
        .clone();
    order.entry("postingDate").or_insert(order_date);
    order.insert("customerId".into(), customer["id"].clone());
    order.insert("customerNumber".into(), customer["number"].clone());
    order.insert("customerName".into(), customer["displayName"].clone());
    order.insert("billToName".into(), customer["displayName"].clone());
    order.insert("billToCustomerId".into(), customer["id"].clone());
    order.insert("billToCustomerNumber".into(), customer["number"].clone());
    for (to, from) in [
        ("sellToAddressLine1", "addressLine1"),
        ("sellToAddressLine2", "addressLine2"),
        ("sellToCity", "city"),
        ("sellToCountry", "country"),
        ("sellToState", "state"),
        ("sellToPostCode", "postalCode"),
    ] {
        order.insert(to.into(), customer.get(from).cloned().unwrap_or(json!("")));
    }
    // BC copies the sell-to address to ship-to unless the request sets one.
    let has_ship_to = order.keys().any(|k| k.starts_with("shipTo"));
    for (to, from) in [
        ("shipToName", "displayName"),
        ("shipToAddressLine1", "addressLine1"),
        ("shipToAddressLine2", "addressLine2"),
        ("shipToCity", "city"),
        ("shipToCountry", "country"),
        ("shipToState", "state"),
        ("shipToPostCode", "postalCode"),
    ] {
        let value = if has_ship_to {
            json!("")
        } else {
            customer.get(from).cloned().unwrap_or(json!(""))
        };
        order.entry(to).or_insert(value);
    }
    order.entry("shipToContact").or_insert_with(|| json!(""));
    order
        .entry("currencyCode")
        .or_insert_with(|| json!(currency));
    order
        .entry("pricesIncludeTax")
        .or_insert_with(|| json!(false));
    order
        .entry("partialShipping")
        .or_insert_with(|| json!(true));
    order.entry("discountAmount").or_insert_with(|| json!(0));
    order.insert("fullyShipped".into(), json!(false));
    order.insert("status".into(), json!("Draft"));
    data.stamp(&mut order);
    data.sales_orders.push(order);
    data.sales_order_lines.extend(built);
    data.total(&order_id);
    BcData::by_id(&data.sales_orders, "id", &order_id)
        .cloned()
        .ok_or_else(|| BcError::record_not_found("Sales Header"))
}

/// Adds one line to an existing order.
pub(super) fn add_line(
    data: &mut BcData,
    order_id: &str,
    body: Map<String, Value>,
) -> Result<Entity, BcError> {
    let order_id = BcData::by_id(&data.sales_orders, "id", order_id)
        .and_then(|o| text(o, "id"))
        .ok_or_else(|| BcError::record_not_found("Sales Header"))?
        .to_owned();
    let next = data
        .lines_of(&order_id)
        .iter()
        .filter_map(|l| l.get("sequence").and_then(Value::as_u64))
        .max()
        .unwrap_or(0)
        + 10_000;
    let line = build_line(data, &order_id, next, body)?;
    data.sales_order_lines.push(line.clone());
    data.total(&order_id);
    if let Some(mut order) = BcData::by_id(&data.sales_orders, "id", &order_id).cloned() {
        data.stamp(&mut order);
        if let Some(slot) = data
            .sales_orders
            .iter_mut()
            .find(|o| text(o, "id") == Some(&order_id))
        {
            *slot = order;
        }
    }
    Ok(line)
}

/// Deletes an order and its lines (`If-Match` is required, as in BC); returns its id.
pub(super) fn delete_order(
    data: &mut BcData,
    order_id: &str,
    if_match: Option<&str>,
) -> Result<String, BcError> {
    let order = BcData::by_id(&data.sales_orders, "id", order_id)
        .ok_or_else(|| BcError::record_not_found("Sales Header"))?;
    check_if_match(order, if_match)?;
    let id = text(order, "id").unwrap_or_default().to_owned();
    data.sales_orders.retain(|o| text(o, "id") != Some(&id));
    data.sales_order_lines
        .retain(|l| text(l, "documentId") != Some(&id));
    Ok(id)
}

/// BC requires `If-Match` (the entity's etag or `*`) on PATCH and DELETE.
pub(super) fn check_if_match(entity: &Entity, if_match: Option<&str>) -> Result<(), BcError> {
    match if_match {
        None => Err(BcError::bad_request(
            "Could not validate the client concurrency token required by the service. Please provide a valid token in the client request.",
        )),
        Some("*") => Ok(()),
        Some(tag) if Some(tag) == text(entity, "@odata.etag") => Ok(()),
        Some(_) => Err(BcError::new(
            StatusCode::CONFLICT,
            "Request_EntityChanged",
            "Another user has already changed the record.",
        )),
    }
}
