//! `salesOrdersForOrderHub` and `accounts` request bodies built from canonical records.

use chrono::{DateTime, Utc};
use crmerp_proto::{Account, Deal};
use serde_json::{Map, Value, json};

use super::{DealToOrderFields, OracleFusionConfig, SYSTEM};
use crate::ConnectorError;
use crate::mapping::{fit_reference, insert_text, invalid, json_number, line_numbers, line_sku};

/// `SourceTransactionNumber` / `SourceTransactionId` are 50 characters.
pub const MAX_SOURCE_TRANSACTION: usize = 50;

/// The CRM reference as the order's source transaction number and id, fitted
/// to 50 characters (see [`fit_reference`]).
pub(crate) fn source_transaction(
    external_ref: &str,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    if external_ref.trim().is_empty() {
        return Err(invalid(SYSTEM, endpoint, "the external reference is empty")
            .with_resolution("fix_external_ref"));
    }
    Ok(fit_reference(external_ref, MAX_SOURCE_TRANSACTION))
}

/// `POST accounts`: an organisation customer carrying our source system reference.
pub(crate) fn account_body(
    config: &OracleFusionConfig,
    account: &Account,
    key: &str,
    name: &str,
) -> Value {
    let mut body = Map::new();
    insert_text(&mut body, "OrganizationName", name, 360);
    body.insert("Type".into(), json!("ZCA_CUSTOMER"));
    body.insert(
        "SourceSystem".into(),
        json!(config.source_transaction_system),
    );
    body.insert("SourceSystemReferenceValue".into(), json!(key));
    insert_text(&mut body, "EmailAddress", &account.email, 320);
    if let Some(a) = &account.billing_address {
        let mut address = Map::new();
        insert_text(&mut address, "AddressLine1", &a.line1, 240);
        insert_text(&mut address, "City", &a.city, 60);
        insert_text(&mut address, "State", &a.region, 60);
        insert_text(&mut address, "PostalCode", &a.postal_code, 60);
        insert_text(&mut address, "Country", &a.country_code, 2);
        if address.contains_key("Country") {
            body.insert("PrimaryAddress".into(), json!([address]));
        }
    }
    Value::Object(body)
}

/// Line extended amount: quantity x unit price, exact (no float on the way).
fn extended_amount(quantity: &str, price: &str) -> Option<String> {
    use std::str::FromStr;
    let quantity = rust_decimal::Decimal::from_str(quantity).ok()?;
    let price = rust_decimal::Decimal::from_str(price).ok()?;
    Some(quantity.checked_mul(price)?.normalize().to_string())
}

/// One price component of the line's sale-price charge, in the order's
/// currency (which is also the charge currency: the connector sends one).
fn charge_component(
    id: &str,
    element: &str,
    usage: &str,
    sequence: u32,
    currency: &str,
    unit_price: &Value,
    extended: &Value,
) -> Value {
    json!({
        "SourceChargeComponentId": format!("{id}-{usage}"),
        "PriceElementCode": element,
        "PriceElementUsageCode": usage,
        "SequenceNumber": sequence,
        "ChargeCurrencyCode": currency,
        "HeaderCurrencyCode": currency,
        "ChargeCurrencyUnitPrice": unit_price,
        "HeaderCurrencyUnitPrice": unit_price,
        "ChargeCurrencyExtendedAmount": extended,
        "HeaderCurrencyExtendedAmount": extended,
        "RollupFlag": false,
    })
}

/// The line's one-time sale-price charge with list and net price components:
/// what Oracle requires on a frozen order ("Freeze Price on Sales Orders":
/// header currency unit price and extended amount).
fn price_charge(
    id: &str,
    quantity: &Value,
    uom: &str,
    currency: &str,
    unit_price: &Value,
    extended: &Value,
) -> Value {
    json!([{
        "SourceChargeId": format!("{id}-PRICE"),
        "ChargeDefinitionCode": "QP_SALE_PRICE",
        "ChargeSubtypeCode": "ORA_PRICE",
        "PriceTypeCode": "ONE_TIME",
        "ChargeTypeCode": "ORA_SALE",
        "ApplyTo": "PRICE",
        "PrimaryFlag": true,
        "RollupFlag": false,
        "SequenceNumber": 1,
        "PricedQuantity": quantity,
        "PricedQuantityUOMCode": uom,
        "ChargeCurrencyCode": currency,
        "chargeComponents": [
            charge_component(id, "QP_LIST_PRICE", "LIST_PRICE", 1, currency, unit_price, extended),
            charge_component(id, "QP_NET_PRICE", "NET_PRICE", 2, currency, unit_price, extended),
        ],
    }])
}

