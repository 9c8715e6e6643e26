//! The connector against a tiny in-test NetSuite (see [`fake`]).

mod conformance;
mod fake;

use crmerp_proto::{Address, Deal, LineItem, Money};
use serde_json::json;

use self::fake::{TOKEN_SECRET, set, start};
use super::*;
use crate::ErrorKind;

fn account() -> Account {
    Account {
        r#ref: Some(record("hubspot", "company", "9100")),
        name: "Acme GmbH".into(),
        email: "ap@acme.example".into(),
        ..Account::default()
    }
}

fn record(system: &str, object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: system.into(),
        object_type: object_type.into(),
        id: id.into(),
    }
}

fn deal(skus: &[&str]) -> Deal {
    Deal {
        r#ref: Some(record("hubspot", "deal", "512")),
        name: "Acme renewal".into(),
        line_items: skus
            .iter()
            .map(|sku| LineItem {
                sku: (*sku).into(),
                quantity: "2".into(),
                unit_price: Some(Money {
                    currency_code: "EUR".into(),
                    amount: "19.99".into(),
                }),
                ..LineItem::default()
            })
            .collect(),
        shipping_address: Some(Address {
            city: "Hamburg".into(),
            country_code: "DE".into(),
            ..Address::default()
        }),
        ..Deal::default()
    }
}

#[tokio::test]
async fn customers_are_found_or_created_by_external_id() {
    let (erp, fake) = start(TOKEN_SECRET).await;
    let calls = CallLog::new();
    assert_eq!(
        erp.find_customer(&account(), &calls).await.expect("lookup"),
        None
    );
    let created = erp
        .create_customer(&account(), &calls)
        .await
        .expect("created");
    assert_eq!(created, record("netsuite", "customer", "1088"));
    assert_eq!(
        fake.bodies.lock().expect("lock")[0],
        json!({"companyName":"Acme GmbH","externalId":"hubspot-company-9100","email":"ap@acme.example","subsidiary":{"id":"1"}})
    );
    assert_eq!(
        erp.find_customer(&account(), &calls).await.expect("lookup"),
        Some(created)
    );
    let endpoints: Vec<String> = calls
        .snapshot()
        .into_iter()
        .map(|c| format!("{} {}", c.endpoint, c.http_status))
        .collect();
    assert_eq!(
        endpoints,
        vec![
            format!("{ENDPOINT_FIND_CUSTOMER} 404"),
            format!("{ENDPOINT_CREATE_CUSTOMER} 204"),
            format!("{ENDPOINT_FIND_CUSTOMER} 200"),
        ]
    );
    assert_eq!(
        fake.seen.lock().expect("lock")[0],
        "GET /services/rest/record/v1/customer/eid:hubspot-company-9100?fields=externalId"
    );
}

#[tokio::test]
async fn a_concurrent_customer_create_returns_the_existing_record() {
    let (erp, fake) = start(TOKEN_SECRET).await;
    set(&fake.duplicate_creates, true);
    let found = erp
        .create_customer(&account(), &CallLog::new())
        .await
        .expect("existing");
    assert_eq!(found.id, "1088");
}

