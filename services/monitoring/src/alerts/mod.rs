//! Alert routing.
//!
//! Rules, evaluated every `evaluate_every` by each replica:
//! - a new dead letter: Slack and email (P3) with the CRM record link, the ERP
//!   error and the recommended resolution; retries exhausted: P2;
//! - a flow that is down during business hours (time-zone aware): events were
//!   attempted or received and none succeeded for `no_success_window` (see
//!   [`outage`]; a quiet period with no traffic is not an outage): P1 to
//!   PagerDuty, resolved when the flow succeeds again;
//! - a flow consumer with more than `consumer_lag_threshold` pending messages,
//!   or whose oldest waiting event is older than `lag_max_age`: P2, resolved
//!   when it drains;
//! - a flow paused by its circuit breaker (a vendor keeps failing): P2,
//!   resolved when the breaker closes.
//!
//! - optionally (`expected_traffic.enabled`), no event received at all for
//!   `no_success_window` in business hours while the same window of past
//!   weeks averaged `min_expected` events: P1, resolved when events arrive.
//!
//! The weekly SLA report is sent on its schedule by one replica (see [`report`]).
//!
//! Once per incident, across replicas: every state change is a conditional
//! write in Postgres (claim an unannounced dead letter with `FOR UPDATE SKIP
//! LOCKED`; open or resolve an incident row only if it is in the other state),
//! and only the replica whose write changed the row notifies.

pub mod channels;
pub mod lag;
pub mod report;
pub mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use chrono::{DateTime, Utc};
use crmerp_service_kit::topology::INBOUND_STREAM;
use futures::TryStreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use self::channels::{Action, Alert, Notifier};
use self::settings::{AlertSettings, Schedule, Severity};
use crate::resolution::explain;

/// Every kind of alert (the incident rule, or the dead letter's kind) and its
/// section in docs/runbook.md (an `<a id>` there), linked from each alert.
pub const RUNBOOK_SECTIONS: &[(&str, &str)] = &[
    ("dead_letter", "alert-dead-letter"),
    ("retries_exhausted", "alert-retries-exhausted"),
    ("no_success", "alert-flow-down"),
    ("consumer_lag", "alert-consumer-lag"),
    ("breaker", "alert-flow-paused"),
    ("no_traffic", "alert-no-traffic"),
];

/// The runbook link of alert kind `kind` under `base`.
pub fn runbook_link(base: &str, kind: &str) -> String {
    let anchor = RUNBOOK_SECTIONS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("alerts", |(_, anchor)| *anchor);
    format!("{base}#{anchor}")
}

/// What the evaluator needs.
#[derive(Clone)]
pub struct Evaluator {
    pool: PgPool,
    js: jetstream::Context,
    notifier: Notifier,
    settings: Arc<AlertSettings>,
    schedule: Schedule,
    crm_record_url: Arc<str>,
    report: report::ReportScheduler,
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

/// What the event log says about one flow's recent outcomes.
#[derive(Debug, Default, Clone, sqlx::FromRow)]
pub struct FlowActivity {
    /// The flow.
    pub flow: String,
    /// Its latest success.
    pub last_success: Option<DateTime<Utc>>,
    /// Its first attempt that did not succeed after the latest success.
    pub first_failure: Option<DateTime<Utc>>,
    /// Its latest attempt that did not succeed after the latest success.
    pub last_failure: Option<DateTime<Utc>>,
}

/// A flow consumer's backlog, read from JetStream.
struct Backlog {
    pending: u64,
    oldest_waiting: Option<DateTime<Utc>>,
}

/// The no-success rule's thresholds.
#[derive(Debug, Clone, Copy)]
pub struct OutageRule {
    /// How long work must have gone without a success.
    pub window: Duration,
    /// A latest failed attempt older than this no longer counts.
    pub stale_after: Duration,
}

/// Since when a flow is down at `now`, with the evidence; `None` when it is
/// not, in particular when there was no traffic at all (a quiet period).
///
/// Down means: nothing succeeded for at least `window` while there was work,
/// either attempts that did not succeed (the first one after the latest
/// success at least `window` ago, the latest one at most `stale_after` ago),
/// or an event received and still waiting for the flow (`oldest_waiting`)
/// for at least `window` with no success since it arrived.
pub fn outage(
    now: DateTime<Utc>,
    rule: OutageRule,
    activity: &FlowActivity,
    oldest_waiting: Option<DateTime<Utc>>,
) -> Option<(DateTime<Utc>, &'static str)> {
    let window = chrono::Duration::from_std(rule.window).unwrap_or(chrono::Duration::MAX);
    let stale = chrono::Duration::from_std(rule.stale_after).unwrap_or(chrono::Duration::MAX);
    let attempted = match (activity.first_failure, activity.last_failure) {
        (Some(first), Some(last)) if now - last <= stale => Some((first, "attempted")),
        _ => None,
    };
    let received = oldest_waiting.map(|at| {
        // Waiting since before the latest success: down only since that success.
        let since = activity.last_success.map_or(at, |success| at.max(success));
        (since, "received")
    });
    [attempted, received]
        .into_iter()
        .flatten()
        .min_by_key(|(since, _)| *since)
        .filter(|(since, _)| now - *since >= window)
}

impl Evaluator {
    /// An evaluator; `None` when no channel is configured (alerting is off).
    pub fn new(
        pool: PgPool,
        js: jetstream::Context,
        settings: AlertSettings,
        crm_record_url: Arc<str>,
    ) -> Result<Option<Self>, String> {
        if settings.off_reason().is_some() {
            return Ok(None);
        }
        let schedule = settings.business_hours.schedule()?;
        let report_schedule = settings
            .weekly_report
            .schedule(&settings.business_hours.timezone)?;
        let settings = Arc::new(settings);
        let notifier = Notifier::new(Arc::clone(&settings)).map_err(|e| e.to_string())?;
        let report = report::ReportScheduler::new(
            pool.clone(),
            notifier.clone(),
            report_schedule,
            settings.weekly_report.channels.clone(),
        );
        Ok(Some(Self {
            pool,
            js,
            notifier,
            settings,
            schedule,
            crm_record_url,
            report,
        }))
    }

