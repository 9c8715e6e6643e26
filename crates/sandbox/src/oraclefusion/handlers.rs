//! `accounts`, `itemsV2` and `salesOrdersForOrderHub` with the REST framework's
//! collection shape and `?q=` row-match finder. Orders are priced as Oracle
//! Pricing does: a frozen order (`FreezePriceFlag`) keeps the prices of its
//! lines' charges, an unfrozen one is re-priced from the item's list price.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use super::AppState;
use super::error::OraError;
use super::store::{Entity, OraData};
use crate::util::{parse_query, query_value};

const ORDER_FIELDS: &[&str] = &[
    "SourceTransactionNumber",
    "SourceTransactionSystem",
    "SourceTransactionId",
    "BusinessUnitName",
    "BuyingPartyId",
    "BuyingPartyNumber",
    "BuyingPartyName",
    "CustomerPONumber",
    "TransactionalCurrencyCode",
    "TransactionOn",
    "RequestingBusinessUnitName",
    "SubmittedFlag",
    "FreezePriceFlag",
    "FreezeShippingChargeFlag",
    "FreezeTaxFlag",
    "TransactionTypeCode",
    "RequestedShipDate",
    "lines",
    "shipToCustomer",
    "billToCustomer",
];
const LINE_FIELDS: &[&str] = &[
    "SourceTransactionLineId",
    "SourceTransactionLineNumber",
    "SourceScheduleId",
    "SourceScheduleNumber",
    "TransactionCategoryCode",
    "ProductNumber",
    "ProductId",
    "OrderedQuantity",
    "OrderedUOMCode",
    "OrderedUOM",
    "UnitListPrice",
    "UnitSellingPrice",
    "RequestedShipDate",
    "RequestedFulfillmentOrganizationCode",
    "charges",
];
/// `lines.charges` attributes the simulator honours.
const CHARGE_FIELDS: &[&str] = &[
    "SourceChargeId",
    "ChargeDefinitionCode",
    "ChargeSubtypeCode",
    "PriceTypeCode",
    "ChargeTypeCode",
    "ApplyTo",
    "PrimaryFlag",
    "RollupFlag",
    "SequenceNumber",
    "PricedQuantity",
    "PricedQuantityUOMCode",
    "ChargeCurrencyCode",
    "chargeComponents",
];
/// `lines.charges.chargeComponents` attributes the simulator honours.
const CHARGE_COMPONENT_FIELDS: &[&str] = &[
    "SourceChargeComponentId",
    "PriceElementCode",
    "PriceElementUsageCode",
    "SequenceNumber",
    "ChargeCurrencyCode",
    "HeaderCurrencyCode",
    "ChargeCurrencyUnitPrice",
    "HeaderCurrencyUnitPrice",
    "ChargeCurrencyExtendedAmount",
    "HeaderCurrencyExtendedAmount",
    "RollupFlag",
    "Explanation",
];
const SHIP_TO_FIELDS: &[&str] = &[
    "PartyId",
    "PartyName",
    "PartyNumber",
    "SiteId",
    "AddressLine1",
    "AddressLine2",
    "AddressLine3",
    "AddressLine4",
    "City",
    "State",
    "Province",
    "County",
    "PostalCode",
    "Country",
    "ContactId",
];
const ACCOUNT_FIELDS: &[&str] = &[
    "OrganizationName",
    "Type",
    "SourceSystem",
    "SourceSystemReferenceValue",
    "EmailAddress",
    "PhoneNumber",
    "URL",
    "PrimaryAddress",
];

