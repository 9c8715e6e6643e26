//! Alert routing over real processes: Slack and PagerDuty sinks over HTTP, a
//! real SMTP sink, and two monitoring replicas evaluating the same rules.

use std::time::Duration;

use chrono::{Datelike, Utc};
use crmerp_testkit::alert_sinks::{HttpSink, SmtpSink};
use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::monitoring::Monitoring;
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

struct Sinks {
    slack: HttpSink,
    pagerduty: HttpSink,
    smtp: SmtpSink,
}

impl Sinks {
    async fn start(slack_failures: u32) -> anyhow::Result<Self> {
        Ok(Self {
            slack: HttpSink::start(slack_failures).await?,
            pagerduty: HttpSink::start(0).await?,
            smtp: SmtpSink::start().await?,
        })
    }

    fn config(&self, days: &str, lag_threshold: u64, retries: u32) -> String {
        self.config_with(days, lag_threshold, retries, "")
    }

    /// [`Sinks::config`] with more `[monitoring.alerts]` keys (`rules`, TOML lines).
    fn config_with(&self, days: &str, lag_threshold: u64, retries: u32, rules: &str) -> String {
        format!(
            r#"
[monitoring.alerts]
evaluate_every = "200ms"
no_success_window = "2s"
consumer_lag_threshold = {lag_threshold}
{rules}

[monitoring.alerts.business_hours]
timezone = "Europe/Berlin"
days = [{days}]
start = "00:00"
end = "24:00"

[monitoring.alerts.retry]
retries = {retries}
min_delay = "50ms"
max_delay = "200ms"

[monitoring.alerts.slack]
webhook_url = "{slack}"

[monitoring.alerts.pagerduty]
events_url = "{pagerduty}"
routing_key = "R0UTINGKEY0000000000000000000000"

[monitoring.alerts.email]
smtp_host = "127.0.0.1"
smtp_port = {smtp}
security = "none"
from = "crmerp <alerts@example.com>"
to = ["ops@example.com"]
"#,
            slack = self.slack.url("/services/T000/B000/XXXX"),
            pagerduty = self.pagerduty.url("/v2/enqueue"),
            smtp = self.smtp.port(),
        )
    }

    fn pages(&self, action: &str) -> Vec<Value> {
        self.pagerduty
            .received()
            .into_iter()
            .map(|(_, body)| body)
            .filter(|b| b["event_action"] == action)
            .collect()
    }
}

/// True when `text` links the CRM record of deal `deal_id` (a whole link, so
/// deal 10 does not match deal 100).
fn mentions_deal(text: &str, deal_id: &str) -> bool {
    let link = format!("/record/deal/{deal_id}");
    text.split_whitespace().any(|word| word.ends_with(&link))
}

const EVERY_DAY: &str = r#""mon", "tue", "wed", "thu", "fri", "sat", "sun""#;

async fn win_deal_without_address(stack: &Stack, name: &str) -> anyhow::Result<String> {
    let deal = stack
        .hubspot
        .win_deal_without_address(name, json!({}))
        .await?;
    Ok(deal.deal_id)
}

