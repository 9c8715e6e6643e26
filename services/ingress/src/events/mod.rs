//! Canonical event kinds: one module per kind turns what a source route
//! understood of a vendor notice into that kind's envelope and subject.
//!
//! - [`deal_won`]: a CRM deal (opportunity) entered a won stage, from any CRM.
//! - [`fulfilment`]: an ERP order's status, a carrier scan, a customer
//!   message's delivery state, from any ERP, carrier or messaging provider.
//! - [`unroutable`]: a notice of a type no flow takes, kept for operators.
//!
//! A new kind (an invoice posted) is a new module here with its own notice
//! type and normaliser, published through [`publish`]; the source routes of
//! every vendor that emits it then share it.

pub(crate) mod deal_won;
pub(crate) mod fulfilment;
pub(crate) mod unroutable;

use crmerp_proto::EventEnvelope;
use serde::Serialize;

use crate::Publisher;
use crate::error::IngressError;

/// What ingress did with a delivery (the JSON answer of most routes).
#[derive(Debug, Serialize)]
pub(crate) struct Accepted {
    /// Events newly stored.
    pub(crate) accepted: usize,
    /// Events already stored earlier (a re-sent webhook).
    pub(crate) duplicates: usize,
    /// Notices in the delivery that are not events we take.
    pub(crate) ignored: usize,
    /// Of those, notices of types no flow takes, stored as unroutable
    /// (absent when none, so the usual answer keeps its shape).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) unroutable: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Publishes `(subject, envelope)` pairs from `system` and reports, counting
/// `ignored` notices the delivery also carried.
pub(crate) async fn publish(
    publisher: &Publisher,
    system: &'static str,
    events: Vec<(String, EventEnvelope)>,
    ignored: usize,
) -> Result<Accepted, IngressError> {
    let report = publisher.publish_all(events).await?;
    metrics::counter!("crmerp_ingress_events_total", "source" => system, "result" => "accepted")
        .increment(report.stored as u64);
    metrics::counter!("crmerp_ingress_events_total", "source" => system, "result" => "duplicate")
        .increment(report.duplicates as u64);
    tracing::info!(
        source = system,
        accepted = report.stored,
        duplicates = report.duplicates,
        ignored,
        "Webhook accepted."
    );
    Ok(Accepted {
        accepted: report.stored,
        duplicates: report.duplicates,
        ignored,
        unroutable: 0,
    })
}
