//! S/4HANA connector tests: against the sandbox simulator, and conformance of
//! our request bodies and the simulator's answers to SAP's official metadata
//! (`API_SALES_ORDER_SRV.edmx`, `API_BUSINESS_PARTNER.edmx` in the shared specs).

use std::path::PathBuf;

use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use crmerp_sandbox::edmx::{Direction, Metadata};
use serde_json::{Value, json};

use super::*;
use crate::ports::OrderStatusSource as _;
use crate::test_support::{Simulator, simulator};

/// `$CRMERP_SPECS_DIR`, or `../shared/specs` beside the workspace.
fn spec(name: &str) -> Metadata {
    let dir = std::env::var_os("CRMERP_SPECS_DIR").map_or_else(
        || crate::conformance::manifest_dir().join("../../../shared/specs"),
        PathBuf::from,
    );
    let path = dir.join("sap").join(name);
    let xml = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("official SAP metadata {} is needed: {e}", path.display()));
    Metadata::parse(&xml).expect("EDMX parses")
}

async fn sandbox() -> Simulator {
    simulator("s4hana").await
}

fn config(url: &str, auth: Value) -> S4HanaConfig {
    let mut config: S4HanaConfig =
        serde_json::from_value(json!({"base_url": url, "auth": auth})).expect("config");
    config.deal_to_order = serde_json::from_value(json!({
        "sales_organization": "1010", "distribution_channel": "10", "organization_division": "00",
        "price_condition_type": "PPR0", "quantity_unit": "PC"
    }))
    .expect("field maps");
    config
}

/// The field maps with nothing but the organisational data: every other key at its default.
fn default_fields(url: &str, extra: Value) -> S4HanaErp {
    let mut config = config(url, basic());
    let mut fields = json!({
        "sales_organization": "1010", "distribution_channel": "10", "organization_division": "00"
    });
    if let (Some(fields), Some(extra)) = (fields.as_object_mut(), extra.as_object()) {
        fields.extend(extra.clone());
    }
    config.deal_to_order = serde_json::from_value(fields).expect("field maps");
    S4HanaErp::new(config, reqwest::Client::new()).expect("valid")
}

fn basic() -> Value {
    json!({"kind": "basic", "username": crmerp_sandbox::DEV_S4_USER, "password": crmerp_sandbox::DEV_S4_PASSWORD})
}

fn connector(url: &str) -> S4HanaErp {
    S4HanaErp::new(config(url, basic()), reqwest::Client::new()).expect("valid")
}

async fn create_product(erp: &S4HanaErp, product: &str) {
    let body = json!({"Product": product, "ProductType": "FERT", "BaseUnit": "PC",
                      "to_Description": {"results": [{"Language": "EN", "ProductDescription": product}]}});
    let url = erp.url("API_PRODUCT_SRV", "/A_Product", &[]);
    erp.call(
        &CallLog::new(),
        // The CSRF session is per service: the template's first segment.
        &crate::endpoint!(POST "API_PRODUCT_SRV/A_Product"),
        &url,
        Some(&body),
    )
    .await
    .expect("product created");
}

fn account() -> Account {
    Account {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "company".into(),
            id: "4711".into(),
        }),
        name: "Inlandsmarkt Dortmund Handelsgesellschaft für Bürobedarf mbH".into(),
        email: "einkauf@inlandsmarkt.example".into(),
        billing_address: Some(Address {
            line1: "Kurfürstendamm 12".into(),
            city: "Berlin".into(),
            postal_code: "10719".into(),
            country_code: "DE".into(),
            ..Address::default()
        }),
        ..Account::default()
    }
}

fn deal(skus: &[&str]) -> Deal {
    Deal {
        line_items: skus
            .iter()
            .map(|sku| LineItem {
                sku: (*sku).into(),
                name: format!("Line {sku}"),
                quantity: "2".into(),
                unit_price: Some(Money {
                    currency_code: "EUR".into(),
                    amount: "100.00".into(),
                }),
                ..LineItem::default()
            })
            .collect(),
        ..Deal::default()
    }
}

/// A deal with a shipping address other than the account's and two lines of 2 x 100.00 EUR.
fn shipped_deal(skus: &[&str]) -> Deal {
    Deal {
        account: Some(account()),
        shipping_address: Some(Address {
            addressee: "Inlandsmarkt Wareneingang".into(),
            line1: "Lagerstrasse 7".into(),
            line2: "Tor 3".into(),
            city: "Hamburg".into(),
            region: "Hamburg".into(),
            postal_code: "20095".into(),
            country_code: "DE".into(),
        }),
        ..deal(skus)
    }
}

