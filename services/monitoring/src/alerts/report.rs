//! The weekly SLA report, sent automatically at its scheduled time by exactly
//! one replica: each replica wakes at the scheduled time and tries to claim
//! the run (a `report_runs` row keyed by the scheduled time, migration 0005);
//! only the replica whose insert wins builds and sends it. A claim whose
//! sender died before marking it sent is taken over after [`ABANDONED_AFTER`].

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::channels::Notifier;
use super::settings::{Channel, ReportSchedule};
use crate::api::reports::{self, week_bounds};

/// A run missed by up to this much (the service was down at the time) is sent late.
const CATCH_UP: chrono::Duration = chrono::Duration::days(1);

/// A claimed run not marked sent after this long is claimed again.
const ABANDONED_AFTER: Duration = Duration::from_secs(10 * 60);

/// How often a replica looks for an abandoned claim between scheduled times.
const RECHECK: Duration = Duration::from_secs(5 * 60);

/// Sends the weekly report on schedule.
#[derive(Clone)]
pub struct ReportScheduler {
    pool: PgPool,
    notifier: Notifier,
    schedule: ReportSchedule,
    channels: Vec<Channel>,
    replica: String,
}

/// The ISO week reported at `due`: the last complete one before it.
pub fn reported_week(due: DateTime<Utc>) -> String {
    let week = (due - chrono::Duration::days(7)).iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

impl ReportScheduler {
    /// A scheduler sending to `channels`.
    pub fn new(
        pool: PgPool,
        notifier: Notifier,
        schedule: ReportSchedule,
        channels: Vec<Channel>,
    ) -> Self {
        Self {
            pool,
            notifier,
            schedule,
            channels,
            replica: format!(
                "{}:{}",
                std::env::var("HOSTNAME").unwrap_or_default(),
                uuid::Uuid::new_v4()
            ),
        }
    }

    /// Sends each due report until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        if self.channels.is_empty() {
            tracing::info!("Weekly SLA report off: weekly_report.channels is empty.");
            return;
        }
        let now = Utc::now();
        let next = self.schedule.next_after(now).to_rfc3339();
        tracing::info!(next, channels = ?self.channels, "Weekly SLA report scheduled.");
        loop {
            let now = Utc::now();
            let due = self.schedule.last_due(now);
            if now - due <= CATCH_UP
                && let Err(error) = self.send_once(due).await
            {
                metrics::counter!("crmerp_monitoring_report_failures_total").increment(1);
                tracing::error!(%error, %due, "Weekly SLA report failed; trying again later.");
            }
            let next = self.schedule.next_after(Utc::now());
            let wait = (next - Utc::now())
                .to_std()
                .unwrap_or_default()
                .min(RECHECK);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Claims the run scheduled for `due` and sends it, unless another replica
    /// has (or is doing so). Returns whether this replica sent it.
    pub async fn send_once(&self, due: DateTime<Utc>) -> Result<bool, sqlx::Error> {
        let week = reported_week(due);
        let abandoned = i64::try_from(ABANDONED_AFTER.as_secs()).unwrap_or(i64::MAX);
        let claimed: Option<DateTime<Utc>> = sqlx::query_scalar(
            "INSERT INTO report_runs (scheduled_for, week, claimed_by) VALUES ($1, $2, $3) \
             ON CONFLICT (scheduled_for) DO UPDATE \
               SET claimed_by = EXCLUDED.claimed_by, claimed_at = now() \
             WHERE report_runs.sent_at IS NULL \
               AND report_runs.claimed_at < now() - make_interval(secs => $4) \
             RETURNING scheduled_for",
        )
        .bind(due)
        .bind(&week)
        .bind(&self.replica)
        .bind(abandoned as f64)
        .fetch_optional(&self.pool)
        .await?;
        if claimed.is_none() {
            tracing::info!(%week, "Weekly SLA report claimed by another replica.");
            return Ok(false);
        }
        // The week comes from our own formatting; its bounds always exist.
        let Some((from, to)) = week_bounds(&week) else {
            return Ok(false);
        };
        let report = reports::build(&self.pool, week.clone(), from, to).await?;
        let subject = format!("crmerp weekly SLA report {}", report.week());
        let (sent, failed) = self
            .notifier
            .send_report(
                &self.channels,
                &format!("weekly_report:{week}"),
                &subject,
                &report.to_text(),
            )
            .await;
        let delivered: Vec<String> = sent
            .iter()
            .map(|c| format!("{c:?}").to_lowercase())
            .collect();
        sqlx::query(
            "UPDATE report_runs SET sent_at = now(), delivered_to = $2, error = $3 \
             WHERE scheduled_for = $1",
        )
        .bind(due)
        .bind(&delivered)
        .bind(failed.join("; "))
        .execute(&self.pool)
        .await?;
        metrics::counter!("crmerp_monitoring_reports_sent_total").increment(1);
        tracing::info!(%week, delivered = ?delivered, failed = ?failed, "Weekly SLA report sent.");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_covers_the_last_complete_week() {
        let at = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default()
        };
        // Monday 2026-12-07 08:00: the week of 30 Nov to 6 Dec.
        assert_eq!(reported_week(at("2026-12-07T08:00:00Z")), "2026-W49");
        // Saturday 2026-12-05: the week before the current one.
        assert_eq!(reported_week(at("2026-12-05T07:45:00Z")), "2026-W48");
        // Early January belongs to the previous ISO year's last week.
        assert_eq!(reported_week(at("2027-01-04T08:00:00Z")), "2026-W53");
    }
}