/// `A='x' and B='y'` (framework 2+) or `A=x;B=y` (framework 1).
fn parse_q(q: &str) -> Result<Vec<(String, String)>, OraError> {
    let bad = || OraError::bad_request("", format!("The query expression '{q}' is not valid."));
    let mut terms = Vec::new();
    let separator = if q.contains(" and ") { " and " } else { ";" };
    for term in q.split(separator).map(str::trim).filter(|t| !t.is_empty()) {
        let (name, value) = term.split_once('=').ok_or_else(bad)?;
        let value = value.trim();
        let value = match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            Some(inner) => inner.replace("''", "'"),
            None => value.to_owned(),
        };
        terms.push((name.trim().to_owned(), value));
    }
    Ok(terms)
}

fn matches(entity: &Entity, terms: &[(String, String)]) -> bool {
    terms.iter().all(|(name, value)| match entity.get(name) {
        Some(Value::String(s)) => s == value,
        Some(Value::Number(n)) => n.to_string() == *value,
        Some(Value::Bool(b)) => b.to_string() == *value,
        _ => false,
    })
}

/// `{items, count, hasMore, limit, offset, links}` with `fields`, `limit`, `offset`, `onlyData`.
fn collection(url: &str, raw: Option<&str>, entities: Vec<Entity>) -> Result<Response, OraError> {
    let pairs = parse_query(raw);
    let terms = match query_value(&pairs, "q") {
        Some(q) => parse_q(q)?,
        None => Vec::new(),
    };
    let limit: usize = query_value(&pairs, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(25)
        .min(500);
    let offset: usize = query_value(&pairs, "offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fields: Vec<&str> = query_value(&pairs, "fields")
        .map(|f| f.split(',').collect())
        .unwrap_or_default();
    let only_data = query_value(&pairs, "onlyData") == Some("true");
    let matching: Vec<Entity> = entities
        .into_iter()
        .filter(|e| matches(e, &terms))
        .collect();
    let total = matching.len();
    let items: Vec<Value> = matching
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|e| {
            let mut item: Map<String, Value> = if fields.is_empty() {
                e.into_iter().filter(|(_, v)| !v.is_array()).collect()
            } else {
                e.into_iter()
                    .filter(|(k, _)| fields.contains(&k.as_str()))
                    .collect()
            };
            if !only_data {
                item.insert(
                    "links".into(),
                    json!([{ "rel": "self", "href": url, "name": "self", "kind": "item" }]),
                );
            }
            Value::Object(item)
        })
        .collect();
    let count = items.len();
    let mut body = json!({ "items": items, "count": count, "hasMore": offset + count < total, "limit": limit, "offset": offset,
                           "links": [{ "rel": "self", "href": url, "name": "self", "kind": "collection" }] });
    if query_value(&pairs, "totalResults") == Some("true") {
        body["totalResults"] = json!(total);
    }
    Ok(axum::Json(body).into_response())
}

fn object(body: &[u8]) -> Result<Map<String, Value>, OraError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(OraError::bad_request(
            "",
            "The request body is not a valid JSON object.",
        )),
    }
}

fn known(body: &Map<String, Value>, allowed: &[&str], resource: &str) -> Result<(), OraError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(OraError::bad_request(
            "",
            format!("The attribute {k} is not found in the resource {resource}."),
        )),
        None => Ok(()),
    }
}

fn text<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn required<'a>(body: &'a Map<String, Value>, key: &str) -> Result<&'a str, OraError> {
    text(body, key).ok_or_else(|| {
        OraError::bad_request("FOM-2015081", format!("The attribute {key} is required."))
    })
}

fn created(entity: Entity) -> Response {
    let mut response = (StatusCode::CREATED, axum::Json(Value::Object(entity))).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/vnd.oracle.adf.resourceitem+json"),
    );
    response
}