#[tokio::test]
async fn orders_resolve_skus_once_and_learn_the_order_number() {
    let (erp, fake) = start(TOKEN_SECRET).await;
    let customer = record("netsuite", "customer", "1088");
    let deal = deal(&["W-1", "G 9/x"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-512",
        customer: &customer,
        deal: &deal,
    };
    let calls = CallLog::new();
    assert_eq!(
        erp.find_order("hubspot-deal-512", &calls)
            .await
            .expect("lookup"),
        None
    );
    let order = erp.create_order(&request, &calls).await.expect("created");
    assert_eq!(order.r#ref, Some(record("netsuite", "salesOrder", "647")));
    assert_eq!(
        (
            order.order_number.as_str(),
            order.external_ref.as_str(),
            order.created
        ),
        ("SO1001", "hubspot-deal-512", true)
    );
    assert_eq!(order.customer, Some(customer.clone()));
    let body = fake.bodies.lock().expect("lock")[0].clone();
    assert_eq!(
        body["item"]["items"],
        json!([
            {"item":{"id":"45"},"quantity":2,"rate":19.99},
            {"item":{"id":"46"},"quantity":2,"rate":19.99}
        ])
    );
    assert_eq!(
        body["shippingAddress"],
        json!({"city":"Hamburg","country":"DE"})
    );
    assert_eq!(body["entity"], json!({"id":"1088"}));

    let seen = fake.seen.lock().expect("lock").clone();
    assert_eq!(
        seen[1],
        "GET /services/rest/record/v1/inventoryItem?q=itemId%20IS%20%22W-1%22&limit=2"
    );
    assert_eq!(
        seen[2],
        "GET /services/rest/record/v1/inventoryItem?q=itemId%20IS%20%22G%209%2Fx%22&limit=2"
    );
    assert_eq!(
        seen[4],
        "GET /services/rest/record/v1/salesOrder/647?fields=tranId"
    );

    // The retry path: the order now exists and is found, not created again.
    let found = erp
        .find_order("hubspot-deal-512", &calls)
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(
        (found.order_number.as_str(), found.created),
        ("SO1001", false)
    );
    assert_eq!(found.customer, Some(customer.clone()));

    // SKUs are cached: a second order makes no item lookups.
    let before = fake.seen.lock().expect("lock").len();
    erp.create_order(&request, &CallLog::new())
        .await
        .expect("created again");
    let after: Vec<String> = fake.seen.lock().expect("lock")[before..].to_vec();
    assert!(
        after.iter().all(|s| !s.contains("inventoryItem")),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_duplicate_order_is_looked_up_instead() {
    let (erp, fake) = start(TOKEN_SECRET).await;
    set(&fake.duplicate_creates, true);
    let customer = record("netsuite", "customer", "1088");
    let deal = deal(&["W-1"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-512",
        customer: &customer,
        deal: &deal,
    };
    let order = erp
        .create_order(&request, &CallLog::new())
        .await
        .expect("found");
    assert_eq!(
        (order.order_number.as_str(), order.created),
        ("SO1001", false)
    );
}

#[tokio::test]
async fn an_unknown_sku_is_a_permanent_unknown_item() {
    let (erp, fake) = start(TOKEN_SECRET).await;
    let customer = record("netsuite", "customer", "1088");
    let deal = deal(&["W-1", "NOPE-7"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-512",
        customer: &customer,
        deal: &deal,
    };
    let err = erp
        .create_order(&request, &CallLog::new())
        .await
        .expect_err("unknown");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Permanent, ErrorCategory::UnknownItem)
    );
    assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:NOPE-7"));
    assert!(
        fake.bodies.lock().expect("lock").is_empty(),
        "no order was posted"
    );
}

#[tokio::test]
async fn wrong_credentials_are_an_auth_error_and_probe_reports_health() {
    let (erp, _) = start(TOKEN_SECRET).await;
    erp.probe().await.expect("healthy");
    let (bad, _) = start("not-the-secret").await;
    let err = bad.probe().await.expect_err("rejected");
    assert_eq!(
        (err.kind, err.category, err.http_status),
        (ErrorKind::Auth, ErrorCategory::Unauthorized, 401)
    );
    assert!(err.detail.contains("INVALID_LOGIN"));
}

#[tokio::test]
async fn the_concurrency_limit_is_transient() {
    let (erp, fake) = start(TOKEN_SECRET).await;
    set(&fake.saturated, true);
    let err = erp
        .find_order("hubspot-deal-512", &CallLog::new())
        .await
        .expect_err("limited");
    assert_eq!(
        (err.kind, err.category),
        (ErrorKind::Transient, ErrorCategory::RateLimited)
    );
}