#[tokio::test]
async fn dead_letters_and_a_silent_flow_alert_once_across_two_replicas() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    // Slack fails twice first: the delivery is retried with backoff.
    let sinks = Sinks::start(2).await?;
    let mut monitoring = Monitoring::start_with(&stack, &sinks.config(EVERY_DAY, 1000, 4)).await?;
    monitoring.add_replica().await?;

    let deal_id = win_deal_without_address(&stack, "Alerted").await?;
    eventually("a Slack message", WAIT, || async {
        (!sinks.slack.received().is_empty()).then_some(())
    })
    .await?;
    let mail = eventually("an email", WAIT, || async {
        sinks.smtp.mails().first().cloned()
    })
    .await?;
    // P1 for the silent flow: no success for 2 s in (always) business hours.
    let trigger = eventually("a PagerDuty trigger", WAIT, || async {
        sinks.pages("trigger").first().cloned()
    })
    .await?;
    // Positive control for "alerted once": a second dead letter, alerted after
    // the first alerts. Until it arrives the replicas kept evaluating (every
    // evaluation checks every rule), so a repeat would have had its chance.
    let second = win_deal_without_address(&stack, "Alerted Again").await?;
    eventually("the second deal's Slack message", WAIT, || async {
        sinks
            .slack
            .received()
            .iter()
            .any(|(_, b)| {
                b["text"]
                    .as_str()
                    .is_some_and(|t| mentions_deal(t, &second))
            })
            .then_some(())
    })
    .await?;
    eventually("the second deal's email", WAIT, || async {
        (sinks.smtp.mails().len() >= 2).then_some(())
    })
    .await?;

    let slack: Vec<String> = sinks
        .slack
        .received()
        .into_iter()
        .filter_map(|(_, b)| b["text"].as_str().map(str::to_owned))
        .collect();
    let dead_letter_messages: Vec<&String> = slack
        .iter()
        .filter(|t| t.contains("Dead letter") && mentions_deal(t, &deal_id))
        .collect();
    assert_eq!(dead_letter_messages.len(), 1, "{slack:?}");
    let text = dead_letter_messages[0];
    assert!(
        text.starts_with("[P3] Dead letter in deal-to-order"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "CRM record: {}/contacts/0/record/deal/{deal_id}",
            stack.hubspot.base()
        )),
        "{text}"
    );
    assert!(text.contains("ERP error: "), "{text}");
    assert!(
        text.contains("Recommended resolution: The record has no shipping address"),
        "{text}"
    );
    // Every alert links its runbook section.
    assert!(
        text.contains("Runbook: docs/runbook.md#alert-dead-letter"),
        "{text}"
    );
    assert_eq!(
        trigger["payload"]["custom_details"]["Runbook"], "docs/runbook.md#alert-flow-down",
        "{trigger}"
    );

    assert_eq!(sinks.smtp.mails().len(), 2, "one email per dead letter");
    assert_eq!(mail.to, vec!["ops@example.com".to_owned()]);
    assert!(
        mail.data
            .contains("Subject: [P3] Dead letter in deal-to-order"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("no shipping address"), "{}", mail.data);

    assert_eq!(
        sinks.pages("trigger").len(),
        1,
        "{:?}",
        sinks.pagerduty.received()
    );
    assert_eq!(trigger["dedup_key"], "no_success:deal-to-order");
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["routing_key"], "R0UTINGKEY0000000000000000000000");
    assert!(
        slack.iter().filter(|t| t.starts_with("[P1]")).count() == 1,
        "{slack:?}"
    );

    // A success resolves the incident, once.
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Recovered"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;
    let resolve = eventually("a PagerDuty resolve", WAIT, || async {
        sinks.pages("resolve").first().cloned()
    })
    .await?;
    // Positive control for "resolved once": a later dead letter alerted, so
    // the replicas evaluated again after the resolve.
    let third = win_deal_without_address(&stack, "After Resolve").await?;
    eventually("the third deal's Slack message", WAIT, || async {
        sinks
            .slack
            .received()
            .iter()
            .any(|(_, b)| b["text"].as_str().is_some_and(|t| mentions_deal(t, &third)))
            .then_some(())
    })
    .await?;
    assert_eq!(resolve["dedup_key"], "no_success:deal-to-order");
    assert_eq!(sinks.pages("resolve").len(), 1);
    assert_eq!(sinks.pages("trigger").len(), 1);
    Ok(())
}

#[tokio::test]
async fn outside_business_hours_a_silent_flow_does_not_page_and_failed_deliveries_are_counted()
-> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    // Slack always fails (more failures than retries).
    let sinks = Sinks::start(1000).await?;
    // Business hours only on a day that is neither today nor tomorrow in Berlin.
    let other_day = another_day();
    let monitoring =
        Monitoring::start_with(&stack, &sinks.config(&format!("\"{other_day}\""), 1000, 1)).await?;

    win_deal_without_address(&stack, "After Hours").await?;
    eventually("an email", WAIT, || async {
        sinks.smtp.mails().first().cloned()
    })
    .await?;
    // The rule's condition is itself a duration: let its 2 s window pass.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Positive control: an evaluation after the window (the one alerting this
    // later dead letter also checks the silent flow) still pages nobody.
    win_deal_without_address(&stack, "Still After Hours").await?;
    eventually("a second email", WAIT, || async {
        (sinks.smtp.mails().len() >= 2).then_some(())
    })
    .await?;
    assert!(
        sinks.pages("trigger").is_empty(),
        "{:?}",
        sinks.pagerduty.received()
    );
    assert!(sinks.slack.received().is_empty());

    let metrics = reqwest::get(format!("{}/metrics", monitoring.url(0)?))
        .await?
        .text()
        .await?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("crmerp_monitoring_alert_failures_total{channel=\"slack\"}")),
        "{metrics}"
    );
    Ok(())
}

