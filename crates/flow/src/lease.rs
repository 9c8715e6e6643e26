//! Leases: one replica at a time does a singleton job (renewing webhook
//! subscriptions, polling an ERP that has no webhooks), and another replica
//! takes over within a TTL when the holder stops.
//!
//! A lease is a key in a JetStream KV bucket that allows per-message TTLs
//! (the `FLOW_CLAIMS` bucket does), written as claims are
//! ([`crate::claims`]): taken with compare-and-set, so exactly one contender
//! wins; renewed with compare-and-set every TTL/3 while held; expired by the
//! server's clock, not a replica's, when the holder dies or is cut off. A
//! holder whose renewal finds the key taken over (it paused past the TTL)
//! learns it has lost the lease ([`HeldLease::lost`]) and must stop the job;
//! work that must not run twice also calls [`HeldLease::confirm`] right before
//! each effect, as claim holders do.
//!
//! [`run_exclusive`] is the loop a service starts: wait for the lease, run the
//! job until it returns, the lease is lost or the service shuts down, let the
//! lease go, and wait again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::claims::{WriteError, cas_put, encode_key_part};

/// The lease could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The lease expired and another replica took it: the job must stop.
    #[error("lease {key} was lost: {reason}")]
    Lost {
        /// The lease key.
        key: String,
        /// Why it counts as lost.
        reason: String,
    },
    /// JetStream did not answer, refused the write, or holds an unreadable value.
    #[error("lease store: {0}")]
    Store(String),
}

/// The value stored under a lease key.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// The holding replica's id.
    holder: String,
}

/// One named lease as seen by one replica; cheap to clone.
#[derive(Clone)]
pub struct Lease {
    inner: Arc<Inner>,
}

struct Inner {
    store: kv::Store,
    js: jetstream::Context,
    key: String,
    holder: String,
    ttl: Duration,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("key", &self.inner.key)
            .field("holder", &self.inner.holder)
            .field("ttl", &self.inner.ttl)
            .finish_non_exhaustive()
    }
}

impl Lease {
    /// The lease `name` (any text) in `bucket`, which must allow per-message
    /// TTLs. A holder that stops renewing loses it after `ttl` (whole seconds,
    /// at least one). Each `bind` is a distinct contender.
    pub async fn bind(
        js: &jetstream::Context,
        bucket: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<Self, LeaseError> {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| LeaseError::Store(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                js: js.clone(),
                key: format!("lease.{}", encode_key_part(name)),
                holder: format!("{name}:{}", uuid::Uuid::new_v4()),
                ttl: ttl.max(Duration::from_secs(1)),
            }),
        })
    }

    /// This contender's id, as stored in the key while it holds the lease.
    pub fn holder(&self) -> &str {
        &self.inner.holder
    }

    /// The bucket key of the lease.
    pub fn key(&self) -> &str {
        &self.inner.key
    }

    /// The id of the replica holding the lease now, if any.
    pub async fn current_holder(&self) -> Result<Option<String>, LeaseError> {
        let entry = self
            .inner
            .store
            .entry(&self.inner.key)
            .await
            .map_err(|e| LeaseError::Store(e.to_string()))?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                let record = serde_json::from_slice::<Record>(&entry.value).map_err(|e| {
                    LeaseError::Store(format!("unreadable lease {}: {e}", self.inner.key))
                })?;
                Ok(Some(record.holder))
            }
            _ => Ok(None),
        }
    }

    /// Takes the lease if nobody holds it; `None` when another replica does.
    pub async fn try_acquire(&self) -> Result<Option<HeldLease>, LeaseError> {
        loop {
            let entry = self
                .inner
                .store
                .entry(&self.inner.key)
                .await
                .map_err(|e| LeaseError::Store(e.to_string()))?;
            let expected = match &entry {
                None => 0,
                Some(entry) if entry.operation != kv::Operation::Put => entry.revision,
                Some(_) => return Ok(None),
            };
            match self.write(expected).await {
                Ok(revision) => return Ok(Some(self.start_holding(revision))),
                // Another contender won the race, or the key moved: look again.
                Err(WriteError::Conflict) => continue,
                Err(WriteError::Other(message)) => return Err(LeaseError::Store(message)),
            }
        }
    }

    /// Waits until this replica holds the lease, trying every TTL/3; `None`
    /// when `shutdown` fires first. Store errors are logged and retried: a
    /// replica that cannot reach NATS simply does not lead.
    pub async fn acquire(&self, shutdown: &CancellationToken) -> Option<HeldLease> {
        let period = self.inner.ttl / 3;
        loop {
            match self.try_acquire().await {
                Ok(Some(held)) => return Some(held),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, key = %self.inner.key, "Cannot take a lease."),
            }
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                () = shutdown.cancelled() => return None,
            }
        }
    }

    fn start_holding(&self, revision: u64) -> HeldLease {
        let revision = Arc::new(tokio::sync::Mutex::new(revision));
        let stop = CancellationToken::new();
        let lost = CancellationToken::new();
        {
            let (lease, revision, stop, lost) = (
                self.clone(),
                Arc::clone(&revision),
                stop.clone(),
                lost.clone(),
            );
            tokio::spawn(async move {
                // Renew well before the TTL runs out, so one slow renewal is not fatal.
                let period = lease.inner.ttl / 3;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep(period) => {}
                        () = stop.cancelled() => return,
                    }
                    match lease.renew(&revision).await {
                        Ok(()) => {}
                        Err(error @ LeaseError::Lost { .. }) => {
                            tracing::warn!(%error, "Lease lost; stopping its job.");
                            lost.cancel();
                            return;
                        }
                        // The next renewal may still make it within the TTL.
                        Err(error) => tracing::warn!(%error, "Cannot renew a lease."),
                    }
                }
            });
        }
        tracing::info!(key = %self.inner.key, holder = %self.inner.holder, "Lease taken.");
        HeldLease {
            lease: self.clone(),
            revision,
            stop,
            lost,
        }
    }

    async fn renew(&self, revision: &tokio::sync::Mutex<u64>) -> Result<(), LeaseError> {
        let mut revision = revision.lock().await;
        match self.write(*revision).await {
            Ok(renewed) => {
                *revision = renewed;
                Ok(())
            }
            Err(WriteError::Conflict) => Err(LeaseError::Lost {
                key: self.inner.key.clone(),
                reason: "it expired and another replica took it".to_owned(),
            }),
            Err(WriteError::Other(message)) => Err(LeaseError::Store(message)),
        }
    }

    async fn write(&self, expected: u64) -> Result<u64, WriteError> {
        let value = serde_json::to_vec(&Record {
            holder: self.inner.holder.clone(),
        })
        .map_err(|e| WriteError::Other(e.to_string()))?;
        cas_put(
            &self.inner.js,
            &self.inner.store,
            &self.inner.key,
            value,
            expected,
            Some(self.inner.ttl),
        )
        .await
    }
}

