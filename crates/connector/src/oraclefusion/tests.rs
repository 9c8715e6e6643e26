//! Oracle Fusion connector tests against the sandbox simulator.

use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use serde_json::json;

use super::*;
use crate::test_support::{Simulator, simulator};

async fn sandbox() -> Simulator {
    simulator("oraclefusion").await
}

fn connector(url: &str, auth: serde_json::Value) -> OracleFusionErp {
    let mut config: OracleFusionConfig =
        serde_json::from_value(json!({"base_url": url, "auth": auth})).expect("config");
    config.deal_to_order.business_unit_name = crmerp_sandbox::DEV_ORACLE_BUSINESS_UNIT.into();
    OracleFusionErp::new(config, reqwest::Client::new()).expect("valid")
}

fn basic() -> serde_json::Value {
    json!({"kind": "basic", "username": crmerp_sandbox::DEV_ORACLE_USER, "password": crmerp_sandbox::DEV_ORACLE_PASSWORD})
}

async fn create_item(url: &str, sku: &str) {
    let response = reqwest::Client::new()
        .post(format!("{url}/fscmRestApi/resources/11.13.18.05/itemsV2"))
        .basic_auth(
            crmerp_sandbox::DEV_ORACLE_USER,
            Some(crmerp_sandbox::DEV_ORACLE_PASSWORD),
        )
        .json(&json!({"ItemNumber": sku, "ItemDescription": sku}))
        .send()
        .await
        .expect("item");
    assert_eq!(response.status().as_u16(), 201);
}

fn account() -> Account {
    Account {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "company".into(),
            id: "77".into(),
        }),
        name: "Vision Corporation".into(),
        billing_address: Some(Address {
            line1: "500 Oracle Pkwy".into(),
            city: "Redwood Shores".into(),
            country_code: "US".into(),
            ..Address::default()
        }),
        ..Account::default()
    }
}

fn deal(sku: &str) -> Deal {
    Deal {
        line_items: vec![LineItem {
            sku: sku.into(),
            name: "Widget".into(),
            quantity: "3".into(),
            unit_price: Some(Money {
                currency_code: "USD".into(),
                amount: "10.50".into(),
            }),
            ..LineItem::default()
        }],
        shipping_address: Some(Address {
            line1: "1 Main St".into(),
            city: "Austin".into(),
            region: "TX".into(),
            postal_code: "78701".into(),
            country_code: "US".into(),
            ..Address::default()
        }),
        ..Deal::default()
    }
}

#[tokio::test]
async fn customer_and_order_round_trip_by_source_transaction() {
    let sandbox = sandbox().await;
    create_item(&sandbox.url, "AS54888").await;
    let erp = connector(&sandbox.url, basic());
    let calls = CallLog::new();
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
    assert_eq!(
        erp.create_customer(&account(), &calls)
            .await
            .expect("duplicate finds"),
        customer
    );

    assert!(
        erp.find_order("hubspot-deal-5", &calls)
            .await
            .expect("find")
            .is_none()
    );
    let deal = deal("AS54888");
    let request = OrderRequest {
        external_ref: "hubspot-deal-5",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    assert!(!order.order_number.is_empty());
    let found = erp
        .find_order("hubspot-deal-5", &calls)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.order_number, order.order_number);
    // A second create with the same source transaction finds the first order.
    let again = erp
        .create_order(&request, &calls)
        .await
        .expect("duplicate finds");
    assert_eq!(again.order_number, order.order_number);
    assert!(!again.created);
    erp.probe().await.expect("probe");
}

#[tokio::test]
async fn unknown_items_and_bad_credentials_are_classified_and_oauth_works() {
    let sandbox = sandbox().await;
    let auth = json!({"kind": "oauth", "token_url": format!("{}/oauth2/v1/token", sandbox.url),
                      "client_id": crmerp_sandbox::DEV_ORACLE_CLIENT_ID, "client_secret": crmerp_sandbox::DEV_ORACLE_CLIENT_SECRET});
    let erp = connector(&sandbox.url, auth);
    let calls = CallLog::new();
    let customer = erp
        .create_customer(&account(), &calls)
        .await
        .expect("create");
    let deal = deal("NOPE-1");
    let request = OrderRequest {
        external_ref: "hubspot-deal-6",
        customer: &customer,
        deal: &deal,
    };
    let err = erp
        .create_order(&request, &calls)
        .await
        .expect_err("unknown item");
    assert_eq!(err.category, ErrorCategory::UnknownItem, "{err}");
    assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:NOPE-1"));

    let wrong = connector(
        &sandbox.url,
        json!({"kind": "basic", "username": "x", "password": "y"}),
    );
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
        create_item(url, sku).await;
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, customer_master, order_sink);
