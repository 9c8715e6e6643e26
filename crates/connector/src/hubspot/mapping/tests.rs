use super::*;
use crate::hubspot::model::{AssociationPage, BatchRead};

// Shaped like HubSpot's documented `SimplePublicObject` responses.
const DEAL: &str = r#"{
  "id": "512",
  "properties": {
    "amount": "1500.00",
    "closedate": "2019-12-07T16:50:06.678Z",
    "createdate": "2019-10-30T03:30:17.883Z",
    "dealname": "Acme renewal",
    "dealstage": "closedwon",
    "deal_currency_code": "eur",
    "erp_order_number": null,
    "hs_object_id": "512",
    "shipping_addressee": "",
    "shipping_street": "1 Dock Road",
    "shipping_street2": null,
    "shipping_city": "Hamburg",
    "shipping_state": "HH",
    "shipping_zip": "20457",
    "shipping_country": "de"
  },
  "createdAt": "2019-10-30T03:30:17.883Z",
  "updatedAt": "2019-12-07T16:50:06.678Z",
  "archived": false
}"#;

const DEAL_WITHOUT_SHIPPING: &str = r#"{
  "id": "513",
  "properties": {"amount": "", "dealname": "Bare", "dealstage": "closedwon", "erp_order_number": "SO-77"},
  "archived": false
}"#;

const COMPANY: &str = r#"{
  "id": "9100",
  "properties": {
    "name": "Acme GmbH", "domain": "acme.example", "phone": "+49 40 1234",
    "address": "Hauptstr. 5", "address2": "", "city": "Berlin", "state": "BE",
    "zip": "10115", "country": "DE"
  }
}"#;

const LINE_ITEMS: &str = r#"{
  "status": "COMPLETE",
  "results": [
    {"id": "701", "properties": {"name": "Widget", "quantity": "2.000", "price": "19.990", "hs_sku": "W-1"}},
    {"id": "702", "properties": {"name": "Gadget", "quantity": "1", "price": "1e2", "hs_sku": "", "erp_sku": "G-9"}}
  ],
  "startedAt": "2024-01-01T00:00:00Z",
  "completedAt": "2024-01-01T00:00:01Z"
}"#;

fn object(json: &str) -> CrmObject {
    serde_json::from_str(json).expect("valid object")
}

fn config() -> DealToOrderFields {
    DealToOrderFields {
        sku_property: "erp_sku".into(),
        ..DealToOrderFields::default()
    }
}

fn lines() -> Vec<CrmObject> {
    serde_json::from_str::<BatchRead>(LINE_ITEMS)
        .expect("batch")
        .results
}

#[test]
fn a_full_deal_maps_to_the_canonical_model() {
    let company = object(COMPANY);
    let deal = map_deal(&config(), &object(DEAL), &lines(), Some(&company), "USD").expect("maps");

    let r = deal.r#ref.as_ref().expect("ref");
    assert_eq!(
        (r.system.as_str(), r.object_type.as_str(), r.id.as_str()),
        ("hubspot", "deal", "512")
    );
    assert_eq!(
        (deal.name.as_str(), deal.stage.as_str()),
        ("Acme renewal", "closedwon")
    );
    let amount = deal.amount.as_ref().expect("amount");
    assert_eq!(
        (amount.currency_code.as_str(), amount.amount.as_str()),
        ("EUR", "1500")
    );
    assert_eq!(
        deal.closed_at.as_ref().map(|t| t.seconds),
        Some(1_575_737_406)
    );
    assert_eq!(deal.erp_order_number, "");

    let account = deal.account.as_ref().expect("account");
    let aref = account.r#ref.as_ref().expect("account ref");
    assert_eq!(
        (aref.object_type.as_str(), aref.id.as_str()),
        ("company", "9100")
    );
    assert_eq!(
        (
            account.name.as_str(),
            account.domain.as_str(),
            account.phone.as_str()
        ),
        ("Acme GmbH", "acme.example", "+49 40 1234")
    );
    assert_eq!(
        account.billing_address.as_ref().map(|a| a.city.as_str()),
        Some("Berlin")
    );

    assert_eq!(deal.line_items.len(), 2);
    let w = &deal.line_items[0];
    assert_eq!(
        (w.sku.as_str(), w.name.as_str(), w.quantity.as_str()),
        ("W-1", "Widget", "2")
    );
    let price = w.unit_price.as_ref().expect("price");
    assert_eq!(
        (price.currency_code.as_str(), price.amount.as_str()),
        ("EUR", "19.99")
    );
    // The configured SKU property wins; `hs_sku` is only the fallback.
    let g = &deal.line_items[1];
    assert_eq!(
        (
            g.sku.as_str(),
            g.unit_price.as_ref().map(|p| p.amount.as_str())
        ),
        ("G-9", Some("100"))
    );
    assert_eq!(
        g.r#ref.as_ref().map(|r| r.object_type.as_str()),
        Some("line_item")
    );
}

