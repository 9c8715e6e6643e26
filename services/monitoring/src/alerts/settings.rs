//! Section `[monitoring.alerts]`: rules, business hours, channels and routing.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use crmerp_connector::config::Secret;
use crmerp_service_kit::settings::HumanDuration;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Page someone now (a flow is down in business hours).
    P1,
    /// Needs attention today (retries exhausted, consumer lag).
    P2,
    /// Informational (a new dead letter).
    P3,
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Slack incoming webhook.
    Slack,
    /// Email over SMTP.
    Email,
    /// PagerDuty Events API v2.
    PagerDuty,
}

/// Alerting configuration; off unless at least one channel is configured.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AlertSettings {
    /// How often rules are evaluated.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub evaluate_every: Duration,
    /// A flow with no success for this long in business hours pages (P1).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub no_success_window: Duration,
    /// An outage whose latest failed attempt is older than this stops paging:
    /// the flow went quiet after failing, which is not "down now".
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub no_success_stale_after: Duration,
    /// Pending messages on a flow's consumer above this alert (P2).
    pub consumer_lag_threshold: u64,
    /// A flow's oldest event waiting for its consumer, older than this, alerts (P2).
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub lag_max_age: Duration,
    /// When the no-success rule applies.
    pub business_hours: BusinessHours,
    /// Channels per severity.
    pub routes: Routes,
    /// Slack incoming webhook.
    pub slack: Option<SlackSettings>,
    /// SMTP email.
    pub email: Option<EmailSettings>,
    /// PagerDuty Events API v2.
    pub pagerduty: Option<PagerDutySettings>,
    /// Delivery retries.
    pub retry: RetrySettings,
    /// The weekly SLA report, sent automatically by one replica.
    pub weekly_report: WeeklyReport,
    /// The optional P1 on missing traffic (off by default).
    pub expected_traffic: ExpectedTraffic,
    /// Where on-call reads docs/runbook.md (e.g. its page on your Git host);
    /// every alert links `<runbook_url>#<its section>`.
    pub runbook_url: String,
}

/// `[monitoring.alerts.expected_traffic]`: page (P1) in business hours when
/// no event at all was received for `no_success_window` while the same
/// window of the past `history_weeks` weeks (same weekday and time) received
/// on average at least `min_expected` events. Off by default: a quiet period
/// is normally not an outage.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct ExpectedTraffic {
    /// Turns the rule on.
    pub enabled: bool,
    /// Weeks of history compared (same weekday and time of day).
    pub history_weeks: u32,
    /// Events the history must average in the window for silence to page.
    pub min_expected: f64,
}

impl Default for ExpectedTraffic {
    fn default() -> Self {
        Self {
            enabled: false,
            history_weeks: 4,
            min_expected: 5.0,
        }
    }
}

/// `[monitoring.alerts.weekly_report]`: when and where the weekly SLA report
/// (the last complete ISO week, as `GET /api/v1/reports/sla` shows it) is sent.
/// Exactly one replica sends each scheduled report (a `report_runs` row).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct WeeklyReport {
    /// Channels it goes to: `email` and/or `slack` (configured under
    /// `[monitoring.alerts]`); empty: not sent.
    pub channels: Vec<Channel>,
    /// Day it is sent: `mon` ... `sun`, in the business-hours time zone.
    pub day: String,
    /// Local time it is sent, `HH:MM` or `HH:MM:SS`, in the business-hours time zone.
    pub at: String,
}

impl Default for WeeklyReport {
    fn default() -> Self {
        Self {
            channels: vec![Channel::Email, Channel::Slack],
            day: "mon".into(),
            at: "08:00".into(),
        }
    }
}

