//! Announcing won opportunities as Salesforce would: a workflow Outbound
//! Message (SOAP, re-sent until the listener answers `<Ack>true</Ack>`) or a
//! record-triggered Flow's HTTP callout signed with Standard Webhooks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::config::{NotifyFormat, SalesforceConfig};
use crate::error::SandboxError;
use crate::kit::emitter::{self, Answer, Attempt, Emitter, Verdict};

/// The outbound message definition's id.
const ACTION_ID: &str = "04k5g000000ErpWAAS";

/// Where announcements go; changeable at runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NotifySettings {
    pub(crate) target_url: Option<String>,
    pub(crate) format: NotifyFormat,
}

/// Body of `PUT /__sandbox/webhooks`; an absent `format` keeps the current one.
#[derive(Debug, Deserialize)]
pub(crate) struct SettingsInput {
    target_url: Option<String>,
    #[serde(default)]
    format: Option<NotifyFormat>,
    /// Accepted for symmetry with the HubSpot simulator; Salesforce has one scheme per format.
    #[serde(default, rename = "signature")]
    _signature: Option<String>,
}

impl emitter::Settings for NotifySettings {
    type Input = SettingsInput;

    fn input_target(input: &SettingsInput) -> Option<&str> {
        input.target_url.as_deref()
    }

    fn apply(&self, input: SettingsInput) -> Self {
        Self {
            target_url: input.target_url,
            format: input.format.unwrap_or(self.format),
        }
    }
}

/// What the delivery log says of an announcement.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct About {
    notification_id: String,
    opportunity_id: String,
    /// The format when the opportunity was won.
    format: NotifyFormat,
}

struct Inner {
    emitter: Arc<Emitter<NotifySettings, About>>,
    organization_id: String,
    secret: Vec<u8>,
    next: AtomicU64,
}

/// The announcer of the Salesforce simulator.
pub(crate) struct Notifier {
    inner: Arc<Inner>,
}

/// Salesforce re-sends an Outbound Message until the answer acknowledges it.
fn acknowledged(answer: &Answer<'_>) -> Verdict {
    match emitter::success_is_delivery(answer) {
        Verdict::Delivered if !answer.body.contains("<Ack>true</Ack>") => Verdict::Retry,
        verdict => verdict,
    }
}

impl Notifier {
    pub(crate) fn new(
        config: &SalesforceConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let secret = match config.callout_secret.strip_prefix("whsec_") {
            Some(encoded) => BASE64
                .decode(encoded)
                .unwrap_or_else(|_| encoded.as_bytes().to_vec()),
            None => config.callout_secret.as_bytes().to_vec(),
        };
        let settings = NotifySettings {
            target_url: config.notify_url.clone(),
            format: config.notify_format,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                emitter: Emitter::new(
                    "salesforce",
                    settings,
                    config.retry,
                    config.request_timeout,
                    shutdown,
                )?,
                organization_id: config.organization_id.clone(),
                secret,
                next: AtomicU64::new(
                    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0) % 1_000_000_000,
                ),
            }),
        })
    }

    /// `/__sandbox/webhooks` and its delivery log.
    pub(crate) fn routes(&self) -> Router {
        self.inner.emitter.routes()
    }

    pub(crate) fn clear(&self) {
        self.inner.emitter.clear();
    }

    /// Announces that `opportunity_id` entered the won stage `stage`.
    pub(crate) fn won(&self, opportunity_id: &str, stage: &str) {
        let settings = self.inner.emitter.settings();
        if settings.target_url.is_none() {
            return;
        }
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let notification_id = super::store::id18(&format!("04l5g{n:010}"));
        let about = About {
            notification_id: notification_id.clone(),
            opportunity_id: opportunity_id.to_owned(),
            format: settings.format,
        };
        let inner = Arc::clone(&self.inner);
        let (opp, stage) = (opportunity_id.to_owned(), stage.to_owned());
        let modified = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let judge = match settings.format {
            NotifyFormat::OutboundMessage => acknowledged,
            NotifyFormat::Callout => emitter::success_is_delivery,
        };
        let attempt = move |settings: &NotifySettings, _attempt: u32| {
            let target = settings.target_url.clone()?;
            let client = inner.emitter.client();
            let request = match settings.format {
                NotifyFormat::OutboundMessage => client
                    .post(&target)
                    .header("Content-Type", "text/xml; charset=utf-8")
                    .header("SOAPAction", "\"\"")
                    .header("User-Agent", "Salesforce - OutboundMessage (sandbox)")
                    .body(inner.soap(&notification_id, &opp, &stage)),
                NotifyFormat::Callout => {
                    let body = json!({ "organizationId": inner.organization_id, "opportunityId": opp, "stageName": stage, "lastModifiedDate": modified }).to_string();
                    let timestamp = Utc::now().timestamp();
                    let id = format!("msg_{notification_id}");
                    client
                        .post(&target)
                        .header("Content-Type", "application/json")
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header(
                            "webhook-signature",
                            inner.sign(&id, timestamp, body.as_bytes()),
                        )
                        .body(body)
                }
            };
            Some(Attempt { target, request })
        };
        self.inner.emitter.spawn(about, attempt, judge);
    }
}

impl Inner {
    fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return String::new();
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    fn soap(&self, notification_id: &str, opp: &str, stage: &str) -> String {
        let org = escape(&self.organization_id);
        let org15 = org.get(..15).unwrap_or(&org);
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>{ACTION_ID}</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://sandbox.my.salesforce.com/services/Soap/c/62.0/{org15}</EnterpriseUrl>
   <PartnerUrl>https://sandbox.my.salesforce.com/services/Soap/u/62.0/{org15}</PartnerUrl>
   <Notification>
    <Id>{notification_id}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{opp}</sf:Id>
     <sf:IsWon>true</sf:IsWon>
     <sf:StageName>{stage}</sf:StageName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#,
            opp = escape(opp),
            stage = escape(stage),
        )
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