/// Any method under `/{api}/resources/{version}/{*rest}`.
pub(super) async fn resource(
    State(state): State<AppState>,
    Path((api, _version, rest)): Path<(String, String, String)>,
    method: Method,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}/{api}/resources/11.13.18.05/{rest}");
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let result = match (api.as_str(), parts.as_slice(), &method) {
        ("crmRestApi", ["accounts"], &Method::GET) => {
            collection(&url, raw.as_deref(), state.data.read().accounts.clone())
        }
        ("crmRestApi", ["accounts"], &Method::POST) => object(&body)
            .and_then(|b| create_account(&mut state.data.write(), &b))
            .map(created),
        ("fscmRestApi", ["itemsV2"], &Method::GET) => {
            collection(&url, raw.as_deref(), state.data.read().items.clone())
        }
        ("fscmRestApi", ["itemsV2"], &Method::POST) => object(&body)
            .and_then(|b| create_item(&mut state.data.write(), &b))
            .map(created),
        ("fscmRestApi", ["salesOrdersForOrderHub"], &Method::GET) => {
            collection(&url, raw.as_deref(), state.data.read().orders.clone())
        }
        ("fscmRestApi", ["salesOrdersForOrderHub"], &Method::POST) => {
            let upsert = headers.get("Upsert-Mode").and_then(|v| v.to_str().ok()) == Some("true");
            object(&body)
                .and_then(|b| create_order(&state, &mut state.data.write(), &b, upsert))
                .map(|order| {
                    state.events.order(super::events::ORDER_CREATED, &order);
                    created(order)
                })
        }
        ("fscmRestApi", ["salesOrdersForOrderHub", key], &Method::GET) => state
            .data
            .read()
            .order_by_key(key)
            .cloned()
            .map(|o| axum::Json(Value::Object(o)).into_response())
            .ok_or_else(OraError::not_found),
        ("fscmRestApi", ["salesOrdersForOrderHub", key, "child", "lines"], &Method::GET) => {
            let lines = state
                .data
                .read()
                .order_by_key(key)
                .map(|o| o.get("lines").cloned().unwrap_or(json!([])));
            match lines {
                Some(Value::Array(lines)) => collection(
                    &url,
                    raw.as_deref(),
                    lines
                        .into_iter()
                        .filter_map(|l| l.as_object().cloned())
                        .collect(),
                ),
                _ => Err(OraError::not_found()),
            }
        }
        _ => Err(OraError::not_found()),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

fn create_account(data: &mut OraData, body: &Map<String, Value>) -> Result<Entity, OraError> {
    known(body, ACCOUNT_FIELDS, "accounts")?;
    let name = required(body, "OrganizationName")?;
    if let (Some(system), Some(reference)) = (
        text(body, "SourceSystem"),
        text(body, "SourceSystemReferenceValue"),
    ) && data
        .accounts
        .iter()
        .any(|a| a["SourceSystem"] == system && a["SourceSystemReferenceValue"] == reference)
    {
        return Err(OraError::bad_request(
            "HZ_SS_REF_EXISTS",
            format!("The source system reference {system} {reference} already exists."),
        ));
    }
    let (party_id, number) = data.next_party();
    let mut account = body.clone();
    account.insert("PartyId".into(), json!(party_id));
    account.insert("PartyNumber".into(), json!(number));
    account.insert("OrganizationName".into(), json!(name));
    account
        .entry("Type")
        .or_insert_with(|| json!("ZCA_CUSTOMER"));
    account.insert(
        "CreationDate".into(),
        json!(chrono::Utc::now().to_rfc3339()),
    );
    data.accounts.push(account.clone());
    Ok(account)
}

fn create_item(data: &mut OraData, body: &Map<String, Value>) -> Result<Entity, OraError> {
    known(
        body,
        &[
            "ItemNumber",
            "ItemDescription",
            "OrganizationCode",
            "PrimaryUOMValue",
            "ListPrice",
        ],
        "itemsV2",
    )?;
    let number = required(body, "ItemNumber")?;
    if data.items.iter().any(|i| i["ItemNumber"] == number) {
        return Err(OraError::bad_request(
            "EGP-1234",
            format!("The item {number} already exists."),
        ));
    }
    let mut item = body.clone();
    item.insert("ItemId".into(), json!(data.next_id()));
    item.entry("OrganizationCode")
        .or_insert_with(|| json!("V1"));
    item.entry("PrimaryUOMValue")
        .or_insert_with(|| json!("Each"));
    data.items.push(item.clone());
    Ok(item)
}

/// A JSON number as an exact decimal.
fn amount(value: Option<&Value>) -> Option<Decimal> {
    value
        .filter(|v| v.is_number())
        .and_then(|v| Decimal::from_str(&v.to_string()).ok())
}

/// A decimal as the JSON number Oracle answers with.
fn number(value: Decimal) -> Value {
    value.normalize().to_f64().map_or(Value::Null, |f| json!(f))
}

/// A line's price: `(unit list price, unit selling price, extended amount)`.
struct LinePrice {
    list: Decimal,
    selling: Decimal,
    extended: Decimal,
}

/// A frozen line keeps the price it was sent with, which must include the
/// header currency unit price and extended amount of its net price.
fn frozen_price(line: &Map<String, Value>, product: &str) -> Result<LinePrice, OraError> {
    let missing = || {
        OraError::bad_request(
            "FOM-2015290",
            format!(
                "The price of the line for item {product} is frozen, so the line must include the header currency unit price and the header currency extended amount."
            ),
        )
    };
    let charges = line
        .get("charges")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(missing)?;
    let mut net = None;
    let mut list = None;
    for charge in charges {
        let charge = charge
            .as_object()
            .ok_or_else(|| OraError::bad_request("", "Each charge must be an object."))?;
        known(charge, CHARGE_FIELDS, "charges")?;
        for component in charge
            .get("chargeComponents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let component = component.as_object().ok_or_else(|| {
                OraError::bad_request("", "Each charge component must be an object.")
            })?;
            known(component, CHARGE_COMPONENT_FIELDS, "chargeComponents")?;
            let prices = (
                amount(component.get("HeaderCurrencyUnitPrice")),
                amount(component.get("HeaderCurrencyExtendedAmount")),
            );
            match text(component, "PriceElementUsageCode") {
                Some("NET_PRICE") => net = Some(prices),
                Some("LIST_PRICE") => list = prices.0,
                _ => {}
            }
        }
    }
    let Some((Some(selling), Some(extended))) = net else {
        return Err(missing());
    };
    Ok(LinePrice {
        list: list
            .or_else(|| amount(line.get("UnitListPrice")))
            .unwrap_or(selling),
        selling,
        extended,
    })
}

