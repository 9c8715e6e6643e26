//! S/4HANA connector tests: against the sandbox simulator, and conformance of
//! our request bodies and the simulator's answers to SAP's official metadata
//! (`API_SALES_ORDER_SRV.edmx`, `API_BUSINESS_PARTNER.edmx` in the shared specs).

use std::path::PathBuf;

use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use crmerp_sandbox::edmx::{Direction, Metadata};
use serde_json::{Value, json};

use super::*;
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
