//! One deal, one order across replicas: two deal-to-order replicas share the
//! durable consumer, and each won deal arrives ten times at once with distinct
//! event times, so JetStream's `Nats-Msg-Id` de-duplication lets every copy
//! through (as a CRM re-send after the de-duplication window, a second trigger
//! source or a quick out-and-back-into-won does). The ERPs here are Business
//! Central and SAP, whose simulators, like the real systems, accept a second
//! order with the same reference; only the product's claims stand between the
//! race and a duplicate. ERP latency widens the window between look-up and
//! create that the race needs.

use std::time::Duration;

use crmerp_proto::{OutcomeStatus, event_envelope::Data};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::json;

const DEALS: usize = 5;
const COPIES: usize = 10;
const WAIT: Duration = Duration::from_secs(90);

async fn two_replicas_make_one_order_per_deal(erp: &'static str) -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions {
        erp,
        ..StackOptions::default()
    })
    .await?;
    stack.start_replica().await?;
    stack
        .inject_fault(erp, json!({"status": 200, "rate": 1.0, "latency_ms": 40}))
        .await?;
    let deals = stack
        .hubspot
        .create_deals_for_one_company(&format!("Race {erp}"), DEALS)
        .await?;

    // Distinct event times: distinct Nats-Msg-Ids, so no copy is de-duplicated.
    let notices: Vec<(String, u64, i64)> = deals
        .iter()
        .enumerate()
        .flat_map(|(n, deal_id)| {
            (0..COPIES).map(move |copy| {
                let sequence = n * COPIES + copy;
                (
                    deal_id.clone(),
                    sequence as u64,
                    1_700_000_000_000 + sequence as i64,
                )
            })
        })
        .collect();
    stack.post_deals_won_at_once(&notices).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        (DEALS * COPIES) as u64,
        "every copy reached the workers"
    );

    // Every copy is processed to success: the losers of each race find the winner's order.
    eventually("every copy processed", WAIT, || async {
        let succeeded = stack
            .stream_envelopes("OUTCOMES")
            .await
            .ok()?
            .into_iter()
            .filter(|e| {
                matches!(&e.data, Some(Data::Outcome(o)) if o.status == OutcomeStatus::Succeeded as i32)
            })
            .count();
        (succeeded == DEALS * COPIES).then_some(())
    })
    .await?;
    // Both replicas took part: otherwise this would test one process's ordering only.
    for replica in stack.worker.iter().chain(stack.replicas.iter()) {
        let processed = succeeded_on(replica).await?;
        assert!(
            processed > 0.0,
            "replica {} processed nothing",
            replica.listener("admin")?
        );
    }
    stack.assert_one_order_per_deal(&deals).await?;
    assert!(stack.dead_letters().await?.is_empty());
    Ok(())
}

/// The replica's `crmerp_flow_events_total{outcome="succeeded"}`.
async fn succeeded_on(replica: &crmerp_testkit::process::Process) -> anyhow::Result<f64> {
    let url = format!("http://{}/metrics", replica.listener("admin")?);
    let body = reqwest::get(&url).await?.text().await?;
    Ok(body
        .lines()
        .filter(|line| {
            line.starts_with("crmerp_flow_events_total") && line.contains("outcome=\"succeeded\"")
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum())
}

#[tokio::test]
async fn two_replicas_make_one_business_central_order_per_deal() -> anyhow::Result<()> {
    two_replicas_make_one_order_per_deal("businesscentral").await
}

#[tokio::test]
async fn two_replicas_make_one_sap_order_per_deal() -> anyhow::Result<()> {
    two_replicas_make_one_order_per_deal("s4hana").await
}
