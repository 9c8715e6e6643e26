use crmerp_proto::{LineItem, Money};

use super::*;

fn address() -> Address {
    Address {
        addressee: "Receiving".into(),
        line1: "Lagerstrasse 7".into(),
        line2: String::new(),
        city: "Hamburg".into(),
        region: "HH".into(),
        postal_code: "20095".into(),
        country_code: "DE".into(),
    }
}

#[test]
fn the_party_carries_the_key_contacts_and_address() {
    let account = Account {
        name: "Acme GmbH".into(),
        email: "buy@acme.example".into(),
        domain: "acme.example".into(),
        ..Account::default()
    };
    let values = party_values(
        &account,
        "Acme GmbH",
        CustomerKey::Code,
        "hubspot-company-7",
        Some(address_values(&address(), Some(3))),
    );
    assert_eq!(
        values,
        json!({
            "name": "Acme GmbH",
            "code": "hubspot-company-7",
            "contact_mechanisms": [["create", [
                {"type": "email", "value": "buy@acme.example"},
                {"type": "website", "value": "acme.example"}]]],
            "addresses": [["create", [{"party_name": "Receiving", "street": "Lagerstrasse 7",
                "postal_code": "20095", "city": "Hamburg", "country": 3}]]],
        })
    );
    let values = party_values(&account, "Acme GmbH", CustomerKey::Identifier, "k", None);
    assert_eq!(values["identifiers"], json!([["create", [{"code": "k"}]]]));
    assert!(values.get("code").is_none());
    assert_eq!(
        party_domain(CustomerKey::Identifier, "k"),
        json!([["identifiers.code", "=", "k"]])
    );
}

#[test]
fn a_stored_address_is_recognised() {
    // As read back by search_read with `country.code` (trytond 8.2).
    let stored = json!({"id": 1, "street": "Lagerstrasse 7", "postal_code": "20095",
        "city": "Hamburg", "country.": {"code": "DE", "id": 1}});
    assert!(same_address(&stored, &address()));
    let moved = Address {
        city: "Bremen".into(),
        ..address()
    };
    assert!(!same_address(&stored, &moved));
    assert!(has_address(Some(&address())));
    assert!(!has_address(Some(&Address::default())));
    assert!(!has_address(None));
}

#[test]
fn the_sale_has_explicit_addresses_decimal_prices_and_float_quantities() {
    let deal = Deal {
        name: "Big deal".into(),
        r#ref: Some(crmerp_proto::RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: "42".into(),
        }),
        ..Deal::default()
    };
    let header = SaleHeader {
        party: 2,
        invoice_address: 1,
        shipment_address: 3,
        currency: Some(1),
        external_ref: "hubspot-deal-42",
        sale_date: NaiveDate::from_ymd_opt(2026, 11, 26),
    };
    let lines = [SaleLine {
        product: 5,
        unit: 1,
        quantity: "2".into(),
        unit_price: "49.5".into(),
        description: "Gadget".into(),
    }];
    let values = sale_values(&deal, &header, &lines, "e").expect("values");
    assert_eq!(
        values,
        json!({
            "party": 2, "invoice_address": 1, "shipment_address": 3, "currency": 1,
            "reference": "hubspot-deal-42", "description": "Big deal",
            "sale_date": {"__class__": "date", "year": 2026, "month": 11, "day": 26},
            "comment": "Created from hubspot deal 42",
            "lines": [["create", [{"type": "line", "product": 5, "unit": 1, "quantity": 2,
                "unit_price": {"__class__": "Decimal", "decimal": "49.5"}, "description": "Gadget"}]]],
        })
    );
}

#[test]
fn line_numbers_are_normalised_and_checked() {
    let line = LineItem {
        sku: "SKU-1".into(),
        quantity: "2.50".into(),
        unit_price: Some(Money {
            currency_code: "EUR".into(),
            amount: "100.00".into(),
        }),
        ..LineItem::default()
    };
    assert_eq!(
        line_numbers(&line, "e").expect("numbers"),
        ("2.5".to_owned(), "100".to_owned())
    );
    let no_price = LineItem {
        unit_price: None,
        ..line.clone()
    };
    let err = line_numbers(&no_price, "e").expect_err("no price");
    assert_eq!(
        err.resolution.as_deref(),
        Some("add_missing_field:line_items.unit_price")
    );
    let huge = LineItem {
        quantity: "1234567890.123456789".into(),
        ..line
    };
    assert!(line_numbers(&huge, "e").is_err());
}
