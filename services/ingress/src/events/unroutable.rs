//! Unroutable notices: an authenticated vendor notice of a type no flow takes
//! (e.g. a HubSpot `contact.creation` from a subscription someone added) is
//! stored on `crmerp.unroutable.<source>` (stream `UNROUTABLE`) instead of
//! being acknowledged and dropped, so an operator can see what arrives and
//! whether a subscription is missing a flow. The message is JSON:
//! `{"source", "type", "received_at", "vendor_event_id", "notice"}`, with
//! `Nats-Msg-Id` `unroutable:<source>:<vendor_event_id>` so re-sends are
//! stored once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::Utc;
use crmerp_service_kit::topology::unroutable_subject;
use serde::Serialize;

use crate::Publisher;
use crate::error::IngressError;

/// Types already warned about are remembered up to this many, so a sender
/// inventing types cannot grow the set without bound.
const MAX_WARNED_TYPES: usize = 1000;

/// One notice no flow takes, as the source route understood it.
#[derive(Debug, Clone)]
pub(crate) struct UnroutableNotice {
    /// The vendor's event type (HubSpot's `subscriptionType`).
    pub(crate) event_type: String,
    /// The vendor's id of this notice, stable across re-sends.
    pub(crate) vendor_event_id: String,
    /// The notice as the vendor sent it.
    pub(crate) notice: serde_json::Value,
}

impl UnroutableNotice {
    /// A delivery that is one notice: the whole body is the notice.
    pub(crate) fn whole_body(event_type: String, vendor_event_id: String, body: &[u8]) -> Self {
        Self {
            event_type,
            vendor_event_id,
            notice: serde_json::from_slice(body).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    source: &'a str,
    r#type: &'a str,
    received_at: String,
    vendor_event_id: &'a str,
    notice: &'a serde_json::Value,
}

/// The event types warned about so far (one warning per source and type per process).
#[derive(Clone, Default)]
pub(crate) struct WarnedTypes(Arc<Mutex<HashSet<(&'static str, String)>>>);

impl WarnedTypes {
    /// True the first time `(source, event_type)` is seen.
    fn first_time(&self, source: &'static str, event_type: &str) -> bool {
        let Ok(mut seen) = self.0.lock() else {
            return false;
        };
        if seen.len() >= MAX_WARNED_TYPES {
            return false;
        }
        seen.insert((source, event_type.to_owned()))
    }
}

/// Stores every notice on the source's unroutable subject, waiting for the
/// PubAcks (503 otherwise, so the vendor re-sends), and warns once per type.
pub(crate) async fn publish(
    publisher: &Publisher,
    warned: &WarnedTypes,
    source: &'static str,
    notices: &[UnroutableNotice],
) -> Result<usize, IngressError> {
    if notices.is_empty() {
        return Ok(0);
    }
    let received_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut messages = Vec::with_capacity(notices.len());
    for notice in notices {
        let message = Message {
            source,
            r#type: &notice.event_type,
            received_at: received_at.clone(),
            vendor_event_id: &notice.vendor_event_id,
            notice: &notice.notice,
        };
        let payload = serde_json::to_vec(&message)
            .map_err(|e| IngressError::Malformed(format!("unserialisable notice: {e}")))?;
        messages.push((
            unroutable_subject(source),
            format!("unroutable:{source}:{}", notice.vendor_event_id),
            Bytes::from(payload),
        ));
    }
    let report = publisher.publish_raw(messages).await?;
    metrics::counter!("crmerp_ingress_events_total", "source" => source, "result" => "unroutable")
        .increment(report.stored as u64);
    for notice in notices {
        if warned.first_time(source, &notice.event_type) {
            let event_type: String = notice.event_type.chars().take(100).collect();
            tracing::warn!(
                source,
                %event_type,
                subject = %unroutable_subject(source),
                "Stored a notice of a type no flow takes; later ones of this type are stored without a warning."
            );
        }
    }
    Ok(notices.len())
}