#[tokio::test]
async fn consumer_lag_over_the_threshold_alerts_and_resolves() -> anyhow::Result<()> {
    let mut stack = Stack::start(StackOptions::default()).await?;
    let sinks = Sinks::start(0).await?;
    let _monitoring = Monitoring::start_with(&stack, &sinks.config(EVERY_DAY, 1, 2)).await?;
    if let Some(worker) = stack.worker.as_mut() {
        worker.terminate(Duration::from_secs(10)).await?;
    }
    for name in ["Lag 1", "Lag 2", "Lag 3"] {
        let deal = stack.hubspot.create_deal(&DealSpec::complete(name)).await?;
        stack
            .hubspot
            .move_to_stage(&deal.deal_id, "closedwon")
            .await?;
    }
    let trigger = eventually("a lag alert", WAIT, || async {
        sinks
            .pages("trigger")
            .into_iter()
            .find(|p| p["dedup_key"] == "consumer_lag:deal-to-order")
    })
    .await?;
    assert_eq!(trigger["payload"]["severity"], "error");
    // The alert fires as soon as the lag passes the threshold (1), which may
    // be before the third webhook is stored: it names 2 or 3 pending events.
    let summary = trigger["payload"]["summary"].as_str().unwrap_or_default();
    let pending: u32 = summary
        .split(": ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_default();
    assert!(
        (2..=3).contains(&pending) && summary.contains("(threshold 1)"),
        "{trigger}"
    );
    stack.start_worker().await?;
    eventually("the lag resolved", WAIT, || async {
        sinks
            .pages("resolve")
            .into_iter()
            .find(|p| p["dedup_key"] == "consumer_lag:deal-to-order")
    })
    .await?;
    Ok(())
}

async fn publish_breaker(stack: &Stack, open: bool, at_seconds: i64) -> anyhow::Result<()> {
    use crmerp_proto::{BreakerChange, EventEnvelope, Message as _, event_envelope::Data};
    let label = if open {
        "breaker_opened"
    } else {
        "breaker_closed"
    };
    let at = crmerp_proto::timestamp_from(
        chrono::DateTime::from_timestamp(at_seconds, 0).unwrap_or_default(),
    );
    let envelope = EventEnvelope {
        id: format!("breaker:deal-to-order:netsuite:{label}:{at_seconds}"),
        r#type: "integration.outcome".into(),
        time: Some(at),
        data: Some(Data::BreakerChange(BreakerChange {
            flow: "deal-to-order".into(),
            system: "netsuite".into(),
            open,
            reason: "NetSuite answered 503 five times".into(),
            error_category: "unavailable".into(),
            consecutive_failures: 5,
            resolution_code: String::new(),
            at: Some(at),
        })),
        ..Default::default()
    };
    let js = stack.jetstream().await?;
    js.publish(
        format!("outcome.deal-to-order.{label}"),
        envelope.encode_to_vec().into(),
    )
    .await?
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_flow_paused_by_its_breaker_alerts_until_the_breaker_closes() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let sinks = Sinks::start(0).await?;
    let monitoring = Monitoring::start_with(&stack, &sinks.config(EVERY_DAY, 1000, 2)).await?;
    let now = Utc::now().timestamp();
    publish_breaker(&stack, true, now).await?;
    let trigger = eventually("a breaker alert", WAIT, || async {
        sinks
            .pages("trigger")
            .into_iter()
            .find(|p| p["dedup_key"] == "breaker:deal-to-order:netsuite")
    })
    .await?;
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("deal-to-order paused: netsuite keeps failing"),
        "{trigger}"
    );
    publish_breaker(&stack, false, now + 1).await?;
    eventually("the breaker alert resolved", WAIT, || async {
        sinks
            .pages("resolve")
            .into_iter()
            .find(|p| p["dedup_key"] == "breaker:deal-to-order:netsuite")
    })
    .await?;
    let api = monitoring.api(Some(crmerp_testkit::monitoring::VIEWER_TOKEN))?;
    let (_, events) = api.get("/api/v1/events?flow=deal-to-order").await?;
    let outcomes: Vec<&str> = events["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|e| e["outcome"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(outcomes, vec!["breaker_closed", "breaker_opened"]);
    Ok(())
}

/// A weekday that is neither today nor tomorrow in any time zone, so the
/// no-success rule (business hours only) stays out of a test's way.
fn another_day() -> String {
    (Utc::now() + chrono::Duration::days(3))
        .weekday()
        .to_string()
        .to_lowercase()
}

#[tokio::test]
async fn exhausted_retries_alert_p2_once_across_two_replicas() -> anyhow::Result<()> {
    // NetSuite is down for good: every delivery fails transiently until
    // max_deliver (fast schedule), and a high breaker threshold keeps the
    // flow running so the retries are used up instead of pausing it.
    let stack = Stack::start(StackOptions {
        env: vec![("CRMERP__FLOW__BREAKER_THRESHOLD".into(), "1000".into())],
        retry_schedule: vec!["50ms", "100ms", "200ms"],
        max_deliver: 4,
        ..StackOptions::default()
    })
    .await?;
    let sinks = Sinks::start(0).await?;
    let config = sinks.config(&format!("\"{}\"", another_day()), 1000, 2);
    let mut monitoring = Monitoring::start_with(&stack, &config).await?;
    monitoring.add_replica().await?;
    stack
        .inject_fault("netsuite", json!({"status": 503, "rate": 1.0}))
        .await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Exhausted"))
        .await?;
    stack.crm.win(&deal.deal_id).await?;

    let is_exhausted = |p: &Value| {
        p["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("Retries exhausted in deal-to-order"))
    };
    let page = eventually("a P2 page for the exhausted retries", WAIT, || async {
        sinks.pages("trigger").into_iter().find(is_exhausted)
    })
    .await?;
    assert_eq!(
        page["payload"]["severity"], "error",
        "P2 is PagerDuty 'error'"
    );
    assert!(
        page["dedup_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("dead_letter:")),
        "{page}"
    );
    // Positive control for "once": a later dead letter (P3) is alerted, so
    // both replicas evaluated again after the P2 went out.
    stack.clear_fault("netsuite").await?;
    let later = win_deal_without_address(&stack, "Later").await?;
    eventually("the later dead letter's Slack message", WAIT, || async {
        sinks
            .slack
            .received()
            .iter()
            .any(|(_, b)| b["text"].as_str().is_some_and(|t| mentions_deal(t, &later)))
            .then_some(())
    })
    .await?;

    let pages: Vec<Value> = sinks
        .pages("trigger")
        .into_iter()
        .filter(is_exhausted)
        .collect();
    assert_eq!(pages.len(), 1, "{:?}", sinks.pagerduty.received());
    let slack: Vec<String> = sinks
        .slack
        .received()
        .into_iter()
        .filter_map(|(_, b)| b["text"].as_str().map(str::to_owned))
        .filter(|t| t.starts_with("[P2] Retries exhausted in deal-to-order"))
        .collect();
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert!(mentions_deal(&slack[0], &deal.deal_id), "{}", slack[0]);
    assert!(
        slack[0].contains("Recommended resolution: "),
        "{}",
        slack[0]
    );
    let mails: Vec<_> = sinks
        .smtp
        .mails()
        .into_iter()
        .filter(|m| m.data.contains("Subject: [P2] Retries exhausted"))
        .collect();
    assert_eq!(mails.len(), 1, "P2 goes to email too");
    // Business hours are another day: the failing flow paged nobody for P1.
    assert!(
        sinks
            .pages("trigger")
            .iter()
            .all(|p| p["payload"]["severity"] != "critical"),
        "{:?}",
        sinks.pagerduty.received()
    );
    Ok(())
}

/// Triggers whose PagerDuty `dedup_key` is `key`.
fn triggers_for(sinks: &Sinks, key: &str) -> Vec<Value> {
    sinks
        .pages("trigger")
        .into_iter()
        .filter(|p| p["dedup_key"] == key)
        .collect()
}

#[tokio::test]
async fn a_quiet_period_does_not_page_but_a_real_outage_does() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        env: vec![("CRMERP__FLOW__BREAKER_THRESHOLD".into(), "1000".into())],
        ..StackOptions::default()
    })
    .await?;
    let sinks = Sinks::start(0).await?;
    let monitoring = Monitoring::start_with(&stack, &sinks.config(EVERY_DAY, 1000, 2)).await?;
    let api = monitoring.api(Some(crmerp_testkit::monitoring::VIEWER_TOKEN))?;

    // One success, then nothing at all for longer than the 2 s window.
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Before The Quiet"))
        .await?;
    stack.crm.win(&deal.deal_id).await?;
    eventually("the success in the event log", WAIT, || async {
        let (_, events) = api
            .get("/api/v1/events?flow=deal-to-order&outcome=success")
            .await
            .ok()?;
        (!events["items"].as_array()?.is_empty()).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Positive control: the breaker rule runs after the no-success rule in
    // the same evaluation, so once its alert is out, a quiet-period
    // evaluation past the window has happened.
    publish_breaker(&stack, true, Utc::now().timestamp()).await?;
    eventually("the breaker alert", WAIT, || async {
        triggers_for(&sinks, "breaker:deal-to-order:netsuite")
            .first()
            .cloned()
    })
    .await?;
    assert!(
        triggers_for(&sinks, "no_success:deal-to-order").is_empty(),
        "a quiet period paged: {:?}",
        sinks.pagerduty.received()
    );

    // A real outage: NetSuite fails every call, deals are attempted, none succeeds.
    stack
        .inject_fault("netsuite", json!({"status": 503, "rate": 1.0}))
        .await?;
    let failing = stack
        .hubspot
        .create_deal(&DealSpec::complete("During The Outage"))
        .await?;
    stack.crm.win(&failing.deal_id).await?;
    let page = eventually("the P1 page", WAIT, || async {
        triggers_for(&sinks, "no_success:deal-to-order")
            .first()
            .cloned()
    })
    .await?;
    assert_eq!(page["payload"]["severity"], "critical");
    assert!(
        page["payload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("while events were attempted")),
        "{page}"
    );
    Ok(())
}

#[tokio::test]
async fn alerting_off_is_warned_at_start_up_and_shown_on_readyz() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let off = Monitoring::start(&stack).await?;
    let response = reqwest::get(format!("{}/readyz", off.url(0)?)).await?;
    assert_eq!(response.status(), 200, "alerting off does not stop routing");
    let body: Value = response.json().await?;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["alerting"], "off", "{body}");
    assert!(
        body["alerting_reason"]
            .as_str()
            .is_some_and(|r| r.contains("no alert channel configured")),
        "{body}"
    );
    let log = std::fs::read_to_string(off.replicas[0].log_path())?;
    let warning = log
        .lines()
        .find(|l| l.contains("Alerting is OFF"))
        .unwrap_or_default();
    assert!(
        warning.contains("WARN") && warning.contains("no alert channel configured"),
        "no start-up warning in {log}"
    );
    Ok(())
}

#[tokio::test]
async fn an_old_waiting_event_alerts_lag_by_age_and_resolves_when_processed() -> anyhow::Result<()>
{
    let mut stack = Stack::start(StackOptions::default()).await?;
    let sinks = Sinks::start(0).await?;
    // A count threshold far above the one waiting event: only its age can alert.
    let config = sinks.config_with(
        &format!("\"{}\"", another_day()),
        1000,
        2,
        r#"lag_max_age = "3s""#,
    );
    let monitoring = Monitoring::start_with(&stack, &config).await?;
    // With a channel, readiness says alerting is on and nothing is warned
    // (the counterpart of the alerting-off test).
    let ready: Value = reqwest::get(format!("{}/readyz", monitoring.url(0)?))
        .await?
        .json()
        .await?;
    assert_eq!(ready["alerting"], "on", "{ready}");
    assert!(ready.get("alerting_reason").is_none(), "{ready}");
    let log = std::fs::read_to_string(monitoring.replicas[0].log_path())?;
    assert!(!log.contains("Alerting is OFF"), "{log}");
    if let Some(worker) = stack.worker.as_mut() {
        worker.terminate(Duration::from_secs(10)).await?;
    }
    let won_at = std::time::Instant::now();
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Waiting"))
        .await?;
    stack.crm.win(&deal.deal_id).await?;
    let trigger = eventually("a lag-by-age alert", WAIT, || async {
        triggers_for(&sinks, "consumer_lag:deal-to-order")
            .first()
            .cloned()
    })
    .await?;
    assert!(
        won_at.elapsed() >= Duration::from_secs(3),
        "alerted before the event was 3 s old: {trigger}"
    );
    assert_eq!(trigger["payload"]["severity"], "error");
    let summary = trigger["payload"]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("Consumer deal-to-order is behind: its oldest waiting event is")
            && summary.ends_with("old (max 3s)"),
        "{trigger}"
    );
    // The age is on /metrics, in seconds.
    let metrics = reqwest::get(format!("{}/metrics", monitoring.url(0)?))
        .await?
        .text()
        .await?;
    let age: f64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("crmerp_consumer_oldest_waiting_seconds{consumer=\"deal-to-order\"} ")
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_default();
    assert!(age >= 3.0, "age {age} in {metrics}");

    stack.start_worker().await?;
    eventually("the lag resolved", WAIT, || async {
        sinks
            .pages("resolve")
            .into_iter()
            .find(|p| p["dedup_key"] == "consumer_lag:deal-to-order")
    })
    .await?;
    assert_eq!(triggers_for(&sinks, "consumer_lag:deal-to-order").len(), 1);
    Ok(())
}
