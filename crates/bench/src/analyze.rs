//! Joins what the generator sent with what the product recorded (INBOUND and
//! OUTCOMES messages) into per-stage latency histograms and throughput.

use std::collections::{BTreeMap, HashMap};

use crmerp_proto::Timestamp;
use crmerp_proto::{EventEnvelope, Message as _, Outcome, OutcomeStatus, event_envelope::Data};
use hdrhistogram::Histogram;

use crate::collect::Stored;
use crate::load::LoadRun;
use crate::report::{Errors, Latency, STAGES};

/// Highest latency recorded: one hour, in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// What the product recorded about one deal.
#[derive(Debug, Default, Clone)]
struct Recorded {
    accepted_us: Option<i64>,
    inbound_stored_us: Option<i64>,
    /// The first `succeeded` outcome and when it was stored.
    success: Option<(Outcome, i64)>,
}

/// The numbers of one phase that come from joining the sources.
#[derive(Debug, Default)]
pub struct Analysis {
    /// Sent in the measured window.
    pub sent: u64,
    /// Of those, 2xx.
    pub accepted: u64,
    /// Of those, with a `succeeded` outcome.
    pub completed: u64,
    /// Succeeded outcomes stored inside the measured window (warm-up deals included).
    pub completed_in_window: u64,
    /// Every succeeded outcome of the phase (warm-up included).
    pub succeeded_total: u64,
    /// Last succeeded outcome stored, microseconds since the epoch.
    pub last_outcome_us: Option<i64>,
    /// Errors seen by the generator and in the outcomes (dead letters are counted by the caller).
    pub errors: Errors,
    /// Per stage.
    pub latency_ms: BTreeMap<String, Latency>,
}

fn micros_between(from: i64, to: i64) -> u64 {
    u64::try_from(to.saturating_sub(from)).unwrap_or(0)
}

fn ts_us(ts: Option<&Timestamp>) -> Option<i64> {
    ts.map(|t| t.seconds * 1_000_000 + i64::from(t.nanos) / 1000)
}

/// The deal id of an envelope subject such as `hubspot/deal/42`.
fn deal_id(subject: &str) -> &str {
    subject.rsplit('/').next().unwrap_or_default()
}

/// Sums the durations of the calls of `outcome` that `pick` selects, in microseconds.
fn calls_us(outcome: &Outcome, pick: impl Fn(&str, &str) -> bool) -> u64 {
    outcome
        .calls
        .iter()
        .filter(|call| pick(&call.system, &call.endpoint))
        .map(|call| call.duration_ms * 1000)
        .sum()
}

struct Histograms(BTreeMap<&'static str, Histogram<u64>>);

impl Histograms {
    fn new() -> anyhow::Result<Self> {
        let mut map = BTreeMap::new();
        for (stage, _) in STAGES {
            map.insert(*stage, Histogram::new_with_bounds(1, MAX_US, 3)?);
        }
        Ok(Self(map))
    }

    fn record(&mut self, stage: &'static str, micros: u64) {
        if let Some(histogram) = self.0.get_mut(stage) {
            histogram.saturating_record(micros.clamp(1, MAX_US));
        }
    }

    fn latencies(&self) -> BTreeMap<String, Latency> {
        let ms = |us: u64| (us as f64) / 1000.0;
        self.0
            .iter()
            .map(|(stage, h)| {
                let latency = if h.is_empty() {
                    Latency::default()
                } else {
                    Latency {
                        count: h.len(),
                        p50_ms: ms(h.value_at_quantile(0.50)),
                        p95_ms: ms(h.value_at_quantile(0.95)),
                        p99_ms: ms(h.value_at_quantile(0.99)),
                        max_ms: ms(h.max()),
                        mean_ms: (h.mean() / 10.0).round() / 100.0,
                    }
                };
                ((*stage).to_owned(), latency)
            })
            .collect()
    }
}

/// Joins `run` with the INBOUND and OUTCOMES messages of the phase.
pub fn analyze(run: &LoadRun, inbound: &[Stored], outcomes: &[Stored]) -> anyhow::Result<Analysis> {
    let mut recorded: HashMap<String, Recorded> = HashMap::new();
    for message in inbound {
        let Ok(envelope) = EventEnvelope::decode(message.payload.clone()) else {
            continue;
        };
        if let Some(Data::DealWon(won)) = &envelope.data {
            let entry = recorded
                .entry(deal_id(&envelope.subject).to_owned())
                .or_default();
            entry.accepted_us = ts_us(won.accepted_at.as_ref());
            entry.inbound_stored_us = Some(message.stored_us);
        }
    }
    let mut analysis = Analysis::default();
    for message in outcomes {
        let Ok(envelope) = EventEnvelope::decode(message.payload.clone()) else {
            continue;
        };
        let Some(Data::Outcome(outcome)) = envelope.data else {
            continue;
        };
        if outcome.status != OutcomeStatus::Succeeded as i32 {
            analysis.errors.failed_attempts += 1;
            continue;
        }
        analysis.succeeded_total += 1;
        if message.stored_us >= run.measure_start_us && message.stored_us <= run.measure_end_us {
            analysis.completed_in_window += 1;
        }
        analysis.last_outcome_us = analysis.last_outcome_us.max(Some(message.stored_us));
        let entry = recorded
            .entry(deal_id(&envelope.subject).to_owned())
            .or_default();
        if entry.success.is_none() {
            entry.success = Some((outcome, message.stored_us));
        }
    }

    let mut histograms = Histograms::new()?;
    for sent in &run.sent {
        if !sent.warmup {
            analysis.sent += 1;
        }
        match sent.status {
            0 => analysis.errors.no_answer += 1,
            200..=299 => {}
            _ => analysis.errors.non_2xx += 1,
        }
        if !(200..300).contains(&sent.status) {
            continue;
        }
        let record = recorded.get(&sent.deal_id);
        let success = record.and_then(|r| r.success.as_ref());
        if success.is_none() {
            analysis.errors.not_completed += 1;
        }
        if sent.warmup {
            continue;
        }
        analysis.accepted += 1;
        histograms.record("ingress_response", sent.response_us);
        let (Some(record), Some((outcome, outcome_stored_us))) = (record, success) else {
            continue;
        };
        analysis.completed += 1;
        histograms.record(
            "end_to_end",
            micros_between(sent.scheduled_us, *outcome_stored_us),
        );
        if let Some(accepted) = record.accepted_us {
            if let Some(stored) = record.inbound_stored_us {
                histograms.record("ingress_publish", micros_between(accepted, stored));
            }
            if let Some(started) = ts_us(outcome.started_at.as_ref()) {
                histograms.record("queue_wait", micros_between(accepted, started));
            }
            histograms.record(
                "end_to_end_product",
                micros_between(accepted, *outcome_stored_us),
            );
        }
        histograms.record(
            "crm_hydrate",
            calls_us(outcome, |system, endpoint| {
                system == "hubspot" && !endpoint.starts_with("PATCH")
            }),
        );
        histograms.record(
            "erp_create",
            calls_us(outcome, |system, _| system == "netsuite"),
        );
        histograms.record(
            "write_back",
            calls_us(outcome, |system, endpoint| {
                system == "hubspot" && endpoint.starts_with("PATCH")
            }),
        );
        histograms.record("handler", outcome.duration_ms * 1000);
        if let Some(finished) = ts_us(outcome.finished_at.as_ref()) {
            histograms.record(
                "outcome_logged",
                micros_between(finished, *outcome_stored_us),
            );
        }
    }
    analysis.latency_ms = histograms.latencies();
    Ok(analysis)
}