#[test]
fn shipping_prefers_deal_properties_and_falls_back_to_the_company() {
    let company = object(COMPANY);
    let deal = map_deal(&config(), &object(DEAL), &[], Some(&company), "USD").expect("maps");
    let ship = deal.shipping_address.expect("shipping");
    assert_eq!(
        (
            ship.addressee.as_str(),
            ship.line1.as_str(),
            ship.line2.as_str(),
            ship.city.as_str(),
            ship.region.as_str(),
            ship.postal_code.as_str(),
            ship.country_code.as_str()
        ),
        (
            "Acme GmbH",
            "1 Dock Road",
            "",
            "Hamburg",
            "HH",
            "20457",
            "DE"
        )
    );

    let deal = map_deal(
        &config(),
        &object(DEAL_WITHOUT_SHIPPING),
        &[],
        Some(&company),
        "USD",
    )
    .expect("maps");
    let ship = deal.shipping_address.expect("company fallback");
    assert_eq!(
        (
            ship.addressee.as_str(),
            ship.line1.as_str(),
            ship.city.as_str(),
            ship.country_code.as_str()
        ),
        ("Acme GmbH", "Hauptstr. 5", "Berlin", "DE")
    );
    assert_eq!(deal.erp_order_number, "SO-77");
}

#[test]
fn shipping_source_is_honoured() {
    let company = object(COMPANY);
    let only_deal = DealToOrderFields {
        shipping: ShippingSource::Deal,
        ..config()
    };
    let deal = map_deal(
        &only_deal,
        &object(DEAL_WITHOUT_SHIPPING),
        &[],
        Some(&company),
        "USD",
    )
    .expect("maps");
    assert_eq!(deal.shipping_address, None);
    let only_company = DealToOrderFields {
        shipping: ShippingSource::Company,
        ..config()
    };
    let deal = map_deal(&only_company, &object(DEAL), &[], Some(&company), "USD").expect("maps");
    assert_eq!(
        deal.shipping_address.map(|a| a.city),
        Some("Berlin".to_owned())
    );
}

#[test]
fn a_deal_without_company_has_no_account() {
    let deal = map_deal(
        &config(),
        &object(DEAL_WITHOUT_SHIPPING),
        &lines(),
        None,
        "USD",
    )
    .expect("maps");
    assert_eq!(deal.account, None);
    assert_eq!(deal.shipping_address, None);
    assert_eq!(deal.amount, None);
    // No currency on the deal: the fallback (portal or configured currency) applies.
    assert_eq!(
        deal.line_items[0]
            .unit_price
            .as_ref()
            .map(|p| p.currency_code.as_str()),
        Some("USD")
    );
}

#[test]
fn a_non_decimal_quantity_is_a_permanent_validation_error() {
    let bad = object(r#"{"id":"9","properties":{"quantity":"two","price":"1"}}"#);
    let err = map_deal(&config(), &object(DEAL), &[bad], None, "USD").expect_err("bad quantity");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Permanent, ErrorCategory::Validation)
    );
    assert_eq!(err.resolution.as_deref(), Some("fix_crm_field:quantity"));
}

#[test]
fn requested_properties_are_only_the_needed_ones() {
    let props = deal_properties(&config());
    assert!(props.starts_with(
        "dealname,dealstage,amount,closedate,deal_currency_code,erp_order_number,shipping_addressee"
    ));
    let company_only = DealToOrderFields {
        shipping: ShippingSource::Company,
        ..config()
    };
    assert!(!deal_properties(&company_only).contains("shipping_"));
    assert_eq!(
        line_item_properties(&config()),
        vec!["name", "quantity", "price", "hs_sku", "erp_sku"]
    );
    assert_eq!(
        line_item_properties(&DealToOrderFields::default()),
        vec!["name", "quantity", "price", "hs_sku"]
    );
}

#[test]
fn the_primary_company_is_preferred() {
    // Shaped like the v4 association listing (ids are int64 there).
    let page: AssociationPage = serde_json::from_str(
        r#"{"results":[
            {"toObjectId":111,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":341,"label":null}]},
            {"toObjectId":222,"associationTypes":[{"category":"HUBSPOT_DEFINED","typeId":341,"label":null},
                                                  {"category":"HUBSPOT_DEFINED","typeId":5,"label":"Primary"}]}
        ],"paging":{"next":{"after":"MjI=","link":"?after=MjI="}}}"#,
    )
    .expect("page");
    assert_eq!(primary_company(&page.results), Some("222"));
    assert_eq!(primary_company(&page.results[..1]), Some("111"));
    assert_eq!(primary_company(&[]), None);
    assert_eq!(
        page.paging.and_then(|p| p.next).map(|n| n.after).as_deref(),
        Some("MjI=")
    );
}
