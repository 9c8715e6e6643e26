//! A bounded log of the vendor requests a simulator answered.

use std::collections::VecDeque;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::util::lock;

/// How many requests the log keeps; older entries are dropped first.
pub(crate) const REQUEST_LOG_CAPACITY: usize = 100_000;

/// One answered request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RequestRecord {
    /// Sequence number, increasing from 1 since start or the last clear.
    pub(crate) seq: u64,
    /// HTTP method.
    pub(crate) method: String,
    /// Request path, as sent.
    pub(crate) path: String,
    /// Raw query string, if any.
    pub(crate) query: Option<String>,
    /// Status answered; `0` when the connection was dropped.
    pub(crate) status: u16,
    /// Whether an injected fault produced the answer.
    pub(crate) fault: bool,
    /// When the request arrived.
    pub(crate) time: DateTime<Utc>,
    /// Time taken to answer, in milliseconds.
    pub(crate) duration_ms: f64,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    records: VecDeque<RequestRecord>,
}

/// Ring buffer of [`RequestRecord`]s.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    inner: Mutex<Inner>,
}

impl RequestLog {
    /// Appends a record, assigning its sequence number.
    pub(crate) fn push(&self, mut record: RequestRecord) {
        let mut inner = lock(&self.inner);
        inner.next_seq += 1;
        record.seq = inner.next_seq;
        if inner.records.len() >= REQUEST_LOG_CAPACITY {
            inner.records.pop_front();
        }
        inner.records.push_back(record);
    }

    /// Records matching the optional path prefix and method (case-insensitive).
    pub(crate) fn matching(
        &self,
        path_prefix: Option<&str>,
        method: Option<&str>,
    ) -> Vec<RequestRecord> {
        let inner = lock(&self.inner);
        inner
            .records
            .iter()
            .filter(|record| path_prefix.is_none_or(|prefix| record.path.starts_with(prefix)))
            .filter(|record| method.is_none_or(|method| record.method.eq_ignore_ascii_case(method)))
            .cloned()
            .collect()
    }

    /// Empties the log.
    pub(crate) fn clear(&self) {
        let mut inner = lock(&self.inner);
        inner.records.clear();
        inner.next_seq = 0;
    }
}
