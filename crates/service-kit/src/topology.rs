//! The JetStream topology: stream names, subjects and their idempotent declaration.
//!
//! - `INBOUND` (`inbound.>`): canonical events from ingress; limits retention so
//!   events stay replayable and dead letters can point back at them.
//! - `OUTCOMES` (`outcome.>`): one event per processing attempt.
//! - `DLQ` (`dlq.>`): dead letters, kept until an operator deals with them.
//! - `UNROUTABLE` (`crmerp.unroutable.>`): vendor notices of types no flow
//!   takes, kept like inbound events instead of being dropped.
//!
//! Every service declares the streams it touches at start-up; declaring is
//! idempotent (create, or update to the same config), so start order never matters.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::settings::NatsSettings;

/// Stream of inbound canonical events.
pub const INBOUND_STREAM: &str = "INBOUND";
/// Stream of processing outcomes.
pub const OUTCOMES_STREAM: &str = "OUTCOMES";
/// Stream of dead letters.
pub const DLQ_STREAM: &str = "DLQ";

/// Stream of vendor notices no flow takes.
pub const UNROUTABLE_STREAM: &str = "UNROUTABLE";

/// Key-value bucket of webhook ids (Standard Webhooks `webhook-id`) and the
/// digest of the payload first received under each, for the de-duplication window.
pub const WEBHOOK_IDS_BUCKET: &str = "INGRESS_WEBHOOK_IDS";

/// Key-value bucket holding the outcomes of earlier attempts of events being retried.
pub const ATTEMPTS_BUCKET: &str = "FLOW_ATTEMPTS";

/// Key-value bucket of create-type effect claims (one holder per record across replicas).
pub const CLAIMS_BUCKET: &str = "FLOW_CLAIMS";

/// Key-value bucket linking each ERP order to the CRM deal it came from
/// (written by deal-to-order, read by the flows that report on orders).
pub const ORDER_LINKS_BUCKET: &str = "ORDER_LINKS";

/// Key-value bucket of credentials vendors rotate (e.g. a Pipedrive refresh
/// token), shared by replicas and kept across restarts.
pub const CREDENTIALS_BUCKET: &str = "CONNECTOR_CREDENTIALS";
/// Key-value bucket of fulfilment-sync's per-order state (the furthest status
/// applied, the timeline entries written) under `order.<erp>.<id>`, and of its
/// tracking-number index (`tracking.<number>` -> order) for carrier scans.
/// Written with compare-and-set revisions, so two replicas never both apply one step.
pub const FULFILMENT_ORDERS_BUCKET: &str = "FULFILMENT_ORDERS";

/// Filter matching every ERP order-status event, whatever the ERP.
pub const ORDER_STATUS_FILTER: &str = "inbound.erp.order.status.>";

/// Filter matching every carrier scan, whatever the source.
pub const CARRIER_SCAN_FILTER: &str = "inbound.carrier.shipment.>";

/// Filter matching every customer-message delivery status, whatever the provider.
pub const MESSAGE_STATUS_FILTER: &str = "inbound.notification.message.>";

/// Subject of an order-status event from `erp` (e.g. `netsuite`).
pub fn order_status_subject(erp: &str) -> String {
    format!("inbound.erp.order.status.{erp}")
}

/// Subject of a carrier scan reported by `source` (e.g. `aftership`).
pub fn carrier_scan_subject(source: &str) -> String {
    format!("inbound.carrier.shipment.{source}")
}

/// Subject of a message delivery status from `provider` (e.g. `twilio`).
pub fn message_status_subject(provider: &str) -> String {
    format!("inbound.notification.message.{provider}")
}

/// Filter matching every deal-won event, whatever the CRM.
pub const DEAL_WON_FILTER: &str = "inbound.crm.deal.won.>";

/// Largest message any stream accepts (NATS' default `max_payload`).
const MAX_MSG_SIZE: i32 = 1024 * 1024;

/// Subject of a deal-won event from `crm` (e.g. `hubspot`).
pub fn deal_won_subject(crm: &str) -> String {
    format!("inbound.crm.deal.won.{crm}")
}

