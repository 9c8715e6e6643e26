//! Waiting for the system to settle instead of sleeping: a consumer is
//! drained once every message published so far was delivered and acknowledged,
//! so nothing more can happen for them (no redelivery, no second order).

use std::time::Duration;

use async_nats::jetstream::consumer::pull;

use crate::stack::Stack;

/// The durable consumer deal-to-order reads `INBOUND` with.
pub const WORKER_CONSUMER: &str = "deal-to-order";

/// Waits until `consumer` on `stream` has delivered every message it selects
/// and holds none unacknowledged; fails after `timeout`.
pub async fn wait_drained(
    js: &async_nats::jetstream::Context,
    stream: &str,
    consumer: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    crate::eventually(
        &format!("consumer {consumer} on {stream} drained"),
        timeout,
        || async {
            let stream = js.get_stream(stream).await.ok()?;
            let mut consumer = stream.get_consumer::<pull::Config>(consumer).await.ok()?;
            let info = consumer.info().await.ok()?;
            // A NAKed message waiting out its delay counts as ack-pending.
            (info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
        },
    )
    .await
}

impl Stack {
    /// Waits until deal-to-order has handled and acknowledged every event in
    /// `INBOUND` (see [`wait_drained`]).
    pub async fn wait_worker_drained(&self, timeout: Duration) -> anyhow::Result<()> {
        wait_drained(
            &self.jetstream().await?,
            "INBOUND",
            WORKER_CONSUMER,
            timeout,
        )
        .await
    }
}
