//! Singleton jobs for ERPs that need one replica to act for all: polling an
//! ERP that has no webhooks (Tryton), and renewing webhook subscriptions
//! before they expire (Business Central). Each runs under a [`Lease`](crate::Lease), so
//! exactly one replica does it and another takes over within the lease TTL.
//! The fulfilment-sync service starts them with [`run_exclusive`](crate::run_exclusive).
//!
//! The Tryton poller reads `sale.sale` and `stock.shipment.out` changes with a
//! (`write_date`, `id`) cursor per model (see
//! [`crmerp_connector::tryton::status`]), reads each touched sale's status
//! back, and publishes an `OrderStatusChanged` to
//! `order_status_subject("tryton")` with `Nats-Msg-Id`
//! `tryton:<model>:<record id>:<write_date µs>:<sale id>`, so a write is
//! published once however often it is read. The cursors live in the lease's
//! bucket and are written with compare-and-set after each page is published:
//! a restart or a failover resumes where the last holder stopped, a holder
//! that lost its lease cannot move a cursor back, and a crash between publish
//! and cursor write only re-reads what JetStream then de-duplicates.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_connector::businesscentral::BusinessCentralErp;
use crmerp_connector::businesscentral::subscriptions::Subscription;
use crmerp_connector::tryton::TrytonErp;
use crmerp_connector::tryton::status::{Change, ChangeCursor, WatchedModel};
use crmerp_connector::{CallLog, ConnectorError, OrderStatusSource as _};
use crmerp_proto::{
    EventEnvelope, Message as _, OrderStatusChanged, event_envelope::Data, event_types,
    timestamp_now,
};
use crmerp_service_kit::settings::HumanDuration;
use crmerp_service_kit::topology::order_status_subject;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::claims::{WriteError, cas_put, encode_key_part};
use crate::lease::{HeldLease, LeaseError};
use crate::settings::humantime_serde_compat;

/// A poll round or a renewal failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The ERP failed the call.
    #[error(transparent)]
    Vendor(#[from] ConnectorError),
    /// The lease was lost or its store failed: stop, another replica goes on.
    #[error(transparent)]
    Lease(#[from] LeaseError),
    /// JetStream refused the event or the cursor, or a cursor is unreadable.
    #[error("poller store: {0}")]
    Store(String),
}

/// Settings of the Tryton poller.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TrytonPollSettings {
    /// Time between poll rounds.
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub interval: Duration,
    /// Records read per request; a round pages until a short page.
    pub page_size: u32,
    /// How far back the very first round reads (no cursor stored yet), from
    /// the time the poller first runs.
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub initial_lookback: Duration,
}

impl Default for TrytonPollSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            page_size: 100,
            initial_lookback: Duration::from_secs(24 * 3600),
        }
    }
}

/// Polls Tryton for order-status changes and publishes them (see the module
/// docs). Run [`TrytonPoller::run`] under a lease with [`run_exclusive`], on
/// every replica:
///
/// ```text
/// let poller = Arc::new(TrytonPoller::new(erp, &js, CLAIMS_BUCKET, settings).await?);
/// let lease = Lease::bind(&js, CLAIMS_BUCKET, "tryton-poller", Duration::from_secs(30)).await?;
/// tokio::spawn(run_exclusive(lease, shutdown, move |held, stop| {
///     let poller = Arc::clone(&poller);
///     async move { poller.run(held, stop).await }
/// }));
/// ```
///
/// The BC subscription keeper starts the same way with [`keep_subscriptions`]
/// as the job.
///
/// [`run_exclusive`]: crate::lease::run_exclusive
pub struct TrytonPoller {
    erp: Arc<TrytonErp>,
    js: jetstream::Context,
    store: kv::Store,
    settings: TrytonPollSettings,
}

impl std::fmt::Debug for TrytonPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrytonPoller")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A cursor key's state: its value when one is stored, and the revision a
/// write must compare against.
struct Stored {
    cursor: Option<ChangeCursor>,
    revision: u64,
}

