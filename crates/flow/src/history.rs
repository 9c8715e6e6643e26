//! Attempt history: the outcomes of earlier attempts of an event being retried,
//! kept in the `FLOW_ATTEMPTS` key-value bucket so a dead letter carries them all.
//!
//! Only retries write here, so the happy path costs no extra JetStream write.

use async_nats::jetstream::kv;
use bytes::Bytes;
use crmerp_proto::{AttemptHistory, Message as _, Outcome};

/// The attempt history of one flow.
#[derive(Clone)]
pub struct History {
    store: kv::Store,
    flow: String,
}

impl History {
    /// History in `store` for `flow`.
    pub fn new(store: kv::Store, flow: &str) -> Self {
        Self {
            store,
            flow: flow.to_owned(),
        }
    }

    /// Keys are per flow and stream sequence: a redelivery keeps its sequence,
    /// a requeue gets a new one.
    fn key(&self, stream_seq: u64) -> String {
        format!("{}.{stream_seq}", self.flow)
    }

    /// Earlier outcomes of the message at `stream_seq`, oldest first.
    pub async fn load(&self, stream_seq: u64) -> Vec<Outcome> {
        match self.store.get(self.key(stream_seq)).await {
            Ok(Some(bytes)) => AttemptHistory::decode(bytes)
                .map(|h| h.attempts)
                .unwrap_or_default(),
            Ok(None) => Vec::new(),
            Err(error) => {
                // The dead letter still has the final attempt; say that earlier ones are missing.
                tracing::warn!(%error, stream_seq, "Cannot read the attempt history.");
                Vec::new()
            }
        }
    }

    /// Appends `outcome` to the history of `stream_seq`.
    pub async fn append(&self, stream_seq: u64, outcome: &Outcome) -> Result<(), String> {
        let mut attempts = self.load(stream_seq).await;
        attempts.push(outcome.clone());
        let bytes = Bytes::from(AttemptHistory { attempts }.encode_to_vec());
        self.store
            .put(self.key(stream_seq), bytes)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Forgets the history once the event is done (best effort; the bucket also expires keys).
    pub async fn forget(&self, stream_seq: u64) {
        if let Err(error) = self.store.purge(self.key(stream_seq)).await {
            tracing::debug!(%error, stream_seq, "Cannot purge the attempt history.");
        }
    }
}
