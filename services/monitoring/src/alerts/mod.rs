//! Alert routing.
//!
//! Rules, evaluated every `evaluate_every` by each replica:
//! - a new dead letter: Slack and email (P3) with the CRM record link, the ERP
//!   error and the recommended resolution; retries exhausted: P2;
//! - a flow with no success for `no_success_window` during business hours
//!   (time-zone aware): P1 to PagerDuty, resolved when the flow succeeds again;
//! - a flow consumer with more than `consumer_lag_threshold` pending messages: P2,
//!   resolved when it drains;
//! - a flow paused by its circuit breaker (a vendor keeps failing): P2,
//!   resolved when the breaker closes.
//!
//! Once per incident, across replicas: every state change is a conditional
//! write in Postgres (claim an unannounced dead letter with `FOR UPDATE SKIP
//! LOCKED`; open or resolve an incident row only if it is in the other state),
//! and only the replica whose write changed the row notifies.

pub mod channels;
pub mod settings;

use std::sync::Arc;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use crmerp_service_kit::topology::INBOUND_STREAM;
use futures::TryStreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use self::channels::{Action, Alert, Notifier};
use self::settings::{AlertSettings, Schedule, Severity};
use crate::resolution::explain;

/// What the evaluator needs.
#[derive(Clone)]
pub struct Evaluator {
    pool: PgPool,
    js: jetstream::Context,
    notifier: Notifier,
    settings: Arc<AlertSettings>,
    schedule: Schedule,
    crm_record_url: Arc<str>,
}

#[derive(Debug, sqlx::FromRow)]
struct ClaimedDeadLetter {
    id: String,
    flow: String,
    class: String,
    resolution_code: String,
    reason: String,
    error_detail: String,
    crm_system: String,
    crm_object_type: String,
    crm_record_id: String,
}

#[derive(Debug, sqlx::FromRow)]
struct FlowActivity {
    flow: String,
    first_seen: DateTime<Utc>,
    last_success: Option<DateTime<Utc>>,
}

impl Evaluator {
    /// An evaluator; `None` when no channel is configured (alerting is off).
    pub fn new(
        pool: PgPool,
        js: jetstream::Context,
        settings: AlertSettings,
        crm_record_url: Arc<str>,
    ) -> Result<Option<Self>, String> {
        if settings.slack.is_none() && settings.email.is_none() && settings.pagerduty.is_none() {
            return Ok(None);
        }
        let schedule = settings.business_hours.schedule()?;
        let settings = Arc::new(settings);
        let notifier = Notifier::new(Arc::clone(&settings)).map_err(|e| e.to_string())?;
        Ok(Some(Self {
            pool,
            js,
            notifier,
            settings,
            schedule,
            crm_record_url,
        }))
    }

