//! NetSuite simulator tests: TBA auth, records, external ids, queries and errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Signer, netsuite, start};
use crmerp_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

const RECORDS: &str = "/services/rest/record/v1";

async fn created_id(response: reqwest::Response, record: &str) -> String {
    assert_eq!(
        response.status().as_u16(),
        204,
        "{:?}",
        response.text().await
    );
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let prefix = format!("{RECORDS}/{record}/");
    let id = location
        .split(&prefix)
        .nth(1)
        .expect("location has the record path")
        .to_owned();
    assert!(id.parse::<u64>().is_ok());
    assert!(response.text().await.unwrap().is_empty());
    id
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn creates_and_reads_items_customers_and_orders() {
    let sandbox = start(SandboxConfig::default()).await;
    let signer = Signer::dev();
    let item = netsuite(
        &sandbox,
        &signer,
        Method::POST,
        &format!("{RECORDS}/inventoryItem"),
        Some(json!({"itemId": "SKU-1", "displayName": "Widget", "basePrice": 10, "externalId": "item-1"})),
    )
    .await;
    let item_id = created_id(item, "inventoryItem").await;
    let customer = netsuite(
        &sandbox,
        &signer,
        Method::POST,
        &format!("{RECORDS}/customer"),
        Some(
            json!({"companyName": "Acme", "email": "ap@acme.test", "externalId": "hs-company-1",
                    "subsidiary": {"id": "1"}}),
        ),
    )
    .await;
    let customer_id = created_id(customer, "customer").await;
    let order = netsuite(
        &sandbox,
        &signer,
        Method::POST,
        &format!("{RECORDS}/salesOrder"),
        Some(json!({
            "entity": {"id": customer_id},
            "externalId": "hs-deal-1",
            "tranDate": "2025-01-31",
            "otherRefNum": "PO-9",
            "item": {"items": [
                {"item": {"id": item_id}, "quantity": 2, "rate": 10},
                {"item": {"id": item_id}, "quantity": 1, "rate": 2.5, "description": "Extra"}
            ]},
            "shippingAddress": {"addressee": "Acme", "addr1": "1 Main St", "city": "Springfield",
                                "state": "IL", "zip": "62701", "country": "US"}
        })),
    )
    .await;
    let order_id = created_id(order, "salesOrder").await;

    // Read by external id (URL-encoded colon).
    let response = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        &format!("{RECORDS}/salesOrder/eid%3Ahs-deal-1"),
        None,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    let so: Value = response.json().await.unwrap();
    assert_eq!(so["id"], order_id.as_str());
    assert_eq!(so["tranId"], "SO1001");
    assert_eq!(so["total"], 22.5);
    assert_eq!(so["status"], "Pending Fulfillment");
    assert_eq!(so["entity"]["id"], customer_id.as_str());
    assert!(
        so["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/salesOrder/{order_id}"))
    );
    assert!(so["item"]["items"].is_null(), "sublist collapsed to links");
    assert!(so["item"]["links"].is_array());
    assert!(so["createdDate"].is_string() && so["lastModifiedDate"].is_string());

    let expanded: Value = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        &format!("{RECORDS}/salesOrder/{order_id}?expandSubResources=true"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let lines = expanded["item"]["items"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["amount"], 20.0);
    assert_eq!(lines[0]["item"]["id"], item_id.as_str());
    assert_eq!(expanded["shippingAddress"]["city"], "Springfield");

    let fields: Value = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        &format!("{RECORDS}/customer/{customer_id}?fields=companyName"),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(fields["companyName"], "Acme");
    assert!(fields.get("email").is_none());

    // PATCH then upsert by external id.
    let patched = netsuite(
        &sandbox,
        &signer,
        Method::PATCH,
        &format!("{RECORDS}/customer/{customer_id}"),
        Some(json!({"phone": "555-0100"})),
    )
    .await;
    assert_eq!(patched.status().as_u16(), 204);
    let upserted = netsuite(
        &sandbox,
        &signer,
        Method::PUT,
        &format!("{RECORDS}/customer/eid:hs-company-2"),
        Some(json!({"companyName": "Beta"})),
    )
    .await;
    let beta_id = created_id(upserted, "customer").await;
    let again = netsuite(
        &sandbox,
        &signer,
        Method::PUT,
        &format!("{RECORDS}/customer/eid:hs-company-2"),
        Some(json!({"companyName": "Beta Ltd"})),
    )
    .await;
    assert_eq!(created_id(again, "customer").await, beta_id);

    // Queries.
    let query = |q: &str| format!("{RECORDS}/customer?q={}", urlencode(q));
    for (q, expected) in [
        ("companyName IS \"Acme\"", vec![customer_id.clone()]),
        ("companyName START_WITH \"Be\"", vec![beta_id.clone()]),
        (
            "externalId ANY_OF [\"hs-company-1\", \"hs-company-2\"]",
            vec![customer_id.clone(), beta_id.clone()],
        ),
        (
            "email IS \"ap@acme.test\" OR companyName IS \"Beta Ltd\"",
            vec![customer_id.clone(), beta_id.clone()],
        ),
        ("companyName IS_NOT \"Acme\"", vec![beta_id.clone()]),
    ] {
        let response = netsuite(&sandbox, &signer, Method::GET, &query(q), None).await;
        assert_eq!(response.status().as_u16(), 200, "{q}");
        let body: Value = response.json().await.unwrap();
        let ids: Vec<String> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, expected, "{q}");
        assert_eq!(body["totalResults"], expected.len());
        assert_eq!(body["hasMore"], false);
    }
    let body: Value = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        &format!(
            "{RECORDS}/inventoryItem?q={}&limit=5&offset=0",
            urlencode("basePrice GREATER 5")
        ),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["count"], 1);
    assert_eq!(body["offset"], 0);
    let (status, error) = error_of(
        netsuite(
            &sandbox,
            &signer,
            Method::GET,
            &query("companyName LIKE \"A%\""),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        error["o:errorDetails"][0]["o:errorCode"],
        "INVALID_PARAMETER"
    );
    sandbox.shutdown().await.unwrap();
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn rejects_invalid_records_and_bad_logins() {
    let sandbox = start(SandboxConfig::default()).await;
    let signer = Signer::dev();
    let post = |record: &'static str, body: Value| {
        let sandbox = &sandbox;
        let signer = &signer;
        async move {
            netsuite(
                sandbox,
                signer,
                Method::POST,
                &format!("{RECORDS}/{record}"),
                Some(body),
            )
            .await
        }
    };
    let customer_id = created_id(
        post(
            "customer",
            json!({"companyName": "Acme", "externalId": "c1"}),
        )
        .await,
        "customer",
    )
    .await;

    let (status, error) = error_of(
        post(
            "customer",
            json!({"companyName": "Other", "externalId": "c1"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(error["title"], "Bad Request");
    assert_eq!(error["status"], 400);
    assert_eq!(
        error["type"],
        "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"
    );
    assert_eq!(error["o:errorDetails"][0]["o:errorCode"], "USER_ERROR");
    assert!(
        error["o:errorDetails"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("c1")
    );

    let (status, error) = error_of(post("customer", json!({"email": "x@y.z"})).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["o:errorDetails"][0]["detail"],
        "Please enter value(s) for: Company Name."
    );

    let order = |item: Value, entity: &str| json!({"entity": {"id": entity}, "item": {"items": [{"item": item, "quantity": 1, "rate": 1}]}});
    let (status, error) =
        error_of(post("salesOrder", order(json!({"id": "999"}), &customer_id)).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["o:errorDetails"][0]["o:errorCode"],
        "INVALID_KEY_OR_REF"
    );
    assert_eq!(
        error["o:errorDetails"][0]["detail"],
        "Invalid item reference key 999."
    );

    let item_id = created_id(
        post("inventoryItem", json!({"itemId": "SKU-9"})).await,
        "inventoryItem",
    )
    .await;
    let (status, error) =
        error_of(post("salesOrder", order(json!({"id": item_id}), "999")).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        error["o:errorDetails"][0]["detail"],
        "Invalid entity reference key 999."
    );
    let (status, error) = error_of(
        post(
            "salesOrder",
            json!({"entity": {"id": customer_id}, "item": {"items": []}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        error["o:errorDetails"][0]["detail"],
        "You must enter at least one line item for this transaction."
    );
    let (status, _) = error_of(post("inventoryItem", json!({"itemId": "sku-9"})).await).await;
    assert_eq!(status, 400, "item names are unique");

    let (status, error) = error_of(
        netsuite(
            &sandbox,
            &signer,
            Method::GET,
            &format!("{RECORDS}/customer/424242"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(error["o:errorDetails"][0]["o:errorCode"], "NONEXISTENT_ID");

    // Bad secret, wrong realm, missing header: 401 INVALID_LOGIN.
    let bad_secret = Signer {
        token_secret: "nope".into(),
        ..Signer::dev()
    };
    let wrong_realm = Signer {
        realm: "7654321".into(),
        ..Signer::dev()
    };
    for signer in [bad_secret, wrong_realm] {
        let (status, error) = error_of(
            netsuite(
                &sandbox,
                &signer,
                Method::GET,
                &format!("{RECORDS}/customer"),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(error["title"], "Unauthorized");
        assert_eq!(error["o:errorDetails"][0]["o:errorCode"], "INVALID_LOGIN");
    }
    let response = common::client()
        .get(format!("{}{RECORDS}/customer", sandbox.netsuite_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    // A replayed request (same nonce) is rejected.
    let url = format!("{}{RECORDS}/customer", sandbox.netsuite_url());
    let header = Signer::dev().header("GET", &url);
    let first = common::client()
        .get(&url)
        .header("Authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 200);
    let replay = common::client()
        .get(&url)
        .header("Authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status().as_u16(), 401);
    sandbox.shutdown().await.unwrap();
}