impl WeeklyReport {
    /// Parses the schedule in `timezone`; the error names the bad value.
    pub fn schedule(&self, timezone: &str) -> Result<ReportSchedule, String> {
        if let Some(channel) = self.channels.iter().find(|c| **c == Channel::PagerDuty) {
            return Err(format!(
                "weekly_report.channels: {channel:?} pages people; use email or slack"
            ));
        }
        let tz: Tz = timezone
            .parse()
            .map_err(|_| format!("\"{timezone}\" is not an IANA time zone"))?;
        let day = self
            .day
            .parse::<Weekday>()
            .map_err(|_| format!("weekly_report.day: \"{}\" is not a weekday", self.day))?;
        let at = NaiveTime::parse_from_str(&self.at, "%H:%M:%S")
            .or_else(|_| NaiveTime::parse_from_str(&self.at, "%H:%M"))
            .map_err(|_| {
                format!(
                    "weekly_report.at: \"{}\" is not an HH:MM or HH:MM:SS time",
                    self.at
                )
            })?;
        Ok(ReportSchedule { tz, day, at })
    }
}

/// When the weekly report is due, parsed.
#[derive(Debug, Clone, Copy)]
pub struct ReportSchedule {
    tz: Tz,
    day: Weekday,
    at: NaiveTime,
}

impl ReportSchedule {
    /// The latest scheduled time at or before `now`.
    pub fn last_due(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let local = now.with_timezone(&self.tz).date_naive();
        let back =
            (7 + local.weekday().num_days_from_monday() - self.day.num_days_from_monday()) % 7;
        let mut day = local - chrono::Days::new(u64::from(back));
        loop {
            let due = self.at_on(day);
            if due <= now {
                return due;
            }
            day = day - chrono::Days::new(7);
        }
    }

    /// The first scheduled time after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let last = self.last_due(now).with_timezone(&self.tz).date_naive();
        self.at_on(last + chrono::Days::new(7))
    }

    /// `at` on `day` in the zone; in a DST gap, the instant the clock jumps over it.
    fn at_on(&self, day: chrono::NaiveDate) -> DateTime<Utc> {
        use chrono::TimeZone as _;
        let local = day.and_time(self.at);
        match self.tz.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            chrono::LocalResult::None => self
                .tz
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
                .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc)),
        }
    }
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            evaluate_every: Duration::from_secs(30),
            no_success_window: Duration::from_secs(15 * 60),
            no_success_stale_after: Duration::from_secs(60 * 60),
            consumer_lag_threshold: 1000,
            lag_max_age: Duration::from_secs(5 * 60),
            business_hours: BusinessHours::default(),
            routes: Routes::default(),
            slack: None,
            email: None,
            pagerduty: None,
            retry: RetrySettings::default(),
            weekly_report: WeeklyReport::default(),
            runbook_url: "docs/runbook.md".into(),
            expected_traffic: ExpectedTraffic::default(),
        }
    }
}

impl AlertSettings {
    /// Why alerting is off, or `None` when at least one channel is configured.
    pub fn off_reason(&self) -> Option<&'static str> {
        (self.slack.is_none() && self.email.is_none() && self.pagerduty.is_none()).then_some(
            "no alert channel configured: set [monitoring.alerts.slack], \
             [monitoring.alerts.email] or [monitoring.alerts.pagerduty]",
        )
    }
}

/// Channels per severity.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct Routes {
    /// P1 channels.
    pub p1: Vec<Channel>,
    /// P2 channels.
    pub p2: Vec<Channel>,
    /// P3 channels.
    pub p3: Vec<Channel>,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            p1: vec![Channel::PagerDuty, Channel::Slack],
            p2: vec![Channel::PagerDuty, Channel::Slack, Channel::Email],
            p3: vec![Channel::Slack, Channel::Email],
        }
    }
}

impl Routes {
    /// The channels of `severity`.
    pub fn channels(&self, severity: Severity) -> &[Channel] {
        match severity {
            Severity::P1 => &self.p1,
            Severity::P2 => &self.p2,
            Severity::P3 => &self.p3,
        }
    }
}