    /// Evaluates every rule periodically, and sends the weekly report on
    /// schedule, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::join!(
            self.report.clone().run(shutdown.clone()),
            self.evaluate_until(shutdown.clone())
        );
    }

    async fn evaluate_until(&self, shutdown: CancellationToken) {
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
        let backlogs = self.backlogs(now).await;
        self.no_success(now, backlogs.as_ref()).await?;
        if self.settings.expected_traffic.enabled {
            self.no_traffic(now).await?;
        }
        self.breakers(now).await?;
        match backlogs {
            Some(backlogs) => self.consumer_lag(now, &backlogs).await,
            None => Ok(()),
        }
    }

    /// Each flow consumer's backlog; `None` when JetStream cannot say (the
    /// lag rule is then skipped, and the no-success rule uses the event log only).
    async fn backlogs(&self, now: DateTime<Utc>) -> Option<BTreeMap<String, Backlog>> {
        let stream = match self.js.get_stream(INBOUND_STREAM).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "Cannot read the inbound stream; lag rule skipped.");
                return None;
            }
        };
        let infos: Vec<_> = match stream.consumers().try_collect().await {
            Ok(infos) => infos,
            Err(error) => {
                tracing::warn!(%error, "Cannot list consumers; lag rule skipped.");
                return None;
            }
        };
        let mut backlogs = BTreeMap::new();
        for info in infos {
            let oldest_waiting = match lag::oldest_waiting(&stream, &info).await {
                Ok(oldest) => oldest,
                Err(error) => {
                    tracing::warn!(%error, consumer = %info.name, "Cannot read the oldest waiting event; lag rule skipped.");
                    return None;
                }
            };
            lag::record_gauge(&info.name, oldest_waiting, now);
            backlogs.insert(
                info.name.clone(),
                Backlog {
                    pending: info.num_pending,
                    oldest_waiting,
                },
            );
        }
        Some(backlogs)
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
                    (
                        "Runbook".into(),
                        runbook_link(
                            &self.settings.runbook_url,
                            if severity == Severity::P2 {
                                "retries_exhausted"
                            } else {
                                "dead_letter"
                            },
                        ),
                    ),
                ],
                flow: dl.flow.clone(),
            };
            self.notifier.send(&alert).await;
        }
        Ok(())
    }

    async fn no_success(
        &self,
        now: DateTime<Utc>,
        backlogs: Option<&BTreeMap<String, Backlog>>,
    ) -> Result<(), sqlx::Error> {
        let flows: Vec<FlowActivity> = sqlx::query_as(
            "WITH recent AS ( \
               SELECT flow, outcome, occurred_at FROM events \
               WHERE kind = 'outcome' AND occurred_at > $1 - interval '7 days'), \
             latest AS ( \
               SELECT flow, max(occurred_at) FILTER (WHERE outcome = 'success') AS last_success \
               FROM recent GROUP BY flow) \
             SELECT l.flow, l.last_success, \
               min(r.occurred_at) FILTER (WHERE r.outcome <> 'success' \
                 AND (l.last_success IS NULL OR r.occurred_at > l.last_success)) AS first_failure, \
               max(r.occurred_at) FILTER (WHERE r.outcome <> 'success' \
                 AND (l.last_success IS NULL OR r.occurred_at > l.last_success)) AS last_failure \
             FROM latest l JOIN recent r ON r.flow = l.flow \
             GROUP BY l.flow, l.last_success",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut flows: BTreeMap<String, FlowActivity> =
            flows.into_iter().map(|f| (f.flow.clone(), f)).collect();
        // A flow whose events wait but never produced an outcome is a flow too.
        for (name, backlog) in backlogs.into_iter().flatten() {
            if backlog.oldest_waiting.is_some() {
                flows.entry(name.clone()).or_insert_with(|| FlowActivity {
                    flow: name.clone(),
                    ..FlowActivity::default()
                });
            }
        }
        let rule = OutageRule {
            window: self.settings.no_success_window,
            stale_after: self.settings.no_success_stale_after,
        };
        for (name, activity) in flows {
            let key = format!("no_success:{name}");
            let waiting = backlogs
                .and_then(|b| b.get(&name))
                .and_then(|b| b.oldest_waiting);
            let Some((since, evidence)) = outage(now, rule, &activity, waiting) else {
                self.resolve(&key).await?;
                continue;
            };
            if !self.schedule.contains(now) {
                continue;
            }
            let title = format!(
                "{name}: no successful event for {} while events were {evidence} (in business hours)",
                human(self.settings.no_success_window)
            );
            let details = vec![
                (
                    "Last success".into(),
                    activity
                        .last_success
                        .map_or("never".into(), |t| t.to_rfc3339()),
                ),
                ("Failing since".into(), since.to_rfc3339()),
            ];
            self.open(&key, "no_success", &name, Severity::P1, title, details)
                .await?;
        }
        Ok(())
    }

    /// The optional expected-traffic P1 (see [`missing_traffic`]).
    async fn no_traffic(&self, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
        let rule = &self.settings.expected_traffic;
        let window = self.settings.no_success_window.as_secs_f64();
        let (recent, history): (i64, i64) = sqlx::query_as(
            "SELECT \
               (SELECT count(*) FROM events WHERE kind = 'inbound' \
                  AND occurred_at > $1 - make_interval(secs => $2) AND occurred_at <= $1), \
               (SELECT count(*) FROM events e, generate_series(1, $3) AS k \
                  WHERE e.kind = 'inbound' \
                  AND e.occurred_at > $1 - k * interval '7 days' - make_interval(secs => $2) \
                  AND e.occurred_at <= $1 - k * interval '7 days')",
        )
        .bind(now)
        .bind(window)
        .bind(i32::try_from(rule.history_weeks).unwrap_or(i32::MAX))
        .fetch_one(&self.pool)
        .await?;
        let key = "no_traffic:inbound".to_owned();
        let Some(expected) =
            missing_traffic(recent, history, rule.history_weeks, rule.min_expected)
        else {
            return self.resolve(&key).await;
        };
        if !self.schedule.contains(now) {
            return Ok(());
        }
        let title = format!(
            "No event received for {} (in business hours); the same time in the last {} weeks averaged {expected:.1}",
            human(self.settings.no_success_window),
            rule.history_weeks
        );
        let details = vec![
            ("Received in the window".into(), recent.to_string()),
            ("Expected (average)".into(), format!("{expected:.1}")),
        ];
        self.open(&key, "no_traffic", "", Severity::P1, title, details)
            .await
    }

    async fn consumer_lag(
        &self,
        now: DateTime<Utc>,
        backlogs: &BTreeMap<String, Backlog>,
    ) -> Result<(), sqlx::Error> {
        let max_age =
            chrono::Duration::from_std(self.settings.lag_max_age).unwrap_or(chrono::Duration::MAX);
        for (name, backlog) in backlogs {
            let key = format!("consumer_lag:{name}");
            let age = backlog.oldest_waiting.map(|t| now - t);
            let too_many = backlog.pending > self.settings.consumer_lag_threshold;
            let too_old = age.is_some_and(|age| age > max_age);
            if !too_many && !too_old {
                self.resolve(&key).await?;
                continue;
            }
            // Whole seconds: the age is a reading, not a setting.
            let age_text = age.map_or("none".into(), |age| {
                human(Duration::from_secs(age.num_seconds().max(0).unsigned_abs()))
            });
            let title = if too_many {
                format!(
                    "Consumer {name} is behind: {} events pending (threshold {})",
                    backlog.pending, self.settings.consumer_lag_threshold
                )
            } else {
                format!(
                    "Consumer {name} is behind: its oldest waiting event is {age_text} old (max {})",
                    human(self.settings.lag_max_age)
                )
            };
            let details = vec![
                ("Pending".into(), backlog.pending.to_string()),
                ("Oldest waiting".into(), age_text),
            ];
            self.open(&key, "consumer_lag", name, Severity::P2, title, details)
                .await?;
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
            let mut details = details;
            details.push((
                "Runbook".into(),
                runbook_link(&self.settings.runbook_url, rule),
            ));
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

/// The average traffic history expected when none was received (`recent`
/// is 0) and `history` events over `weeks` weeks average at least
/// `min_expected`; `None` when that is not a reason to page.
pub fn missing_traffic(recent: i64, history: i64, weeks: u32, min_expected: f64) -> Option<f64> {
    if recent > 0 || weeks == 0 {
        return None;
    }
    let expected = history as f64 / f64::from(weeks);
    (expected >= min_expected && expected > 0.0).then_some(expected)
}

/// `15m`, `2s`, `1h 30m`: a duration as the settings write it.
fn human(duration: Duration) -> String {
    humantime_serde::re::humantime::format_duration(duration).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_kind_has_a_runbook_section() {
        let runbook = include_str!("../../../../docs/runbook.md");
        for (kind, anchor) in RUNBOOK_SECTIONS {
            assert!(
                runbook.contains(&format!("<a id=\"{anchor}\"></a>")),
                "docs/runbook.md has no section for {kind} ({anchor})"
            );
        }
        // Every rule that opens incidents is listed (a new rule needs a section).
        let source = include_str!("mod.rs");
        let rules: Vec<&str> = source
            .split("self.open(&key, \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(rules.len(), 4, "{rules:?}");
        for rule in rules {
            assert!(
                RUNBOOK_SECTIONS.iter().any(|(kind, _)| *kind == rule),
                "{rule} has no runbook section"
            );
        }
        assert_eq!(
            runbook_link("https://git.example/runbook", "breaker"),
            "https://git.example/runbook#alert-flow-paused"
        );
    }

    const RULE: OutageRule = OutageRule {
        window: Duration::from_secs(15 * 60),
        stale_after: Duration::from_secs(60 * 60),
    };

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
            + chrono::Duration::minutes(minute)
    }

    fn activity(success: Option<i64>, failures: Option<(i64, i64)>) -> FlowActivity {
        FlowActivity {
            flow: "deal-to-order".into(),
            last_success: success.map(at),
            first_failure: failures.map(|(first, _)| at(first)),
            last_failure: failures.map(|(_, last)| at(last)),
        }
    }

    #[test]
    fn silence_pages_only_when_history_expects_traffic() {
        // 20 events over 4 weeks: 5 expected; none now.
        assert_eq!(missing_traffic(0, 20, 4, 5.0), Some(5.0));
        assert_eq!(missing_traffic(0, 19, 4, 5.0), None, "below the minimum");
        assert_eq!(missing_traffic(1, 400, 4, 5.0), None, "something arrived");
        assert_eq!(missing_traffic(0, 0, 4, 0.0), None, "no history, no page");
        assert_eq!(missing_traffic(0, 10, 0, 1.0), None, "no weeks compared");
    }

    #[test]
    fn a_quiet_period_is_not_an_outage() {
        // Last success two hours ago, nothing since, nothing waiting.
        assert_eq!(outage(at(120), RULE, &activity(Some(0), None), None), None);
    }

    #[test]
    fn attempts_without_a_success_for_the_window_are_an_outage() {
        let failing = activity(Some(0), Some((10, 24)));
        assert_eq!(outage(at(24), RULE, &failing, None), None, "only 14 min");
        assert_eq!(
            outage(at(25), RULE, &failing, None),
            Some((at(10), "attempted"))
        );
        // Never a success: failing since the first attempt.
        assert_eq!(
            outage(at(15), RULE, &activity(None, Some((0, 0))), None),
            Some((at(0), "attempted"))
        );
    }

    #[test]
    fn a_flow_that_went_quiet_after_failing_stops_paging() {
        let failed_long_ago = activity(Some(0), Some((10, 20)));
        assert!(outage(at(80), RULE, &failed_long_ago, None).is_some());
        assert_eq!(outage(at(81), RULE, &failed_long_ago, None), None);
    }

    #[test]
    fn an_event_waiting_for_the_window_is_an_outage() {
        let quiet = activity(Some(0), None);
        assert_eq!(outage(at(40), RULE, &quiet, Some(at(30))), None);
        assert_eq!(
            outage(at(45), RULE, &quiet, Some(at(30))),
            Some((at(30), "received"))
        );
        // Waiting since before the latest success: down only since that success.
        let recovered = activity(Some(40), None);
        assert_eq!(outage(at(50), RULE, &recovered, Some(at(30))), None);
    }
}
