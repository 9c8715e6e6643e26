//! Control-plane tests: fault injection, request log, reset and persistence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use common::{Signer, hubspot, netsuite, start};
use crmerp_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{Value, json};

async fn control(base: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = common::client().request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn faults_answer_vendor_errors_until_cleared() {
    let sandbox = start(SandboxConfig::default()).await;
    let hs = sandbox.hubspot_url();
    let (status, _) = control(
        &hs,
        Method::POST,
        "/__sandbox/faults",
        Some(json!({"status": 503})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/deals", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["status"], "error");
    assert!(body["correlationId"].is_string());
    let (_, faults) = control(&hs, Method::GET, "/__sandbox/faults", None).await;
    assert_eq!(faults["fault"]["status"], 503);
    assert_eq!(faults["injected"], 1);
    control(&hs, Method::DELETE, "/__sandbox/faults", None).await;
    let (status, _) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/deals", None).await;
    assert_eq!(status, StatusCode::OK);

    // 429 with Retry-After, limited by prefix and count.
    control(
        &hs,
        Method::POST,
        "/__sandbox/faults",
        Some(json!({"status": 429, "retry_after_secs": 7, "path_prefix": "/crm/v3/objects/deals", "count": 1})),
    )
    .await;
    let (status, _) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/companies", None).await;
    assert_eq!(status, StatusCode::OK, "other prefixes unaffected");
    let response = common::client()
        .get(format!("{hs}/crm/v3/objects/deals"))
        .bearer_auth(common::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["category"], "RATE_LIMITS");
    let (status, _) = hubspot(&sandbox, Method::GET, "/crm/v3/objects/deals", None).await;
    assert_eq!(status, StatusCode::OK, "count exhausted");

    // NetSuite: 429 CONCURRENCY_LIMIT_EXCEEDED, then a dropped connection.
    let ns = sandbox.netsuite_url();
    control(
        &ns,
        Method::POST,
        "/__sandbox/faults",
        Some(json!({"status": 429, "count": 1})),
    )
    .await;
    let signer = Signer::dev();
    let response = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        "/services/rest/record/v1/customer",
        None,
    )
    .await;
    assert_eq!(response.status().as_u16(), 429);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["o:errorDetails"][0]["o:errorCode"],
        "CONCURRENCY_LIMIT_EXCEEDED"
    );
    control(
        &ns,
        Method::POST,
        "/__sandbox/faults",
        Some(json!({"status": 0, "count": 1})),
    )
    .await;
    let url = format!("{ns}/services/rest/record/v1/customer");
    let dropped = common::client()
        .get(&url)
        .header("Authorization", signer.header("GET", &url))
        .send()
        .await;
    assert!(dropped.is_err(), "connection dropped without a response");
    let response = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        "/services/rest/record/v1/customer",
        None,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);

    // The request log counts calls per path and method.
    let (_, log) = control(
        &ns,
        Method::GET,
        "/__sandbox/requests?path_prefix=/services/rest/record/v1/customer&method=GET",
        None,
    )
    .await;
    let statuses: Vec<u64> = log["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [429, 0, 200]);
    let (status, _) = control(
        &ns,
        Method::POST,
        "/__sandbox/faults",
        Some(json!({"status": 42})),
    )
    .await;
    assert_eq!(status, 400);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_survives_a_restart_and_reset_clears_it() {
    let dir = std::env::temp_dir().join(format!("crmerp-sandbox-test-{}", uuid::Uuid::new_v4()));
    let config = || SandboxConfig {
        state_dir: Some(dir.clone()),
        ..SandboxConfig::default()
    };
    let signer = Signer::dev();

    let sandbox = start(config()).await;
    let (_, deal) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals",
        Some(json!({"properties": {"dealname": "Persisted"}})),
    )
    .await;
    let deal_id = deal["id"].as_str().unwrap().to_owned();
    let response = netsuite(
        &sandbox,
        &signer,
        Method::POST,
        "/services/rest/record/v1/customer",
        Some(json!({"companyName": "Kept", "externalId": "keep-1"})),
    )
    .await;
    assert_eq!(response.status().as_u16(), 204);
    sandbox.shutdown().await.unwrap();
    assert!(dir.join("hubspot.json").exists());
    assert!(dir.join("netsuite.json").exists());

    let sandbox = start(config()).await;
    let (status, deal) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v3/objects/deals/{deal_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deal["properties"]["dealname"], "Persisted");
    let response = netsuite(
        &sandbox,
        &signer,
        Method::GET,
        "/services/rest/record/v1/customer/eid:keep-1",
        None,
    )
    .await;
    assert_eq!(response.status().as_u16(), 200);
    // Counters survive too: the next deal gets a new id.
    let (_, next) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals",
        Some(json!({"properties": {"dealname": "Next"}})),
    )
    .await;
    assert_ne!(next["id"], deal["id"]);

    let (_, state) = control(
        &sandbox.netsuite_url(),
        Method::GET,
        "/__sandbox/state",
        None,
    )
    .await;
    assert_eq!(state["records"]["customer"].as_object().unwrap().len(), 1);
    let (status, _) = control(
        &sandbox.hubspot_url(),
        Method::POST,
        "/__sandbox/reset",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = hubspot(
        &sandbox,
        Method::GET,
        &format!("/crm/v3/objects/deals/{deal_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sandbox.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
