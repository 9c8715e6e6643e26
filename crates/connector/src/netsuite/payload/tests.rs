use chrono::NaiveDate;
use crmerp_proto::{LineItem, Money, RecordRef};
use serde_json::json;

use super::*;

fn account() -> Account {
    Account {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "company".into(),
            id: "9100".into(),
        }),
        name: " Acme GmbH ".into(),
        phone: "+49 40 1234".into(),
        ..Account::default()
    }
}

fn line(sku: &str, quantity: &str, price: Option<&str>) -> LineItem {
    LineItem {
        sku: sku.into(),
        quantity: quantity.into(),
        unit_price: price.map(|p| Money {
            currency_code: "EUR".into(),
            amount: p.into(),
        }),
        ..LineItem::default()
    }
}

fn deal() -> Deal {
    Deal {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: "512".into(),
        }),
        name: "Acme renewal 2025 - three year enterprise agreement with options".into(),
        line_items: vec![
            line("W-1", "2", Some("19.99")),
            line("G-9", "1.5", Some("100")),
        ],
        shipping_address: Some(Address {
            addressee: "Acme GmbH".into(),
            line1: "1 Dock Road".into(),
            city: "Hamburg".into(),
            postal_code: "20457".into(),
            country_code: "DE".into(),
            ..Address::default()
        }),
        ..Deal::default()
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 31).expect("date")
}

#[test]
fn external_ids_follow_the_convention() {
    assert_eq!(
        customer_external_id("", &account(), "E").expect("id"),
        "hubspot-company-9100"
    );
    assert_eq!(
        customer_external_id("prod_", &account(), "E").expect("id"),
        "prod_hubspot-company-9100"
    );
    let err = customer_external_id("", &Account::default(), "E").expect_err("no ref");
    assert_eq!(
        (err.category, err.resolution.as_deref()),
        (
            ErrorCategory::MissingData,
            Some("add_missing_field:account.ref")
        )
    );
    assert_eq!(
        order_external_id("", "hubspot-deal-512", "E").expect("id"),
        "hubspot-deal-512"
    );
    let err = order_external_id("", "hubspot/deal/512", "E").expect_err("slashes");
    assert_eq!(err.category, ErrorCategory::Validation);
}

#[test]
fn the_customer_body_leaves_out_empty_fields() {
    assert_eq!(
        customer_body(&account(), "hubspot-company-9100", Some("1")),
        json!({"companyName":"Acme GmbH","externalId":"hubspot-company-9100","phone":"+49 40 1234","subsidiary":{"id":"1"}})
    );
    assert_eq!(
        customer_body(&account(), "x", None),
        json!({"companyName":"Acme GmbH","externalId":"x","phone":"+49 40 1234"})
    );
}

#[test]
fn the_order_body_carries_numbers_and_the_ship_to() {
    let body = order_body(
        &deal(),
        "1088",
        "hubspot-deal-512",
        &["45".into(), "46".into()],
        today(),
        "E",
    )
    .expect("body");
    assert_eq!(
        body,
        json!({
            "entity": {"id": "1088"},
            "externalId": "hubspot-deal-512",
            "tranDate": "2025-01-31",
            "otherRefNum": "Acme renewal 2025 - three year enterprise agr",
            "memo": "Created from hubspot deal 512",
            "item": {"items": [
                {"item": {"id": "45"}, "quantity": 2, "rate": 19.99},
                {"item": {"id": "46"}, "quantity": 1.5, "rate": 100}
            ]},
            "shippingAddress": {"addressee": "Acme GmbH", "addr1": "1 Dock Road", "city": "Hamburg", "zip": "20457", "country": "DE"}
        })
    );
}

#[test]
fn lines_without_quantity_or_price_are_missing_data() {
    let mut d = deal();
    d.line_items = vec![line("W-1", "", Some("1"))];
    let err = order_body(&d, "1", "x", &["45".into()], today(), "E").expect_err("no quantity");
    assert_eq!(
        err.resolution.as_deref(),
        Some("add_missing_field:line_items.quantity")
    );
    d.line_items = vec![line("W-1", "1", None)];
    let err = order_body(&d, "1", "x", &["45".into()], today(), "E").expect_err("no price");
    assert_eq!(
        (err.category, err.resolution.as_deref()),
        (
            ErrorCategory::MissingData,
            Some("add_missing_field:line_items.unit_price")
        )
    );
}
