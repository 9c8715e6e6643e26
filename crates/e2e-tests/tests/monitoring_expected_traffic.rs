//! The optional expected-traffic P1 over real processes: silence pages only
//! when the same time last week had traffic, and resolves when events arrive.

use std::time::Duration;

use chrono::Utc;
use crmerp_proto::event_envelope::Data;
use crmerp_proto::{DealWon, EventEnvelope, Message as _, RecordRef, Timestamp};
use crmerp_testkit::alert_sinks::HttpSink;
use crmerp_testkit::monitoring::Monitoring;
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// Publishes a won deal onto INBOUND as ingress would, received at `at`.
async fn publish_won(stack: &Stack, id: &str, at: chrono::DateTime<Utc>) -> anyhow::Result<()> {
    let stamp = Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    };
    let envelope = EventEnvelope {
        id: format!("test:{id}"),
        r#type: "crm.deal.won".into(),
        source: "crmerp://ingress/hubspot".into(),
        subject: format!("hubspot/deal/{id}"),
        time: Some(stamp),
        data: Some(Data::DealWon(DealWon {
            deal: Some(RecordRef {
                system: "hubspot".into(),
                object_type: "deal".into(),
                id: id.into(),
            }),
            accepted_at: Some(stamp),
            ..Default::default()
        })),
        ..Default::default()
    };
    stack
        .jetstream()
        .await?
        .publish(
            "inbound.crm.deal.won.hubspot",
            envelope.encode_to_vec().into(),
        )
        .await?
        .await?;
    Ok(())
}

fn pages(sink: &HttpSink, action: &str) -> Vec<Value> {
    sink.received()
        .into_iter()
        .map(|(_, body)| body)
        .filter(|b| b["event_action"] == action && b["dedup_key"] == "no_traffic:inbound")
        .collect()
}

#[tokio::test]
async fn silence_pages_when_last_week_had_traffic_and_resolves_on_arrival() -> anyhow::Result<()> {
    // No worker: the test publishes the events itself.
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let pagerduty = HttpSink::start(0).await?;
    let config = format!(
        r#"
[monitoring.alerts]
evaluate_every = "200ms"
no_success_window = "60s"

[monitoring.alerts.expected_traffic]
enabled = true
history_weeks = 1
min_expected = 2

[monitoring.alerts.business_hours]
timezone = "UTC"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "24:00"

[monitoring.alerts.pagerduty]
events_url = "{url}"
routing_key = "R0UTINGKEY0000000000000000000000"
"#,
        url = pagerduty.url("/v2/enqueue"),
    );
    let monitoring = Monitoring::start_with(&stack, &config).await?;

    // Silence without history: no page (a quiet period is not an outage).
    // One event of last week is below min_expected.
    publish_won(
        &stack,
        "1",
        Utc::now() - chrono::Duration::days(7) - chrono::Duration::seconds(5),
    )
    .await?;
    let api = monitoring.api(Some(crmerp_testkit::monitoring::VIEWER_TOKEN))?;
    eventually("last week's first event stored", WAIT, || async {
        let (_, body) = api.get("/api/v1/events?crm_record_id=1").await.ok()?;
        (!body["items"].as_array()?.is_empty()).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        pages(&pagerduty, "trigger").is_empty(),
        "{:?}",
        pagerduty.received()
    );

    // Two events at this time last week: silence now pages.
    publish_won(
        &stack,
        "2",
        Utc::now() - chrono::Duration::days(7) - chrono::Duration::seconds(5),
    )
    .await?;
    let trigger = eventually("the no-traffic page", WAIT, || async {
        pages(&pagerduty, "trigger").first().cloned()
    })
    .await?;
    assert_eq!(trigger["payload"]["severity"], "critical", "{trigger}");
    let summary = trigger["payload"]["summary"].as_str().unwrap_or_default();
    assert!(summary.starts_with("No event received for 1m"), "{summary}");
    assert!(summary.contains("averaged 2.0"), "{summary}");
    assert_eq!(
        trigger["payload"]["custom_details"]["Runbook"], "docs/runbook.md#alert-no-traffic",
        "{trigger}"
    );

    // An event arrives: resolved, once.
    publish_won(&stack, "3", Utc::now()).await?;
    eventually("the no-traffic page resolved", WAIT, || async {
        (!pages(&pagerduty, "resolve").is_empty()).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(pages(&pagerduty, "trigger").len(), 1);
    assert_eq!(pages(&pagerduty, "resolve").len(), 1);
    Ok(())
}