/// Subject of an unroutable notice from `source` (e.g. `hubspot`).
pub fn unroutable_subject(source: &str) -> String {
    format!("crmerp.unroutable.{source}")
}

/// Subject of an outcome of `flow` with `status` (e.g. `succeeded`).
pub fn outcome_subject(flow: &str, status: &str) -> String {
    format!("outcome.{flow}.{status}")
}

/// Subject of dead letters of `flow`.
pub fn dlq_subject(flow: &str) -> String {
    format!("dlq.{flow}")
}

/// A stream could not be declared.
#[derive(Debug, thiserror::Error)]
#[error("cannot declare stream {stream}: {message}")]
pub struct TopologyError {
    stream: String,
    message: String,
}

/// The config of each stream, from the NATS settings.
pub fn stream_configs(settings: &NatsSettings) -> Vec<stream::Config> {
    let base = stream::Config {
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        retention: stream::RetentionPolicy::Limits,
        // Reject new writes at a limit instead of silently evicting unprocessed work.
        discard: stream::DiscardPolicy::New,
        max_message_size: MAX_MSG_SIZE,
        ..Default::default()
    };
    vec![
        stream::Config {
            name: INBOUND_STREAM.to_owned(),
            description: Some("Canonical inbound events from ingress.".to_owned()),
            subjects: vec!["inbound.>".to_owned()],
            max_age: settings.inbound_max_age,
            duplicate_window: settings.duplicate_window,
            max_bytes: 5 * 1024 * 1024 * 1024,
            ..base.clone()
        },
        stream::Config {
            name: OUTCOMES_STREAM.to_owned(),
            description: Some("One outcome per processing attempt.".to_owned()),
            subjects: vec!["outcome.>".to_owned()],
            max_age: settings.outcome_max_age,
            duplicate_window: Duration::from_secs(600),
            max_bytes: 5 * 1024 * 1024 * 1024,
            // Outcomes are observability: keep the newest rather than block the flows.
            discard: stream::DiscardPolicy::Old,
            ..base.clone()
        },
        stream::Config {
            name: DLQ_STREAM.to_owned(),
            description: Some("Dead letters awaiting an operator.".to_owned()),
            subjects: vec!["dlq.>".to_owned()],
            max_age: Duration::ZERO,
            duplicate_window: Duration::from_secs(24 * 3600),
            max_bytes: 2 * 1024 * 1024 * 1024,
            deny_delete: true,
            ..base.clone()
        },
        stream::Config {
            name: UNROUTABLE_STREAM.to_owned(),
            description: Some("Vendor notices of types no flow takes.".to_owned()),
            subjects: vec!["crmerp.unroutable.>".to_owned()],
            max_age: settings.inbound_max_age,
            duplicate_window: settings.duplicate_window,
            max_bytes: 1024 * 1024 * 1024,
            ..base
        },
    ]
}

/// Declares every stream (create, or update in place).
pub async fn ensure_streams(
    js: &jetstream::Context,
    settings: &NatsSettings,
) -> Result<(), TopologyError> {
    for config in stream_configs(settings) {
        let stream = config.name.clone();
        ensure_stream(js, config)
            .await
            .map_err(|message| TopologyError { stream, message })?;
    }
    ensure_bucket(js, attempts_bucket(settings)).await?;
    ensure_bucket(js, claims_bucket(settings)).await?;
    ensure_bucket(js, order_links_bucket(settings)).await?;
    ensure_bucket(js, credentials_bucket(settings)).await?;
    ensure_bucket(js, fulfilment_orders_bucket(settings)).await?;
    ensure_bucket(js, webhook_ids_bucket(settings)).await
}

