//! The fulfilment kinds: an ERP order changed status (`OrderStatusChanged`),
//! a carrier scanned a parcel (`CarrierScan`), a messaging provider reported a
//! customer message's delivery (`MessageStatusChanged`). Every ERP, carrier
//! and provider route reduces its notice to a [`Notice`] of one of them; this
//! module makes the envelope and picks the subject.

use chrono::{DateTime, Utc};
use crmerp_proto::{
    CarrierScan, EventEnvelope, MessageStatusChanged, OrderStatusChanged, event_envelope::Data,
    event_types, timestamp_from,
};
use crmerp_service_kit::topology::{
    carrier_scan_subject, message_status_subject, order_status_subject,
};

use super::Accepted;
use super::unroutable::{self, UnroutableNotice, WarnedTypes};
use crate::Publisher;
use crate::error::IngressError;

/// What a fulfilment notice says.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// An ERP order's status (or, with status unspecified, "read it back").
    OrderStatus(OrderStatusChanged),
    /// A carrier's tracking scan.
    CarrierScan(CarrierScan),
    /// A customer message's delivery state.
    MessageStatus(MessageStatusChanged),
}

/// One fulfilment event, as a source route understood it.
#[derive(Debug, Clone)]
pub(crate) struct Notice {
    /// The vendor's account, company or org (for the envelope source).
    pub(crate) tenant: String,
    /// Stable across the vendor's re-sends of this change: the `Nats-Msg-Id`.
    pub(crate) dedup_key: String,
    /// What the event is about, for the envelope subject (`order/123`).
    pub(crate) about: String,
    /// When it happened (or was received, when the vendor does not say).
    pub(crate) occurred_at: DateTime<Utc>,
    /// The payload.
    pub(crate) kind: Kind,
}

impl Kind {
    fn parts(&self, system: &str) -> (String, &'static str, Data) {
        match self {
            Self::OrderStatus(changed) => (
                order_status_subject(system),
                event_types::ORDER_STATUS_CHANGED,
                Data::OrderStatusChanged(changed.clone()),
            ),
            Self::CarrierScan(scan) => (
                carrier_scan_subject(system),
                event_types::CARRIER_SCAN,
                Data::CarrierScan(scan.clone()),
            ),
            Self::MessageStatus(status) => (
                message_status_subject(system),
                event_types::MESSAGE_STATUS_CHANGED,
                Data::MessageStatusChanged(status.clone()),
            ),
        }
    }
}

/// The subject and canonical envelope of `notice` from `system`.
pub(crate) fn envelope(system: &str, notice: &Notice) -> (String, EventEnvelope) {
    let (subject, event_type, data) = notice.kind.parts(system);
    let envelope = EventEnvelope {
        id: notice.dedup_key.clone(),
        source: format!("crmerp://ingress/{system}/{}", notice.tenant),
        r#type: event_type.to_owned(),
        subject: format!("{system}/{}", notice.about),
        time: Some(timestamp_from(notice.occurred_at)),
        correlation_id: notice.dedup_key.clone(),
        causation_id: String::new(),
        data: Some(data),
    };
    (subject, envelope)
}

/// Publishes every notice from `system` and reports, counting `ignored`
/// notices that are not fulfilment events.
pub(crate) async fn publish(
    publisher: &Publisher,
    system: &'static str,
    notices: &[Notice],
    ignored: usize,
) -> Result<Accepted, IngressError> {
    let events = notices.iter().map(|n| envelope(system, n)).collect();
    super::publish(publisher, system, events, ignored).await
}

/// Publishes `notices`, then stores `others` (notices no flow takes) as
/// unroutable, counting them as ignored; answers what was done.
pub(crate) async fn publish_with_unroutable(
    publisher: &Publisher,
    warned: &WarnedTypes,
    system: &'static str,
    notices: &[Notice],
    others: &[UnroutableNotice],
) -> Result<Accepted, IngressError> {
    let mut accepted = publish(publisher, system, notices, others.len()).await?;
    accepted.unroutable = unroutable::publish(publisher, warned, system, others).await?;
    Ok(accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::{OrderStatus, RecordRef};

    #[test]
    fn an_order_status_notice_lands_on_the_erp_subject_with_its_key_as_id() {
        let mut changed = OrderStatusChanged {
            order: Some(RecordRef {
                system: "netsuite".into(),
                object_type: "salesOrder".into(),
                id: "42".into(),
            }),
            ..OrderStatusChanged::default()
        };
        changed.set_status(OrderStatus::Packed);
        let notice = Notice {
            tenant: "1234567".into(),
            dedup_key: "netsuite:1234567:salesorder:42:1".into(),
            about: "order/42".into(),
            occurred_at: DateTime::from_timestamp(1_764_921_600, 0).expect("time"),
            kind: Kind::OrderStatus(changed.clone()),
        };
        let (subject, envelope) = envelope("netsuite", &notice);
        assert_eq!(subject, "inbound.erp.order.status.netsuite");
        assert_eq!(envelope.id, notice.dedup_key);
        assert_eq!(envelope.r#type, event_types::ORDER_STATUS_CHANGED);
        assert_eq!(envelope.source, "crmerp://ingress/netsuite/1234567");
        assert_eq!(envelope.subject, "netsuite/order/42");
        assert_eq!(envelope.data, Some(Data::OrderStatusChanged(changed)));
    }
}
