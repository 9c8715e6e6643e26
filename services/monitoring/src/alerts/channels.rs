//! Delivery to Slack, email (SMTP) and PagerDuty, retried with exponential
//! backoff. A delivery that still fails is logged and counted, never dropped silently.

use std::sync::Arc;

use backon::{ExponentialBuilder, Retryable};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::settings::{AlertSettings, Channel, Severity, SmtpSecurity};

/// Trigger or resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Something is wrong.
    Trigger,
    /// It is fine again.
    Resolve,
}

/// One notification.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Stable incident key, also PagerDuty's `dedup_key`.
    pub key: String,
    /// Urgency, which picks the channels.
    pub severity: Severity,
    /// Trigger or resolve.
    pub action: Action,
    /// One-line summary.
    pub title: String,
    /// Labelled details, e.g. ("CRM record", link).
    pub details: Vec<(String, String)>,
    /// The flow concerned.
    pub flow: String,
}

impl Alert {
    fn heading(&self) -> String {
        let state = match self.action {
            Action::Trigger => format!("{:?}", self.severity),
            Action::Resolve => "RESOLVED".to_owned(),
        };
        format!("[{state}] {}", self.title)
    }

    fn text(&self) -> String {
        let mut text = self.heading();
        for (label, value) in &self.details {
            text.push_str(&format!("\n{label}: {value}"));
        }
        text
    }
}

/// What a channel carries: an alert, or a report with its own subject.
enum Note<'a> {
    Alert(&'a Alert),
    Report { subject: &'a str, text: &'a str },
}

impl Note<'_> {
    fn heading(&self) -> String {
        match self {
            Self::Alert(alert) => alert.heading(),
            Self::Report { subject, .. } => (*subject).to_owned(),
        }
    }

    fn text(&self) -> String {
        match self {
            Self::Alert(alert) => alert.text(),
            Self::Report { subject, text } => format!("{subject}\n\n{text}"),
        }
    }
}

/// A channel could not deliver.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(String);

