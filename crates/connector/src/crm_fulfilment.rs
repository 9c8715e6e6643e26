//! What the CRM connectors' fulfilment ports share: the values written onto
//! a deal's fulfilment fields and the clipping of text to a field's length.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::ports::{FulfilmentUpdate, order_status_label};

/// `max_text` for a CRM whose text fields take any length we write (HubSpot).
pub(crate) const UNCLIPPED: usize = usize::MAX;

/// One CRM's deal fields receiving the fulfilment values, from its
/// `[fulfilment_sync.crm.<kind>]` section; an empty name is not written.
pub(crate) struct DealFields<'a> {
    /// Receives the status label.
    pub(crate) status: &'a str,
    /// Receives the carrier.
    pub(crate) carrier: &'a str,
    /// Receives the tracking number.
    pub(crate) tracking_number: &'a str,
    /// Receives the tracking page URL.
    pub(crate) tracking_url: &'a str,
    /// Receives the delivery time.
    pub(crate) delivered_at: &'a str,
}

/// The deal field values of `update`: the status always, every other value
/// the update carries where a field is mapped (what it lacks stays as it is
/// on the deal). Text is clipped to `max_text` characters; `delivered`
/// renders the delivery time as the field's type takes it.
pub(crate) fn deal_values(
    fields: &DealFields<'_>,
    update: &FulfilmentUpdate,
    max_text: usize,
    delivered: fn(DateTime<Utc>) -> Value,
) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert(
        fields.status.to_owned(),
        json!(order_status_label(update.status)),
    );
    for (field, value) in [
        (fields.carrier, &update.carrier),
        (fields.tracking_number, &update.tracking_number),
        (fields.tracking_url, &update.tracking_url),
    ] {
        if let (false, Some(value)) = (field.is_empty(), value) {
            out.insert(field.to_owned(), json!(clip(value, max_text)));
        }
    }
    if let (false, Some(at)) = (fields.delivered_at.is_empty(), update.delivered_at) {
        out.insert(fields.delivered_at.to_owned(), delivered(at));
    }
    out
}

/// At most `max` characters of `text` (CRMs refuse, rather than cut, text
/// longer than a field holds).
pub(crate) fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The entries, tasks and updates the CRM connectors' fulfilment tests write.
#[cfg(test)]
pub(crate) mod fixtures {
    use chrono::{DateTime, Utc};

    use crate::ports::{Activity, FollowUpTask};

    /// An RFC 3339 instant.
    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("timestamp")
    }

    /// A timeline entry on `deal` with `key`, at `when`.
    pub(crate) fn activity(deal: &str, key: &str, when: &str) -> Activity {
        Activity {
            key: key.into(),
            deal_id: deal.into(),
            account_id: None,
            subject: format!("Order SO-1042: {key}"),
            body: "Carrier DHL\nTracking 00340434".into(),
            occurred_at: at(when),
        }
    }

    /// A customer-success task on `deal` with `key`, due 2026-12-07 09:30 UTC.
    pub(crate) fn task(deal: &str, key: &str) -> FollowUpTask {
        FollowUpTask {
            key: key.into(),
            deal_id: deal.into(),
            account_id: None,
            subject: "Delivery failed: SO-1042".into(),
            body: "Refused at the door.\nSuggested message: ...".into(),
            due_at: Some(at("2026-12-07T09:30:00Z")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_canonical_names_in_lower_case() {
        use crmerp_proto::OrderStatus;
        assert_eq!(order_status_label(OrderStatus::Dispatched), "dispatched");
        assert_eq!(
            order_status_label(OrderStatus::PartiallyDelivered),
            "partially_delivered"
        );
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("äöü", 5), "äöü");
    }
}
