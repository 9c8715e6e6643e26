//! The deal-to-order service binary: the flow runtime's service with this flow's handler.

use anyhow::Context;
use crmerp_deal_to_order::{FLOW, Settings};
use crmerp_flow::FlowService;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service =
        FlowService::<Settings>::load(FLOW).context("Cannot load the deal-to-order settings")?;
    crmerp_deal_to_order::service(service)?.run().await?;
    Ok(())
}