/// Sends alerts to the configured channels.
#[derive(Clone)]
pub struct Notifier {
    settings: Arc<AlertSettings>,
    http: reqwest::Client,
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Notifier {
    /// Builds the channels; fails on an invalid SMTP host.
    pub fn new(settings: Arc<AlertSettings>) -> Result<Self, DeliveryError> {
        let smtp = match &settings.email {
            Some(email) => {
                let builder = match email.security {
                    SmtpSecurity::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&email.smtp_host)
                    }
                    SmtpSecurity::Starttls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&email.smtp_host)
                            .map_err(|e| DeliveryError(e.to_string()))?
                    }
                    SmtpSecurity::Tls => {
                        AsyncSmtpTransport::<Tokio1Executor>::relay(&email.smtp_host)
                            .map_err(|e| DeliveryError(e.to_string()))?
                    }
                };
                let mut builder = builder
                    .port(email.smtp_port)
                    .timeout(Some(std::time::Duration::from_secs(10)));
                if let (Some(user), Some(password)) = (&email.username, &email.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose_secret().to_owned(),
                    ));
                }
                Some(builder.build())
            }
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| DeliveryError(e.to_string()))?;
        Ok(Self {
            settings,
            http,
            smtp,
        })
    }

    /// Delivers `alert` to every channel of its severity, each retried with backoff.
    pub async fn send(&self, alert: &Alert) {
        for channel in self.settings.routes.channels(alert.severity) {
            let delivered = self
                .deliver_with_retry(*channel, &Note::Alert(alert), &alert.key)
                .await;
            if delivered.is_ok_and(|sent| sent) {
                tracing::info!(channel = channel_label(*channel), key = %alert.key, severity = ?alert.severity, action = ?alert.action, "Alert sent.");
            }
        }
    }

    /// Sends a report (not an alert: no severity, no PagerDuty) to `channels`,
    /// each retried with backoff. Returns the channels that took it and the
    /// errors of those that did not; unconfigured channels are in neither.
    pub async fn send_report(
        &self,
        channels: &[Channel],
        key: &str,
        subject: &str,
        text: &str,
    ) -> (Vec<Channel>, Vec<String>) {
        let note = Note::Report { subject, text };
        let (mut sent, mut failed) = (Vec::new(), Vec::new());
        for channel in channels {
            match self.deliver_with_retry(*channel, &note, key).await {
                Ok(true) => sent.push(*channel),
                Ok(false) => {}
                Err(error) => failed.push(format!("{}: {error}", channel_label(*channel))),
            }
        }
        (sent, failed)
    }

    /// One channel, retried; failures are logged and counted.
    async fn deliver_with_retry(
        &self,
        channel: Channel,
        note: &Note<'_>,
        key: &str,
    ) -> Result<bool, DeliveryError> {
        let retry = &self.settings.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.retries)
            .with_jitter();
        let result = (|| self.deliver(channel, note))
            .retry(backoff)
            .notify(|error, delay| {
                tracing::warn!(channel = ?channel, key, %error, ?delay, "Delivery failed; retrying.");
            })
            .await;
        let label = channel_label(channel);
        match &result {
            Ok(true) => {
                metrics::counter!("crmerp_monitoring_alerts_sent_total", "channel" => label)
                    .increment(1);
            }
            Ok(false) => {
                tracing::debug!(channel = label, "Channel not configured; skipped.");
            }
            Err(error) => {
                metrics::counter!("crmerp_monitoring_alert_failures_total", "channel" => label)
                    .increment(1);
                tracing::error!(channel = label, key, %error, "Not delivered after retries.");
            }
        }
        result
    }

    /// One attempt; `Ok(false)` when the channel is not configured (or, for
    /// PagerDuty, when the note is not an alert).
    async fn deliver(&self, channel: Channel, note: &Note<'_>) -> Result<bool, DeliveryError> {
        match channel {
            Channel::Slack => {
                let Some(slack) = &self.settings.slack else {
                    return Ok(false);
                };
                let body = json!({"text": note.text()});
                self.post(slack.webhook_url.expose_secret(), &body).await?;
            }
            Channel::PagerDuty => {
                let (Some(pd), Note::Alert(alert)) = (&self.settings.pagerduty, note) else {
                    return Ok(false);
                };
                let body = pagerduty_event(alert, pd.routing_key.expose_secret());
                self.post(&pd.events_url, &body).await?;
            }
            Channel::Email => {
                let (Some(email), Some(smtp)) = (&self.settings.email, &self.smtp) else {
                    return Ok(false);
                };
                let mut builder = Message::builder()
                    .from(
                        email
                            .from
                            .parse()
                            .map_err(|e| DeliveryError(format!("from: {e}")))?,
                    )
                    .subject(note.heading())
                    .header(ContentType::TEXT_PLAIN);
                for to in &email.to {
                    builder = builder.to(to
                        .parse()
                        .map_err(|e| DeliveryError(format!("to {to}: {e}")))?);
                }
                let message = builder
                    .body(note.text())
                    .map_err(|e| DeliveryError(e.to_string()))?;
                smtp.send(message)
                    .await
                    .map_err(|e| DeliveryError(format!("SMTP: {e}")))?;
            }
        }
        Ok(true)
    }

    async fn post(&self, url: &str, body: &Value) -> Result<(), DeliveryError> {
        let response = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            // Without the URL: a Slack webhook URL is a secret.
            .map_err(|e| DeliveryError(format!("request failed: {}", e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError(format!("answered {status}")))
        }
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Slack => "slack",
        Channel::Email => "email",
        Channel::PagerDuty => "pagerduty",
    }
}

/// A PagerDuty Events API v2 event.
pub fn pagerduty_event(alert: &Alert, routing_key: &str) -> Value {
    // PagerDuty accepts dedup keys of at most 255 characters.
    let dedup_key: String = alert.key.chars().take(255).collect();
    match alert.action {
        Action::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        Action::Trigger => {
            let severity = match alert.severity {
                Severity::P1 => "critical",
                Severity::P2 => "error",
                Severity::P3 => "info",
            };
            let details: serde_json::Map<String, Value> = alert
                .details
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": alert.title.chars().take(1024).collect::<String>(),
                    "source": "crmerp-monitoring",
                    "severity": severity,
                    "component": alert.flow,
                    "group": "crmerp",
                    "class": alert.key.split(':').next().unwrap_or_default(),
                    "custom_details": details,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagerduty_events_follow_the_events_api_v2() {
        let alert = Alert {
            key: "no_success:deal-to-order".into(),
            severity: Severity::P1,
            action: Action::Trigger,
            title: "deal-to-order: no successful event for 15 min".into(),
            details: vec![("Last success".into(), "never".into())],
            flow: "deal-to-order".into(),
        };
        let event = pagerduty_event(&alert, "key");
        assert_eq!(event["event_action"], "trigger");
        assert_eq!(event["payload"]["severity"], "critical");
        assert_eq!(event["payload"]["source"], "crmerp-monitoring");
        assert_eq!(event["payload"]["custom_details"]["Last success"], "never");
        let resolve = pagerduty_event(
            &Alert {
                action: Action::Resolve,
                key: "x".repeat(300),
                ..alert
            },
            "key",
        );
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(resolve["dedup_key"].as_str().map(str::len), Some(255));
        assert!(resolve.get("payload").is_none());
    }
}