/// An unfrozen line is priced by Oracle Pricing from the price list (the
/// item's list price), whatever price the source order carried. An item
/// without a list price is priced 0, so an order without prices still books.
fn list_price(data: &OraData, product: &str, quantity: Decimal) -> LinePrice {
    let list = data
        .items
        .iter()
        .find(|i| i["ItemNumber"] == product)
        .and_then(|i| amount(i.get("ListPrice")))
        .unwrap_or(Decimal::ZERO);
    LinePrice {
        list,
        selling: list,
        extended: (quantity * list).round_dp(2),
    }
}

fn create_order(
    state: &AppState,
    data: &mut OraData,
    body: &Map<String, Value>,
    upsert: bool,
) -> Result<Entity, OraError> {
    known(body, ORDER_FIELDS, "salesOrdersForOrderHub")?;
    let system = required(body, "SourceTransactionSystem")?;
    if !state.config.source_systems.iter().any(|s| s == system) {
        return Err(OraError::bad_request(
            "FOM-2015023",
            format!("The source system {system} isn't valid."),
        ));
    }
    let source_id = required(body, "SourceTransactionId")?;
    required(body, "SourceTransactionNumber")?;
    let unit = required(body, "BusinessUnitName")?;
    if !state.config.business_units.iter().any(|b| b == unit) {
        return Err(OraError::bad_request(
            "FOM-2015031",
            format!("The business unit {unit} isn't valid."),
        ));
    }
    let currency = required(body, "TransactionalCurrencyCode")?;
    let key = format!("{system}:{source_id}");
    if data.order_by_key(&key).is_some() && !upsert {
        return Err(OraError::bad_request(
            "FOM-2016030",
            format!(
                "A sales order with source transaction {source_id} from source system {system} already exists."
            ),
        ));
    }
    let party = body.get("BuyingPartyId").and_then(Value::as_i64);
    let account = data
        .accounts
        .iter()
        .find(|a| a.get("PartyId").and_then(Value::as_i64) == party)
        .cloned()
        .ok_or_else(|| OraError::bad_request("FOM-2015059", "The buying party isn't valid."))?;
    let lines = body
        .get("lines")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            OraError::bad_request("FOM-2015090", "The order must have at least one line.")
        })?;
    let frozen = body
        .get("FreezePriceFlag")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let header_id = data.next_id();
    let mut built = Vec::with_capacity(lines.len());
    for line in lines {
        let line = line
            .as_object()
            .ok_or_else(|| OraError::bad_request("", "Each line must be an object."))?;
        known(line, LINE_FIELDS, "lines")?;
        let product = required(line, "ProductNumber")?;
        if !data.items.iter().any(|i| i["ItemNumber"] == product) {
            return Err(OraError::bad_request(
                "FOM-2023417",
                format!(
                    "The item \"{product}\" isn't valid in the organization {unit}. (FOM-2023417)"
                ),
            ));
        }
        let quantity = amount(line.get("OrderedQuantity"))
            .filter(|q| *q > Decimal::ZERO)
            .ok_or_else(|| {
                OraError::bad_request(
                    "FOM-2015100",
                    "The ordered quantity must be greater than zero.",
                )
            })?;
        required(line, "OrderedUOMCode")?;
        let price = if frozen {
            frozen_price(line, product)?
        } else {
            list_price(data, product, quantity)
        };
        let mut stored = line.clone();
        if !frozen {
            // Pricing replaces whatever the source order carried.
            stored.remove("charges");
        }
        stored.insert("LineId".into(), json!(data.next_id()));
        stored.insert("HeaderId".into(), json!(header_id));
        stored.insert("UnitListPrice".into(), number(price.list));
        stored.insert("UnitSellingPrice".into(), number(price.selling));
        stored.insert("ExtendedAmount".into(), number(price.extended));
        stored.insert("StatusCode".into(), json!("OPEN"));
        built.push(Value::Object(stored));
    }
    let mut ship_to = Vec::new();
    for entry in body
        .get("shipToCustomer")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let entry = entry
            .as_object()
            .cloned()
            .ok_or_else(|| OraError::bad_request("", "shipToCustomer entries must be objects."))?;
        known(&entry, SHIP_TO_FIELDS, "shipToCustomer")?;
        ship_to.push(Value::Object(entry));
    }
    let submitted = body
        .get("SubmittedFlag")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut order = body.clone();
    order.insert("HeaderId".into(), json!(header_id));
    order.insert("OrderKey".into(), json!(key));
    order.insert("OrderNumber".into(), json!(data.next_order_number()));
    order.insert(
        "BuyingPartyName".into(),
        account
            .get("OrganizationName")
            .cloned()
            .unwrap_or(Value::Null),
    );
    order.insert(
        "BuyingPartyNumber".into(),
        account.get("PartyNumber").cloned().unwrap_or(Value::Null),
    );
    order.insert("TransactionalCurrencyCode".into(), json!(currency));
    order.insert(
        "StatusCode".into(),
        json!(if submitted { "OPEN" } else { "DRAFT" }),
    );
    order.insert("lines".into(), Value::Array(built));
    order.insert("shipToCustomer".into(), Value::Array(ship_to));
    data.orders
        .retain(|o| o.get("OrderKey") != Some(&json!(key)));
    data.orders.push(order.clone());
    Ok(order)
}
