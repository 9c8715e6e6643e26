//! Business Central request bodies built from canonical records.

use chrono::NaiveDate;
use crmerp_proto::{Account, Address, Deal, RecordRef};
use serde_json::{Map, Value, json};

use super::SYSTEM;
use crate::ConnectorError;
use crate::mapping::{
    fit_reference, insert_text, invalid, json_number, line_numbers, line_sku, short_key,
};

/// `Customer."No."` is a Code[20] field.
const MAX_CUSTOMER_NUMBER: usize = 20;
/// `externalDocumentNumber` is a Text[35] field.
pub(crate) const MAX_EXTERNAL_DOCUMENT_NUMBER: usize = 35;
/// `displayName`, address lines and the ship-to name are Text[100].
const MAX_TEXT: usize = 100;
/// City is Text[30]; post code and state Code[20]/Text[30]; country Code[10].
const MAX_CITY: usize = 30;
const MAX_POST_CODE: usize = 20;
const MAX_COUNTRY: usize = 10;
/// BC numbers sales lines in steps of 10000.
const LINE_STEP: u32 = 10_000;

/// The customer number for a CRM account (see [`short_key`]).
pub(crate) fn customer_number(prefix: &str, account: &RecordRef) -> String {
    short_key(prefix, account, MAX_CUSTOMER_NUMBER)
}

/// The order's `externalDocumentNumber`: the CRM reference, fitted to Text[35]
/// (see [`fit_reference`]).
pub fn external_document_number(
    external_ref: &str,
    endpoint: &str,
) -> Result<String, ConnectorError> {
    if external_ref.trim().is_empty() {
        return Err(invalid(SYSTEM, endpoint, "the external reference is empty")
            .with_resolution("fix_external_ref"));
    }
    Ok(fit_reference(external_ref, MAX_EXTERNAL_DOCUMENT_NUMBER))
}

/// `POST companies({id})/customers` body.
pub(crate) fn customer_body(account: &Account, number: &str, name: &str) -> Value {
    let mut body = Map::new();
    body.insert("number".into(), json!(number));
    insert_text(&mut body, "displayName", name, MAX_TEXT);
    body.insert("type".into(), json!("Company"));
    insert_text(&mut body, "email", &account.email, 80);
    insert_text(&mut body, "phoneNumber", &account.phone, 30);
    insert_text(&mut body, "website", &account.domain, 80);
    if let Some(address) = &account.billing_address {
        insert_text(&mut body, "addressLine1", &address.line1, MAX_TEXT);
        insert_text(&mut body, "addressLine2", &address.line2, 50);
        insert_text(&mut body, "city", &address.city, MAX_CITY);
        insert_text(&mut body, "state", &address.region, 30);
        insert_text(&mut body, "postalCode", &address.postal_code, MAX_POST_CODE);
        insert_text(&mut body, "country", &address.country_code, MAX_COUNTRY);
    }
    Value::Object(body)
}

/// The `salesOrderLines` of a deal: item lines by SKU (`lineObjectNumber` is the item number).
pub(crate) fn order_lines(deal: &Deal, endpoint: &str) -> Result<Vec<Value>, ConnectorError> {
    let mut lines = Vec::with_capacity(deal.line_items.len());
    for (n, line) in (1u32..).zip(&deal.line_items) {
        let sku = line_sku(SYSTEM, line, endpoint)?;
        let (quantity, price) = line_numbers(SYSTEM, line, endpoint)?;
        let mut body = Map::new();
        body.insert("sequence".into(), json!(n * LINE_STEP));
        body.insert("lineType".into(), json!("Item"));
        body.insert("lineObjectNumber".into(), json!(sku));
        insert_text(&mut body, "description", &line.name, MAX_TEXT);
        body.insert(
            "quantity".into(),
            json_number(SYSTEM, &quantity, "line_items.quantity", endpoint)?,
        );
        body.insert(
            "unitPrice".into(),
            json_number(SYSTEM, &price, "line_items.unit_price", endpoint)?,
        );
        lines.push(Value::Object(body));
    }
    Ok(lines)
}

