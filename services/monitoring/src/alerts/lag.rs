//! Processing lag by age: when the oldest event still waiting for a flow's
//! consumer arrived.
//!
//! "Waiting" means not yet delivered: the first stream message after the
//! consumer's `delivered.stream_seq` that matches its filter. An event that
//! was delivered and is waiting for a retry is not lag (its retries, dead
//! letter and the no-success rule cover it); a consumer that stops fetching
//! (the worker is down or paused) makes the age grow.

use async_nats::jetstream::consumer;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use chrono::{DateTime, Utc};

/// The filter subjects of a consumer; `>` when it takes the whole stream.
fn filters(config: &consumer::Config) -> Vec<&str> {
    if !config.filter_subjects.is_empty() {
        config.filter_subjects.iter().map(String::as_str).collect()
    } else if !config.filter_subject.is_empty() {
        vec![config.filter_subject.as_str()]
    } else {
        vec![">"]
    }
}

/// When the oldest undelivered event of `info`'s consumer was stored in
/// `stream`; `None` when nothing waits.
pub async fn oldest_waiting(
    stream: &Stream,
    info: &consumer::Info,
) -> Result<Option<DateTime<Utc>>, async_nats::Error> {
    if info.num_pending == 0 {
        return Ok(None);
    }
    let next = info.delivered.stream_sequence + 1;
    let mut oldest: Option<DateTime<Utc>> = None;
    for subject in filters(&info.config) {
        let message = match stream.get_first_raw_message_by_subject(subject, next).await {
            Ok(message) => message,
            // No message of this filter after the delivered sequence.
            Err(error) if matches!(error.kind(), RawMessageErrorKind::NoMessageFound) => continue,
            Err(error) => return Err(error.into()),
        };
        let time = message.time;
        let stored = DateTime::from_timestamp(time.unix_timestamp(), time.nanosecond());
        oldest = match (oldest, stored) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(oldest)
}

/// Records the age as `crmerp_consumer_oldest_waiting_seconds{consumer}` (0 when nothing waits).
pub fn record_gauge(consumer: &str, oldest: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    let age = oldest.map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
    metrics::gauge!("crmerp_consumer_oldest_waiting_seconds", "consumer" => consumer.to_owned())
        .set(age);
}
