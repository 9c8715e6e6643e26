//! Oracle Fusion Order Management business-event callbacks and the fulfilment
//! control endpoint, checked with a real loopback receiver.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fulfil, receiver};
use crmerp_sandbox::{
    DEV_ORACLE_BUSINESS_UNIT, DEV_ORACLE_PASSWORD, DEV_ORACLE_SOURCE_SYSTEM, DEV_ORACLE_USER,
    SandboxConfig,
};
use serde_json::{Value, json};

async fn post(url: &str, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .basic_auth(DEV_ORACLE_USER, Some(DEV_ORACLE_PASSWORD))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

#[tokio::test]
async fn order_create_and_fulfilment_call_back_with_line_statuses() {
    let mut hook = receiver(1).await;
    let mut config = SandboxConfig::default();
    config.oraclefusion.events = common::fast_events(&hook.url);
    let (url, _stop) = common::serve_one(config, "oraclefusion").await;

    let account = post(
        &url,
        "/crmRestApi/resources/11.13.18.05/accounts",
        json!({"OrganizationName": "Adatum"}),
    )
    .await;
    post(
        &url,
        "/fscmRestApi/resources/11.13.18.05/itemsV2",
        json!({"ItemNumber": "AS54888", "ItemDescription": "Desk", "OrganizationCode": "V1"}),
    )
    .await;
    let order = post(
        &url,
        "/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub",
        json!({
            "SourceTransactionSystem": DEV_ORACLE_SOURCE_SYSTEM, "SourceTransactionId": "deal-5",
            "SourceTransactionNumber": "deal-5", "BusinessUnitName": DEV_ORACLE_BUSINESS_UNIT,
            "TransactionalCurrencyCode": "USD", "BuyingPartyId": account["PartyId"],
            "SubmittedFlag": true,
            "lines": [{"SourceTransactionLineId": "1", "SourceTransactionLineNumber": "1",
                       "ProductNumber": "AS54888", "OrderedQuantity": 2, "OrderedUOMCode": "Ea"}],
        }),
    )
    .await;
    let number = order["OrderNumber"].as_str().unwrap().to_owned();

    // Refused once (500), then delivered again unchanged.
    let first: Value = serde_json::from_slice(&hook.next().await.body).unwrap();
    let again: Value = serde_json::from_slice(&hook.next().await.body).unwrap();
    assert_eq!(first, again);
    assert_eq!(first["eventName"], "SalesOrderCreated");
    assert_eq!(first["payload"]["OrderNumber"], number.as_str());
    assert_eq!(first["payload"]["SourceTransactionNumber"], "deal-5");

    let (status, _) = fulfil(
        &url,
        &number,
        json!({"status": "dispatched", "carrier": "UPS", "tracking_number": "1Z12345E0205271688"}),
    )
    .await;
    assert_eq!(status, 200);
    let update: Value = serde_json::from_slice(&hook.next().await.body).unwrap();
    assert_eq!(update["eventName"], "FulfillLineStatusUpdate");
    let line = &update["payload"]["FulfillLines"][0];
    assert_eq!(line["StatusCode"], "SHIPPED");
    assert_eq!(line["TrackingNumber"], "1Z12345E0205271688");

    let key = order["OrderKey"].as_str().unwrap();
    let read: Value = reqwest::Client::new()
        .get(format!(
            "{url}/fscmRestApi/resources/11.13.18.05/salesOrdersForOrderHub/{key}"
        ))
        .basic_auth(DEV_ORACLE_USER, Some(DEV_ORACLE_PASSWORD))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["lines"][0]["StatusCode"], "SHIPPED", "{read}");
    assert_eq!(read["lines"][0]["ShippingCarrier"], "UPS");

    let (status, _) = fulfil(&url, key, json!({"status": "paid"})).await;
    assert_eq!(status, 409);
}