/// A lease this replica holds, renewed in the background until dropped or
/// released. Dropping it stops the renewals, so the lease expires after its TTL.
#[derive(Debug)]
pub struct HeldLease {
    lease: Lease,
    revision: Arc<tokio::sync::Mutex<u64>>,
    stop: CancellationToken,
    lost: CancellationToken,
}

impl HeldLease {
    /// Cancelled when a renewal finds the lease taken over: the job must stop.
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }

    /// Renews the lease with compare-and-set, proving this replica still holds
    /// it for a whole TTL from now. Call it right before an effect that must
    /// not happen twice; on an error, skip the effect.
    pub async fn confirm(&self) -> Result<(), LeaseError> {
        let renewed = self.lease.renew(&self.revision).await;
        if matches!(renewed, Err(LeaseError::Lost { .. })) {
            self.lost.cancel();
        }
        renewed
    }

    /// Stops the background renewals but keeps the handle: the lease expires
    /// after its TTL unless [`HeldLease::confirm`] renews it first. For jobs
    /// that renew explicitly around each step, and to test a stalled holder.
    pub fn stop_renewing(&self) {
        self.stop.cancel();
    }

    /// Lets the lease go at once, so another replica need not wait for the TTL.
    pub async fn release(self) {
        self.stop.cancel();
        let revision = self.revision.lock().await;
        if let Err(error) = self
            .lease
            .inner
            .store
            .purge_expect_revision(&self.lease.inner.key, Some(*revision))
            .await
        {
            // Taken over already, or NATS is away: the TTL releases it anyway.
            tracing::debug!(%error, key = %self.lease.inner.key, "Cannot release a lease.");
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Runs `job` on whichever replica holds `lease`, until `shutdown`.
///
/// Each time this replica takes the lease, `job` is called with a token that
/// is cancelled when the lease is lost or `shutdown` fires; the job should
/// return soon after. When the job returns (for any reason), the lease is
/// released and this replica contends again, so a job that fails moves to
/// another replica instead of stopping the singleton for good.
pub async fn run_exclusive<F, Fut>(lease: Lease, shutdown: CancellationToken, mut job: F)
where
    F: FnMut(Arc<HeldLease>, CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    while let Some(held) = lease.acquire(&shutdown).await {
        let held = Arc::new(held);
        let stop = CancellationToken::new();
        {
            let (stop, lost, shutdown) = (stop.clone(), held.lost().clone(), shutdown.clone());
            tokio::spawn(async move {
                tokio::select! {
                    () = lost.cancelled() => {}
                    () = shutdown.cancelled() => {}
                    () = stop.cancelled() => {}
                }
                stop.cancel();
            });
        }
        job(Arc::clone(&held), stop.clone()).await;
        stop.cancel();
        match Arc::try_unwrap(held) {
            Ok(held) => held.release().await,
            // The job kept a handle: stopping the renewals lets the TTL free it.
            Err(held) => held.stop.cancel(),
        }
        if shutdown.is_cancelled() {
            break;
        }
        // A job that keeps returning at once must not spin on the lease.
        tokio::select! {
            () = tokio::time::sleep(lease.inner.ttl / 3) => {}
            () = shutdown.cancelled() => break,
        }
    }
}
