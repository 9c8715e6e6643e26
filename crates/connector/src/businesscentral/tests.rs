//! Business Central connector tests against the sandbox simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::RawQuery;
use axum::routing::post;
use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use secrecy::SecretString;
use serde_json::json;

use super::*;
use crate::test_support::serve;
use crate::test_support::{Simulator, simulator};

async fn sandbox() -> Simulator {
    simulator("businesscentral").await
}

fn connector(url: &str, lines: &str) -> BusinessCentralErp {
    let config: BusinessCentralConfig = serde_json::from_value(json!({
        "base_url": url,
        "tenant_id": crmerp_sandbox::DEV_BC_TENANT_ID,
        "environment": crmerp_sandbox::DEV_BC_ENVIRONMENT,
        "company_id": crmerp_sandbox::DEV_BC_COMPANY_ID,
        "lines": lines,
        "oauth": {
            "token_url": format!("{url}/{}/oauth2/v2.0/token", crmerp_sandbox::DEV_BC_TENANT_ID),
            "client_id": crmerp_sandbox::DEV_BC_CLIENT_ID,
            "client_secret": crmerp_sandbox::DEV_BC_CLIENT_SECRET,
        }
    }))
    .expect("config");
    BusinessCentralErp::new(config, reqwest::Client::new()).expect("valid")
}

async fn create_item(erp: &BusinessCentralErp, number: &str, price: f64) {
    let body =
        json!({"number": number, "displayName": format!("Item {number}"), "unitPrice": price});
    erp.call(
        &CallLog::new(),
        &crate::endpoint!(POST "items"),
        &erp.company_url("/items"),
        Some(&body),
        None,
    )
    .await
    .expect("item created");
}

fn account() -> Account {
    Account {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "company".into(),
            id: "4711".into(),
        }),
        name: "Adatum Corporation".into(),
        email: "ap@adatum.example".into(),
        ..Account::default()
    }
}

fn deal(skus: &[&str]) -> Deal {
    Deal {
        r#ref: Some(RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: "99".into(),
        }),
        name: "Desks".into(),
        line_items: skus
            .iter()
            .map(|sku| LineItem {
                sku: (*sku).into(),
                name: format!("Line {sku}"),
                quantity: "2".into(),
                unit_price: Some(Money {
                    currency_code: "USD".into(),
                    amount: "19.99".into(),
                }),
                ..LineItem::default()
            })
            .collect(),
        shipping_address: Some(Address {
            line1: "192 Market Square".into(),
            city: "Atlanta".into(),
            country_code: "US".into(),
            ..Address::default()
        }),
        ..Deal::default()
    }
}

#[tokio::test]
async fn customer_and_order_round_trip_idempotently() {
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url, "deep_insert");
    let calls = CallLog::new();
    create_item(&erp, "SKU-1", 19.99).await;

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
    // A second create (a lost race) answers the existing customer.
    assert_eq!(
        erp.create_customer(&account(), &calls).await.expect("dup"),
        customer
    );

    assert!(
        erp.find_order("hubspot-deal-99", &calls)
            .await
            .expect("find")
            .is_none()
    );
    let deal = deal(&["SKU-1"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-99",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    assert!(order.created);
    assert!(order.order_number.starts_with("S-ORD"), "{order:?}");
    let found = erp
        .find_order("hubspot-deal-99", &calls)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.order_number, order.order_number);
    assert_eq!(found.customer, Some(customer));
    erp.probe().await.expect("probe");
}

#[tokio::test]
async fn unknown_items_are_permanent_and_follow_up_lines_clean_up() {
    let sandbox = sandbox().await;
    let calls = CallLog::new();
    for mode in ["deep_insert", "follow_up"] {
        let erp = connector(&sandbox.url, mode);
        let customer = match erp.find_customer(&account(), &calls).await.expect("find") {
            Some(c) => c,
            None => erp
                .create_customer(&account(), &calls)
                .await
                .expect("create"),
        };
        let deal = deal(&["NOPE-1"]);
        let request = OrderRequest {
            external_ref: "hubspot-deal-100",
            customer: &customer,
            deal: &deal,
        };
        let err = erp.create_order(&request, &calls).await.expect_err(mode);
        assert_eq!(err.category, ErrorCategory::UnknownItem, "{mode}: {err}");
        assert_eq!(err.resolution.as_deref(), Some("create_item_in_erp:NOPE-1"));
        // Nothing half-made is left for the retry to mistake for the order.
        assert!(
            erp.find_order("hubspot-deal-100", &calls)
                .await
                .expect("find")
                .is_none(),
            "{mode}"
        );
    }
    let erp = connector(&sandbox.url, "follow_up");
    create_item(&erp, "SKU-2", 5.0).await;
    let customer = erp
        .find_customer(&account(), &calls)
        .await
        .expect("find")
        .expect("exists");
    let deal = deal(&["SKU-2", "SKU-2"]);
    let request = OrderRequest {
        external_ref: "hubspot-deal-101",
        customer: &customer,
        deal: &deal,
    };
    let order = erp.create_order(&request, &calls).await.expect("order");
    assert!(!order.order_number.is_empty());
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url, "deep_insert");
    erp.probe().await.expect("probe");
    // A reset forgets every issued token, as a rotated secret or revoked consent would.
    reqwest::Client::new()
        .post(format!("{}/__sandbox/reset", sandbox.url))
        .send()
        .await
        .expect("reset");
    let calls = CallLog::new();
    assert_eq!(
        erp.find_customer(&account(), &calls).await.expect("find"),
        None
    );
    let statuses: Vec<u32> = calls.snapshot().iter().map(|c| c.http_status).collect();
    assert_eq!(statuses, vec![401, 200, 200], "{statuses:?}");
}