    /// Evaluates every rule periodically until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(every = ?self.settings.evaluate_every, "Alert rules running.");
        let mut ticker = tokio::time::interval(self.settings.evaluate_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = shutdown.cancelled() => return,
            }
            if let Err(error) = self.evaluate(Utc::now()).await {
                metrics::counter!("crmerp_monitoring_alert_evaluation_failures_total").increment(1);
                tracing::error!(%error, "Alert evaluation failed; retrying next tick.");
            }
        }
    }

    /// One evaluation of every rule at `now`.
    pub async fn evaluate(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        self.new_dead_letters().await?;
        self.no_success(now).await?;
        self.breakers(now).await?;
        self.consumer_lag().await
    }

    async fn breakers(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let latest: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (flow, endpoint) flow, endpoint, outcome, error_message, resolution_code \
             FROM events WHERE kind = 'breaker' AND occurred_at > $1 - interval '7 days' \
             ORDER BY flow, endpoint, occurred_at DESC, id DESC",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for (flow, system, state, reason, resolution) in latest {
            let key = format!("breaker:{flow}:{system}");
            if state == "breaker_opened" {
                let title = format!("{flow} paused: {system} keeps failing ({reason})");
                let details = vec![("Recommended resolution".into(), explain(&resolution))];
                self.open(&key, "breaker", &flow, Severity::P2, title, details)
                    .await?;
            } else {
                self.resolve(&key).await?;
            }
        }
        Ok(())
    }

    async fn new_dead_letters(&self) -> Result<(), sqlx::Error> {
        let claimed: Vec<ClaimedDeadLetter> = sqlx::query_as(
            "UPDATE dead_letters SET alerted_at = now() WHERE id IN ( \
               SELECT id FROM dead_letters WHERE alerted_at IS NULL \
               ORDER BY dead_lettered_at LIMIT 100 FOR UPDATE SKIP LOCKED) \
             RETURNING id, flow, class, resolution_code, reason, error_detail, \
               crm_system, crm_object_type, crm_record_id",
        )
        .fetch_all(&self.pool)
        .await?;
        for dl in claimed {
            let severity = if dl.class == "exhausted" {
                Severity::P2
            } else {
                Severity::P3
            };
            let record = if self.crm_record_url.is_empty() || dl.crm_record_id.is_empty() {
                format!(
                    "{}/{}/{}",
                    dl.crm_system, dl.crm_object_type, dl.crm_record_id
                )
            } else {
                self.crm_record_url
                    .replace("{system}", &dl.crm_system)
                    .replace("{object_type}", &dl.crm_object_type)
                    .replace("{id}", &dl.crm_record_id)
            };
            let error: String = if dl.error_detail.is_empty() {
                dl.reason.clone()
            } else {
                dl.error_detail.chars().take(500).collect()
            };
            let title = if severity == Severity::P2 {
                format!("Retries exhausted in {}: {}", dl.flow, dl.reason)
            } else {
                format!("Dead letter in {}: {}", dl.flow, dl.reason)
            };
            let alert = Alert {
                key: format!("dead_letter:{}", dl.id),
                severity,
                action: Action::Trigger,
                title,
                details: vec![
                    ("CRM record".into(), record),
                    ("ERP error".into(), error),
                    (
                        "Recommended resolution".into(),
                        explain(&dl.resolution_code),
                    ),
                    ("Dead letter".into(), dl.id.clone()),
                ],
                flow: dl.flow.clone(),
            };
            self.notifier.send(&alert).await;
        }
        Ok(())
    }

    async fn no_success(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let window = chrono::Duration::from_std(self.settings.no_success_window)
            .unwrap_or(chrono::Duration::MAX);
        let flows: Vec<FlowActivity> = sqlx::query_as(
            "SELECT flow, min(occurred_at) AS first_seen, \
               max(occurred_at) FILTER (WHERE outcome = 'success') AS last_success \
             FROM events WHERE kind = 'outcome' AND occurred_at > $1 - interval '7 days' GROUP BY flow",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for flow in flows {
            let key = format!("no_success:{}", flow.flow);
            let since = flow.last_success.unwrap_or(flow.first_seen);
            if now - since >= window {
                if self.schedule.contains(now) {
                    let minutes = self.settings.no_success_window.as_secs() / 60;
                    let title = format!(
                        "{}: no successful event for {} (in business hours)",
                        flow.flow,
                        if minutes > 0 {
                            format!("{minutes} min")
                        } else {
                            format!("{:?}", self.settings.no_success_window)
                        }
                    );
                    let details = vec![(
                        "Last success".into(),
                        flow.last_success.map_or("never".into(), |t| t.to_rfc3339()),
                    )];
                    self.open(&key, "no_success", &flow.flow, Severity::P1, title, details)
                        .await?;
                }
            } else {
                self.resolve(&key).await?;
            }
        }
        Ok(())
    }

    async fn consumer_lag(&self) -> Result<(), sqlx::Error> {
        let infos: Vec<_> = match self.js.get_stream(INBOUND_STREAM).await {
            Ok(stream) => match stream.consumers().try_collect().await {
                Ok(infos) => infos,
                Err(error) => {
                    tracing::warn!(%error, "Cannot list consumers; lag rule skipped.");
                    return Ok(());
                }
            },
            Err(error) => {
                tracing::warn!(%error, "Cannot read the inbound stream; lag rule skipped.");
                return Ok(());
            }
        };
        for info in infos {
            let name = info.name.clone();
            let key = format!("consumer_lag:{name}");
            if info.num_pending > self.settings.consumer_lag_threshold {
                let title = format!(
                    "Consumer {name} is behind: {} events pending (threshold {})",
                    info.num_pending, self.settings.consumer_lag_threshold
                );
                let details = vec![("Pending".into(), info.num_pending.to_string())];
                self.open(&key, "consumer_lag", &name, Severity::P2, title, details)
                    .await?;
            } else {
                self.resolve(&key).await?;
            }
        }
        Ok(())
    }

    /// Opens an incident unless already open; the replica that opens it notifies.
    async fn open(
        &self,
        key: &str,
        rule: &str,
        flow: &str,
        severity: Severity,
        title: String,
        details: Vec<(String, String)>,
    ) -> Result<(), sqlx::Error> {
        let severity_label = format!("{severity:?}");
        let opened: Option<String> = sqlx::query_scalar(
            "INSERT INTO alert_incidents (key, rule, flow, severity, status, summary) \
             VALUES ($1, $2, $3, $4, 'open', $5) \
             ON CONFLICT (key) DO UPDATE SET status = 'open', opened_at = now(), resolved_at = NULL, \
               severity = EXCLUDED.severity, summary = EXCLUDED.summary \
             WHERE alert_incidents.status = 'resolved' RETURNING key",
        )
        .bind(key)
        .bind(rule)
        .bind(flow)
        .bind(&severity_label)
        .bind(&title)
        .fetch_optional(&self.pool)
        .await?;
        if opened.is_some() {
            let alert = Alert {
                key: key.to_owned(),
                severity,
                action: Action::Trigger,
                title,
                details,
                flow: flow.to_owned(),
            };
            self.notifier.send(&alert).await;
        }
        Ok(())
    }

    /// Resolves an open incident; the replica that resolves it notifies.
    async fn resolve(&self, key: &str) -> Result<(), sqlx::Error> {
        let resolved: Option<(String, String, String)> = sqlx::query_as(
            "UPDATE alert_incidents SET status = 'resolved', resolved_at = now() \
             WHERE key = $1 AND status = 'open' RETURNING severity, summary, flow",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((severity, summary, flow)) = resolved {
            let severity = match severity.as_str() {
                "P1" => Severity::P1,
                "P2" => Severity::P2,
                _ => Severity::P3,
            };
            let alert = Alert {
                key: key.to_owned(),
                severity,
                action: Action::Resolve,
                title: summary,
                details: Vec::new(),
                flow,
            };
            self.notifier.send(&alert).await;
        }
        Ok(())
    }
}
