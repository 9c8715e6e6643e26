//! Deal won in HubSpot becomes a NetSuite sales order, end to end over JetStream.
//!
//! Every test starts its own nats-server, sandbox, ingress and deal-to-order
//! processes on free loopback ports.

use std::time::Duration;

use chrono::Utc;
use crmerp_proto::{DeadLetter, EventEnvelope, Message as _, event_envelope::Data};
use crmerp_testkit::hubspot::{DEV_CLIENT_SECRET, DealSpec, deal_stage_webhook, sign_v3};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// Waits until the deal carries an ERP order number and returns it.
async fn wait_for_write_back(stack: &Stack, deal_id: &str) -> anyhow::Result<String> {
    eventually("the order number on the deal", WAIT, || async {
        let props = stack
            .hubspot
            .deal_properties(deal_id, &["erp_order_number"])
            .await
            .ok()?;
        props["erp_order_number"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    })
    .await
}

#[tokio::test]
async fn won_deal_becomes_one_netsuite_order_with_the_number_written_back() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Happy Path"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    let order_number = wait_for_write_back(&stack, &deal.deal_id).await?;
    let external_id = format!("hubspot-deal-{}", deal.deal_id);
    let orders = stack
        .netsuite
        .sales_orders_with_external_id(&external_id)
        .await?;
    assert_eq!(orders.len(), 1, "exactly one order: {orders:?}");
    let order = &orders[0];
    assert_eq!(order["tranId"].as_str(), Some(order_number.as_str()));

    // The order carries both lines with the negotiated prices and the deal's shipping address.
    let lines = order["item"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(lines.len(), 2, "two lines: {order}");
    let rates: Vec<f64> = lines.iter().filter_map(|l| l["rate"].as_f64()).collect();
    assert!(
        rates.contains(&100.0) && rates.contains(&49.5),
        "rates {rates:?}"
    );
    assert_eq!(
        order["shippingAddress"]["city"].as_str(),
        Some("Hamburg"),
        "{order}"
    );

    let props = stack
        .hubspot
        .deal_properties(&deal.deal_id, &["erp_sync_status"])
        .await?;
    assert_eq!(props["erp_sync_status"].as_str(), Some("synced"));
    Ok(())
}

#[tokio::test]
async fn the_same_webhook_delivered_three_times_makes_one_order() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Resent"))
        .await?;
    let url = format!("{}/webhooks/hubspot", stack.ingress_url()?);
    let body = deal_stage_webhook(
        987_654,
        &deal.deal_id,
        "closedwon",
        Utc::now().timestamp_millis(),
    );
    let http = reqwest::Client::new();
    let send = || async {
        let ts = Utc::now().timestamp_millis();
        let signature = sign_v3(DEV_CLIENT_SECRET, &url, &body, ts)?;
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .header("X-HubSpot-Signature-v3", signature)
            .header("X-HubSpot-Request-Timestamp", ts.to_string())
            .body(body.clone())
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "status {}",
            response.status()
        );
        Ok::<Value, anyhow::Error>(response.json().await?)
    };
    let first = send().await?;
    assert_eq!(first["accepted"], 1);
    // Two more, concurrently.
    let (second, third) = tokio::join!(send(), send());
    assert_eq!(second?["duplicates"], 1);
    assert_eq!(third?["duplicates"], 1);

    wait_for_write_back(&stack, &deal.deal_id).await?;
    // Count once every published event is handled and acknowledged: no
    // redelivery can add an order after that.
    stack.wait_worker_drained(Duration::from_secs(30)).await?;
    let orders = stack
        .netsuite
        .sales_orders_with_external_id(&format!("hubspot-deal-{}", deal.deal_id))
        .await?;
    assert_eq!(orders.len(), 1);
    assert_eq!(stack.stream_messages("INBOUND").await?, 1);
    Ok(())
}

#[tokio::test]
async fn rejected_webhooks_get_the_right_status_and_publish_nothing() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let url = format!("{}/webhooks/hubspot", stack.ingress_url()?);
    let http = reqwest::Client::new();
    let body = deal_stage_webhook(1, "42", "closedwon", Utc::now().timestamp_millis());
    let now = Utc::now().timestamp_millis();
    let good = sign_v3(DEV_CLIENT_SECRET, &url, &body, now)?;

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "bad signature",
            http.post(&url)
                .header(
                    "X-HubSpot-Signature-v3",
                    sign_v3("wrong-secret", &url, &body, now)?,
                )
                .header("X-HubSpot-Request-Timestamp", now.to_string())
                .body(body.clone()),
            401,
            "invalid_signature",
        ),
        (
            "missing signature",
            http.post(&url).body(body.clone()),
            401,
            "missing_signature",
        ),
        (
            "stale timestamp",
            {
                let old = now - 6 * 60 * 1000;
                http.post(&url)
                    .header(
                        "X-HubSpot-Signature-v3",
                        sign_v3(DEV_CLIENT_SECRET, &url, &body, old)?,
                    )
                    .header("X-HubSpot-Request-Timestamp", old.to_string())
                    .body(body.clone())
            },
            401,
            "stale_timestamp",
        ),
        (
            "tampered body",
            http.post(&url)
                .header("X-HubSpot-Signature-v3", good.clone())
                .header("X-HubSpot-Request-Timestamp", now.to_string())
                .body(body.replace("closedwon", "closedlost")),
            401,
            "invalid_signature",
        ),
        (
            "malformed body",
            {
                let junk = "{not json";
                http.post(&url)
                    .header(
                        "X-HubSpot-Signature-v3",
                        sign_v3(DEV_CLIENT_SECRET, &url, junk, now)?,
                    )
                    .header("X-HubSpot-Request-Timestamp", now.to_string())
                    .body(junk)
            },
            400,
            "malformed_body",
        ),
        (
            "oversized body",
            {
                let huge = format!("[{}]", "1,".repeat(600_000)) + "1]";
                http.post(&url)
                    .header(
                        "X-HubSpot-Signature-v3",
                        sign_v3(DEV_CLIENT_SECRET, &url, &huge, now)?,
                    )
                    .header("X-HubSpot-Request-Timestamp", now.to_string())
                    .body(huge)
            },
            413,
            "body_too_large",
        ),
    ];
    crmerp_testkit::problems::expect_problems(cases).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        0,
        "nothing published"
    );
    Ok(())
}