impl TrytonPoller {
    /// A poller of `erp` keeping its cursors in `bucket` (the lease's bucket,
    /// e.g. `FLOW_CLAIMS`) and publishing through `js`.
    pub async fn new(
        erp: Arc<TrytonErp>,
        js: &jetstream::Context,
        bucket: &str,
        settings: TrytonPollSettings,
    ) -> Result<Self, PollError> {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| PollError::Store(e.to_string()))?;
        Ok(Self {
            erp,
            js: js.clone(),
            store,
            settings,
        })
    }

    /// The bucket key of `model`'s cursor.
    pub fn cursor_key(model: WatchedModel) -> String {
        format!("cursor.tryton.{}", encode_key_part(model.model()))
    }

    /// The stored cursor of `model`, if any.
    pub async fn cursor(&self, model: WatchedModel) -> Result<Option<ChangeCursor>, PollError> {
        Ok(self.stored(model).await?.cursor)
    }

    async fn stored(&self, model: WatchedModel) -> Result<Stored, PollError> {
        let key = Self::cursor_key(model);
        let entry = self
            .store
            .entry(&key)
            .await
            .map_err(|e| PollError::Store(e.to_string()))?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                let cursor = serde_json::from_slice(&entry.value)
                    .map_err(|e| PollError::Store(format!("unreadable cursor {key}: {e}")))?;
                Ok(Stored {
                    cursor: Some(cursor),
                    revision: entry.revision,
                })
            }
            // Deleted or aged out: no cursor, but a revision to compare against.
            Some(entry) => Ok(Stored {
                cursor: None,
                revision: entry.revision,
            }),
            None => Ok(Stored {
                cursor: None,
                revision: 0,
            }),
        }
    }

    fn initial_cursor(&self) -> ChangeCursor {
        let lookback = chrono::Duration::from_std(self.settings.initial_lookback)
            .unwrap_or(chrono::Duration::MAX);
        ChangeCursor::since(
            Utc::now()
                .checked_sub_signed(lookback)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }

    /// One round: for each watched model, pages through its changes,
    /// publishes the touched sales' statuses and writes its cursor after each
    /// page. Confirms the lease before every cursor write. Returns the events
    /// published.
    pub async fn poll_once(&self, lease: &HeldLease) -> Result<usize, PollError> {
        let mut published = 0;
        for model in WatchedModel::ALL {
            let stored = self.stored(model).await?;
            let mut revision = stored.revision;
            let mut cursor = stored.cursor.unwrap_or_else(|| self.initial_cursor());
            loop {
                let calls = CallLog::new();
                let changes = self
                    .erp
                    .changes(model, &cursor, self.settings.page_size, &calls)
                    .await?;
                for change in &changes {
                    published += self.publish_change(change, &calls).await?;
                }
                let more = changes.len() >= self.settings.page_size.max(1) as usize;
                if let Some(last) = changes.last() {
                    cursor = last.cursor();
                }
                // Written every round, changes or not: the bucket's age limit
                // must not expire a cursor that is merely quiet.
                lease.confirm().await?;
                revision = self.write_cursor(model, &cursor, revision).await?;
                if !more {
                    break;
                }
            }
        }
        Ok(published)
    }

    /// Polls every `interval` until `stop` fires or a round fails with a lost
    /// lease; a failed round is logged and retried at the next interval.
    pub async fn run(&self, lease: Arc<HeldLease>, stop: CancellationToken) {
        loop {
            match self.poll_once(&lease).await {
                Ok(0) => {}
                Ok(published) => tracing::info!(published, "Tryton changes published."),
                Err(PollError::Lease(error)) => {
                    tracing::warn!(%error, "Tryton poller stops: lease lost.");
                    return;
                }
                Err(error) => tracing::warn!(%error, "Tryton poll round failed; retrying."),
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.interval) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn publish_change(&self, change: &Change, calls: &CallLog) -> Result<usize, PollError> {
        let mut published = 0;
        for sale in &change.sales {
            let order = crmerp_proto::RecordRef {
                system: crmerp_connector::tryton::SYSTEM.to_owned(),
                object_type: WatchedModel::Sale.model().to_owned(),
                id: sale.to_string(),
            };
            // Gone since the write (deleted draft): nothing to report.
            let Some(status) = self.erp.order_status(&order, calls).await? else {
                continue;
            };
            let id = format!(
                "tryton:{}:{}:{}:{sale}",
                change.model.model(),
                change.id,
                change.write_date.timestamp_micros()
            );
            self.publish(&id, status).await?;
            published += 1;
        }
        Ok(published)
    }

    async fn publish(&self, id: &str, status: OrderStatusChanged) -> Result<(), PollError> {
        let order_id = status
            .order
            .as_ref()
            .map(|o| o.id.clone())
            .unwrap_or_default();
        let envelope = EventEnvelope {
            id: id.to_owned(),
            source: "crmerp://pollers/tryton".to_owned(),
            r#type: event_types::ORDER_STATUS_CHANGED.to_owned(),
            subject: format!("tryton/sale.sale/{order_id}"),
            time: status.changed_at.or_else(|| Some(timestamp_now())),
            correlation_id: id.to_owned(),
            causation_id: String::new(),
            data: Some(Data::OrderStatusChanged(status)),
        };
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id);
        crmerp_service_kit::trace_context::inject(&mut headers);
        self.js
            .publish_with_headers(
                order_status_subject(crmerp_connector::tryton::SYSTEM),
                headers,
                Bytes::from(envelope.encode_to_vec()),
            )
            .await
            .map_err(|e| PollError::Store(e.to_string()))?
            .await
            .map_err(|e| PollError::Store(e.to_string()))?;
        Ok(())
    }

    async fn write_cursor(
        &self,
        model: WatchedModel,
        cursor: &ChangeCursor,
        expected: u64,
    ) -> Result<u64, PollError> {
        let value = serde_json::to_vec(cursor).map_err(|e| PollError::Store(e.to_string()))?;
        let key = Self::cursor_key(model);
        match cas_put(&self.js, &self.store, &key, value, expected, None).await {
            Ok(revision) => Ok(revision),
            Err(WriteError::Conflict) => Err(PollError::Lease(LeaseError::Lost {
                key,
                reason: "another replica moved the cursor".to_owned(),
            })),
            Err(WriteError::Other(message)) => Err(PollError::Store(message)),
        }
    }
}

/// Settings of the Business Central subscription keeper.
#[derive(Debug, Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RenewalSettings {
    /// How often the subscriptions are checked.
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub check_interval: Duration,
    /// Renew a subscription this long before it expires (BC: after three days).
    #[serde(with = "humantime_serde_compat")]
    #[schemars(with = "HumanDuration")]
    pub margin: Duration,
}

