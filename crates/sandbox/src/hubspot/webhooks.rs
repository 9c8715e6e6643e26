//! HubSpot webhook delivery: signed POSTs of deal events (up to
//! `max_events_per_request` in one array, as HubSpot batches), in the order
//! they happened, retried with growing delays, and logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{HubSpotConfig, SignatureMode};
use crate::error::SandboxError;
use crate::kit::emitter::{self, Attempt, Emitter};
use crate::util::lock;

/// User agent HubSpot sends webhooks with (plus a sandbox marker).
const USER_AGENT: &str = "HubSpot Connect 2.0 (http://dev.hubspot.com/) (sandbox)";
/// Subscription ids of the sandbox app's two subscriptions.
const CREATION_SUBSCRIPTION_ID: u64 = 2_418_001;
const STAGE_SUBSCRIPTION_ID: u64 = 2_418_002;

/// Where webhooks go and how they are signed; changeable at runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct WebhookSettings {
    pub(super) target_url: Option<String>,
    pub(super) signature: SignatureMode,
}

/// Body of `PUT /__sandbox/webhooks`; an absent `signature` keeps the current mode.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SettingsInput {
    target_url: Option<String>,
    signature: Option<SignatureMode>,
}

impl emitter::Settings for WebhookSettings {
    type Input = SettingsInput;

    fn input_target(input: &SettingsInput) -> Option<&str> {
        input.target_url.as_deref()
    }

    fn apply(&self, input: SettingsInput) -> Self {
        Self {
            target_url: input.target_url,
            signature: input.signature.unwrap_or(self.signature),
        }
    }
}

/// What the delivery log says of a request: its first event and how many it carries.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    event_id: u64,
    subscription_type: &'static str,
    object_id: u64,
    events: usize,
}

/// A webhook event waiting for delivery.
#[derive(Debug, Clone)]
struct Event {
    event_id: u64,
    subscription_id: u64,
    subscription_type: &'static str,
    object_id: u64,
    occurred_at: i64,
    change_flag: &'static str,
    property: Option<(&'static str, String)>,
}

struct Inner {
    emitter: Arc<Emitter<WebhookSettings, About>>,
    client_secret: String,
    portal_id: u64,
    app_id: u64,
    next_event_id: AtomicU64,
    /// The events waiting, in the order they happened; `None` while no drain runs.
    queue: Mutex<Option<mpsc::UnboundedSender<Event>>>,
    max_batch: usize,
    shutdown: CancellationToken,
}

/// The webhook dispatcher of the HubSpot simulator.
pub(super) struct Webhooks {
    inner: Arc<Inner>,
}

impl Webhooks {
    /// Creates the dispatcher; deliveries stop when `shutdown` is cancelled.
    pub(super) fn new(
        config: &HubSpotConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let settings = WebhookSettings {
            target_url: config.webhooks.target_url.clone(),
            signature: config.webhooks.signature,
        };
        let emitter = Emitter::new(
            "hubspot",
            settings,
            config.webhooks.retry,
            config.webhooks.request_timeout,
            shutdown.clone(),
        )?;
        // Unique across restarts without persisting a counter, and below 2^53.
        let first_event_id = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0) * 1000;
        Ok(Self {
            inner: Arc::new(Inner {
                emitter,
                client_secret: config.client_secret.clone(),
                portal_id: config.portal_id,
                app_id: config.app_id,
                next_event_id: AtomicU64::new(first_event_id),
                queue: Mutex::new(None),
                max_batch: config.webhooks.max_events_per_request.max(1),
                shutdown,
            }),
        })
    }

    /// `/__sandbox/webhooks` and its delivery log.
    pub(super) fn routes(&self) -> Router {
        self.inner.emitter.routes()
    }

    /// Empties the delivery log.
    pub(super) fn clear_deliveries(&self) {
        self.inner.emitter.clear();
    }

    /// Emits `deal.creation`, then `deal.propertyChange` of `dealstage` when a stage is set.
    ///
    /// Call with the state write lock held so events are queued in the order of the changes.
    pub(super) fn deal_created(&self, deal_id: u64, stage: Option<String>) {
        self.enqueue(
            deal_id,
            CREATION_SUBSCRIPTION_ID,
            "deal.creation",
            "CREATED",
            None,
        );
        if let Some(stage) = stage {
            self.deal_stage_changed(deal_id, stage);
        }
    }

    /// Emits `deal.propertyChange` for a new `dealstage`.
    pub(super) fn deal_stage_changed(&self, deal_id: u64, stage: String) {
        self.enqueue(
            deal_id,
            STAGE_SUBSCRIPTION_ID,
            "deal.propertyChange",
            "UPDATED",
            Some(("dealstage", stage)),
        );
    }

