//! Canonical fulfilment events as ingress publishes them, for tests that drive
//! fulfilment-sync before (or without) an ERP's own webhook route.

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use crmerp_proto::{
    CarrierScan, EventEnvelope, Message as _, OrderStatus, OrderStatusChanged, RecordRef, Shipment,
    event_envelope::Data,
};
use crmerp_proto::{event_types, timestamp_from};

use crate::Stack;

/// An `OrderStatusChanged` envelope from `order.system`, with id `id` (the `Nats-Msg-Id`).
pub fn order_status_event(
    id: &str,
    order: &RecordRef,
    order_number: &str,
    status: OrderStatus,
    changed_at: DateTime<Utc>,
    shipments: Vec<Shipment>,
    reason: &str,
) -> EventEnvelope {
    EventEnvelope {
        id: id.to_owned(),
        source: format!("crmerp://ingress/{}", order.system),
        r#type: event_types::ORDER_STATUS_CHANGED.to_owned(),
        subject: format!("{}/{}/{}", order.system, order.object_type, order.id),
        time: Some(timestamp_from(changed_at)),
        correlation_id: id.to_owned(),
        causation_id: String::new(),
        data: Some(Data::OrderStatusChanged(OrderStatusChanged {
            order: Some(order.clone()),
            order_number: order_number.to_owned(),
            external_ref: String::new(),
            status: status as i32,
            changed_at: Some(timestamp_from(changed_at)),
            shipments,
            reason: reason.to_owned(),
            crm_deal: None,
        })),
    }
}

/// A `CarrierScan` envelope with id `id` (the `Nats-Msg-Id`).
pub fn carrier_scan_event(id: &str, scan: CarrierScan) -> EventEnvelope {
    EventEnvelope {
        id: id.to_owned(),
        source: format!("crmerp://ingress/{}", scan.source),
        r#type: event_types::CARRIER_SCAN.to_owned(),
        subject: format!("{}/tracking/{}", scan.source, scan.tracking_number),
        time: scan.occurred_at,
        correlation_id: id.to_owned(),
        causation_id: String::new(),
        data: Some(Data::CarrierScan(scan)),
    }
}

/// One shipment with a tracking number, dispatched at `at`.
pub fn shipment(carrier: &str, tracking_number: &str, at: DateTime<Utc>) -> Shipment {
    Shipment {
        r#ref: None,
        carrier: carrier.to_owned(),
        tracking_number: tracking_number.to_owned(),
        tracking_url: format!("https://track.example/{tracking_number}"),
        dispatched_at: Some(timestamp_from(at)),
        delivered_at: None,
        exception_reason: String::new(),
    }
}

impl Stack {
    /// Publishes `envelope` on `subject` as ingress does (`Nats-Msg-Id` = the
    /// envelope id) and waits for the PubAck; returns whether JetStream stored
    /// it (false: a duplicate within the de-duplication window).
    pub async fn publish_inbound(
        &self,
        subject: &str,
        envelope: &EventEnvelope,
    ) -> anyhow::Result<bool> {
        let js = self.jetstream().await?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, envelope.id.as_str());
        let ack = js
            .publish_with_headers(subject.to_owned(), headers, envelope.encode_to_vec().into())
            .await
            .context("publish")?
            .await
            .context("PubAck")?;
        Ok(!ack.duplicate)
    }
}
