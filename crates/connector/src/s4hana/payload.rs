//! S/4HANA OData V2 request bodies built from canonical records: an
//! `A_BusinessPartner` deep insert for customers and an `A_SalesOrder` deep
//! insert with `to_Item` for orders. V2 JSON sends decimals as strings.

use crmerp_proto::{Account, Deal};
use serde_json::{Map, Value, json};

use super::{DealToOrderFields, SYSTEM};
use crate::ConnectorError;
use crate::mapping::{fit_reference, insert_text, invalid, line_numbers, line_sku};

/// `BusinessPartnerIDByExtSystem` and `SearchTerm1` are 20 characters.
pub(crate) const MAX_BP_KEY: usize = 20;
/// `OrganizationBPName1`/`2` are 40 characters each.
const MAX_NAME_PART: usize = 40;
/// `Material` is 40 characters; `SalesOrderItemText` 40.
const MAX_MATERIAL: usize = 40;

/// Business partner role "Customer" (FI) and "Customer" (sales).
const ROLES: &[&str] = &["FLCU00", "FLCU01"];

/// The CRM reference fitted to the configured `A_SalesOrder` field (see [`fit_reference`]).
pub(crate) fn reference(
    config: &DealToOrderFields,
    external_ref: &str,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    if external_ref.trim().is_empty() {
        return Err(invalid(SYSTEM, endpoint, "the external reference is empty")
            .with_resolution("fix_external_ref"));
    }
    Ok(fit_reference(
        external_ref,
        config.reference_max_len().unwrap_or(35),
    ))
}

/// `POST A_BusinessPartner`: an organisation with the customer roles, an
/// address and the customer's sales area, so it can be a sold-to party at once.
pub(crate) fn business_partner_body(
    config: &DealToOrderFields,
    account: &Account,
    key: &str,
    name: &str,
) -> Value {
    let mut bp = Map::new();
    bp.insert("BusinessPartnerCategory".into(), json!("2"));
    if let Some(grouping) = &config.business_partner_grouping {
        bp.insert("BusinessPartnerGrouping".into(), json!(grouping));
    }
    let name: Vec<char> = name.chars().collect();
    let first: String = name.iter().take(MAX_NAME_PART).collect();
    let second: String = name
        .iter()
        .skip(MAX_NAME_PART)
        .take(MAX_NAME_PART)
        .collect();
    insert_text(&mut bp, "OrganizationBPName1", &first, MAX_NAME_PART);
    insert_text(&mut bp, "OrganizationBPName2", &second, MAX_NAME_PART);
    bp.insert("SearchTerm1".into(), json!(key));
    bp.insert("BusinessPartnerIDByExtSystem".into(), json!(key));

    let mut address = Map::new();
    let billing = account.billing_address.clone().unwrap_or_default();
    let country = if billing.country_code.trim().is_empty() {
        config.default_country.as_str()
    } else {
        billing.country_code.trim()
    };
    insert_text(&mut address, "Country", country, 3);
    insert_text(&mut address, "CityName", &billing.city, 40);
    insert_text(&mut address, "PostalCode", &billing.postal_code, 10);
    insert_text(&mut address, "StreetName", &billing.line1, 60);
    insert_text(&mut address, "Region", &billing.region, 3);
    if !account.email.trim().is_empty() {
        let mut email = Map::new();
        insert_text(&mut email, "EmailAddress", &account.email, 241);
        address.insert("to_EmailAddress".into(), json!({ "results": [email] }));
    }
    bp.insert(
        "to_BusinessPartnerAddress".into(),
        json!({ "results": [address] }),
    );
    let roles: Vec<Value> = ROLES
        .iter()
        .map(|r| json!({ "BusinessPartnerRole": r }))
        .collect();
    bp.insert("to_BusinessPartnerRole".into(), json!({ "results": roles }));
    bp.insert(
        "to_Customer".into(),
        json!({ "to_CustomerSalesArea": { "results": [{
            "SalesOrganization": config.sales_organization,
            "DistributionChannel": config.distribution_channel,
            "Division": config.organization_division,
            "Currency": config.customer_currency,
        }]}}),
    );
    Value::Object(bp)
}

/// `POST A_SalesOrder` with `to_Item` (and, when configured, the price condition
/// of each item in `to_PricingElement`).
pub(crate) fn sales_order_body(
    config: &DealToOrderFields,
    deal: &Deal,
    sold_to: &str,
    reference: &str,
    endpoint: &str,
) -> Result<Value, ConnectorError> {
    let mut items = Vec::with_capacity(deal.line_items.len());
    let mut currency = deal
        .amount
        .as_ref()
        .map(|m| m.currency_code.trim().to_owned())
        .unwrap_or_default();
    for (n, line) in (1u32..).zip(&deal.line_items) {
        let sku = line_sku(SYSTEM, line, endpoint)?;
        if sku.chars().count() > MAX_MATERIAL {
            return Err(invalid(
                SYSTEM,
                endpoint,
                format!(
                    "SKU {sku:?} is longer than SAP's {MAX_MATERIAL}-character material number"
                ),
            )
            .with_resolution(format!("create_item_in_erp:{sku}")));
        }
        let (quantity, price) = line_numbers(SYSTEM, line, endpoint)?;
        let line_currency = line
            .unit_price
            .as_ref()
            .map(|p| p.currency_code.trim())
            .unwrap_or_default();
        if currency.is_empty() {
            currency = line_currency.to_owned();
        }
        let mut item = Map::new();
        item.insert("SalesOrderItem".into(), json!((n * 10).to_string()));
        item.insert("Material".into(), json!(sku));
        insert_text(&mut item, "SalesOrderItemText", &line.name, 40);
        item.insert("RequestedQuantity".into(), json!(quantity));
        if let Some(unit) = &config.quantity_unit {
            item.insert("RequestedQuantityUnit".into(), json!(unit));
        }
        if let Some(condition) = &config.price_condition_type {
            let mut element = Map::new();
            element.insert("ConditionType".into(), json!(condition));
            element.insert("ConditionRateValue".into(), json!(price));
            let element_currency = if line_currency.is_empty() {
                &currency
            } else {
                line_currency
            };
            insert_text(&mut element, "ConditionCurrency", element_currency, 5);
            item.insert("to_PricingElement".into(), json!({ "results": [element] }));
        }
        items.push(Value::Object(item));
    }
    let mut order = Map::new();
    order.insert("SalesOrderType".into(), json!(config.sales_order_type));
    order.insert("SalesOrganization".into(), json!(config.sales_organization));
    order.insert(
        "DistributionChannel".into(),
        json!(config.distribution_channel),
    );
    order.insert(
        "OrganizationDivision".into(),
        json!(config.organization_division),
    );
    order.insert("SoldToParty".into(), json!(sold_to));
    order.insert(config.reference_field.clone(), json!(reference));
    insert_text(&mut order, "TransactionCurrency", &currency, 5);
    order.insert("to_Item".into(), json!({ "results": items }));
    Ok(Value::Object(order))
}