/// `POST salesOrdersForOrderHub`: header, lines and the ship-to of the deal.
/// The price is frozen (`FreezePriceFlag`) and each line carries the deal's
/// unit price as its unit list and selling price and as a priced charge, so
/// Oracle Pricing keeps the negotiated price instead of re-pricing the line
/// from its price list.
pub(crate) fn order_body(
    config: &OracleFusionConfig,
    fields: &DealToOrderFields,
    deal: &Deal,
    party_id: i64,
    reference: &str,
    now: DateTime<Utc>,
    endpoint: &str,
) -> Result<Value, ConnectorError> {
    let mut currency = deal
        .amount
        .as_ref()
        .map(|m| m.currency_code.trim().to_owned())
        .unwrap_or_default();
    let mut priced = Vec::with_capacity(deal.line_items.len());
    for line in &deal.line_items {
        let sku = line_sku(SYSTEM, line, endpoint)?;
        let (quantity, price) = line_numbers(SYSTEM, line, endpoint)?;
        if currency.is_empty() {
            currency = line
                .unit_price
                .as_ref()
                .map(|p| p.currency_code.trim().to_owned())
                .unwrap_or_default();
        }
        priced.push((sku, quantity, price));
    }
    if currency.is_empty() {
        return Err(crate::mapping::missing(
            SYSTEM,
            endpoint,
            "amount.currency_code",
            "the deal has no currency",
        ));
    }
    let mut lines = Vec::with_capacity(priced.len());
    for (n, (sku, quantity, price)) in (1u32..).zip(priced) {
        let id = n.to_string();
        let quantity_number = json_number(SYSTEM, &quantity, "line_items.quantity", endpoint)?;
        let price_number = json_number(SYSTEM, &price, "line_items.unit_price", endpoint)?;
        let extended = extended_amount(&quantity, &price).ok_or_else(|| {
            invalid(
                SYSTEM,
                endpoint,
                format!("line {sku:?}: {quantity} x {price} overflows"),
            )
        })?;
        let extended = json_number(SYSTEM, &extended, "line_items.extended_amount", endpoint)?;
        let mut body = Map::new();
        body.insert("SourceTransactionLineId".into(), json!(id));
        body.insert("SourceTransactionLineNumber".into(), json!(id));
        body.insert("SourceScheduleId".into(), json!(id));
        body.insert("SourceScheduleNumber".into(), json!(id));
        body.insert("TransactionCategoryCode".into(), json!("ORDER"));
        body.insert("ProductNumber".into(), json!(sku));
        body.insert("OrderedQuantity".into(), quantity_number.clone());
        body.insert("OrderedUOMCode".into(), json!(fields.ordered_uom_code));
        body.insert("UnitListPrice".into(), price_number.clone());
        body.insert("UnitSellingPrice".into(), price_number.clone());
        body.insert(
            "charges".into(),
            price_charge(
                &id,
                &quantity_number,
                &fields.ordered_uom_code,
                &currency,
                &price_number,
                &extended,
            ),
        );
        if let Some(org) = &fields.fulfillment_organization_code {
            body.insert("RequestedFulfillmentOrganizationCode".into(), json!(org));
        }
        lines.push(Value::Object(body));
    }
    let mut order = Map::new();
    order.insert("SourceTransactionNumber".into(), json!(reference));
    order.insert("SourceTransactionId".into(), json!(reference));
    order.insert(
        "SourceTransactionSystem".into(),
        json!(config.source_transaction_system),
    );
    order.insert("BusinessUnitName".into(), json!(fields.business_unit_name));
    order.insert(
        "RequestingBusinessUnitName".into(),
        json!(fields.business_unit_name),
    );
    order.insert("BuyingPartyId".into(), json!(party_id));
    order.insert("TransactionalCurrencyCode".into(), json!(currency));
    order.insert(
        "TransactionOn".into(),
        json!(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    );
    order.insert("SubmittedFlag".into(), json!(fields.submit));
    order.insert("FreezePriceFlag".into(), json!(true));
    order.insert("lines".into(), Value::Array(lines));
    let mut ship_to = Map::new();
    ship_to.insert("PartyId".into(), json!(party_id));
    if let Some(a) = &deal.shipping_address {
        insert_text(&mut ship_to, "AddressLine1", &a.line1, 240);
        insert_text(&mut ship_to, "AddressLine2", &a.line2, 240);
        insert_text(&mut ship_to, "City", &a.city, 60);
        insert_text(&mut ship_to, "State", &a.region, 60);
        insert_text(&mut ship_to, "PostalCode", &a.postal_code, 60);
        insert_text(&mut ship_to, "Country", &a.country_code, 2);
    }
    order.insert("shipToCustomer".into(), json!([ship_to]));
    Ok(Value::Object(order))
}
