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
    create_priced_item(url, sku, None).await;
}

/// An item, with a list price in the pod's price list when given.
async fn create_priced_item(url: &str, sku: &str, list_price: Option<f64>) {
    let mut item = json!({"ItemNumber": sku, "ItemDescription": sku});
    if let Some(price) = list_price {
        item["ListPrice"] = json!(price);
    }
    let response = reqwest::Client::new()
        .post(format!("{url}/fscmRestApi/resources/11.13.18.05/itemsV2"))
        .basic_auth(
            crmerp_sandbox::DEV_ORACLE_USER,
            Some(crmerp_sandbox::DEV_ORACLE_PASSWORD),
        )
        .json(&item)
        .send()
        .await
        .expect("item");
    assert_eq!(response.status().as_u16(), 201);
}

/// `POST salesOrdersForOrderHub` with `body` as it is: (status, answer).
async fn post_order(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!(
            "{url}/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub"
        ))
        .basic_auth(
            crmerp_sandbox::DEV_ORACLE_USER,
            Some(crmerp_sandbox::DEV_ORACLE_PASSWORD),
        )
        .json(body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The stored lines of an order.
async fn order_lines(url: &str, key: &str) -> Vec<serde_json::Value> {
    let answer: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{url}/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub/{key}/child/lines?onlyData=true"
        ))
        .basic_auth(
            crmerp_sandbox::DEV_ORACLE_USER,
            Some(crmerp_sandbox::DEV_ORACLE_PASSWORD),
        )
        .send()
        .await
        .expect("lines")
        .json()
        .await
        .expect("json");
    answer["items"].as_array().cloned().unwrap_or_default()
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

#[tokio::test]
async fn the_order_keeps_the_crm_price_where_oracle_would_reprice_an_unfrozen_line() {
    let sandbox = sandbox().await;
    // The pod's price list deliberately differs from the negotiated 10.50.
    create_priced_item(&sandbox.url, "AS54888", Some(12.99)).await;
    let erp = connector(&sandbox.url, basic());
    let calls = CallLog::new();
    let customer = erp
        .create_customer(&account(), &calls)
        .await
        .expect("create");
    let deal = deal("AS54888");
    let request = OrderRequest {
        external_ref: "hubspot-deal-41",
        customer: &customer,
        deal: &deal,
    };
    erp.create_order(&request, &calls).await.expect("order");
    let lines = order_lines(&sandbox.url, "CRMERP:hubspot-deal-41").await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["UnitSellingPrice"], json!(10.5), "{}", lines[0]);
    assert_eq!(lines[0]["UnitListPrice"], json!(10.5));
    assert_eq!(lines[0]["ExtendedAmount"], json!(31.5), "3 x 10.50");

    // What the connector sends: frozen, with the header currency unit price and extended amount.
    let party: i64 = customer.id.parse().expect("party id");
    let mut body = payload::order_body(
        erp.config(),
        &erp.config().deal_to_order,
        &deal,
        party,
        "hubspot-deal-42",
        chrono::Utc::now(),
        "t",
    )
    .expect("body");
    assert_eq!(body["FreezePriceFlag"], true);
    let components = &body["lines"][0]["charges"][0]["chargeComponents"];
    let net = components
        .as_array()
        .expect("components")
        .iter()
        .find(|c| c["PriceElementUsageCode"] == "NET_PRICE")
        .expect("a net price component");
    assert_eq!(net["HeaderCurrencyUnitPrice"], json!(10.5));
    assert_eq!(net["HeaderCurrencyExtendedAmount"], json!(31.5));
    assert_eq!(net["HeaderCurrencyCode"], "USD");

    // The same order unfrozen is re-priced from the price list, as Oracle Pricing does.
    body["FreezePriceFlag"] = json!(false);
    let (status, answer) = post_order(&sandbox.url, &body).await;
    assert_eq!(status, 201, "{answer}");
    let lines = order_lines(&sandbox.url, "CRMERP:hubspot-deal-42").await;
    assert_eq!(lines[0]["UnitSellingPrice"], json!(12.99));
    assert_eq!(lines[0]["ExtendedAmount"], json!(38.97));

    // Frozen without the prices Oracle requires is refused.
    body["FreezePriceFlag"] = json!(true);
    body["SourceTransactionId"] = json!("hubspot-deal-43");
    body["SourceTransactionNumber"] = json!("hubspot-deal-43");
    if let Some(line) = body["lines"][0].as_object_mut() {
        line.remove("charges");
    }
    let (status, answer) = post_order(&sandbox.url, &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.to_string().contains("header currency unit price"),
        "{answer}"
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

#[tokio::test]
async fn order_status_follows_the_fulfillment_lines() {
    use crate::ports::OrderStatusSource as _;
    use crmerp_proto::OrderStatus;

    let sandbox = sandbox().await;
    create_item(&sandbox.url, "AS54888").await;
    let erp = connector(&sandbox.url, basic());
    let calls = CallLog::new();
    let customer = erp
        .create_customer(&account(), &calls)
        .await
        .expect("create");
    let deal = deal("AS54888");
    let request = OrderRequest {
        external_ref: "hubspot-deal-8",
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
    assert_eq!(received.status(), OrderStatus::Received);
    assert_eq!(received.order_number, order.order_number);
    assert_eq!(received.order, Some(order_ref.clone()));

    let advance = |body: serde_json::Value| {
        let url = format!(
            "{}/__sandbox/orders/{}/fulfilment",
            sandbox.url, order_ref.id
        );
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("advance");
            assert!(response.status().is_success(), "{}", response.status());
        }
    };
    advance(json!({"status": "picking"})).await;
    assert_eq!(read().await.status(), OrderStatus::Picking);
    advance(json!({"status": "dispatched", "carrier": "UPS", "tracking_number": "1Z999"})).await;
    let dispatched = read().await;
    assert_eq!(dispatched.status(), OrderStatus::Dispatched);
    assert_eq!(dispatched.shipments.len(), 1, "{dispatched:?}");
    assert_eq!(dispatched.shipments[0].carrier, "UPS");
    assert_eq!(dispatched.shipments[0].tracking_number, "1Z999");
    assert!(dispatched.changed_at.is_some());

    let missing = RecordRef {
        id: "999999".into(),
        ..order_ref.clone()
    };
    assert_eq!(
        erp.order_status(&missing, &calls).await.expect("read"),
        None
    );
    let bad = RecordRef {
        id: "x".into(),
        ..order_ref
    };
    assert!(erp.order_status(&bad, &calls).await.is_err());
}
