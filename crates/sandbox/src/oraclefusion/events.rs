//! Order Management business events of the Oracle Fusion simulator, as the
//! callback an event subscription (e.g. an Oracle Integration trigger)
//! receives: a JSON POST
//! `{"eventName","eventNamespace","eventId","eventTime","payload":{…}}`.
//! `SalesOrderCreated` when an order is created; `FulfillLineStatusUpdate`
//! when its fulfillment lines change status.

use std::sync::Arc;

use axum::Router;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::config::OracleFusionConfig;
use super::store::Entity;
use crate::error::SandboxError;
use crate::kit::emitter::{Emitter, Target};

/// Namespace of Order Management's events.
const NAMESPACE: &str = "/oracle/apps/scm/doo/publicEvents";
/// An order was created.
pub(super) const ORDER_CREATED: &str = "SalesOrderCreated";
/// Fulfillment lines changed status.
pub(super) const LINE_STATUS: &str = "FulfillLineStatusUpdate";

/// What the delivery log says of an event.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    event_id: String,
    event_name: &'static str,
    order_number: String,
}

/// The event subscription's callback.
pub(super) struct Events {
    emitter: Arc<Emitter<Target, About>>,
}

impl Events {
    pub(super) fn new(
        config: &OracleFusionConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        Ok(Self {
            emitter: Emitter::for_events("oraclefusion", &config.events, shutdown)?,
        })
    }

    /// `/__sandbox/webhooks` (the callback URL) and the delivery log.
    pub(super) fn routes(&self) -> Router {
        self.emitter.routes()
    }

    pub(super) fn clear(&self) {
        self.emitter.clear();
    }

    /// Event `name` about `order`: its keys, status and fulfillment lines.
    pub(super) fn order(&self, name: &'static str, order: &Entity) {
        let field = |key: &str| order.get(key).cloned().unwrap_or(Value::Null);
        let lines: Vec<Value> = order
            .get("lines")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|line| {
                json!({
                    "FulfillLineId": line.get("LineId"),
                    "SourceTransactionLineId": line.get("SourceTransactionLineId"),
                    "ProductNumber": line.get("ProductNumber"),
                    "StatusCode": line.get("StatusCode"),
                    "ShippingCarrier": line.get("ShippingCarrier"),
                    "TrackingNumber": line.get("TrackingNumber"),
                })
            })
            .collect();
        let event_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "eventName": name,
            "eventNamespace": NAMESPACE,
            "eventId": event_id,
            "eventTime": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "payload": {
                "HeaderId": field("HeaderId"),
                "OrderKey": field("OrderKey"),
                "OrderNumber": field("OrderNumber"),
                "SourceTransactionNumber": field("SourceTransactionNumber"),
                "SourceTransactionSystem": field("SourceTransactionSystem"),
                "StatusCode": field("StatusCode"),
                "FulfillLines": lines,
            },
        })
        .to_string();
        let about = About {
            event_id,
            event_name: name,
            order_number: order
                .get("OrderNumber")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        let headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        self.emitter.post(about, headers, body);
    }
}