/// `A_SalesOrderPartnerAddress` is not in the shared (older) metadata; its
/// address properties have the lengths of the business partner's address.
const PARTNER_ADDRESS_LENGTHS: &[(&str, &str, &str)] = &[
    (
        "OrganizationName1",
        "A_BusinessPartnerType",
        "OrganizationBPName1",
    ),
    ("StreetName", "A_BusinessPartnerAddressType", "StreetName"),
    (
        "StreetPrefixName1",
        "A_BusinessPartnerAddressType",
        "StreetPrefixName",
    ),
    ("CityName", "A_BusinessPartnerAddressType", "CityName"),
    ("PostalCode", "A_BusinessPartnerAddressType", "PostalCode"),
    ("Country", "A_BusinessPartnerAddressType", "Country"),
    ("Region", "A_BusinessPartnerAddressType", "Region"),
];

/// A simulator with material `TG11`, a connector with the default field maps
/// plus `extra`, and the customer it created.
async fn seeded(extra: Value) -> (Simulator, S4HanaErp, RecordRef) {
    let sandbox = sandbox().await;
    let erp = default_fields(&sandbox.url, extra);
    create_product(&erp, "TG11").await;
    let customer = erp
        .create_customer(&account(), &CallLog::new())
        .await
        .expect("customer");
    (sandbox, erp, customer)
}

async fn get_json(erp: &S4HanaErp, path: &str, query: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .get(erp.url(SALES_ORDER_SERVICE, path, query))
        .basic_auth(
            crmerp_sandbox::DEV_S4_USER,
            Some(crmerp_sandbox::DEV_S4_PASSWORD),
        )
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json")
}

#[test]
fn by_default_each_item_carries_the_negotiated_price_and_the_order_the_ship_to() {
    let orders = spec("API_SALES_ORDER_SRV.edmx");
    let partners = spec("API_BUSINESS_PARTNER.edmx");
    let erp = default_fields("http://x", json!({}));
    let mut deal = shipped_deal(&["TG11", "TG12"]);
    deal.line_items[1].unit_price = Some(Money {
        currency_code: "EUR".into(),
        amount: "49.50".into(),
    });
    let mut body = payload::sales_order_body(
        &erp.config().deal_to_order,
        &deal,
        "17100101",
        "hubspot-deal-1",
        "t",
    )
    .expect("body");
    let items = body["to_Item"]["results"].as_array().expect("items");
    for (item, price) in items.iter().zip(["100", "49.5"]) {
        assert_eq!(
            item["to_PricingElement"]["results"],
            json!([{"ConditionType": "PPR0", "ConditionRateValue": price,
                    "ConditionCurrency": "EUR", "ConditionQuantity": "1"}]),
            "{item}"
        );
    }
    let partner = &body["to_Partner"]["results"][0];
    assert_eq!(partner["PartnerFunction"], "WE");
    assert_eq!(partner["Customer"], "17100101");
    let address = partner["to_Address"]["results"][0].clone();
    assert_eq!(
        address,
        json!({"OrganizationName1": "Inlandsmarkt Wareneingang", "StreetName": "Lagerstrasse 7",
               "StreetPrefixName1": "Tor 3", "CityName": "Hamburg", "PostalCode": "20095",
               "Country": "DE"}),
        "a region name (not a code) is left out"
    );
    // Everything but the newer partner address conforms to the shared metadata ...
    if let Some(partner) = body["to_Partner"]["results"][0].as_object_mut() {
        partner.remove("to_Address");
    }
    let problems = orders.check("A_SalesOrderType", &body, Direction::Request);
    assert!(problems.is_empty(), "{problems:#?}");
    // ... and the address uses SAP's address lengths.
    for (key, value) in address.as_object().expect("address") {
        let (_, entity, property) = PARTNER_ADDRESS_LENGTHS
            .iter()
            .find(|(k, _, _)| k == key)
            .unwrap_or_else(|| panic!("{key} is not a known partner address property"));
        let max = partners.types[*entity].properties[*property].max_length;
        assert!(
            value.as_str().map(|v| v.chars().count()) <= max,
            "{key} longer than {max:?}"
        );
    }
}

