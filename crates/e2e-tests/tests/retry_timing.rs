//! The retry schedule is really waited out: over the real stack, the pause
//! between the end of a failed attempt and the start of the next one follows
//! the configured (compressed) schedule, and a vendor's `Retry-After` wins over
//! a shorter schedule.
//!
//! Two clocks are read: the attempts' own `started_at`/`finished_at` in the
//! outcome events, and the sandbox's request log (when each vendor request
//! arrived). Only lower bounds are asserted: a slow machine may wait longer,
//! but an attempt that comes back early (an immediate NAK, a lost delay) fails.

use std::time::Duration;

use chrono::{DateTime, Utc};
use crmerp_proto::{Outcome, OutcomeStatus, event_envelope::Data, timestamp_to_chrono};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
/// A gap may be this much shorter than its delay (timer and clock granularity).
const TOLERANCE: f64 = 0.9;
const ORDERS_PATH: &str = "/services/rest/record/v1/salesOrder";

/// A stack with `schedule` as its retry schedule and a breaker that never
/// opens, so a pause of the whole flow cannot stretch or hide a gap.
async fn stack_with_schedule(schedule: Vec<&'static str>) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        env: vec![("CRMERP__FLOW__BREAKER_THRESHOLD".into(), "1000".into())],
        retry_schedule: schedule,
        max_deliver: 6,
        ..StackOptions::default()
    })
    .await
}

/// Wins one deal and returns its outcomes by attempt, once it succeeded.
async fn win_one_and_collect_outcomes(stack: &Stack, name: &str) -> anyhow::Result<Vec<Outcome>> {
    let deal_id = stack
        .hubspot
        .create_deals_for_one_company(name, 1)
        .await?
        .remove(0);
    stack.crm.win(&deal_id).await?;
    let mut outcomes = eventually("a successful attempt", WAIT, || async {
        let outcomes: Vec<Outcome> = stack
            .stream_envelopes("OUTCOMES")
            .await
            .ok()?
            .into_iter()
            .filter_map(|e| match e.data {
                Some(Data::Outcome(o))
                    if o.crm_record.as_ref().is_some_and(|r| r.id == deal_id) =>
                {
                    Some(o)
                }
                _ => None,
            })
            .collect();
        outcomes
            .iter()
            .any(|o| o.status == OutcomeStatus::Succeeded as i32)
            .then_some(outcomes)
    })
    .await?;
    outcomes.sort_by_key(|o| o.attempt);
    Ok(outcomes)
}

