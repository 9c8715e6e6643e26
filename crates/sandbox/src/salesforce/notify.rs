//! Announcing won opportunities as Salesforce would: a workflow Outbound
//! Message (SOAP, re-sent until the listener answers `<Ack>true</Ack>`) or a
//! record-triggered Flow's HTTP callout signed with Standard Webhooks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::config::{NotifyFormat, SalesforceConfig};
use crate::config::RetryPolicy;
use crate::delivery::{self, DeliveryLog};
use crate::error::SandboxError;
use crate::util::{read, write};

/// The outbound message definition's id.
const ACTION_ID: &str = "04k5g000000ErpWAAS";

/// Where announcements go; changeable at runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NotifySettings {
    pub(crate) target_url: Option<String>,
    pub(crate) format: NotifyFormat,
}

/// One delivery attempt.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Delivery {
    notification_id: String,
    opportunity_id: String,
    format: NotifyFormat,
    attempt: u32,
    target_url: String,
    status: Option<u16>,
    error: Option<String>,
    delivered: bool,
    time: DateTime<Utc>,
}

struct Inner {
    settings: RwLock<NotifySettings>,
    organization_id: String,
    secret: Vec<u8>,
    retry: RetryPolicy,
    client: reqwest::Client,
    next: AtomicU64,
    log: DeliveryLog<Delivery>,
    shutdown: CancellationToken,
}

/// The announcer of the Salesforce simulator.
pub(crate) struct Notifier {
    inner: Arc<Inner>,
}

impl Notifier {
    pub(crate) fn new(
        config: &SalesforceConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(SandboxError::HttpClient)?;
        let secret = match config.callout_secret.strip_prefix("whsec_") {
            Some(encoded) => BASE64
                .decode(encoded)
                .unwrap_or_else(|_| encoded.as_bytes().to_vec()),
            None => config.callout_secret.as_bytes().to_vec(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                settings: RwLock::new(NotifySettings {
                    target_url: config.notify_url.clone(),
                    format: config.notify_format,
                }),
                organization_id: config.organization_id.clone(),
                secret,
                retry: config.retry,
                client,
                next: AtomicU64::new(
                    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0) % 1_000_000_000,
                ),
                log: DeliveryLog::default(),
                shutdown,
            }),
        })
    }

    pub(crate) fn settings(&self) -> NotifySettings {
        read(&self.inner.settings).clone()
    }

    pub(crate) fn set_settings(&self, settings: NotifySettings) {
        *write(&self.inner.settings) = settings;
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.inner.log.all()
    }

    pub(crate) fn clear(&self) {
        self.inner.log.clear();
    }

    /// Announces that `opportunity_id` entered the won stage `stage`.
    pub(crate) fn won(&self, opportunity_id: &str, stage: &str) {
        if read(&self.inner.settings).target_url.is_none() {
            return;
        }
        let n = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let notification_id = super::store::id18(&format!("04l5g{n:010}"));
        let inner = Arc::clone(&self.inner);
        let (opp, stage) = (opportunity_id.to_owned(), stage.to_owned());
        tokio::spawn(async move { inner.deliver(&notification_id, &opp, &stage).await });
    }
}

impl Inner {
    async fn deliver(&self, notification_id: &str, opp: &str, stage: &str) {
        let modified = &Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        delivery::with_retry(self.retry, &self.shutdown, |attempt| async move {
            let settings = read(&self.settings).clone();
            let target = settings.target_url?;
            let request = match settings.format {
                NotifyFormat::OutboundMessage => self
                    .client
                    .post(&target)
                    .header("Content-Type", "text/xml; charset=utf-8")
                    .header("SOAPAction", "\"\"")
                    .header("User-Agent", "Salesforce - OutboundMessage (sandbox)")
                    .body(self.soap(notification_id, opp, stage)),
                NotifyFormat::Callout => {
                    let body = json!({ "organizationId": self.organization_id, "opportunityId": opp, "stageName": stage, "lastModifiedDate": modified }).to_string();
                    let timestamp = Utc::now().timestamp();
                    let id = format!("msg_{notification_id}");
                    self.client
                        .post(&target)
                        .header("Content-Type", "application/json")
                        .header("webhook-id", &id)
                        .header("webhook-timestamp", timestamp.to_string())
                        .header("webhook-signature", self.sign(&id, timestamp, body.as_bytes()))
                        .body(body)
                }
            };
            let (status, mut error, body) = delivery::send(request).await;
            // Salesforce re-sends an Outbound Message until the answer acknowledges it.
            if error.is_none() && settings.format == NotifyFormat::OutboundMessage && !body.contains("<Ack>true</Ack>") {
                error = Some("no <Ack>true</Ack> in the answer".to_owned());
            }
            let delivered = error.is_none();
            self.log.push(Delivery { notification_id: notification_id.to_owned(), opportunity_id: opp.to_owned(), format: settings.format, attempt, target_url: target, status, error, delivered, time: Utc::now() });
            Some(delivered)
        })
        .await;
    }

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