#[tokio::test]
async fn a_deal_without_shipping_address_is_dead_lettered_and_flagged() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let mut spec = DealSpec::complete("No Address");
    spec.shipping_address = false;
    let deal = stack.hubspot.create_deal(&spec).await?;
    // The company exists but its address is also removed, so neither source has one.
    if let Some(company_id) = &deal.company_id {
        stack
            .hubspot
            .update_object(
                "companies",
                company_id,
                serde_json::json!({"address": "", "city": "", "zip": "", "country": ""}),
            )
            .await?;
    }
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    let dead_letter = eventually("a dead letter", WAIT, || async {
        let js = stack.jetstream().await.ok()?;
        let stream = js.get_stream("DLQ").await.ok()?;
        let message = stream
            .get_last_raw_message_by_subject("dlq.deal-to-order")
            .await
            .ok()?;
        let envelope = EventEnvelope::decode(message.payload).ok()?;
        match envelope.data {
            Some(Data::DeadLetter(dead_letter)) => Some(dead_letter),
            _ => None,
        }
    })
    .await?;
    let DeadLetter {
        resolution_code,
        error_category,
        original,
        ..
    } = *dead_letter;
    assert_eq!(resolution_code, "add_missing_field:shipping_address");
    assert_eq!(error_category, "missing_data");
    assert!(original.is_some_and(|o| o.subject == format!("hubspot/deal/{}", deal.deal_id)));

    let props = stack
        .hubspot
        .deal_properties(
            &deal.deal_id,
            &["erp_sync_status", "erp_sync_error", "erp_order_number"],
        )
        .await?;
    assert_eq!(props["erp_sync_status"].as_str(), Some("error"), "{props}");
    assert!(
        props["erp_sync_error"]
            .as_str()
            .is_some_and(|s| s.contains("shipping address")),
        "{props}"
    );
    assert!(
        props["erp_order_number"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(
        stack.hubspot.deal_note_ids(&deal.deal_id).await?.len(),
        1,
        "a note explains the failure"
    );
    let orders = stack
        .netsuite
        .sales_orders_with_external_id(&format!("hubspot-deal-{}", deal.deal_id))
        .await?;
    assert!(orders.is_empty());
    Ok(())
}

#[tokio::test]
async fn an_unknown_customer_is_created_then_ordered() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("New Customer"))
        .await?;
    let company_id = deal.company_id.clone().unwrap_or_default();
    let customer_eid = format!("hubspot-company-{company_id}");
    assert!(
        stack
            .netsuite
            .record_by_external_id("customer", &customer_eid)
            .await?
            .is_none()
    );

    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;
    wait_for_write_back(&stack, &deal.deal_id).await?;

    let customer = stack
        .netsuite
        .record_by_external_id("customer", &customer_eid)
        .await?
        .ok_or_else(|| anyhow::anyhow!("customer {customer_eid} was not created"))?;
    assert_eq!(customer["companyName"].as_str(), Some("New Customer GmbH"));
    let orders = stack
        .netsuite
        .sales_orders_with_external_id(&format!("hubspot-deal-{}", deal.deal_id))
        .await?;
    assert_eq!(orders.len(), 1);
    assert_eq!(
        orders[0]["entity"]["id"], customer["id"],
        "the order is for the new customer"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_write_back_is_flagged_on_the_deal_with_the_order_number() -> anyhow::Result<()> {
    // HubSpot refuses the write-back (a property the portal does not have),
    // while the flag's own properties and the note still go through.
    let stack = Stack::start(StackOptions {
        env: vec![(
            "CRMERP__DEAL_TO_ORDER__CRM__HUBSPOT__WRITE_BACK_PROPERTY".into(),
            "erp_order_number_typo".into(),
        )],
        ..StackOptions::default()
    })
    .await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Write-back refused"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    let external_id = format!("hubspot-deal-{}", deal.deal_id);
    let flagged = eventually(
        "the write-back failure flagged on the deal",
        WAIT,
        || async {
            let props = stack
                .hubspot
                .deal_properties(&deal.deal_id, &["erp_sync_status", "erp_sync_error"])
                .await
                .ok()?;
            (props["erp_sync_status"].as_str() == Some("error"))
                .then(|| props["erp_sync_error"].as_str().map(str::to_owned))
                .flatten()
        },
    )
    .await?;
    let orders = stack
        .netsuite
        .sales_orders_with_external_id(&external_id)
        .await?;
    assert_eq!(orders.len(), 1, "the order exists once: {orders:?}");
    let number = orders[0]["tranId"].as_str().unwrap_or_default();
    assert!(
        flagged.contains(&format!("ERP order {number} was created")),
        "the flag names the order so nobody re-enters it: {flagged}"
    );
    assert_eq!(
        stack.hubspot.deal_note_ids(&deal.deal_id).await?.len(),
        1,
        "one note explains the failure"
    );
    Ok(())
}