/// An attempt's timestamp; a missing one reads as the distant past, so a gap
/// ending there is zero and the lower bound fails.
fn time(ts: Option<DateTime<Utc>>) -> DateTime<Utc> {
    ts.unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `(attempt, next_retry_ms, gap)` for each retried attempt: the gap runs from
/// its end to the start of the following attempt.
fn gaps(outcomes: &[Outcome]) -> Vec<(u32, u64, Duration)> {
    outcomes
        .windows(2)
        .map(|pair| {
            let (failed, next) = (&pair[0], &pair[1]);
            let gap = time(next.started_at.as_ref().and_then(timestamp_to_chrono))
                - time(failed.finished_at.as_ref().and_then(timestamp_to_chrono));
            (
                failed.attempt,
                failed.next_retry_ms,
                gap.to_std().unwrap_or(Duration::ZERO),
            )
        })
        .collect()
}

fn at_least(delay: Duration) -> Duration {
    delay.mul_f64(TOLERANCE)
}

/// `(arrived, answered, faulted)` of every request the vendor logged, in arrival order.
async fn vendor_log(
    stack: &Stack,
    vendor: &str,
) -> anyhow::Result<Vec<(DateTime<Utc>, DateTime<Utc>, bool)>> {
    let url = format!(
        "http://{}/__sandbox/requests",
        stack.sandbox.listener(vendor)?
    );
    let body: Value = reqwest::get(url).await?.json().await?;
    let mut records: Vec<&Value> = body["requests"]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    records.sort_by_key(|r| r["seq"].as_u64());
    records
        .into_iter()
        .map(|r| {
            let arrived: DateTime<Utc> = r["time"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no time in {r}"))?
                .parse()?;
            let took = Duration::from_secs_f64(r["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0);
            Ok((arrived, arrived + took, r["fault"].as_bool() == Some(true)))
        })
        .collect()
}

/// For each faulted request: the pause from its answer to the vendor's next request.
async fn pauses_after_faults(stack: &Stack, vendor: &str) -> anyhow::Result<Vec<Duration>> {
    let log = vendor_log(stack, vendor).await?;
    Ok(log
        .windows(2)
        .filter(|pair| pair[0].2)
        .map(|pair| (pair[1].0 - pair[0].1).to_std().unwrap_or(Duration::ZERO))
        .collect())
}

#[tokio::test]
async fn retries_wait_out_the_configured_schedule() -> anyhow::Result<()> {
    let schedule = [
        Duration::from_millis(300),
        Duration::from_millis(600),
        Duration::from_millis(1200),
    ];
    let stack = stack_with_schedule(vec!["300ms", "600ms", "1200ms"]).await?;
    // Each attempt fails on its first NetSuite call; the fourth goes through.
    stack
        .inject_fault("netsuite", json!({"status": 503, "rate": 1.0, "count": 3}))
        .await?;
    let outcomes = win_one_and_collect_outcomes(&stack, "Schedule").await?;

    let attempts: Vec<u32> = outcomes.iter().map(|o| o.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3, 4], "{outcomes:?}");
    let gaps = gaps(&outcomes);
    for ((attempt, next_retry_ms, gap), delay) in gaps.iter().zip(schedule) {
        assert_eq!(
            Duration::from_millis(*next_retry_ms),
            delay,
            "attempt {attempt} announced the scheduled delay"
        );
        assert!(
            *gap >= at_least(delay),
            "attempt {} started {gap:?} after attempt {attempt} ended; the schedule says {delay:?}",
            attempt + 1
        );
    }

    // The vendor saw the same pauses between a faulted call and the next call.
    let pauses = pauses_after_faults(&stack, "netsuite").await?;
    assert_eq!(pauses.len(), schedule.len(), "{pauses:?}");
    for (pause, delay) in pauses.iter().zip(schedule) {
        assert!(
            *pause >= at_least(delay),
            "NetSuite was called again {pause:?} after a failure; the schedule says {delay:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_vendor_retry_after_outlasts_a_shorter_schedule() -> anyhow::Result<()> {
    let retry_after = Duration::from_secs(1);
    let stack = stack_with_schedule(vec!["100ms", "200ms", "300ms"]).await?;
    // Throttle the order endpoint: the first two attempts end on its 429.
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 429, "rate": 1.0, "retry_after_secs": 1, "count": 2,
                   "path_prefix": ORDERS_PATH}),
        )
        .await?;
    let outcomes = win_one_and_collect_outcomes(&stack, "Throttled").await?;

    let attempts: Vec<u32> = outcomes.iter().map(|o| o.attempt).collect();
    assert_eq!(attempts, vec![1, 2, 3], "{outcomes:?}");
    for (attempt, next_retry_ms, gap) in gaps(&outcomes) {
        assert_eq!(
            next_retry_ms, 1000,
            "attempt {attempt} announced Retry-After"
        );
        assert!(
            gap >= at_least(retry_after),
            "attempt {} started {gap:?} after attempt {attempt} ended; Retry-After says {retry_after:?}",
            attempt + 1
        );
    }
    let pauses = pauses_after_faults(&stack, "netsuite").await?;
    assert_eq!(pauses.len(), 2, "{pauses:?}");
    for pause in pauses {
        assert!(
            pause >= at_least(retry_after),
            "NetSuite was called again {pause:?} after a 429 with Retry-After {retry_after:?}"
        );
    }
    Ok(())
}
