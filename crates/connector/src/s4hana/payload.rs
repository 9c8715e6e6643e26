//! S/4HANA OData V2 request bodies built from canonical records: an
//! `A_BusinessPartner` deep insert for customers and an `A_SalesOrder` deep
//! insert with `to_Item` (item price conditions) and `to_Partner` (the
//! ship-to) for orders. V2 JSON sends decimals as strings.

use crmerp_proto::{Account, Address, Deal, LineItem};
use serde_json::{Map, Value, json};

use super::{DealToOrderFields, Pricing, SYSTEM, ShipToAddress};
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

/// `RequestedQuantity` is `Edm.Decimal` with precision 15 and scale 3.
const QUANTITY_SCALE: usize = 3;
const QUANTITY_INTEGER_DIGITS: usize = 12;

/// Checks that SAP can store the quantity, naming the line if not: SAP would
/// answer a vendor 400 for a fourth decimal.
fn check_quantity(quantity: &str, line: &LineItem, endpoint: &str) -> Result<(), ConnectorError> {
    let (integer, fraction) = quantity
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or((quantity, ""));
    let limit = if fraction.len() > QUANTITY_SCALE {
        format!("at most {QUANTITY_SCALE} decimals")
    } else if integer.len() > QUANTITY_INTEGER_DIGITS {
        format!("at most {QUANTITY_INTEGER_DIGITS} digits before the decimal point")
    } else {
        return Ok(());
    };
    Err(invalid(
        SYSTEM,
        endpoint,
        format!(
            "line {:?} has quantity {quantity}; SAP's RequestedQuantity allows {limit}",
            line.sku
        ),
    )
    .with_resolution("fix_line_item:quantity"))
}

/// The item's price condition: the negotiated unit price per one unit.
fn price_element(config: &DealToOrderFields, price: &str, currency: &str) -> Map<String, Value> {
    let mut element = Map::new();
    element.insert("ConditionType".into(), json!(config.price_condition_type));
    element.insert("ConditionRateValue".into(), json!(price));
    insert_text(&mut element, "ConditionCurrency", currency, 5);
    // Per one unit: the condition record's pricing unit (say, per 100) must not apply.
    element.insert("ConditionQuantity".into(), json!("1"));
    if let Some(unit) = &config.quantity_unit {
        element.insert("ConditionQuantityUnit".into(), json!(unit));
    }
    element
}

/// `to_Partner` with the ship-to (`WE`, SAP's internal code of the ship-to
/// party) carrying the deal's shipping address as the document address of
/// the order; `None` when the deal has no shipping address (SAP's partner
/// determination then takes the sold-to's ship-to).
fn ship_to_partner(
    config: &DealToOrderFields,
    deal: &Deal,
    sold_to: &str,
    endpoint: &str,
) -> Result<Option<Value>, ConnectorError> {
    let Some(address) = deal
        .shipping_address
        .as_ref()
        .filter(|a| *a != &Address::default())
    else {
        return Ok(None);
    };
    if config.ship_to_address == ShipToAddress::Unsupported {
        // The customer master's address is the customer's CRM address; shipping
        // there is right only when that is where the deal's goods go.
        if deal
            .account
            .as_ref()
            .and_then(|a| a.billing_address.as_ref())
            .is_some_and(|billing| same_place(billing, address))
        {
            return Ok(None);
        }
        return Err(invalid(
            SYSTEM,
            endpoint,
            "the deal ships to an address other than the customer's, but this system's \
             API_SALES_ORDER_SRV has no partner address (ship_to_address = \"unsupported\"), \
             so SAP would ship to the customer master's address; correct the shipping address \
             to the customer's, or enable the partner address if the system's $metadata has \
             A_SalesOrderPartnerAddress",
        )
        .with_resolution("ship_to_address_unsupported"));
    }
    if address.line1.trim().is_empty()
        || address.city.trim().is_empty()
        || address.country_code.trim().is_empty()
    {
        return Err(invalid(
            SYSTEM,
            endpoint,
            "the shipping address needs a street, a city and a country code",
        )
        .with_resolution("fix_address_format"));
    }
    let mut fields = Map::new();
    let addressee = if address.addressee.trim().is_empty() {
        deal.account.as_ref().map_or("", |a| a.name.as_str())
    } else {
        address.addressee.as_str()
    };
    insert_text(&mut fields, "OrganizationName1", addressee, 40);
    insert_text(&mut fields, "StreetName", &address.line1, 60);
    insert_text(&mut fields, "StreetPrefixName1", &address.line2, 40);
    insert_text(&mut fields, "CityName", &address.city, 40);
    insert_text(&mut fields, "PostalCode", &address.postal_code, 10);
    insert_text(&mut fields, "Country", &address.country_code, 3);
    // SAP's Region is a code of up to three characters; a region name cannot be sent.
    if address.region.trim().chars().count() <= 3 {
        insert_text(&mut fields, "Region", &address.region, 3);
    }
    Ok(Some(json!({ "results": [{
        "PartnerFunction": SHIP_TO,
        "Customer": sold_to,
        "to_Address": { "results": [fields] },
    }]})))
}

/// True when two addresses name the same place (street, city, postal code and
/// country, ignoring case and surrounding blanks).
fn same_place(a: &Address, b: &Address) -> bool {
    let same = |x: &str, y: &str| x.trim().eq_ignore_ascii_case(y.trim());
    same(&a.line1, &b.line1)
        && same(&a.city, &b.city)
        && same(&a.postal_code, &b.postal_code)
        && same(&a.country_code, &b.country_code)
}

/// SAP's internal partner function code of the ship-to party.
pub(crate) const SHIP_TO: &str = "WE";

/// `POST A_SalesOrder` with `to_Item` (each with its price condition in
/// `to_PricingElement` unless SAP prices) and the ship-to in `to_Partner`.
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
        check_quantity(&quantity, line, endpoint)?;
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
        if config.pricing == Pricing::Crm {
            let element_currency = if line_currency.is_empty() {
                &currency
            } else {
                line_currency
            };
            let element = price_element(config, &price, element_currency);
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
    if let Some(partners) = ship_to_partner(config, deal, sold_to, endpoint)? {
        order.insert("to_Partner".into(), partners);
    }
    Ok(Value::Object(order))
}