/// Webhook ids and payload digests, kept as long as JetStream de-duplicates
/// by `Nats-Msg-Id`: within that window a re-used id is either a re-send (same
/// payload) or a conflict (another payload).
fn webhook_ids_bucket(settings: &NatsSettings) -> jetstream::kv::Config {
    jetstream::kv::Config {
        bucket: WEBHOOK_IDS_BUCKET.to_owned(),
        description: "Webhook ids and the digest of their first payload.".to_owned(),
        history: 1,
        max_age: settings.duplicate_window,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// The attempt-history bucket: one key per event being retried, kept as long
/// as inbound events so every retry window is covered.
fn attempts_bucket(settings: &NatsSettings) -> jetstream::kv::Config {
    jetstream::kv::Config {
        bucket: ATTEMPTS_BUCKET.to_owned(),
        description: "Outcomes of earlier attempts of events being retried.".to_owned(),
        history: 1,
        max_age: settings.inbound_max_age,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// Order links are kept for ever: an order can ship, be returned or be
/// invoiced long after its deal was won.
fn order_links_bucket(settings: &NatsSettings) -> jetstream::kv::Config {
    jetstream::kv::Config {
        bucket: ORDER_LINKS_BUCKET.to_owned(),
        description: "ERP order -> CRM deal links, written when the order is created.".to_owned(),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// Credentials are kept until replaced; history 1 so a replaced token is gone.
fn credentials_bucket(settings: &NatsSettings) -> jetstream::kv::Config {
    jetstream::kv::Config {
        bucket: CREDENTIALS_BUCKET.to_owned(),
        description: "Credentials vendors rotate, e.g. OAuth refresh tokens.".to_owned(),
        history: 1,
        storage: stream::StorageType::File,
        num_replicas: settings.replicas,
        ..Default::default()
    }
}

/// Fulfilment state is kept as long as order links: a return can come months
/// after delivery and must still be judged against the furthest status.
fn fulfilment_orders_bucket(settings: &NatsSettings) -> jetstream::kv::Config {
    jetstream::kv::Config {
        bucket: FULFILMENT_ORDERS_BUCKET.to_owned(),
        description: "Per-order fulfilment state and the tracking-number index.".to_owned(),
        ..order_links_bucket(settings)
    }
}

/// The claims bucket: per-message TTLs let a dead holder's claim expire on the
/// server's clock; recorded results are kept as long as inbound events, so
/// every redelivery and requeue of an event still finds them.
fn claims_bucket(settings: &NatsSettings) -> jetstream::kv::Config {
    jetstream::kv::Config {
        bucket: CLAIMS_BUCKET.to_owned(),
        description: "Claims and results of create-type effects, one holder per record.".to_owned(),
        // Enables per-message TTL; markers of expired claims live a minute.
        limit_markers: Some(Duration::from_secs(60)),
        ..attempts_bucket(settings)
    }
}

/// Declares a key-value bucket unless it exists.
async fn ensure_bucket(
    js: &jetstream::Context,
    config: jetstream::kv::Config,
) -> Result<(), TopologyError> {
    if js.get_key_value(&config.bucket).await.is_ok() {
        return Ok(());
    }
    let stream = format!("KV_{}", config.bucket);
    js.create_key_value(config)
        .await
        .map(drop)
        .map_err(|e| TopologyError {
            stream,
            message: e.to_string(),
        })
}

/// Declares every stream, retrying with backoff while NATS is not reachable yet,
/// so services can start in any order. Gives up only when `shutdown` fires.
pub async fn ensure_streams_until_ready(
    js: &jetstream::Context,
    settings: &NatsSettings,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Result<(), TopologyError> {
    let mut delay = Duration::from_millis(100);
    loop {
        match ensure_streams(js, settings).await {
            Ok(()) => return Ok(()),
            Err(error) if !shutdown.is_cancelled() => {
                tracing::warn!(%error, "Cannot declare streams yet; retrying.");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return Err(error),
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

async fn ensure_stream(js: &jetstream::Context, config: stream::Config) -> Result<(), String> {
    js.create_or_update_stream(config)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_stable() {
        assert_eq!(deal_won_subject("hubspot"), "inbound.crm.deal.won.hubspot");
        assert_eq!(
            outcome_subject("deal-to-order", "succeeded"),
            "outcome.deal-to-order.succeeded"
        );
        assert_eq!(dlq_subject("deal-to-order"), "dlq.deal-to-order");
        assert_eq!(unroutable_subject("hubspot"), "crmerp.unroutable.hubspot");
    }
}
