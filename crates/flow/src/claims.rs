//! Claims: at most one worker, across every replica, performs a create-type
//! effect for one business key (an ERP order for a deal reference, an ERP
//! customer for an account, ...), and the result is recorded for later workers.
//!
//! A claim is a key in the `FLOW_CLAIMS` JetStream KV bucket, written with
//! compare-and-set (`Nats-Expected-Last-Subject-Sequence`) so exactly one
//! writer wins, and with a per-message TTL (`Nats-TTL`) so a holder that dies
//! does not block the key for ever: the server, not a replica's clock, expires
//! it. A live holder renews the TTL in the background and once more, with
//! compare-and-set, right before the effect ([`Claim::confirm`]): a holder that
//! lost its claim (paused past the TTL, cut off from NATS) finds out there and
//! does not act. After the effect the holder records the result
//! ([`Claim::complete`]); later workers get [`Acquired::Done`] and skip the
//! effect. A holder that crashes between the effect and the record leaves a
//! claim that expires; the next holder then relies on the look-up-before-create
//! that every flow keeps doing under the claim, and finds the effect.
//! `docs/architecture.md` ("One effect per key across replicas") walks through
//! every interleaving.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishErrorKind, kv};
use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The claim could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another worker held the claim for longer than the configured wait.
    #[error("claim {key} is held by another worker ({holder}) for longer than {waited:?}")]
    Busy {
        /// The claim key.
        key: String,
        /// The holder's id.
        holder: String,
        /// How long this worker waited.
        waited: Duration,
    },
    /// The claim expired and was taken over (or could not be renewed) before
    /// the effect: this worker must not perform it.
    #[error("claim {key} was lost before the effect: {reason}")]
    Lost {
        /// The claim key.
        key: String,
        /// Why it counts as lost.
        reason: String,
    },
    /// JetStream did not answer or refused the write.
    #[error("claim store: {0}")]
    Store(String),
}

impl ClaimError {
    /// The error as a transient, breaker-neutral failure of the flow: the
    /// vendors are fine, so the flow must neither pause nor dead-letter early.
    pub fn into_connector_error(self) -> crmerp_connector::ConnectorError {
        crmerp_connector::ConnectorError::new(
            crmerp_connector::ErrorKind::Transient,
            crmerp_connector::ErrorCategory::Contended,
            "jetstream",
            "claim",
            self.to_string(),
        )
    }
}

/// What [`Claims::acquire`] found.
#[derive(Debug)]
pub enum Acquired {
    /// This worker holds the claim and may perform the effect.
    Held(Claim),
    /// The effect was already performed; this is the recorded result.
    Done(Vec<u8>),
}

/// The value stored under a claim key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    /// A worker is performing the effect.
    Held { holder: String },
    /// The effect is done; `result` is the caller's bytes, base64.
    Done { holder: String, result: String },
}

/// Claims of one flow in the `FLOW_CLAIMS` bucket; cheap to clone.
#[derive(Clone)]
pub struct Claims {
    inner: Arc<Inner>,
}

struct Inner {
    store: kv::Store,
    js: jetstream::Context,
    flow: String,
    worker: String,
    ttl: Duration,
    wait: Duration,
}

