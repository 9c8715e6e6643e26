//! The weekly SLA report is sent automatically at its scheduled time, by
//! exactly one of two monitoring replicas, over a real SMTP sink and a Slack
//! webhook sink.

use std::time::Duration;

use chrono::{Datelike, Utc};
use crmerp_testkit::alert_sinks::{HttpSink, SmtpSink};
use crmerp_testkit::monitoring::Monitoring;
use crmerp_testkit::{Stack, StackOptions, eventually};

const WAIT: Duration = Duration::from_secs(60);

fn log_lines(monitoring: &Monitoring, replica: usize, text: &str) -> anyhow::Result<usize> {
    let log = std::fs::read_to_string(monitoring.replicas[replica].log_path())?;
    Ok(log.lines().filter(|l| l.contains(text)).count())
}

#[tokio::test]
async fn the_weekly_report_is_sent_once_by_one_of_two_replicas() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let slack = HttpSink::start(0).await?;
    let smtp = SmtpSink::start().await?;
    // Due shortly after both replicas are up (whole seconds: the schedule's precision).
    let due = Utc::now() + chrono::Duration::seconds(20);
    let due = due - chrono::Duration::nanoseconds(i64::from(due.timestamp_subsec_nanos()));
    let config = format!(
        r#"
[monitoring.alerts]
evaluate_every = "200ms"

[monitoring.alerts.business_hours]
timezone = "UTC"

[monitoring.alerts.weekly_report]
channels = ["email", "slack"]
day = "{day}"
at = "{at}"

[monitoring.alerts.slack]
webhook_url = "{slack}"

[monitoring.alerts.email]
smtp_host = "127.0.0.1"
smtp_port = {smtp}
security = "none"
from = "crmerp <reports@example.com>"
to = ["ops@example.com"]
"#,
        day = due.weekday().to_string().to_lowercase(),
        at = due.format("%H:%M:%S"),
        slack = slack.url("/services/T000/B000/XXXX"),
        smtp = smtp.port(),
    );
    let mut monitoring = Monitoring::start_with(&stack, &config).await?;
    monitoring.add_replica().await?;
    anyhow::ensure!(
        Utc::now() < due,
        "the replicas took too long to start; the report was due at {due}"
    );
    // Both replicas scheduled this very run (the control for "once").
    let next = due.to_rfc3339();
    for replica in 0..2 {
        eventually("the report scheduled", WAIT, || async {
            let log = std::fs::read_to_string(monitoring.replicas[replica].log_path()).ok()?;
            log.lines()
                .any(|l| l.contains("Weekly SLA report scheduled.") && l.contains(&next))
                .then_some(())
        })
        .await?;
    }
    assert!(slack.received().is_empty(), "sent before it was due");

    let mail = eventually("the report by email", WAIT, || async {
        smtp.mails().first().cloned()
    })
    .await?;
    let reported = {
        let week = (due - chrono::Duration::days(7)).iso_week();
        format!("{}-W{:02}", week.year(), week.week())
    };
    assert!(Utc::now() >= due, "the report came before its time ({due})");
    assert!(
        mail.data
            .contains(&format!("Subject: crmerp weekly SLA report {reported}")),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Success rate per flow"), "{}", mail.data);
    assert_eq!(mail.to, vec!["ops@example.com".to_owned()]);
    let posted = eventually("the report on Slack", WAIT, || async {
        slack.received().first().cloned()
    })
    .await?;
    let text = posted.1["text"].as_str().unwrap_or_default().to_owned();
    assert!(
        text.starts_with(&format!("crmerp weekly SLA report {reported}")),
        "{text}"
    );
    assert!(text.contains("Time to resolution"), "{text}");

    // Both replicas woke at the due time and raced for the claim; give the
    // loser time to lose, then count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(smtp.mails().len(), 1, "{:?}", smtp.mails());
    assert_eq!(slack.received().len(), 1, "{:?}", slack.received());
    let senders: usize = (0..2)
        .map(|r| log_lines(&monitoring, r, "Weekly SLA report sent."))
        .sum::<anyhow::Result<usize>>()?;
    assert_eq!(senders, 1, "exactly one replica sent it");
    // ... and the other tried and lost the claim (so it was alive and due too).
    let losers: usize = (0..2)
        .map(|r| {
            log_lines(
                &monitoring,
                r,
                "Weekly SLA report claimed by another replica.",
            )
        })
        .sum::<anyhow::Result<usize>>()?;
    assert_eq!(losers, 1, "the other replica tried");
    Ok(())
}