/// `POST companies({id})/salesOrders` body; `lines` are deep-inserted when given.
pub(crate) fn order_body(
    deal: &Deal,
    customer_id: &str,
    external_document_number: &str,
    today: NaiveDate,
    lines: Option<Vec<Value>>,
) -> Value {
    let mut body = Map::new();
    body.insert(
        "externalDocumentNumber".into(),
        json!(external_document_number),
    );
    body.insert("customerId".into(), json!(customer_id));
    body.insert(
        "orderDate".into(),
        json!(today.format("%Y-%m-%d").to_string()),
    );
    if let Some(address) = &deal.shipping_address {
        ship_to(&mut body, address);
    }
    if let Some(lines) = lines {
        body.insert("salesOrderLines".into(), Value::Array(lines));
    }
    Value::Object(body)
}

fn ship_to(body: &mut Map<String, Value>, a: &Address) {
    insert_text(body, "shipToName", &a.addressee, MAX_TEXT);
    insert_text(body, "shipToAddressLine1", &a.line1, MAX_TEXT);
    insert_text(body, "shipToAddressLine2", &a.line2, 50);
    insert_text(body, "shipToCity", &a.city, MAX_CITY);
    insert_text(body, "shipToState", &a.region, 30);
    insert_text(body, "shipToPostCode", &a.postal_code, MAX_POST_CODE);
    insert_text(body, "shipToCountry", &a.country_code, MAX_COUNTRY);
}

#[cfg(test)]
mod tests {
    use crmerp_proto::{LineItem, Money};

    use super::*;

    fn r(system: &str, id: &str) -> RecordRef {
        RecordRef {
            system: system.into(),
            object_type: "company".into(),
            id: id.into(),
        }
    }

    #[test]
    fn customer_numbers_fit_code20_and_are_stable() {
        assert_eq!(customer_number("", &r("hubspot", "42")), "HUBSPOT-42");
        let long = customer_number("", &r("salesforce", "001Dn00000AbCdEfGH"));
        assert_eq!(long.len(), 20);
        assert!(long.starts_with("SAL-"), "{long}");
        assert_eq!(
            long,
            customer_number("", &r("salesforce", "001Dn00000AbCdEfGH"))
        );
        assert_ne!(
            long,
            customer_number("", &r("salesforce", "001Dn00000AbCdEfGI"))
        );
        assert!(customer_number("X-", &r("pipedrive", "7")).starts_with("X-PIPEDRIVE-7"));
    }

    #[test]
    fn order_body_matches_the_v2_salesorder_shape() {
        let deal = Deal {
            line_items: vec![LineItem {
                sku: "1896-S".into(),
                name: "ATHENS Desk".into(),
                quantity: "2".into(),
                unit_price: Some(Money {
                    currency_code: "USD".into(),
                    amount: "649.40".into(),
                }),
                ..LineItem::default()
            }],
            shipping_address: Some(Address {
                addressee: "Adatum Corporation".into(),
                line1: "192 Market Square".into(),
                city: "Atlanta".into(),
                region: "GA".into(),
                postal_code: "31772".into(),
                country_code: "US".into(),
                ..Address::default()
            }),
            ..Deal::default()
        };
        let lines = order_lines(&deal, "POST x").expect("lines");
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).expect("date");
        let body = order_body(
            &deal,
            "5d115c9c-44e3-ea11-bb43-000d3a2feca1",
            "hubspot-deal-9",
            today,
            Some(lines),
        );
        assert_eq!(
            body,
            json!({
                "externalDocumentNumber": "hubspot-deal-9",
                "customerId": "5d115c9c-44e3-ea11-bb43-000d3a2feca1",
                "orderDate": "2026-11-26",
                "shipToName": "Adatum Corporation",
                "shipToAddressLine1": "192 Market Square",
                "shipToCity": "Atlanta",
                "shipToState": "GA",
                "shipToPostCode": "31772",
                "shipToCountry": "US",
                "salesOrderLines": [{
                    "sequence": 10000, "lineType": "Item", "lineObjectNumber": "1896-S",
                    "description": "ATHENS Desk", "quantity": 2, "unitPrice": 649.4
                }]
            })
        );
    }

    #[test]
    fn over_long_references_are_fitted_and_empty_ones_refused() {
        assert_eq!(
            external_document_number(&"x".repeat(60), "POST x")
                .expect("fits")
                .len(),
            35
        );
        let err = external_document_number(" ", "POST x").expect_err("empty");
        assert_eq!(err.resolution.as_deref(), Some("fix_external_ref"));
    }
}
