//! SAP S/4HANA business events as SAP Event Mesh delivers them to a webhook
//! subscription: CloudEvents 1.0 over HTTP, in structured mode (the event as an
//! `application/cloudevents+json` body) or binary mode (`ce-*` headers, the
//! data as the body). Types are SAP's, e.g.
//! `sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1`; `source` is
//! `/default/sap.s4.beh/<system>`; `data` carries the document's key fields.

use std::sync::Arc;

use axum::Router;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::config::{CloudEventsMode, S4HanaConfig};
use super::store::Entity;
use crate::error::SandboxError;
use crate::kit::emitter::{Emitter, Target};

/// `SalesOrder.Created.v1`.
pub(super) const ORDER_CREATED: &str = "sap.s4.beh.salesorder.v1.SalesOrder.Created.v1";
/// `SalesOrder.Changed.v1`.
pub(super) const ORDER_CHANGED: &str = "sap.s4.beh.salesorder.v1.SalesOrder.Changed.v1";
/// `BillingDocument.Created.v1`.
pub(super) const BILLING_CREATED: &str = "sap.s4.beh.billingdocument.v1.BillingDocument.Created.v1";

/// Key fields of a sales order in its events' `data`.
const ORDER_KEYS: &[&str] = &[
    "SalesOrder",
    "SalesOrderType",
    "SalesOrganization",
    "DistributionChannel",
    "OrganizationDivision",
    "SoldToParty",
];

/// What the delivery log says of an event.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    id: String,
    #[serde(rename = "type")]
    event_type: &'static str,
    subject: String,
}

/// The Event Mesh queue's webhook subscription.
pub(super) struct Events {
    emitter: Arc<Emitter<Target, About>>,
    source: String,
    mode: CloudEventsMode,
}

impl Events {
    pub(super) fn new(
        config: &S4HanaConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        Ok(Self {
            emitter: Emitter::for_events("s4hana", &config.events, shutdown)?,
            source: format!("/default/sap.s4.beh/{}", config.system_id),
            mode: config.cloudevents_mode,
        })
    }

    /// `/__sandbox/webhooks` (the subscription's URL) and the delivery log.
    pub(super) fn routes(&self) -> Router {
        self.emitter.routes()
    }

    pub(super) fn clear(&self) {
        self.emitter.clear();
    }

    /// A sales order event of `event_type` for `order`.
    pub(super) fn order(&self, event_type: &'static str, order: &Entity) {
        let mut data: Map<String, Value> = ORDER_KEYS
            .iter()
            .map(|key| {
                (
                    (*key).to_owned(),
                    order.get(*key).cloned().unwrap_or(Value::Null),
                )
            })
            .collect();
        data.insert("EventRaisedDateTime".into(), json!(now()));
        let subject = order
            .get("SalesOrder")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.emit(event_type, subject, data);
    }

    /// An event of `event_type` about document `subject` with `data`.
    pub(super) fn emit(&self, event_type: &'static str, subject: &str, data: Map<String, Value>) {
        let id = uuid::Uuid::new_v4().to_string();
        let time = now();
        let (headers, body) = match self.mode {
            CloudEventsMode::Structured => (
                vec![(
                    "Content-Type".to_owned(),
                    "application/cloudevents+json".to_owned(),
                )],
                json!({
                    "specversion": "1.0",
                    "type": event_type,
                    "source": self.source,
                    "subject": subject,
                    "id": id,
                    "time": time,
                    "datacontenttype": "application/json",
                    "data": data,
                })
                .to_string(),
            ),
            CloudEventsMode::Binary => (
                [
                    ("Content-Type", "application/json"),
                    ("ce-specversion", "1.0"),
                    ("ce-type", event_type),
                    ("ce-source", self.source.as_str()),
                    ("ce-subject", subject),
                    ("ce-id", id.as_str()),
                    ("ce-time", time.as_str()),
                ]
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .into(),
                Value::Object(data).to_string(),
            ),
        };
        let about = About {
            id,
            event_type,
            subject: subject.to_owned(),
        };
        self.emitter.post(about, headers, body);
    }
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}