impl Default for RenewalSettings {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(3600),
            margin: crmerp_connector::businesscentral::subscriptions::DEFAULT_RENEWAL_MARGIN,
        }
    }
}

/// Renews, on the replica holding the lease, every subscription of this BC
/// app that expires within `margin` (see
/// [`BusinessCentralErp::renew_if_due`]). Confirms the lease before each
/// renewal; returns the subscriptions renewed.
pub async fn renew_subscriptions(
    erp: &BusinessCentralErp,
    client_state: &SecretString,
    margin: Duration,
    lease: &HeldLease,
) -> Result<Vec<Subscription>, PollError> {
    let calls = CallLog::new();
    let mut renewed = Vec::new();
    for subscription in erp.subscriptions(&calls).await? {
        if !subscription.needs_renewal(Utc::now(), margin) {
            continue;
        }
        lease.confirm().await?;
        renewed.push(
            erp.renew_if_due(subscription, client_state, margin, &calls)
                .await?,
        );
    }
    Ok(renewed)
}

/// The renewal job for [`run_exclusive`](crate::lease::run_exclusive):
/// checks every `check_interval` until `stop` fires or the lease is lost.
pub async fn keep_subscriptions(
    erp: Arc<BusinessCentralErp>,
    client_state: SecretString,
    settings: RenewalSettings,
    lease: Arc<HeldLease>,
    stop: CancellationToken,
) {
    loop {
        match renew_subscriptions(&erp, &client_state, settings.margin, &lease).await {
            Ok(renewed) if renewed.is_empty() => {}
            Ok(renewed) => tracing::info!(
                renewed = renewed.len(),
                "Business Central subscriptions renewed."
            ),
            Err(PollError::Lease(error)) => {
                tracing::warn!(%error, "Subscription keeper stops: lease lost.");
                return;
            }
            Err(error) => tracing::warn!(%error, "Cannot renew Business Central subscriptions."),
        }
        tokio::select! {
            () = tokio::time::sleep(settings.check_interval) => {}
            () = stop.cancelled() => return,
        }
    }
}
