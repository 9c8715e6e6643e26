//! Nothing lost, nothing doubled: fault injection over real processes.
//!
//! Each test runs its own nats-server, sandbox, ingress and deal-to-order, with
//! the real retry schedule compressed to milliseconds, and ends by checking that
//! every accepted deal has exactly one ERP order, that the number written back
//! is that order's, and that the ERP answered exactly one successful create per
//! deal. Crash, kill, redelivery and requeue scenarios run against Business
//! Central and SAP, whose simulators (like the real systems) store a second
//! order with the same reference instead of refusing it, so a doubled create
//! shows as a doubled order; NetSuite refuses duplicates and would hide one.

use std::time::Duration;

use crmerp_proto::{DeadLetterClass, OutcomeStatus, event_envelope::Data};
use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(90);

/// The ERP of the duplicate-sensitive scenarios: it does not enforce unique references.
const NON_UNIQUE_ERP: &str = "businesscentral";

fn options(env: &[(&str, &str)]) -> StackOptions {
    options_on("netsuite", env)
}

fn options_on(erp: &'static str, env: &[(&str, &str)]) -> StackOptions {
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.push(("CRMERP__FLOW__PROBE_INTERVAL".into(), "200ms".into()));
    StackOptions {
        env,
        erp,
        ..StackOptions::default()
    }
}

/// Waits until every deal has its order number written back.
async fn wait_all_written_back(stack: &Stack, deal_ids: &[String]) -> anyhow::Result<()> {
    eventually("every deal written back", WAIT, || async {
        for id in deal_ids {
            stack.crm.erp_order_number(id).await.ok().flatten()?;
        }
        Some(())
    })
    .await
}

async fn win_all(stack: &Stack, deal_ids: &[String]) -> anyhow::Result<()> {
    for id in deal_ids {
        stack.crm.win(id).await?;
    }
    Ok(())
}

