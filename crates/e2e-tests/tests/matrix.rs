//! Deal-won -> order -> write-back for every CRM x ERP pair the product supports,
//! each on its own stack (nats-server, sandbox, ingress, deal-to-order).

use std::time::Duration;

use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::vendors::{CRMS, ERPS};
use crmerp_testkit::{Stack, StackOptions, eventually};
use futures::StreamExt;

/// Runs one pair and returns the order number it produced.
async fn run_pair(crm: &'static str, erp: &'static str) -> anyhow::Result<String> {
    let stack = Stack::start(StackOptions {
        crm,
        erp,
        ..StackOptions::default()
    })
    .await?;
    let deal = stack
        .crm
        .create_deal(&DealSpec::complete(&format!("Matrix {crm} {erp}")))
        .await?;
    stack.crm.win(&deal.deal_id).await?;
    let order_number = eventually(
        &format!("{crm} -> {erp}: order number on the deal"),
        Duration::from_secs(30),
        || async {
            stack
                .crm
                .erp_order_number(&deal.deal_id)
                .await
                .ok()
                .flatten()
        },
    )
    .await?;
    let orders = stack
        .erp
        .orders_for(&stack.crm.external_ref(&deal.deal_id))
        .await?;
    anyhow::ensure!(
        orders.len() == 1,
        "{crm} -> {erp}: expected one order, found {}",
        orders.len()
    );
    let erp_number = stack.erp.order_number(&orders[0]);
    anyhow::ensure!(
        erp_number.as_deref() == Some(order_number.as_str()),
        "{crm} -> {erp}: the deal says {order_number}, the ERP's order is {erp_number:?}"
    );
    Ok(order_number)
}

#[tokio::test]
async fn every_crm_to_every_erp_creates_exactly_one_order() -> anyhow::Result<()> {
    let pairs: Vec<(&'static str, &'static str)> = CRMS
        .iter()
        .flat_map(|crm| ERPS.iter().map(move |erp| (*crm, *erp)))
        .collect();
    // A few stacks at a time: each is five processes on a two-core machine.
    let results: Vec<_> = futures::stream::iter(pairs.clone())
        .map(|(crm, erp)| async move { ((crm, erp), run_pair(crm, erp).await) })
        .buffer_unordered(3)
        .collect()
        .await;
    let failures: Vec<String> = results
        .iter()
        .filter_map(|((crm, erp), r)| r.as_ref().err().map(|e| format!("{crm} -> {erp}: {e:#}")))
        .collect();
    assert!(
        failures.is_empty(),
        "failed pairs:\n{}",
        failures.join("\n")
    );
    assert_eq!(results.len(), pairs.len());
    Ok(())
}