    fn enqueue(
        &self,
        object_id: u64,
        subscription_id: u64,
        subscription_type: &'static str,
        change_flag: &'static str,
        property: Option<(&'static str, String)>,
    ) {
        if self.inner.emitter.settings().target_url.is_none() {
            return;
        }
        let event = Event {
            event_id: self.inner.next_event_id.fetch_add(1, Ordering::Relaxed),
            subscription_id,
            subscription_type,
            object_id,
            occurred_at: Utc::now().timestamp_millis(),
            change_flag,
            property,
        };
        let mut queue = lock(&self.inner.queue);
        let event = match queue.as_ref() {
            Some(sender) => match sender.send(event) {
                Ok(()) => return,
                Err(mpsc::error::SendError(event)) => event,
            },
            None => event,
        };
        let (sender, receiver) = mpsc::unbounded_channel();
        if sender.send(event).is_err() {
            return;
        }
        *queue = Some(sender);
        tokio::spawn(drain(Arc::clone(&self.inner), receiver));
    }
}

/// Delivers the queue's events in order, each request carrying every event
/// waiting (up to the batch size), until the queue is empty.
async fn drain(inner: Arc<Inner>, mut receiver: mpsc::UnboundedReceiver<Event>) {
    loop {
        let batch = {
            // Under the lock, so an event queued meanwhile finds this drain or starts the next.
            let mut queue = lock(&inner.queue);
            let mut batch = Vec::new();
            while batch.len() < inner.max_batch {
                match receiver.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            if batch.is_empty() {
                *queue = None;
                return;
            }
            batch
        };
        inner.deliver(&batch).await;
        if inner.shutdown.is_cancelled() {
            return;
        }
    }
}

impl Inner {
    async fn deliver(&self, events: &[Event]) {
        let Some(first) = events.first() else {
            return;
        };
        let about = About {
            event_id: first.event_id,
            subscription_type: first.subscription_type,
            object_id: first.object_id,
            events: events.len(),
        };
        let attempt = |settings: &WebhookSettings, attempt: u32| {
            let target = settings.target_url.clone()?;
            let body = self.body(events, attempt);
            let timestamp = Utc::now().timestamp_millis();
            let mut request = self
                .emitter
                .client()
                .post(&target)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::USER_AGENT, USER_AGENT);
            if settings.signature.includes_v1() {
                request = request
                    .header(
                        "X-HubSpot-Signature",
                        signature_v1(&self.client_secret, &body),
                    )
                    .header("X-HubSpot-Signature-Version", "v1");
            }
            if settings.signature.includes_v3() {
                request = request
                    .header(
                        "X-HubSpot-Signature-v3",
                        signature_v3(&self.client_secret, "POST", &target, &body, timestamp),
                    )
                    .header("X-HubSpot-Request-Timestamp", timestamp.to_string());
                if !settings.signature.includes_v1() {
                    request = request.header("X-HubSpot-Signature-Version", "v3");
                }
            }
            Some(Attempt {
                target,
                request: request.body(body),
            })
        };
        self.emitter
            .deliver(about, attempt, emitter::success_is_delivery)
            .await;
    }

    fn body(&self, events: &[Event], attempt: u32) -> Vec<u8> {
        let payloads: Vec<serde_json::Value> =
            events.iter().map(|e| self.payload(e, attempt)).collect();
        serde_json::Value::Array(payloads).to_string().into_bytes()
    }

    fn payload(&self, event: &Event, attempt: u32) -> serde_json::Value {
        let mut payload = json!({
            "eventId": event.event_id,
            "subscriptionId": event.subscription_id,
            "portalId": self.portal_id,
            "appId": self.app_id,
            "occurredAt": event.occurred_at,
            "subscriptionType": event.subscription_type,
            "attemptNumber": attempt,
            "objectId": event.object_id,
            "changeSource": "CRM_UI",
            "changeFlag": event.change_flag,
        });
        if let Some((name, value)) = &event.property {
            payload["propertyName"] = json!(name);
            payload["propertyValue"] = json!(value);
        }
        payload
    }
}

/// `X-HubSpot-Signature` v1: hex SHA-256 of client secret followed by the body.
pub(super) fn signature_v1(client_secret: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(client_secret.as_bytes());
    hasher.update(body);
    hex::encode(hasher.finalize())
}

/// `X-HubSpot-Signature-v3`: Base64 HMAC-SHA256 keyed by the client secret over
/// method + URI + body + timestamp, where the URI has HubSpot's listed escapes decoded.
pub(super) fn signature_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp_ms: i64,
) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else {
        // HMAC accepts keys of any length.
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(decode_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp_ms.to_string().as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Decodes the percent-escapes HubSpot decodes before signing.
fn decode_uri(uri: &str) -> String {
    const ESCAPES: [(&str, &str); 12] = [
        ("%3A", ":"),
        ("%2F", "/"),
        ("%3F", "?"),
        ("%40", "@"),
        ("%21", "!"),
        ("%24", "$"),
        ("%27", "'"),
        ("%28", "("),
        ("%29", ")"),
        ("%2A", "*"),
        ("%2C", ","),
        ("%3B", ";"),
    ];
    let mut out = uri.to_owned();
    for (escape, plain) in ESCAPES {
        out = out
            .replace(escape, plain)
            .replace(&escape.to_lowercase(), plain);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"[{"eventId":1}]"#;

    #[test]
    fn v1_matches_an_independent_vector() {
        // python3: hashlib.sha256(b"dev-hubspot-client-secret" + b'[{"eventId":1}]').hexdigest()
        assert_eq!(
            signature_v1("dev-hubspot-client-secret", BODY),
            "72df6d912fc03c8498b1fd1befbe4644751166d49177c2b9ae4424e3638a2f48"
        );
    }

    #[test]
    fn v3_matches_an_independent_vector_and_decodes_escapes() {
        // python3: base64.b64encode(hmac.new(b"dev-hubspot-client-secret",
        //   b"POST" + b"http://127.0.0.1:8080/webhooks/hubspot?a=b:c" + b'[{"eventId":1}]'
        //   + b"1700000000000", hashlib.sha256).digest())
        let expected = "YlOYfi4pXgRKMgaFfmVZDdj9tN3VWV4d30Pyn7kjyRk=";
        let secret = "dev-hubspot-client-secret";
        let plain = "http://127.0.0.1:8080/webhooks/hubspot?a=b:c";
        let escaped = "http://127.0.0.1:8080/webhooks/hubspot?a=b%3Ac";
        assert_eq!(
            signature_v3(secret, "POST", plain, BODY, 1_700_000_000_000),
            expected
        );
        assert_eq!(
            signature_v3(secret, "POST", escaped, BODY, 1_700_000_000_000),
            expected
        );
    }
}
