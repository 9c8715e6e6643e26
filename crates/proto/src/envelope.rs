//! Helpers around [`crate::v1::EventEnvelope`].

use chrono::{DateTime, Utc};
use pbjson_types::Timestamp;

/// CloudEvents `type` values used on the bus.
pub mod event_types {
    /// A CRM deal moved into a won stage.
    pub const DEAL_WON: &str = "crm.deal.won";
    /// The outcome of one processing attempt.
    pub const OUTCOME: &str = "integration.outcome";
    /// An event was dead-lettered.
    pub const DEAD_LETTER: &str = "integration.dead_letter";
    /// An ERP order changed its fulfilment status or shipments.
    pub const ORDER_STATUS_CHANGED: &str = "erp.order.status_changed";
    /// An ERP invoice was issued or changed.
    pub const INVOICE_CHANGED: &str = "erp.invoice.changed";
    /// A payment was recorded (or reversed) in the ERP.
    pub const PAYMENT_RECORDED: &str = "erp.payment.recorded";
    /// A customer's credit position changed in the ERP.
    pub const CREDIT_POSITION_CHANGED: &str = "erp.credit_position.changed";
    /// An account was created or changed (CRM or ERP; the source says which).
    pub const ACCOUNT_CHANGED: &str = "account.changed";
    /// A contact was created or changed.
    pub const CONTACT_CHANGED: &str = "contact.changed";
    /// Duplicate accounts were merged.
    pub const ACCOUNTS_MERGED: &str = "account.merged";
    /// A quote got a new version, or a version was accepted.
    pub const QUOTE_CHANGED: &str = "crm.quote.changed";
    /// A request for customer-specific prices.
    pub const PRICE_REQUEST: &str = "pricing.request";
    /// The answer to a price request.
    pub const PRICE_RESPONSE: &str = "pricing.response";
    /// A carrier reported a tracking scan of a parcel.
    pub const CARRIER_SCAN: &str = "carrier.shipment.scanned";
    /// A messaging provider reported the delivery state of a customer message.
    pub const MESSAGE_STATUS_CHANGED: &str = "notification.message.status_changed";
}

/// Converts a chrono time into a protobuf timestamp.
pub fn timestamp_from(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        // Always within 0..1e9, so the cast cannot truncate.
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The current time as a protobuf timestamp.
pub fn timestamp_now() -> Timestamp {
    timestamp_from(Utc::now())
}

/// Converts a protobuf timestamp into chrono; `None` when out of range.
pub fn timestamp_to_chrono(ts: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(ts.seconds, u32::try_from(ts.nanos).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{DealWon, EventEnvelope, RecordRef, event_envelope::Data};
    use prost::Message;

    #[test]
    fn envelope_round_trips_through_protobuf() {
        let env = EventEnvelope {
            id: "hubspot:42".into(),
            source: "crmerp://ingress/hubspot".into(),
            r#type: event_types::DEAL_WON.into(),
            subject: "hubspot/deal/7".into(),
            time: Some(timestamp_now()),
            correlation_id: "c".into(),
            causation_id: String::new(),
            data: Some(Data::DealWon(DealWon {
                deal: Some(RecordRef {
                    system: "hubspot".into(),
                    object_type: "deal".into(),
                    id: "7".into(),
                }),
                stage: "closedwon".into(),
                ..Default::default()
            })),
        };
        let bytes = env.encode_to_vec();
        let back = EventEnvelope::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(back, env);
    }

    #[test]
    fn timestamps_convert_both_ways() {
        let now = Utc::now();
        let back = timestamp_to_chrono(&timestamp_from(now)).expect("in range");
        assert_eq!(back, now);
    }
}