#[tokio::test]
async fn wrong_client_secret_is_an_auth_error() {
    let sandbox = sandbox().await;
    let mut config = connector(&sandbox.url, "deep_insert").config().clone();
    config.oauth.client_secret = SecretString::from("wrong");
    let erp = BusinessCentralErp::new(config, reqwest::Client::new()).expect("valid");
    let err = erp.probe().await.expect_err("rejected");
    assert_eq!(err.kind, crate::ErrorKind::Auth);
    assert!(err.message.contains("AADSTS7000215"), "{err}");
}

/// A notification receiver answering the handshake (or refusing it).
async fn receiver(echo: Arc<AtomicBool>) -> String {
    let app = Router::new().route(
        "/bc",
        post(move |RawQuery(query): RawQuery| {
            let echo = Arc::clone(&echo);
            async move {
                match webhook::handshake_response(query.as_deref()) {
                    Some(token) if echo.load(Ordering::SeqCst) => token,
                    _ => "nope".to_owned(),
                }
            }
        }),
    );
    format!("http://{}/bc", serve(app).await)
}

#[tokio::test]
async fn subscriptions_handshake_renew_and_delete() {
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url, "deep_insert");
    let calls = CallLog::new();
    let echo = Arc::new(AtomicBool::new(true));
    let url = receiver(Arc::clone(&echo)).await;
    let state = SecretString::from("shared-secret");
    let resource = erp.company_resource("salesOrders");

    let created = erp
        .subscribe(&url, &resource, &state, &calls)
        .await
        .expect("subscribed");
    assert_eq!(created.resource, resource);
    let lifetime = created.expiration_date_time - chrono::Utc::now();
    assert!(lifetime > chrono::Duration::hours(71), "{lifetime}");
    assert!(!created.needs_renewal(chrono::Utc::now(), subscriptions::DEFAULT_RENEWAL_MARGIN));
    assert!(created.needs_renewal(
        chrono::Utc::now() + chrono::Duration::hours(60),
        subscriptions::DEFAULT_RENEWAL_MARGIN
    ));

    let renewed = erp.renew(&created, &state, &calls).await.expect("renewed");
    assert_ne!(renewed.etag, created.etag);
    // The old etag no longer matches.
    assert_eq!(
        erp.renew(&created, &state, &calls)
            .await
            .expect_err("stale")
            .http_status,
        409
    );
    assert_eq!(erp.subscriptions(&calls).await.expect("list").len(), 1);

    echo.store(false, Ordering::SeqCst);
    let err = erp
        .renew(&renewed, &state, &calls)
        .await
        .expect_err("handshake refused");
    assert_eq!(err.category, ErrorCategory::Validation);
    assert!(err.message.contains("handshake"), "{err}");

    erp.unsubscribe(&renewed, &calls).await.expect("deleted");
    assert!(erp.subscriptions(&calls).await.expect("list").is_empty());
    let err = erp
        .subscribe(&url, &erp.company_resource("nothing"), &state, &calls)
        .await
        .expect_err("unsupported resource");
    assert_eq!(err.http_status, 400);
}

#[tokio::test]
async fn injected_throttling_is_transient_with_the_vendors_wait() {
    let sandbox = sandbox().await;
    let erp = connector(&sandbox.url, "deep_insert");
    erp.probe().await.expect("probe");
    reqwest::Client::new()
        .post(format!("{}/__sandbox/faults", sandbox.url))
        .json(&json!({"status": 429, "retry_after_secs": 7, "path_prefix": "/v2.0/", "count": 1}))
        .send()
        .await
        .expect("fault set");
    let err = erp.probe().await.expect_err("throttled");
    assert!(err.is_transient(), "{err}");
    assert_eq!(err.category, ErrorCategory::RateLimited);
    assert_eq!(err.retry_after, Some(std::time::Duration::from_secs(7)));
    assert!(err.message.contains("Application_TooManyRequests"), "{err}");
    erp.probe().await.expect("recovered");
}

#[test]
fn the_registry_names_missing_settings() {
    let err =
        crate::registry::build_erp(SYSTEM, None, &crate::FlowMaps::new()).expect_err("no section");
    assert!(
        err.to_string().contains("[erp.businesscentral] section"),
        "{err}"
    );
    let err = crate::registry::build_erp(
        SYSTEM,
        Some(json!({"environment": "x"})),
        &crate::FlowMaps::new(),
    )
    .expect_err("incomplete");
    assert!(err.to_string().contains("tenant_id"), "{err}");
    for kind in [SYSTEM, crate::s4hana::SYSTEM, crate::oraclefusion::SYSTEM] {
        assert!(crate::registry::ERP_KINDS.contains(&kind), "{kind}");
    }
}

struct Fixture;

#[async_trait]
impl crate::conformance::Fixture for Fixture {
    const VENDOR: &'static str = SYSTEM;
    const ROLE: Role = Role::Erp;
    const SECRET: &'static str = "/oauth/client_secret";

    async fn seed_item(&self, url: &str, sku: &str) {
        create_item(&connector(url, "deep_insert"), sku, 19.99).await;
    }
}

crate::conformance::conformance_tests!(Fixture => system, bounded_body, customer_master, order_sink, order_status_source);
