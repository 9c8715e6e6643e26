//! HubSpot webhook tests: signatures, ordering and retries.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::StatusCode;
use base64::Engine as _;
use common::{hubspot, receiver, start};
use crmerp_sandbox::SandboxConfig;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SECRET: &str = "dev-hubspot-client-secret";

fn v3_signature(method: &str, url: &str, body: &[u8], timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(method.as_bytes());
    mac.update(url.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn header<'a>(received: &'a common::Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn dealstage_change_emits_signed_webhooks() {
    let mut hook = receiver(0).await;
    let mut config = SandboxConfig::default();
    config.hubspot.webhooks.target_url = Some(hook.url.clone());
    let sandbox = start(config).await;

    let (_, deal) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals",
        Some(json!({"properties": {"dealname": "Hooked", "dealstage": "appointmentscheduled"}})),
    )
    .await;
    let deal_id: u64 = deal["id"].as_str().unwrap().parse().unwrap();
    let (status, _) = hubspot(
        &sandbox,
        Method::PATCH,
        &format!("/crm/v3/objects/deals/{deal_id}"),
        Some(json!({"properties": {"dealstage": "closedwon"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let expected = [
        ("deal.creation", None),
        ("deal.propertyChange", Some("appointmentscheduled")),
        ("deal.propertyChange", Some("closedwon")),
    ];
    // HubSpot batches events that wait together into one array: read them
    // request by request, checking every request's headers and signatures.
    let mut events: Vec<Value> = Vec::new();
    while events.len() < expected.len() {
        let received = hook.next().await;
        assert_eq!(header(&received, "content-type"), "application/json");
        assert_eq!(
            header(&received, "user-agent"),
            "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)"
        );
        // v1: hex SHA-256 of secret + body.
        let mut hasher = Sha256::new();
        hasher.update(SECRET.as_bytes());
        hasher.update(&received.body);
        assert_eq!(
            header(&received, "x-hubspot-signature"),
            hex::encode(hasher.finalize())
        );
        assert_eq!(header(&received, "x-hubspot-signature-version"), "v1");
        // v3: Base64 HMAC-SHA256 of POST + URL + body + timestamp.
        let timestamp = header(&received, "x-hubspot-request-timestamp");
        assert_eq!(
            header(&received, "x-hubspot-signature-v3"),
            v3_signature("POST", &hook.url, &received.body, timestamp)
        );
        let batch: Value = serde_json::from_slice(&received.body).unwrap();
        events.extend(batch.as_array().unwrap().iter().cloned());
    }
    assert_eq!(events.len(), expected.len());
    for (event, (subscription_type, stage)) in events.iter().zip(expected) {
        assert_eq!(event["subscriptionType"], subscription_type);
        assert_eq!(event["objectId"], deal_id);
        assert_eq!(event["portalId"], 62515);
        assert_eq!(event["appId"], 1_160_452);
        assert_eq!(event["attemptNumber"], 0);
        if let Some(stage) = stage {
            assert_eq!(event["propertyName"], "dealstage");
            assert_eq!(event["propertyValue"], stage);
            assert_eq!(event["changeFlag"], "UPDATED");
        }
    }

    // A PATCH that leaves the stage alone sends nothing.
    hubspot(
        &sandbox,
        Method::PATCH,
        &format!("/crm/v3/objects/deals/{deal_id}"),
        Some(json!({"properties": {"dealname": "Renamed"}})),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(hook.received.try_recv().is_err());
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn failing_receiver_is_retried_with_same_event_id() {
    let mut hook = receiver(2).await;
    let sandbox = start(SandboxConfig::default()).await;
    // Configure the target at runtime, v3 only.
    let response = common::client()
        .put(format!("{}/__sandbox/webhooks", sandbox.hubspot_url()))
        .json(&json!({"target_url": hook.url, "signature": "v3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);

    let (_, deal) = hubspot(
        &sandbox,
        Method::POST,
        "/crm/v3/objects/deals",
        Some(json!({"properties": {"dealname": "Retry"}})),
    )
    .await;
    assert!(deal["id"].is_string());
    let mut seen = Vec::new();
    for _ in 0..3 {
        let received = hook.next().await;
        assert!(
            received.headers.get("x-hubspot-signature").is_none(),
            "v3 only"
        );
        let timestamp = header(&received, "x-hubspot-request-timestamp").to_owned();
        assert_eq!(
            header(&received, "x-hubspot-signature-v3"),
            v3_signature("POST", &hook.url, &received.body, &timestamp)
        );
        let events: Value = serde_json::from_slice(&received.body).unwrap();
        seen.push((
            events[0]["eventId"].as_u64().unwrap(),
            events[0]["attemptNumber"].as_u64().unwrap(),
            timestamp,
        ));
    }
    assert!(seen.iter().all(|(event_id, _, _)| *event_id == seen[0].0));
    assert_eq!(
        seen.iter()
            .map(|(_, attempt, _)| *attempt)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );

    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let log: Value = common::client()
        .get(format!(
            "{}/__sandbox/webhooks/deliveries",
            sandbox.hubspot_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert_eq!(deliveries[0]["status"], 500);
    assert_eq!(deliveries[2]["delivered"], true);
    sandbox.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_stage_changes_arrive_in_order_per_deal() {
    let mut hook = receiver(0).await;
    let mut config = SandboxConfig::default();
    config.hubspot.webhooks.target_url = Some(hook.url.clone());
    config.hubspot.webhooks.signature = crmerp_sandbox::SignatureMode::V1;
    let sandbox = std::sync::Arc::new(start(config).await);
    let stages = ["s1", "s2", "s3", "s4", "s5", "s6"];
    let mut deal_ids = Vec::new();
    for n in 0..4 {
        let (_, deal) = hubspot(
            &sandbox,
            Method::POST,
            "/crm/v3/objects/deals",
            Some(json!({"properties": {"dealname": format!("D{n}")}})),
        )
        .await;
        deal_ids.push(deal["id"].as_str().unwrap().to_owned());
    }
    let tasks: Vec<_> = deal_ids
        .iter()
        .cloned()
        .map(|deal_id| {
            let sandbox = std::sync::Arc::clone(&sandbox);
            tokio::spawn(async move {
                for stage in stages {
                    let (status, _) = hubspot(
                        &sandbox,
                        Method::PATCH,
                        &format!("/crm/v3/objects/deals/{deal_id}"),
                        Some(json!({"properties": {"dealstage": stage}})),
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut per_deal: std::collections::HashMap<u64, Vec<String>> = Default::default();
    // 4 creations + 4 * 6 stage changes, in batches.
    let mut count = 0;
    while count < 4 + 4 * stages.len() {
        let received = hook.next().await;
        assert_eq!(
            received.headers["x-hubspot-signature-version"]
                .to_str()
                .unwrap(),
            "v1"
        );
        assert!(received.headers.get("x-hubspot-signature-v3").is_none());
        let events: Value = serde_json::from_slice(&received.body).unwrap();
        for event in events.as_array().unwrap() {
            count += 1;
            if event["subscriptionType"] == "deal.propertyChange" {
                per_deal
                    .entry(event["objectId"].as_u64().unwrap())
                    .or_default()
                    .push(event["propertyValue"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(count, 4 + 4 * stages.len(), "no event twice");
    assert_eq!(per_deal.len(), 4);
    for values in per_deal.values() {
        assert_eq!(values, &stages);
    }
}

/// Events that wait while a delivery is retried go out together, at most
/// `max_events_per_request` in one array, still in the order they happened.
#[tokio::test]
async fn waiting_events_are_batched_up_to_the_limit() {
    let mut hook = receiver(1).await;
    let mut config = SandboxConfig::default();
    config.hubspot.webhooks.target_url = Some(hook.url.clone());
    config.hubspot.webhooks.max_events_per_request = 3;
    let sandbox = start(config).await;
    let mut created = Vec::new();
    for n in 0..7 {
        let (_, deal) = hubspot(
            &sandbox,
            Method::POST,
            "/crm/v3/objects/deals",
            Some(json!({"properties": {"dealname": format!("B{n}")}})),
        )
        .await;
        created.push(deal["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    let mut sizes = Vec::new();
    let mut delivered: Vec<u64> = Vec::new();
    // The first request fails and is repeated as it was.
    let first = hook.next().await;
    while delivered.len() < created.len() {
        let received = hook.next().await;
        let events: Value = serde_json::from_slice(&received.body).unwrap();
        let events = events.as_array().unwrap();
        sizes.push(events.len());
        delivered.extend(events.iter().map(|e| e["objectId"].as_u64().unwrap()));
    }
    let retried: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(
        retried.as_array().unwrap().len(),
        sizes[0],
        "a retry repeats its batch"
    );
    assert_eq!(delivered, created, "in order, each once");
    assert!(sizes.iter().all(|n| *n <= 3), "{sizes:?}");
    assert!(
        sizes.iter().any(|n| *n > 1),
        "waiting events share a request: {sizes:?}"
    );
    sandbox.shutdown().await.unwrap();
}
