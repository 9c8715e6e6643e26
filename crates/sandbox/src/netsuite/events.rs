//! Record-change events of the NetSuite simulator. NetSuite has no webhooks of
//! its own; accounts deploy a User Event script whose `afterSubmit` POSTs the
//! change with `N/https`, signed with `N/crypto`. The simulator behaves as that
//! script deployed on sales orders, item fulfillments and invoices:
//!
//! - body `{"scriptId","deploymentId","account","eventType":"create|edit|delete",
//!   "recordType":"salesorder|itemfulfillment|invoice","id","occurredAt","record"}`
//! - `X-Crmerp-Timestamp: <unix seconds>`,
//!   `X-Crmerp-Signature: sha256=<lowercase hex HMAC-SHA256(secret, timestamp + "." + raw body)>`
//!   (the timestamp inside the MAC lets the receiver refuse replays) and
//!   `X-NetSuite-Account: <account>`.

use std::sync::Arc;

use axum::Router;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::store::{Record, RecordType};
use crate::config::NetSuiteConfig;
use crate::error::SandboxError;
use crate::kit::emitter::{Emitter, Target};

/// Header carrying the signature over timestamp and body.
pub(crate) const SIGNATURE_HEADER: &str = "X-Crmerp-Signature";
/// Header carrying the signing time, unix seconds.
pub(crate) const TIMESTAMP_HEADER: &str = "X-Crmerp-Timestamp";

/// What the delivery log says of an event.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    event_id: String,
    event_type: &'static str,
    record_type: &'static str,
    record_id: u64,
}

/// The deployed User Event script.
pub(super) struct Events {
    emitter: Arc<Emitter<Target, About>>,
    secret: String,
    account: String,
}

impl Events {
    pub(super) fn new(
        config: &NetSuiteConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        Ok(Self {
            emitter: Emitter::for_events("netsuite", &config.events, shutdown)?,
            secret: config.events_secret.clone(),
            account: config.account.clone(),
        })
    }

    /// `/__sandbox/webhooks` (the script's target URL) and the delivery log.
    pub(super) fn routes(&self) -> Router {
        self.emitter.routes()
    }

    pub(super) fn clear(&self) {
        self.emitter.clear();
    }

    /// `afterSubmit` of `event_type` (`create`, `edit`, `delete`) on a record;
    /// customers and items have no script deployed.
    pub(super) fn after_submit(
        &self,
        event_type: &'static str,
        record_type: RecordType,
        id: u64,
        record: Option<&Record>,
    ) {
        if matches!(
            record_type,
            RecordType::Customer | RecordType::InventoryItem
        ) {
            return;
        }
        let script_type = record_type.name().to_ascii_lowercase();
        let event_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "scriptId": "customscript_crmerp_record_events",
            "deploymentId": format!("customdeploy_crmerp_{script_type}"),
            "account": self.account,
            "eventType": event_type,
            "recordType": script_type,
            "id": id.to_string(),
            "occurredAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "record": record,
        })
        .to_string();
        let timestamp = Utc::now().timestamp().to_string();
        let headers = vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (TIMESTAMP_HEADER.to_owned(), timestamp.clone()),
            (
                SIGNATURE_HEADER.to_owned(),
                signature(&self.secret, &timestamp, body.as_bytes()),
            ),
            ("X-NetSuite-Account".to_owned(), self.account.clone()),
        ];
        let about = About {
            event_id,
            event_type,
            record_type: record_type.name(),
            record_id: id,
        };
        self.emitter.post(about, headers, body);
    }
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `timestamp` + `.` +
/// `body` keyed by `secret`.
pub(crate) fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC accepts keys of any length.
        return String::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_an_independent_vector() {
        // python3: hmac.new(b"dev-ns-events-secret", b'1767225600.{"id":"1"}', hashlib.sha256).hexdigest()
        assert_eq!(
            signature("dev-ns-events-secret", "1767225600", br#"{"id":"1"}"#),
            "sha256=106d2fba55befaefaa571bf359e012e9714a7705471a861765ee89cdeb17b1e4"
        );
    }
}
