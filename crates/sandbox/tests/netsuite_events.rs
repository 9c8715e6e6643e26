//! NetSuite's User Event script POSTs and the fulfilment control endpoint,
//! checked with a real loopback receiver and an independent HMAC.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Received, Signer, netsuite, receiver};
use crmerp_sandbox::{DEV_NETSUITE_EVENTS_SECRET, RunningSandbox, SandboxConfig};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;

const RECORDS: &str = "/services/rest/record/v1";

/// The body, after checking its signature (over timestamp + "." + body)
/// independently of the sandbox, and that the timestamp is current.
fn verified(received: &Received) -> Value {
    let timestamp = received.headers["x-crmerp-timestamp"].to_str().unwrap();
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "a fresh timestamp: {timestamp}");
    let mut mac = Hmac::<Sha256>::new_from_slice(DEV_NETSUITE_EVENTS_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        received.headers["x-crmerp-signature"].to_str().unwrap(),
        expected
    );
    assert_eq!(
        received.headers["x-netsuite-account"].to_str().unwrap(),
        "1234567_SB1"
    );
    serde_json::from_slice(&received.body).unwrap()
}

async fn create(sandbox: &RunningSandbox, record: &str, body: Value) -> String {
    let response = netsuite(
        sandbox,
        &Signer::dev(),
        Method::POST,
        &format!("{RECORDS}/{record}"),
        Some(body),
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    location.rsplit('/').next().unwrap().to_owned()
}

async fn fulfil(sandbox: &RunningSandbox, order: &str, body: Value) -> (u16, Value) {
    common::fulfil(&sandbox.netsuite_url(), order, body).await
}

#[tokio::test]
async fn record_changes_post_signed_events_and_fulfilment_writes_netsuite_records() {
    let mut hook = receiver(1).await;
    let mut config = SandboxConfig::default();
    config.netsuite.events = common::fast_events(&hook.url);
    let sandbox = common::start(config).await;

    let item = create(
        &sandbox,
        "inventoryItem",
        json!({"itemId": "SKU-1", "displayName": "Widget", "basePrice": 10}),
    )
    .await;
    let customer = create(
        &sandbox,
        "customer",
        json!({"companyName": "Acme", "subsidiary": {"id": "1"}}),
    )
    .await;
    let order = create(
        &sandbox,
        "salesOrder",
        json!({"entity": {"id": customer}, "externalId": "deal-7",
               "item": {"items": [{"item": {"id": item}, "quantity": 2, "rate": 10}]}}),
    )
    .await;

    // Customers and items have no script; the order's create is refused once (500) and sent again.
    let first = verified(&hook.next().await);
    let again = verified(&hook.next().await);
    assert_eq!(first, again);
    assert_eq!(first["eventType"], "create");
    assert_eq!(first["recordType"], "salesorder");
    assert_eq!(first["id"], order.as_str());
    assert_eq!(first["record"]["externalId"], "deal-7");

    let (status, _) = fulfil(&sandbox, "eid:deal-7", json!({"status": "picking"})).await;
    assert_eq!(status, 200);
    let picked = verified(&hook.next().await);
    assert_eq!(picked["recordType"], "itemfulfillment");
    assert_eq!(picked["eventType"], "create");
    assert_eq!(picked["record"]["shipStatus"]["refName"], "Picked");
    assert_eq!(picked["record"]["createdFrom"]["id"], order.as_str());
    let fulfillment = picked["id"].as_str().unwrap().to_owned();

    let (status, _) = fulfil(
        &sandbox,
        &order,
        json!({"status": "dispatched", "carrier": "FedEx", "tracking_number": "794600000000"}),
    )
    .await;
    assert_eq!(status, 200);
    let shipped = verified(&hook.next().await);
    assert_eq!(shipped["eventType"], "edit");
    assert_eq!(shipped["record"]["shipStatus"]["id"], "C");
    let billed_next = verified(&hook.next().await);
    assert_eq!(billed_next["recordType"], "salesorder");
    assert_eq!(billed_next["record"]["status"], "Pending Billing");

    let read = netsuite(
        &sandbox,
        &Signer::dev(),
        Method::GET,
        &format!("{RECORDS}/itemFulfillment/{fulfillment}?expandSubResources=true"),
        None,
    )
    .await;
    assert_eq!(read.status().as_u16(), 200);
    let read: Value = read.json().await.unwrap();
    assert_eq!(read["shipStatus"]["refName"], "Shipped");
    assert_eq!(
        read["package"]["items"][0]["packageTrackingNumber"],
        "794600000000"
    );

    let (status, _) = fulfil(&sandbox, &order, json!({"status": "invoiced"})).await;
    assert_eq!(status, 200);
    let invoice = verified(&hook.next().await);
    assert_eq!(invoice["recordType"], "invoice");
    assert_eq!(invoice["record"]["amountRemaining"], 20.0);
    assert_eq!(verified(&hook.next().await)["record"]["status"], "Billed");
    let (status, _) = fulfil(&sandbox, &order, json!({"status": "invoiced"})).await;
    assert_eq!(status, 409, "an order is billed once");
    let (status, _) = fulfil(&sandbox, &order, json!({"status": "paid"})).await;
    assert_eq!(status, 200);
    let paid = verified(&hook.next().await);
    assert_eq!(paid["record"]["status"], "Paid In Full");

    let refused = netsuite(
        &sandbox,
        &Signer::dev(),
        Method::POST,
        &format!("{RECORDS}/invoice"),
        Some(json!({"entity": {"id": customer}})),
    )
    .await;
    assert_eq!(
        refused.status().as_u16(),
        400,
        "invoices are made from orders"
    );
}