#[tokio::test]
async fn the_stored_order_keeps_the_crm_price_and_the_deal_ship_to() {
    let (_sandbox, erp, customer) = seeded(json!({"quantity_unit": "PC"})).await;
    let calls = CallLog::new();
    let deal = shipped_deal(&["TG11"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-31",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    let stored = get_json(
        &erp,
        &format!("/A_SalesOrder('{}')", order.order_number),
        &[("$expand", "to_Item/to_PricingElement,to_Partner/to_Address")],
    )
    .await;
    let d = &stored["d"];
    assert_eq!(d["TotalNetAmount"], "200", "2 x the CRM's 100.00");
    let item = &d["to_Item"]["results"][0];
    assert_eq!(item["NetAmount"], "200");
    let element = &item["to_PricingElement"]["results"][0];
    assert_eq!(element["ConditionType"], "PPR0");
    assert_eq!(element["ConditionRateValue"], "100");
    assert_eq!(element["ConditionAmount"], "200");
    let partners = d["to_Partner"]["results"].as_array().expect("partners");
    let ship_to = partners
        .iter()
        .find(|p| p["PartnerFunction"] == "WE")
        .expect("a ship-to partner");
    assert_eq!(ship_to["Customer"], customer.id.as_str());
    let address = &ship_to["to_Address"]["results"][0];
    assert_eq!(address["StreetName"], "Lagerstrasse 7");
    assert_eq!(address["CityName"], "Hamburg");
    assert_eq!(address["PostalCode"], "20095");
    assert_eq!(address["Country"], "DE");
    // The sold-to comes from partner determination.
    assert!(
        partners
            .iter()
            .any(|p| p["PartnerFunction"] == "AG" && p["Customer"] == customer.id.as_str())
    );
    // Read as SAP's metadata types the partners (the address is the newer entity).
    let orders = spec("API_SALES_ORDER_SRV.edmx");
    let plain = get_json(
        &erp,
        &format!("/A_SalesOrder('{}')/to_Partner", order.order_number),
        &[],
    )
    .await;
    for partner in plain["d"]["results"].as_array().expect("results") {
        let problems = orders.check(
            "A_SalesOrderHeaderPartnerType",
            partner,
            Direction::Response,
        );
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

#[tokio::test]
async fn pricing_by_sap_sends_no_price_condition() {
    let sandbox = sandbox().await;
    let erp = default_fields(&sandbox.url, json!({"pricing": "erp"}));
    let body = payload::sales_order_body(
        &erp.config().deal_to_order,
        &deal(&["TG11"]),
        "17100101",
        "hubspot-deal-1",
        "t",
    )
    .expect("body");
    assert!(
        body["to_Item"]["results"][0]
            .get("to_PricingElement")
            .is_none()
    );
    assert!(
        body.get("to_Partner").is_none(),
        "no ship-to address, no partner"
    );
}

#[tokio::test]
async fn more_than_three_quantity_decimals_fail_before_sap_is_called() {
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url);
    let calls = CallLog::new();
    let mut deal = deal(&["TG11"]);
    deal.line_items[0].quantity = "1.2345".into();
    let customer = RecordRef {
        system: SYSTEM.into(),
        object_type: "customer".into(),
        id: "17100101".into(),
    };
    let request = OrderRequest {
        external_ref: "hubspot-deal-32",
        customer: &customer,
        deal: &deal,
    };
    let err = erp
        .create_order(&request, &calls)
        .await
        .expect_err("four decimals");
    assert_eq!(err.kind, crate::ErrorKind::Permanent);
    assert_eq!(err.category, crate::ErrorCategory::Validation);
    assert_eq!(err.resolution.as_deref(), Some("fix_line_item:quantity"));
    assert!(err.message.contains("at most 3 decimals"), "{err}");
    assert!(calls.snapshot().is_empty(), "SAP was not called");
    deal.line_items[0].quantity = "1.250".into();
    let body = payload::sales_order_body(&erp.config().deal_to_order, &deal, "1", "r", "t")
        .expect("three decimals are fine");
    assert_eq!(body["to_Item"]["results"][0]["RequestedQuantity"], "1.25");
}

#[tokio::test]
async fn a_version_without_partner_addresses_refuses_a_ship_to_address_clearly() {
    let orders = spec("API_SALES_ORDER_SRV.edmx");
    let (_sandbox, erp, customer) = seeded(json!({"ship_to_address": "unsupported"})).await;
    let calls = CallLog::new();
    let shipped = shipped_deal(&["TG11"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-33",
        customer: &customer,
        deal: &shipped,
    };
    let log = CallLog::new();
    let err = erp
        .create_order(&request, &log)
        .await
        .expect_err("the address cannot be carried");
    assert_eq!(err.kind, crate::ErrorKind::Permanent);
    assert_eq!(
        err.resolution.as_deref(),
        Some("ship_to_address_unsupported")
    );
    assert!(err.message.contains("A_SalesOrderPartnerAddress"), "{err}");
    assert!(log.snapshot().is_empty(), "SAP was not called");

    // Shipping to the customer's own address goes out without a partner
    // address and conforms to the shared metadata as a whole.
    let mut plain = shipped_deal(&["TG11"]);
    plain.shipping_address = account().billing_address;
    if let Some(address) = plain.shipping_address.as_mut() {
        address.city = " berlin ".into();
    }
    let body =
        payload::sales_order_body(&erp.config().deal_to_order, &plain, &customer.id, "r", "t")
            .expect("body");
    assert!(body.get("to_Partner").is_none(), "{body}");
    let problems = orders.check("A_SalesOrderType", &body, Direction::Request);
    assert!(problems.is_empty(), "{problems:#?}");
    let request = OrderRequest {
        external_ref: "hubspot-deal-34",
        customer: &customer,
        deal: &plain,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    let stored = get_json(
        &erp,
        &format!("/A_SalesOrder('{}')", order.order_number),
        &[("$expand", "to_Partner")],
    )
    .await;
    let ship_to = stored["d"]["to_Partner"]["results"]
        .as_array()
        .expect("partners")
        .iter()
        .find(|p| p["PartnerFunction"] == "WE")
        .cloned()
        .expect("partner determination adds the ship-to");
    assert_eq!(ship_to["Customer"], customer.id.as_str());
}

#[test]
fn request_bodies_use_only_properties_the_official_metadata_defines() {
    let orders = spec("API_SALES_ORDER_SRV.edmx");
    let partners = spec("API_BUSINESS_PARTNER.edmx");
    let cfg = config("http://x", basic());
    for field in REFERENCE_FIELDS {
        let property = &orders.types["A_SalesOrderType"].properties[field.0];
        assert_eq!(property.edm_type, "Edm.String");
        assert_eq!(property.max_length, Some(field.1), "{}", field.0);
    }
    let body = payload::sales_order_body(
        &cfg.deal_to_order,
        &deal(&["TG11", "TG12"]),
        "17100101",
        "hubspot-deal-1",
        "t",
    )
    .expect("body");
    let problems = orders.check("A_SalesOrderType", &body, Direction::Request);
    assert!(problems.is_empty(), "{problems:#?}");
    let body = payload::business_partner_body(
        &cfg.deal_to_order,
        &account(),
        "HUBSPOT-4711",
        &account().name,
    );
    let problems = partners.check("A_BusinessPartnerType", &body, Direction::Request);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(
        body["OrganizationBPName1"]
            .as_str()
            .map(|s| s.chars().count()),
        Some(40)
    );
}

#[tokio::test]
async fn sandbox_answers_conform_to_the_official_metadata() {
    let orders = spec("API_SALES_ORDER_SRV.edmx");
    let partners = spec("API_BUSINESS_PARTNER.edmx");
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url);
    let calls = CallLog::new();
    create_product(&erp, "TG11").await;
    let customer = erp
        .create_customer(&account(), &calls)
        .await
        .expect("customer");
    let deal = deal(&["TG11"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-1",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");

    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .basic_auth(
                    crmerp_sandbox::DEV_S4_USER,
                    Some(crmerp_sandbox::DEV_S4_PASSWORD),
                )
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let one = get(erp.url(
        SALES_ORDER_SERVICE,
        &format!("/A_SalesOrder('{}')", order.order_number),
        &[("$expand", "to_Item")],
    ))
    .await;
    let problems = orders.check("A_SalesOrderType", &one["d"], Direction::Response);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(one["d"]["TotalNetAmount"], "200");
    let list = get(erp.url(
        SALES_ORDER_SERVICE,
        "/A_SalesOrder",
        &[("$inlinecount", "allpages")],
    ))
    .await;
    assert_eq!(list["d"]["__count"], "1");
    for entry in list["d"]["results"].as_array().expect("results") {
        let problems = orders.check("A_SalesOrderType", entry, Direction::Response);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    let bp = get(erp.url(
        BUSINESS_PARTNER_SERVICE,
        &format!("/A_BusinessPartner('{}')", customer.id),
        &[],
    ))
    .await;
    let problems = partners.check("A_BusinessPartnerType", &bp["d"], Direction::Response);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn customer_and_order_round_trip_idempotently_with_oauth() {
    let sandbox = sandbox().await;
    let auth = json!({"kind": "oauth", "token_url": format!("{}/sap/bc/sec/oauth2/token", sandbox.url),
                      "client_id": crmerp_sandbox::DEV_S4_CLIENT_ID, "client_secret": crmerp_sandbox::DEV_S4_CLIENT_SECRET});
    let erp = S4HanaErp::new(config(&sandbox.url, auth), reqwest::Client::new()).expect("valid");
    let calls = CallLog::new();
    create_product(&erp, "TG11").await;
    assert_eq!(
        erp.find_customer(&account(), &calls).await.expect("find"),
        None
    );
    let customer = erp
        .create_customer(&account(), &calls)
        .await
        .expect("create");
    assert_eq!(
        erp.find_customer(&account(), &calls).await.expect("find"),
        Some(customer.clone())
    );
    assert!(
        erp.find_order("hubspot-deal-7", &calls)
            .await
            .expect("find")
            .is_none()
    );
    let deal = deal(&["TG11"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-7",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    let found = erp
        .find_order("hubspot-deal-7", &calls)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.order_number, order.order_number);
    assert_eq!(found.customer, Some(customer));
    erp.probe().await.expect("probe");
}

#[tokio::test]
async fn a_stale_csrf_token_is_refetched_once_and_unknown_materials_are_permanent() {
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url);
    let calls = CallLog::new();
    create_product(&erp, "TG11").await;
    let mut other = account();
    other.r#ref = Some(RecordRef {
        system: "hubspot".into(),
        object_type: "company".into(),
        id: "1".into(),
    });
    erp.create_customer(&other, &calls)
        .await
        .expect("first customer");
    // Log every session out; the cached token is now stale.
    reqwest::Client::new()
        .post(format!("{}/__sandbox/reset", sandbox.url))
        .send()
        .await
        .expect("reset");
    let log = CallLog::new();
    let customer = erp
        .create_customer(&account(), &log)
        .await
        .expect("create after refetch");
    create_product(&erp, "TG11").await;
    let statuses: Vec<u32> = log.snapshot().iter().map(|c| c.http_status).collect();
    assert_eq!(statuses, vec![403, 200, 201], "{statuses:?}");

    let deal = deal(&["NOPE-1"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-8",
        customer: &customer,
        deal: &deal,
    };
    let err = erp
        .create_order(&request, &calls)
        .await
        .expect_err("unknown material");
    assert_eq!(err.category, crate::ErrorCategory::UnknownItem, "{err}");
    assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:NOPE-1"));

    let wrong = S4HanaErp::new(
        config(
            &sandbox.url,
            json!({"kind": "basic", "username": "CRMERP_COMM", "password": "wrong"}),
        ),
        reqwest::Client::new(),
    )
    .expect("valid");
    assert_eq!(
        wrong.probe().await.expect_err("rejected").kind,
        crate::ErrorKind::Auth
    );
}

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Erp;
    const SECRET: &'static str = "/auth/password";

    async fn seed_item(&self, url: &str, sku: &str) {
        create_product(&connector(url), sku).await;
    }

    // SAP stores a second business partner with the same search term; the
    // flow's customer claim keeps the create single.
    fn refuses_duplicate_customers(&self) -> bool {
        false
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, customer_master, order_sink);

/// Moves `order` through the simulator's fulfilment control endpoint.
async fn advance(sandbox: &Simulator, order: &str, body: Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/__sandbox/orders/{order}/fulfilment",
            sandbox.url
        ))
        .json(&body)
        .send()
        .await
        .expect("advance");
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn order_status_follows_the_sales_order_through_delivery() {
    let (sandbox, erp, customer) = seeded(json!({"quantity_unit": "PC"})).await;
    let calls = CallLog::new();
    let deal = shipped_deal(&["TG11"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-77",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    let order_ref = order.r#ref.clone().expect("a ref");
    let read = || async {
        erp.order_status(&order_ref, &CallLog::new())
            .await
            .expect("status")
            .expect("the order")
    };
    let received = read().await;
    assert_eq!(received.status(), crmerp_proto::OrderStatus::Received);
    assert_eq!(received.external_ref, "hubspot-deal-77");
    assert_eq!(received.order, Some(order_ref.clone()));
    assert!(received.changed_at.is_some());

    advance(&sandbox, &order.order_number, json!({"status": "picking"})).await;
    assert_eq!(read().await.status(), crmerp_proto::OrderStatus::Picking);
    advance(
        &sandbox,
        &order.order_number,
        json!({"status": "dispatched", "carrier": "DHL", "tracking_number": "JD0001"}),
    )
    .await;
    assert_eq!(read().await.status(), crmerp_proto::OrderStatus::Dispatched);

    let missing = RecordRef {
        id: "99999999".into(),
        ..order_ref.clone()
    };
    assert_eq!(
        erp.order_status(&missing, &calls).await.expect("read"),
        None
    );
    let bad = RecordRef {
        id: "1' or '1".into(),
        ..order_ref
    };
    let err = erp.order_status(&bad, &calls).await.expect_err("refused");
    assert_eq!(err.kind, crate::ErrorKind::Permanent);
}