impl std::fmt::Debug for Claims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claims")
            .field("flow", &self.inner.flow)
            .field("worker", &self.inner.worker)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl Claims {
    /// Claims of `flow` in the bucket `bucket` (declared by the service kit's
    /// topology). A holder that stops renewing loses its claim after `ttl`
    /// (whole seconds, at least one); a worker waits at most `wait` for another
    /// holder before giving up with [`ClaimError::Busy`].
    pub async fn bind(
        js: &jetstream::Context,
        bucket: &str,
        flow: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Self, ClaimError> {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| ClaimError::Store(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                js: js.clone(),
                flow: flow.to_owned(),
                worker: format!("{flow}:{}", uuid::Uuid::new_v4()),
                ttl: ttl.max(Duration::from_secs(1)),
                wait,
            }),
        })
    }

    /// The bucket key of `kind` (e.g. `order`) and `id` (any text, encoded to
    /// the characters KV keys allow).
    pub fn key(&self, kind: &str, id: &str) -> String {
        format!("{}.{kind}.{}", self.inner.flow, encode_key_part(id))
    }

    /// Takes the claim on `key`, waiting while another live worker holds it.
    pub async fn acquire(&self, key: &str) -> Result<Acquired, ClaimError> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            let entry = self
                .inner
                .store
                .entry(key)
                .await
                .map_err(|e| ClaimError::Store(e.to_string()))?;
            let expected = match &entry {
                None => 0,
                Some(entry) if entry.operation != kv::Operation::Put => entry.revision,
                Some(entry) => match serde_json::from_slice::<Record>(&entry.value) {
                    Ok(Record::Done { result, .. }) => {
                        let bytes = base64::engine::general_purpose::STANDARD
                            .decode(result)
                            .map_err(|e| ClaimError::Store(format!("corrupt claim {key}: {e}")))?;
                        return Ok(Acquired::Done(bytes));
                    }
                    Ok(Record::Held { holder }) => {
                        if started.elapsed() >= self.inner.wait {
                            return Err(ClaimError::Busy {
                                key: key.to_owned(),
                                holder,
                                waited: started.elapsed(),
                            });
                        }
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(500));
                        continue;
                    }
                    // Unreadable: a newer version's format, or damage. Never act blindly.
                    Err(error) => {
                        return Err(ClaimError::Store(format!(
                            "unreadable claim {key}: {error}"
                        )));
                    }
                },
            };
            let held = Record::Held {
                holder: self.inner.worker.clone(),
            };
            match self.write(key, &held, expected, Some(self.inner.ttl)).await {
                Ok(revision) => return Ok(Acquired::Held(self.start_holding(key, revision))),
                // Another worker won the race; look again.
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Other(message)) => return Err(ClaimError::Store(message)),
            }
        }
    }

    fn start_holding(&self, key: &str, revision: u64) -> Claim {
        let state = Arc::new(HoldState::new(revision));
        let stop = CancellationToken::new();
        {
            let (claims, key, state, stop) = (
                self.clone(),
                key.to_owned(),
                Arc::clone(&state),
                stop.clone(),
            );
            tokio::spawn(async move {
                // Renew well before the TTL runs out, so one slow renewal is not fatal.
                let period = claims.inner.ttl / 3;
                loop {
                    // Stopping only between renewals: a renewal cut off mid-write
                    // could leave a stale revision behind and fail the record.
                    tokio::select! {
                        () = tokio::time::sleep(period) => {}
                        () = stop.cancelled() => return,
                    }
                    if let Err(error) = claims.renew(&key, &state).await {
                        tracing::warn!(%error, key, "Cannot renew a claim.");
                        if matches!(error, ClaimError::Lost { .. }) {
                            return;
                        }
                    }
                }
            });
        }
        Claim {
            claims: self.clone(),
            key: key.to_owned(),
            state,
            stop,
        }
    }

    async fn renew(&self, key: &str, state: &HoldState) -> Result<(), ClaimError> {
        let mut revision = state.revision.lock().await;
        let held = Record::Held {
            holder: self.inner.worker.clone(),
        };
        // Once taken over, the key's revision moved on for good, so every
        // later renewal with ours conflicts too.
        match self
            .write(key, &held, *revision, Some(self.inner.ttl))
            .await
        {
            Ok(renewed) => {
                *revision = renewed;
                Ok(())
            }
            Err(WriteError::Conflict) => {
                Err(self.lost(key, "it expired and another worker took it"))
            }
            Err(WriteError::Other(message)) => Err(ClaimError::Store(message)),
        }
    }

    fn lost(&self, key: &str, reason: &str) -> ClaimError {
        ClaimError::Lost {
            key: key.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// Writes `record` under `key` if the key's last revision is `expected`
    /// (0: the key has no live value), with an optional per-message TTL.
    async fn write(
        &self,
        key: &str,
        record: &Record,
        expected: u64,
        ttl: Option<Duration>,
    ) -> Result<u64, WriteError> {
        let value = serde_json::to_vec(record).map_err(|e| WriteError::Other(e.to_string()))?;
        cas_put(&self.inner.js, &self.inner.store, key, value, expected, ttl).await
    }
}

/// Writes `value` under `key` of `store` if the key's last revision is
/// `expected` (0: the key has no live value), with an optional per-message
/// TTL (the bucket must allow them). Returns the new revision.
pub(crate) async fn cas_put(
    js: &jetstream::Context,
    store: &kv::Store,
    key: &str,
    value: Vec<u8>,
    expected: u64,
    ttl: Option<Duration>,
) -> Result<u64, WriteError> {
    let mut headers = HeaderMap::new();
    headers.insert(
        async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
        expected.to_string().as_str(),
    );
    if let Some(ttl) = ttl {
        // The server takes whole seconds; round up so a key never lives shorter than asked.
        let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        headers.insert(
            async_nats::header::NATS_MESSAGE_TTL,
            seconds.max(1).to_string().as_str(),
        );
    }
    let subject = format!("{}{key}", store.prefix);
    let ack = js
        .publish_with_headers(subject, headers, Bytes::from(value))
        .await
        .map_err(|e| WriteError::Other(e.to_string()))?
        .await;
    match ack {
        Ok(ack) => Ok(ack.sequence),
        Err(error) if error.kind() == PublishErrorKind::WrongLastSequence => {
            Err(WriteError::Conflict)
        }
        Err(error) => Err(WriteError::Other(error.to_string())),
    }
}

pub(crate) enum WriteError {
    /// The key changed since it was read: another writer won.
    Conflict,
    Other(String),
}

/// The revision of a held claim. The lock serialises renewals and the final
/// write, so each compares against the latest revision.
#[derive(Debug)]
struct HoldState {
    revision: tokio::sync::Mutex<u64>,
}

impl HoldState {
    fn new(revision: u64) -> Self {
        Self {
            revision: tokio::sync::Mutex::new(revision),
        }
    }
}

/// A held claim. Dropping it without [`Claim::complete`] or [`Claim::release`]
/// stops the renewals, so the claim expires after its TTL.
#[derive(Debug)]
pub struct Claim {
    claims: Claims,
    key: String,
    state: Arc<HoldState>,
    stop: CancellationToken,
}

impl Claim {
    /// Renews the claim with compare-and-set, proving this worker still holds
    /// it for a whole TTL from now. Call it right before the effect; on an
    /// error the effect must not be performed.
    pub async fn confirm(&self) -> Result<(), ClaimError> {
        self.claims.renew(&self.key, &self.state).await
    }

    /// Records the effect's `result` for later workers and lets the claim go.
    /// The record outlives the TTL (the bucket's age limit applies).
    pub async fn complete(self, result: &[u8]) -> Result<(), ClaimError> {
        self.stop.cancel();
        let revision = self.state.revision.lock().await;
        let done = Record::Done {
            holder: self.claims.inner.worker.clone(),
            result: base64::engine::general_purpose::STANDARD.encode(result),
        };
        match self.claims.write(&self.key, &done, *revision, None).await {
            Ok(_) => Ok(()),
            Err(WriteError::Conflict) => Err(self
                .claims
                .lost(&self.key, "taken over before the result was recorded")),
            Err(WriteError::Other(message)) => Err(ClaimError::Store(message)),
        }
    }

    /// Lets the claim go without recording a result (the effect did not
    /// happen), so a waiting worker can proceed at once.
    pub async fn release(self) {
        self.stop.cancel();
        let revision = self.state.revision.lock().await;
        if let Err(error) = self
            .claims
            .inner
            .store
            .purge_expect_revision(&self.key, Some(*revision))
            .await
        {
            // The TTL releases it anyway.
            tracing::debug!(%error, key = %self.key, "Cannot release a claim.");
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Encodes `id` into KV key characters: letters, digits, `-` and `_` stay,
/// every other byte becomes `=XX` (hex), so distinct ids stay distinct.
pub fn encode_key_part(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("={byte:02X}"));
        }
    }
    if out.is_empty() {
        out.push('=');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_keep_safe_characters_and_escape_the_rest() {
        assert_eq!(encode_key_part("hubspot-deal-123"), "hubspot-deal-123");
        assert_eq!(encode_key_part("a.b c/é"), "a=2Eb=20c=2F=C3=A9");
        assert_ne!(encode_key_part("a.b"), encode_key_part("a=2Eb"));
        assert_eq!(encode_key_part(""), "=");
    }
}