#[tokio::test]
async fn erp_outage_pauses_the_flow_and_every_deal_gets_one_order_after_recovery()
-> anyhow::Result<()> {
    let stack = Stack::start(options(&[("CRMERP__FLOW__BREAKER_THRESHOLD", "3")])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Outage", 200)
        .await?;
    stack
        .inject_fault("netsuite", json!({"status": 503, "rate": 1.0}))
        .await?;
    win_all(&stack, &deals).await?;

    // The breaker opens and the flow stops calling NetSuite instead of burning retries.
    let opened = eventually("breaker opened", WAIT, || async {
        let outcomes = stack.stream_envelopes("OUTCOMES").await.ok()?;
        outcomes.into_iter().find(
            |e| matches!(&e.data, Some(Data::BreakerChange(b)) if b.open && b.system == "netsuite"),
        )
    })
    .await?;
    assert!(opened.id.contains("breaker_opened"));
    let during = stack
        .vendor_requests("netsuite", "POST", "/services/rest/record/v1/salesOrder")
        .await?;
    // Positive control: the paused flow is alive and probing (every 200 ms).
    let probes = stack.vendor_requests("netsuite", "GET", "/").await?;
    eventually("three more probes while paused", WAIT, || async {
        let now = stack.vendor_requests("netsuite", "GET", "/").await.ok()?;
        (now >= probes + 3).then_some(())
    })
    .await?;
    let later = stack
        .vendor_requests("netsuite", "POST", "/services/rest/record/v1/salesOrder")
        .await?;
    assert_eq!(during, later, "no order creation attempts while paused");
    assert!(
        stack.dead_letters().await?.is_empty(),
        "an outage dead-letters nothing"
    );

    stack.clear_fault("netsuite").await?;
    wait_all_written_back(&stack, &deals).await?;
    stack.assert_one_order_per_deal(&deals).await
}

#[tokio::test]
async fn rate_limited_erp_is_retried_after_retry_after() -> anyhow::Result<()> {
    let stack = Stack::start(options(&[])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Throttled", 20)
        .await?;
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 429, "rate": 1.0, "retry_after_secs": 1, "count": 8}),
        )
        .await?;
    win_all(&stack, &deals).await?;
    wait_all_written_back(&stack, &deals).await?;
    stack.assert_one_order_per_deal(&deals).await?;
    let retries: Vec<_> = stack
        .stream_envelopes("OUTCOMES")
        .await?
        .into_iter()
        .filter_map(|e| match e.data {
            Some(Data::Outcome(o)) if o.status == OutcomeStatus::RetryScheduled as i32 => Some(o),
            _ => None,
        })
        .collect();
    assert!(!retries.is_empty(), "429s were retried");
    // The schedule says 100 ms; the vendor's Retry-After of 1 s wins.
    assert!(
        retries.iter().all(|o| o.next_retry_ms >= 1000),
        "{retries:?}"
    );
    assert!(stack.dead_letters().await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn killing_the_worker_mid_batch_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let mut stack = Stack::start(options_on(NON_UNIQUE_ERP, &[])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Killed", 60)
        .await?;
    // Slow the ERP down so the kill lands with work in flight.
    stack
        .inject_fault(
            NON_UNIQUE_ERP,
            json!({"status": 200, "rate": 1.0, "latency_ms": 50}),
        )
        .await?;
    win_all(&stack, &deals).await?;
    eventually("some orders created", WAIT, || async {
        let n = stack.effective_order_creates().await.ok()??;
        (n >= 5).then_some(())
    })
    .await?;
    if let Some(worker) = stack.worker.as_mut() {
        worker.kill().await?;
    }
    stack.start_worker().await?;
    stack.clear_fault(NON_UNIQUE_ERP).await?;
    wait_all_written_back(&stack, &deals).await?;
    stack.assert_one_order_per_deal(&deals).await
}

#[tokio::test]
async fn killing_nats_while_webhooks_arrive_keeps_every_accepted_event() -> anyhow::Result<()> {
    let mut stack = Stack::start(options_on(NON_UNIQUE_ERP, &[])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Broker", 40)
        .await?;
    let mut refused = Vec::new();
    for (n, deal_id) in deals.iter().enumerate() {
        if n == 15 {
            stack.nats.kill().await?;
        }
        if n == 25 {
            stack.nats.restart().await?;
        }
        let status = post_won(&stack, deal_id, n).await?;
        if !(200..300).contains(&status) {
            assert!(status == 503 || status == 0, "unexpected status {status}");
            refused.push(n);
        }
    }
    assert!(
        refused.iter().any(|n| (15..25).contains(n)),
        "some webhooks hit the outage"
    );
    assert!(
        refused.iter().all(|n| *n >= 15),
        "nothing is refused before the outage"
    );
    // As a CRM does: re-send every refused webhook until ingress takes it
    // (ingress reconnects with backoff, so the first posts after the restart
    // may still be refused).
    for n in refused {
        let deal_id = &deals[n];
        eventually("a refused webhook is taken on re-send", WAIT, || async {
            let status = post_won(&stack, deal_id, n).await.ok()?;
            (200..300).contains(&status).then_some(())
        })
        .await?;
    }
    // A webhook that got no answer may also have been stored: every deal
    // must end with exactly one order either way.
    wait_all_written_back(&stack, &deals).await?;
    stack.wait_worker_drained(WAIT).await?;
    stack.assert_one_order_per_deal(&deals).await
}

/// Posts the `n`-th deal's won webhook (same event id and time on every re-send).
async fn post_won(stack: &Stack, deal_id: &str, n: usize) -> anyhow::Result<u16> {
    stack
        .post_deal_won(deal_id, 10_000 + n as u64, 1_700_000_000_000 + n as i64)
        .await
}

#[tokio::test]
async fn a_crash_between_erp_create_and_write_back_ends_with_one_business_central_order()
-> anyhow::Result<()> {
    crash_window("after_erp_create", "businesscentral").await
}

#[tokio::test]
async fn a_crash_between_erp_create_and_write_back_ends_with_one_sap_order() -> anyhow::Result<()> {
    crash_window("after_erp_create", "s4hana").await
}

#[tokio::test]
async fn a_crash_between_write_back_and_ack_ends_with_one_order() -> anyhow::Result<()> {
    crash_window("before_ack", NON_UNIQUE_ERP).await
}

/// The worker aborts at `point` once; the restarted worker must not create again.
/// After `after_erp_create` the crashed holder's claim expires (the stack's
/// claim TTL) and the new holder finds the order by its reference.
async fn crash_window(point: &str, erp: &'static str) -> anyhow::Result<()> {
    let marker = tempfile_path(point);
    let mut stack = Stack::start(options_on(
        erp,
        &[
            ("CRMERP_CRASH_POINT", point),
            ("CRMERP_CRASH_MARKER", marker.as_str()),
        ],
    ))
    .await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete(&format!("Crash {point}")))
        .await?;
    stack.crm.win(&deal.deal_id).await?;
    eventually("the injected crash", WAIT, || async {
        std::fs::metadata(&marker).ok()
    })
    .await?;
    if let Some(worker) = stack.worker.as_mut() {
        // Reap the aborted process.
        let _ = worker.kill().await;
    }
    stack.start_worker().await?;
    let deals = vec![deal.deal_id];
    wait_all_written_back(&stack, &deals).await?;
    stack.assert_one_order_per_deal(&deals).await?;
    // Positive control: the event really came back after the crash and succeeded.
    eventually("a successful redelivery", WAIT, || async {
        let outcomes = stack.stream_envelopes("OUTCOMES").await.ok()?;
        outcomes.into_iter().find(|e| {
            matches!(&e.data, Some(Data::Outcome(o)) if o.status == OutcomeStatus::Succeeded as i32 && o.attempt >= 2)
        })
    })
    .await?;
    stack.assert_one_order_per_deal(&deals).await?;
    let _ = std::fs::remove_file(&marker);
    Ok(())
}

fn tempfile_path(point: &str) -> String {
    std::env::temp_dir()
        .join(format!(
            "crmerp-crash-{point}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
        ))
        .display()
        .to_string()
}

#[tokio::test]
async fn each_webhook_delivered_several_times_concurrently_makes_one_order() -> anyhow::Result<()> {
    let stack = Stack::start(options_on(NON_UNIQUE_ERP, &[])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Storm", 20)
        .await?;
    // Per deal: three re-sends of one notice (same Nats-Msg-Id, de-duplicated by
    // JetStream) and three notices with new event times (new ids, so the worker's
    // own idempotency must hold).
    let notices: Vec<(String, u64, i64)> = deals
        .iter()
        .enumerate()
        .flat_map(|(n, deal_id)| {
            (0..6).map(move |copy| {
                let time = if copy < 3 { 0 } else { copy as i64 };
                (
                    deal_id.clone(),
                    50_000 + n as u64,
                    1_700_000_000_000 + (n as i64) * 10 + time,
                )
            })
        })
        .collect();
    stack.post_deals_won_at_once(&notices).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        (deals.len() * 4) as u64,
        "same-id re-sends are de-duplicated, new ids are not"
    );
    wait_all_written_back(&stack, &deals).await?;
    stack.wait_worker_drained(WAIT).await?;
    stack.assert_one_order_per_deal(&deals).await
}

#[tokio::test]
async fn poison_and_invalid_events_are_dead_lettered_while_good_ones_flow() -> anyhow::Result<()> {
    let stack = Stack::start(options(&[])).await?;
    let good = stack
        .hubspot
        .create_deals_for_one_company("Good", 5)
        .await?;
    let mut bad_spec = DealSpec::complete("No lines");
    bad_spec.lines.clear();
    let bad = stack.hubspot.create_deal(&bad_spec).await?;

    let js = stack.jetstream().await?;
    js.publish(
        "inbound.crm.deal.won.hubspot",
        b"\xff\x00 not a protobuf envelope".as_ref().into(),
    )
    .await?
    .await?;
    stack.crm.win(&bad.deal_id).await?;
    win_all(&stack, &good).await?;

    wait_all_written_back(&stack, &good).await?;
    stack.assert_one_order_per_deal(&good).await?;
    let dead = eventually("two dead letters", WAIT, || async {
        let dead = stack.dead_letters().await.ok()?;
        (dead.len() == 2).then_some(dead)
    })
    .await?;
    let poison = dead
        .iter()
        .find(|d| d.class == DeadLetterClass::Poison as i32)
        .expect("poison dead letter");
    assert_eq!(poison.resolution_code, "discard_or_fix_producer");
    assert!(!poison.raw_payload.is_empty(), "the raw bytes are kept");
    let invalid = dead
        .iter()
        .find(|d| d.class == DeadLetterClass::Permanent as i32)
        .expect("invalid dead letter");
    assert_eq!(invalid.resolution_code, "add_missing_field:line_items");
    Ok(())
}

#[tokio::test]
async fn exhausted_retries_dead_letter_after_exactly_max_deliver_attempts() -> anyhow::Result<()> {
    // A high breaker threshold keeps the flow running so the retries are used up.
    let stack = Stack::start(options(&[("CRMERP__FLOW__BREAKER_THRESHOLD", "1000")])).await?;
    stack
        .inject_fault("netsuite", json!({"status": 503, "rate": 1.0}))
        .await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Exhausted"))
        .await?;
    stack.crm.win(&deal.deal_id).await?;
    let dead = eventually("the dead letter", WAIT, || async {
        stack.dead_letters().await.ok()?.into_iter().next()
    })
    .await?;
    assert_eq!(dead.class, DeadLetterClass::Exhausted as i32);
    let attempts: Vec<u32> = dead.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(
        attempts,
        vec![1, 2, 3, 4, 5, 6],
        "every attempt recorded, max_deliver = 6"
    );
    assert!(dead.attempts.iter().all(|a| a.http_status == 503));
    assert_eq!(dead.resolution_code, "retry_when_available:netsuite");
    assert!(
        !dead.error_detail.is_empty(),
        "NetSuite's error body is kept"
    );
    // No more deliveries after the last attempt: the message was terminated, so
    // the consumer holds nothing pending, in flight or awaiting redelivery.
    stack.wait_worker_drained(WAIT).await?;
    let props = stack
        .hubspot
        .deal_properties(&deal.deal_id, &["erp_sync_status"])
        .await?;
    assert_eq!(
        props["erp_sync_status"].as_str(),
        Some("error"),
        "the deal is flagged on the last attempt"
    );
    Ok(())
}

#[tokio::test]
async fn requeue_of_a_corrected_dead_letter_creates_the_order_exactly_once() -> anyhow::Result<()> {
    let stack = Stack::start(options_on(NON_UNIQUE_ERP, &[])).await?;
    let mut spec = DealSpec::complete("Corrected");
    spec.shipping_address = false;
    let deal = stack.hubspot.create_deal(&spec).await?;
    if let Some(company_id) = &deal.company_id {
        stack
            .hubspot
            .update_object(
                "companies",
                company_id,
                json!({"address": "", "city": "", "zip": "", "country": ""}),
            )
            .await?;
    }
    stack.crm.win(&deal.deal_id).await?;
    let dlq = eventually("the dead letter", WAIT, || async {
        stack
            .stream_envelopes("DLQ")
            .await
            .ok()?
            .into_iter()
            .find(|e| matches!(e.data, Some(Data::DeadLetter(_))))
    })
    .await?;

    // The operator adds the address the deal was missing.
    let Some(Data::DeadLetter(dead_letter)) = &dlq.data else {
        anyhow::bail!("not a dead letter");
    };
    assert_eq!(
        dead_letter.resolution_code,
        "add_missing_field:shipping_address"
    );
    let corrected = crmerp_proto::Deal {
        r#ref: Some(crmerp_proto::RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: deal.deal_id.clone(),
        }),
        name: "Corrected".into(),
        account: Some(crmerp_proto::Account {
            r#ref: Some(crmerp_proto::RecordRef {
                system: "hubspot".into(),
                object_type: "company".into(),
                id: deal.company_id.clone().unwrap_or_default(),
            }),
            name: "Corrected GmbH".into(),
            ..Default::default()
        }),
        line_items: vec![crmerp_proto::LineItem {
            sku: "SKU-100".into(),
            name: "Widget".into(),
            quantity: "2".into(),
            unit_price: Some(crmerp_proto::Money {
                currency_code: "EUR".into(),
                amount: "100.00".into(),
            }),
            ..Default::default()
        }],
        shipping_address: Some(crmerp_proto::Address {
            line1: "Hafenstrasse 1".into(),
            city: "Hamburg".into(),
            postal_code: "20095".into(),
            country_code: "DE".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    // The correction travels in the original deal-won event, as monitoring's requeue sends it.
    let mut corrected_event = dead_letter
        .original
        .as_deref()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the dead letter has no original"))?;
    let Some(Data::DealWon(won)) = corrected_event.data.as_mut() else {
        anyhow::bail!("the original is not a deal-won event");
    };
    won.corrected_deal = Some(corrected);
    let js = stack.jetstream().await?;
    crmerp_flow::requeue::requeue(&js, &dlq, Some(corrected_event.clone()), 1).await?;
    let deals = vec![deal.deal_id.clone()];
    wait_all_written_back(&stack, &deals).await?;
    // A second requeue (an operator double-click) must not make a second order.
    crmerp_flow::requeue::requeue(&js, &dlq, Some(corrected_event), 2).await?;
    eventually("the second requeue processed", WAIT, || async {
        let outcomes = stack.stream_envelopes("OUTCOMES").await.ok()?;
        let done = outcomes
            .iter()
            .filter(|e| e.id.contains(":requeue:") && e.id.contains("succeeded"))
            .count();
        (done == 2).then_some(())
    })
    .await?;
    stack.assert_one_order_per_deal(&deals).await?;
    let order = &stack
        .erp
        .orders_for(&format!("hubspot-deal-{}", deal.deal_id))
        .await?[0];
    assert_eq!(order["shipToCity"].as_str(), Some("Hamburg"));
    Ok(())
}

#[tokio::test]
async fn rejected_erp_credentials_pause_the_flow_instead_of_dead_lettering() -> anyhow::Result<()> {
    let stack = Stack::start(options(&[])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Locked out", 10)
        .await?;
    stack
        .inject_fault("netsuite", json!({"status": 401, "rate": 1.0}))
        .await?;
    win_all(&stack, &deals).await?;
    let opened = eventually("breaker opened on 401", WAIT, || async {
        let outcomes = stack.stream_envelopes("OUTCOMES").await.ok()?;
        outcomes.into_iter().find_map(|e| match e.data {
            Some(Data::BreakerChange(b)) if b.open => Some(b),
            _ => None,
        })
    })
    .await?;
    assert_eq!(opened.error_category, "unauthorized");
    assert_eq!(opened.resolution_code, "check_erp_credentials");
    assert_eq!(
        opened.consecutive_failures, 1,
        "a rejected credential pauses at once"
    );
    // Positive control: the paused flow keeps probing with the rejected credentials.
    let probes = stack.vendor_requests("netsuite", "GET", "/").await?;
    eventually("three more probes while locked out", WAIT, || async {
        let now = stack.vendor_requests("netsuite", "GET", "/").await.ok()?;
        (now >= probes + 3).then_some(())
    })
    .await?;
    assert!(
        stack.dead_letters().await?.is_empty(),
        "nothing dead-lettered while credentials are wrong"
    );

    stack.clear_fault("netsuite").await?;
    wait_all_written_back(&stack, &deals).await?;
    stack.assert_one_order_per_deal(&deals).await?;
    assert!(
        stack.dead_letters().await?.is_empty(),
        "nothing dead-lettered once everything went through"
    );
    let closed = stack
        .stream_envelopes("OUTCOMES")
        .await?
        .into_iter()
        .any(|e| matches!(e.data, Some(Data::BreakerChange(b)) if !b.open));
    assert!(closed, "the flow announced it resumed");
    Ok(())
}

#[tokio::test]
async fn a_webhook_jetstream_refuses_to_store_is_answered_503_and_taken_on_the_resend()
-> anyhow::Result<()> {
    let stack = Stack::start(options_on(NON_UNIQUE_ERP, &[])).await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company("Full", 2)
        .await?;
    // INBOUND at its limit (discard new): JetStream answers the publish with an
    // error instead of a PubAck, while the connection itself is fine.
    let js = stack.jetstream().await?;
    let mut config = js.get_stream("INBOUND").await?.info().await?.config.clone();
    let limit = config.max_messages;
    config.max_messages = i64::try_from(stack.stream_messages("INBOUND").await?)?.max(1);
    js.update_stream(config.clone()).await?;
    if stack.stream_messages("INBOUND").await? == 0 {
        // Fill the one free slot with an event for no deal, so the stream is full.
        js.publish("inbound.test.filler", "filler".into())
            .await?
            .await?;
    }

    let status = stack
        .post_deal_won(&deals[0], 70_000, 1_700_000_000_000)
        .await?;
    assert_eq!(
        status, 503,
        "an event JetStream did not store is not accepted"
    );
    config.max_messages = limit;
    js.update_stream(config).await?;

    // The CRM re-sends, as it does after a 5xx; now it is stored and processed.
    let status = stack
        .post_deal_won(&deals[0], 70_000, 1_700_000_000_000)
        .await?;
    assert_eq!(status, 200);
    let status = stack
        .post_deal_won(&deals[1], 70_001, 1_700_000_000_001)
        .await?;
    assert_eq!(status, 200);
    wait_all_written_back(&stack, &deals).await?;
    stack.assert_one_order_per_deal(&deals).await
}