/// Business hours in one time zone, e.g. Mon-Fri 08:00-18:00 Europe/Berlin.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct BusinessHours {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Working days: `mon`, `tue`, ... `sun`.
    pub days: Vec<String>,
    /// Local start time, `HH:MM`.
    pub start: String,
    /// Local end time, `HH:MM` (exclusive; `24:00` for midnight).
    pub end: String,
}

impl Default for BusinessHours {
    fn default() -> Self {
        Self {
            timezone: "UTC".into(),
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "09:00".into(),
            end: "17:00".into(),
        }
    }
}

/// Business hours, parsed.
#[derive(Debug, Clone)]
pub struct Schedule {
    tz: Tz,
    days: Vec<Weekday>,
    start: NaiveTime,
    /// `None` means midnight at the end of the day.
    end: Option<NaiveTime>,
}

fn parse_time(text: &str) -> Result<Option<NaiveTime>, String> {
    if text == "24:00" {
        return Ok(None);
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map(Some)
        .map_err(|_| format!("\"{text}\" is not an HH:MM time"))
}

impl BusinessHours {
    /// Parses the configured values; the error names the bad one.
    pub fn schedule(&self) -> Result<Schedule, String> {
        let tz: Tz = self
            .timezone
            .parse()
            .map_err(|_| format!("\"{}\" is not an IANA time zone", self.timezone))?;
        let days = self
            .days
            .iter()
            .map(|d| {
                d.parse::<Weekday>()
                    .map_err(|_| format!("\"{d}\" is not a weekday"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let start = parse_time(&self.start)?.ok_or_else(|| "start cannot be 24:00".to_owned())?;
        Ok(Schedule {
            tz,
            days,
            start,
            end: parse_time(&self.end)?,
        })
    }
}

impl Schedule {
    /// True when `now` falls in business hours in the configured zone.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.tz);
        let time = local.time();
        self.days.contains(&local.weekday())
            && time >= self.start
            && self.end.is_none_or(|end| time < end)
    }
}

/// Slack incoming webhook.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct SlackSettings {
    /// The webhook URL (a secret: it grants posting).
    #[schemars(with = "Secret")]
    pub webhook_url: SecretString,
}

/// How the SMTP connection is secured.
#[derive(
    Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a local relay or a test sink only).
    None,
    /// STARTTLS on the submission port.
    #[default]
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

/// Email over SMTP.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct EmailSettings {
    /// SMTP host.
    pub smtp_host: String,
    /// SMTP port.
    pub smtp_port: u16,
    /// Connection security.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// SMTP user, if the relay needs one.
    #[serde(default)]
    pub username: Option<String>,
    /// SMTP password.
    #[serde(default)]
    #[schemars(with = "Option<Secret>")]
    pub password: Option<SecretString>,
    /// Sender address.
    pub from: String,
    /// Recipients (the ops channel).
    pub to: Vec<String>,
}

/// PagerDuty Events API v2.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
pub struct PagerDutySettings {
    /// The enqueue URL.
    #[serde(default = "default_pagerduty_url")]
    pub events_url: String,
    /// The service integration's routing key.
    #[schemars(with = "Secret")]
    pub routing_key: SecretString,
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}

/// Delivery retries with exponential backoff.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RetrySettings {
    /// Retries after the first attempt.
    pub retries: usize,
    /// First delay.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub min_delay: Duration,
    /// Largest delay.
    #[serde(with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            retries: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_weekly_report_is_due_on_its_day_and_time_in_the_zone() {
        let report = WeeklyReport {
            day: "mon".into(),
            at: "08:00".into(),
            ..WeeklyReport::default()
        };
        let schedule = report
            .schedule("Europe/Berlin")
            .unwrap_or_else(|e| panic!("{e}"));
        // Wednesday 2026-12-02: due last Monday 08:00 Berlin (07:00 UTC), next one a week later.
        let now = utc("2026-12-02T12:00:00Z");
        assert_eq!(schedule.last_due(now), utc("2026-11-30T07:00:00Z"));
        assert_eq!(schedule.next_after(now), utc("2026-12-07T07:00:00Z"));
        // On the day, before the time: still last week's.
        let monday_early = utc("2026-12-07T06:59:59Z");
        assert_eq!(schedule.last_due(monday_early), utc("2026-11-30T07:00:00Z"));
        assert_eq!(
            schedule.next_after(monday_early),
            utc("2026-12-07T07:00:00Z")
        );
        // Exactly at the time: due now.
        let due = utc("2026-12-07T07:00:00Z");
        assert_eq!(schedule.last_due(due), due);
        // Seconds are allowed, for short test schedules.
        let seconds = WeeklyReport {
            day: "sat".into(),
            at: "07:45:30".into(),
            ..WeeklyReport::default()
        };
        let schedule = seconds.schedule("UTC").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            schedule.next_after(utc("2026-12-05T07:45:00Z")),
            utc("2026-12-05T07:45:30Z")
        );
    }

    #[test]
    fn a_bad_weekly_report_setting_is_named() {
        let bad = |report: WeeklyReport| report.schedule("UTC").err().unwrap_or_default();
        assert!(
            bad(WeeklyReport {
                day: "someday".into(),
                ..WeeklyReport::default()
            })
            .contains("weekly_report.day")
        );
        assert!(
            bad(WeeklyReport {
                at: "8 am".into(),
                ..WeeklyReport::default()
            })
            .contains("weekly_report.at")
        );
        assert!(
            bad(WeeklyReport {
                channels: vec![Channel::PagerDuty],
                ..WeeklyReport::default()
            })
            .contains("pages people")
        );
        assert!(WeeklyReport::default().schedule("Mars/Olympus").is_err());
    }

    fn hours(tz: &str, days: &[&str], start: &str, end: &str) -> Schedule {
        BusinessHours {
            timezone: tz.into(),
            days: days.iter().map(|d| (*d).to_owned()).collect(),
            start: start.into(),
            end: end.into(),
        }
        .schedule()
        .expect("valid")
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn business_hours_follow_the_local_clock_across_a_zone_boundary() {
        let berlin = hours(
            "Europe/Berlin",
            &["mon", "tue", "wed", "thu", "fri"],
            "09:00",
            "17:00",
        );
        // Friday 2026-11-27 07:30 UTC is 08:30 in Berlin: not yet open.
        assert!(!berlin.contains(at("2026-11-27T07:30:00Z")));
        assert!(berlin.contains(at("2026-11-27T08:00:00Z")));
        // 16:30 UTC is 17:30 in Berlin: closed, though still "office hours" in UTC.
        assert!(!berlin.contains(at("2026-11-27T16:30:00Z")));
        // Friday 23:30 UTC is Saturday 00:30 in Berlin... and Friday 18:30 in New York.
        let new_york = hours("America/New_York", &["fri"], "09:00", "24:00");
        assert!(new_york.contains(at("2026-11-27T23:30:00Z")));
        assert!(
            !hours("Europe/Berlin", &["fri"], "00:00", "24:00")
                .contains(at("2026-11-27T23:30:00Z"))
        );
    }

    #[test]
    fn summer_time_moves_the_window_in_utc() {
        let berlin = hours("Europe/Berlin", &["mon"], "09:00", "10:00");
        // Monday 2026-07-06: CEST (UTC+2), 09:00 local is 07:00 UTC.
        assert!(berlin.contains(at("2026-07-06T07:30:00Z")));
        // Monday 2026-12-07: CET (UTC+1), 07:30 UTC is 08:30 local.
        assert!(!berlin.contains(at("2026-12-07T07:30:00Z")));
        assert!(berlin.contains(at("2026-12-07T08:30:00Z")));
    }

    #[test]
    fn bad_values_are_named() {
        let bh = BusinessHours {
            timezone: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert!(bh.schedule().unwrap_err().contains("Mars/Olympus"));
        let bh = BusinessHours {
            days: vec!["funday".into()],
            ..Default::default()
        };
        assert!(bh.schedule().unwrap_err().contains("funday"));
    }
}
