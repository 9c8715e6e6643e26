//! The fulfilment-sync service binary: the flow runtime's service with this flow's handler.

use anyhow::Context;
use crmerp_flow::FlowService;
use crmerp_fulfilment_sync::{FLOW, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let service =
        FlowService::<Settings>::load(FLOW).context("Cannot load the fulfilment-sync settings")?;
    crmerp_fulfilment_sync::service(service)?.run().await?;
    Ok(())
}
