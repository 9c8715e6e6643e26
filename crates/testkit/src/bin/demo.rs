//! `make demo`: against a running `make run`, creates a company, a deal with two
//! line items and a shipping address in the sandbox HubSpot through HubSpot's
//! REST API, moves the deal to `closedwon`, and waits until the sandbox NetSuite
//! holds the sales order and the deal carries its number.

use std::time::{Duration, Instant};

use anyhow::Context;
use crmerp_testkit::eventually;
use crmerp_testkit::hubspot::{DealSpec, HubSpotApi};
use crmerp_testkit::netsuite::NetSuiteApi;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let hubspot_url =
        std::env::var("DEMO_HUBSPOT_URL").unwrap_or_else(|_| "http://127.0.0.1:9101".into());
    let netsuite_url =
        std::env::var("DEMO_NETSUITE_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".into());
    let hubspot = HubSpotApi::new(&hubspot_url);
    let netsuite = NetSuiteApi::new(&netsuite_url);

    netsuite
        .ensure_item("SKU-100", "Widget", "100.00")
        .await
        .context("Cannot reach the NetSuite sandbox; is `make run` running?")?;
    netsuite.ensure_item("SKU-200", "Gadget", "49.50").await?;

    let name = format!(
        "Demo deal {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S")
    );
    let deal = hubspot.create_deal(&DealSpec::complete(&name)).await?;
    println!(
        "Created HubSpot company {} and deal {} with line items {:?}.",
        deal.company_id.as_deref().unwrap_or("-"),
        deal.deal_id,
        deal.line_item_ids
    );

    let started = Instant::now();
    hubspot.move_to_stage(&deal.deal_id, "closedwon").await?;
    println!(
        "Moved deal {} to closedwon; waiting for the NetSuite order...",
        deal.deal_id
    );

    let external_id = format!("hubspot-deal-{}", deal.deal_id);
    let order_number = eventually(
        "the order number on the deal",
        Duration::from_secs(60),
        || async {
            let props = hubspot
                .deal_properties(&deal.deal_id, &["erp_order_number"])
                .await
                .ok()?;
            props["erp_order_number"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        },
    )
    .await?;
    let latency = started.elapsed();
    let orders = netsuite.sales_orders_with_external_id(&external_id).await?;
    anyhow::ensure!(
        orders.len() == 1,
        "expected exactly one NetSuite order with externalId {external_id}, found {}",
        orders.len()
    );
    anyhow::ensure!(
        orders[0]["tranId"].as_str() == Some(order_number.as_str()),
        "the deal says {order_number} but NetSuite holds {}",
        orders[0]["tranId"]
    );
    println!(
        "NetSuite sales order {order_number} (externalId {external_id}) created; deal updated."
    );
    println!("End-to-end latency: {} ms", latency.as_millis());
    Ok(())
}
