//! Per-order fulfilment state and the rules that keep it monotonic.
//!
//! One JSON document per order in the `FULFILMENT_ORDERS` bucket holds the
//! furthest status applied to the deal, the keys of the steps already written
//! and the shipment details. [`plan`] decides, from that state and one fact
//! (an ERP status or a carrier scan), what to write: a fact seen before is a
//! duplicate; every new fact is a timeline entry at its own (ERP or carrier)
//! time, so late arrivals still complete the timeline; the deal's status moves
//! only forward (a late `packed` never replaces `delivered`). The state is
//! written with compare-and-set on the entry's revision, and the handler runs
//! under a per-order claim, so two replicas never both apply one step.

use std::collections::BTreeSet;

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use crmerp_connector::FulfilmentUpdate;
use crmerp_flow::LinkedRecord;
use crmerp_flow::claims::encode_key_part;
use crmerp_proto::{OrderStatus, RecordRef};
use serde::{Deserialize, Serialize};

/// The state store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// JetStream did not answer or refused the write.
    #[error("fulfilment state: {0}")]
    Store(String),
    /// Another writer changed the entry since it was read.
    #[error("fulfilment state of {0} changed concurrently")]
    Conflict(String),
}

impl StateError {
    /// The error as a transient, breaker-neutral failure: JetStream, not a vendor.
    pub fn into_connector_error(self) -> crmerp_connector::ConnectorError {
        crmerp_connector::ConnectorError::new(
            crmerp_connector::ErrorKind::Transient,
            crmerp_connector::ErrorCategory::Contended,
            "jetstream",
            "fulfilment-state",
            self.to_string(),
        )
    }
}

/// Carrier details of the order's shipment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentInfo {
    /// Carrier name or code.
    pub carrier: Option<String>,
    /// Tracking number.
    pub tracking_number: Option<String>,
    /// Public tracking page.
    pub tracking_url: Option<String>,
}

impl ShipmentInfo {
    /// Fills the fields `other` knows, keeping the rest.
    fn merge(&mut self, other: &ShipmentInfo) {
        for (mine, theirs) in [
            (&mut self.carrier, &other.carrier),
            (&mut self.tracking_number, &other.tracking_number),
            (&mut self.tracking_url, &other.tracking_url),
        ] {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
    }
}

/// What fulfilment-sync knows about one order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// The furthest status written to the deal (an [`OrderStatus`] number).
    pub furthest: i32,
    /// When the status last written to the deal happened at its source.
    pub deal_status_at: Option<DateTime<Utc>>,
    /// Keys of the facts already applied.
    pub steps: BTreeSet<String>,
    /// The shipment, once dispatched.
    pub shipment: ShipmentInfo,
    /// When the order was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One thing that happened to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Idempotency key: the order, the status and the source's time or event id.
    pub key: String,
    /// The canonical status it means for the order.
    pub status: OrderStatus,
    /// When it happened at its source.
    pub at: DateTime<Utc>,
    /// Shipment details it carries.
    pub shipment: ShipmentInfo,
    /// Delivery time it carries.
    pub delivered_at: Option<DateTime<Utc>>,
    /// False for facts that only inform (a carrier's in-transit scan): they
    /// are timeline entries and never move the deal's status.
    pub moves_deal: bool,
}

/// What to do for one fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The fact was applied before: write nothing.
    pub duplicate: bool,
    /// The deal's fulfilment fields to write, when they change.
    pub fulfilment: Option<FulfilmentUpdate>,
    /// The state once the fact is applied.
    pub next: OrderState,
}

/// Progress order of the statuses that move an order forward; exceptions are
/// not progress (they are reported, and the order carries on afterwards).
fn rank(status: OrderStatus) -> Option<u8> {
    Some(match status {
        OrderStatus::Received => 1,
        OrderStatus::Picking => 2,
        OrderStatus::Packed => 3,
        OrderStatus::Dispatched => 4,
        OrderStatus::PartiallyDelivered => 5,
        OrderStatus::Delivered => 6,
        OrderStatus::Returned => 7,
        OrderStatus::Cancelled => 8,
        OrderStatus::Exception | OrderStatus::Unspecified => return None,
    })
}

fn status_of(number: i32) -> OrderStatus {
    OrderStatus::try_from(number).unwrap_or(OrderStatus::Unspecified)
}

/// Decides what `fact` changes, given the order's `state`.
pub fn plan(state: &OrderState, fact: &Fact, order_number: &str) -> Plan {
    if state.steps.contains(&fact.key) {
        return Plan {
            duplicate: true,
            fulfilment: None,
            next: state.clone(),
        };
    }
    let mut next = state.clone();
    next.steps.insert(fact.key.clone());
    let before = next.shipment.clone();
    next.shipment.merge(&fact.shipment);
    if fact.delivered_at.is_some() && next.delivered_at.is_none() {
        next.delivered_at = fact.delivered_at;
    }
    let current = status_of(state.furthest);
    let current_rank = rank(current).unwrap_or(0);
    let new_status = if !fact.moves_deal {
        None
    } else {
        match rank(fact.status) {
            Some(r) if r > current_rank => Some(fact.status),
            Some(_) => None,
            // An exception is news only if nothing later was written, and
            // never once the order is delivered, returned or cancelled.
            None if fact.status == OrderStatus::Exception => {
                let newest = state.deal_status_at.is_none_or(|at| fact.at >= at);
                (newest && current_rank < rank(OrderStatus::Delivered).unwrap_or(u8::MAX))
                    .then_some(OrderStatus::Exception)
            }
            None => None,
        }
    };
    let shipment_changed = next.shipment != before || next.delivered_at != state.delivered_at;
    let fulfilment = match new_status {
        Some(status) => {
            if rank(status).is_some() {
                next.furthest = status as i32;
            }
            next.deal_status_at = Some(fact.at);
            Some(status)
        }
        // New tracking details (a late dispatch) are written under the status the deal has.
        None if shipment_changed && state.furthest != 0 => Some(current),
        None => None,
    }
    .map(|status| FulfilmentUpdate {
        status,
        order_number: order_number.to_owned(),
        carrier: next.shipment.carrier.clone(),
        tracking_number: next.shipment.tracking_number.clone(),
        tracking_url: next.shipment.tracking_url.clone(),
        delivered_at: next.delivered_at,
    });
    Plan {
        duplicate: false,
        fulfilment,
        next,
    }
}

/// An order's state as read, with the revision to write against.
#[derive(Debug, Clone, Default)]
pub struct Versioned {
    /// The state (default when the order is new).
    pub state: OrderState,
    /// The entry's revision; `None` when there is no entry yet.
    pub revision: Option<u64>,
}

/// The `FULFILMENT_ORDERS` bucket; cheap to clone.
#[derive(Clone)]
pub struct StateStore {
    store: kv::Store,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore").finish_non_exhaustive()
    }
}

/// The key of an order's state.
pub fn order_key(order: &RecordRef) -> String {
    format!(
        "order.{}.{}.{}",
        encode_key_part(&order.system),
        encode_key_part(&order.object_type),
        encode_key_part(&order.id)
    )
}

fn tracking_key(tracking_number: &str) -> String {
    format!("tracking.{}", encode_key_part(tracking_number.trim()))
}

impl StateStore {
    /// The state in `bucket` (declared by the service kit's topology).
    pub async fn bind(js: &jetstream::Context, bucket: &str) -> Result<Self, StateError> {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| StateError::Store(e.to_string()))?;
        Ok(Self { store })
    }

    /// The state of `order` and its revision.
    pub async fn read(&self, order: &RecordRef) -> Result<Versioned, StateError> {
        let key = order_key(order);
        let entry = self
            .store
            .entry(&key)
            .await
            .map_err(|e| StateError::Store(e.to_string()))?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => Ok(Versioned {
                state: serde_json::from_slice(&entry.value)
                    .map_err(|e| StateError::Store(format!("unreadable state {key}: {e}")))?,
                revision: Some(entry.revision),
            }),
            Some(entry) => Ok(Versioned {
                state: OrderState::default(),
                revision: Some(entry.revision),
            }),
            None => Ok(Versioned::default()),
        }
    }

    /// Writes `state` if the entry is still at `revision`; a [`StateError::Conflict`] otherwise.
    pub async fn write(
        &self,
        order: &RecordRef,
        state: &OrderState,
        revision: Option<u64>,
    ) -> Result<(), StateError> {
        let key = order_key(order);
        let value: Bytes = serde_json::to_vec(state)
            .map_err(|e| StateError::Store(e.to_string()))?
            .into();
        let written = match revision {
            Some(revision) => self
                .store
                .update(&key, value, revision)
                .await
                .map(drop)
                .map_err(|e| {
                    (
                        e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                        e.to_string(),
                    )
                }),
            None => self.store.create(&key, value).await.map(drop).map_err(|e| {
                (
                    e.kind() == kv::CreateErrorKind::AlreadyExists,
                    e.to_string(),
                )
            }),
        };
        match written {
            Ok(()) => Ok(()),
            Err((true, _)) => Err(StateError::Conflict(key)),
            Err((false, message)) => Err(StateError::Store(message)),
        }
    }

    /// Records that `tracking_number` belongs to `order`; writing it again is harmless.
    pub async fn index_tracking(
        &self,
        tracking_number: &str,
        order: &RecordRef,
    ) -> Result<(), StateError> {
        let value: Bytes = serde_json::to_vec(&LinkedRecord::from(order))
            .map_err(|e| StateError::Store(e.to_string()))?
            .into();
        self.store
            .put(tracking_key(tracking_number), value)
            .await
            .map(drop)
            .map_err(|e| StateError::Store(e.to_string()))
    }

    /// The order that dispatched `tracking_number`, if known.
    pub async fn order_of_tracking(
        &self,
        tracking_number: &str,
    ) -> Result<Option<RecordRef>, StateError> {
        let Some(bytes) = self
            .store
            .get(tracking_key(tracking_number))
            .await
            .map_err(|e| StateError::Store(e.to_string()))?
        else {
            return Ok(None);
        };
        let linked: LinkedRecord = serde_json::from_slice(&bytes)
            .map_err(|e| StateError::Store(format!("unreadable tracking entry: {e}")))?;
        Ok(Some(RecordRef::from(&linked)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, minute, 0)
            .single()
            .expect("time")
    }

    fn fact(status: OrderStatus, minute: u32) -> Fact {
        Fact {
            key: format!("{status:?}-{minute}"),
            status,
            at: at(minute),
            shipment: ShipmentInfo::default(),
            delivered_at: None,
            moves_deal: true,
        }
    }

    /// Applies `facts` in order; returns the final state and the deal statuses written.
    fn run(facts: &[Fact]) -> (OrderState, Vec<OrderStatus>) {
        let mut state = OrderState::default();
        let mut written = Vec::new();
        for fact in facts {
            let plan = plan(&state, fact, "SO-1");
            if let Some(update) = plan.fulfilment {
                written.push(update.status);
            }
            state = plan.next;
        }
        (state, written)
    }

    #[test]
    fn statuses_move_forward_only_and_duplicates_are_absorbed() {
        use OrderStatus::*;
        let (state, written) = run(&[
            fact(Picking, 1),
            fact(Packed, 2),
            fact(Packed, 2),
            fact(Delivered, 9),
            fact(Dispatched, 5),
        ]);
        assert_eq!(written, [Picking, Packed, Delivered]);
        assert_eq!(status_of(state.furthest), Delivered);
        assert_eq!(state.steps.len(), 4, "four distinct facts");
        let again = plan(&state, &fact(Packed, 2), "SO-1");
        assert!(again.duplicate && again.fulfilment.is_none());
    }

    #[test]
    fn out_of_order_arrival_ends_in_the_same_state() {
        use OrderStatus::*;
        let facts = [
            fact(Picking, 1),
            fact(Packed, 2),
            fact(Dispatched, 3),
            fact(Delivered, 4),
        ];
        let (in_order, _) = run(&facts);
        let reversed: Vec<Fact> = facts.iter().rev().cloned().collect();
        let (out_of_order, written) = run(&reversed);
        assert_eq!(written, [Delivered], "nothing earlier overwrites delivered");
        assert_eq!(in_order.furthest, out_of_order.furthest);
        assert_eq!(in_order.steps, out_of_order.steps);
    }

    #[test]
    fn a_late_dispatch_still_adds_its_tracking_details_under_the_current_status() {
        use OrderStatus::*;
        let mut dispatched = fact(Dispatched, 3);
        dispatched.shipment = ShipmentInfo {
            carrier: Some("DHL".into()),
            tracking_number: Some("00340".into()),
            tracking_url: None,
        };
        let mut delivered = fact(Delivered, 8);
        delivered.delivered_at = Some(at(8));
        let (state, _) = run(&[delivered.clone()]);
        let late = plan(&state, &dispatched, "SO-1");
        let update = late.fulfilment.expect("tracking written");
        assert_eq!(update.status, Delivered);
        assert_eq!(update.tracking_number.as_deref(), Some("00340"));
        assert_eq!(update.delivered_at, Some(at(8)));
    }

    #[test]
    fn exceptions_show_only_while_nothing_later_happened_and_never_after_delivery() {
        use OrderStatus::*;
        let (_, written) = run(&[fact(Dispatched, 3), fact(Exception, 4)]);
        assert_eq!(written, [Dispatched, Exception]);
        let (_, written) = run(&[fact(Dispatched, 5), fact(Exception, 4)]);
        assert_eq!(written, [Dispatched], "an older exception is history only");
        let (state, written) = run(&[fact(Delivered, 5), fact(Exception, 6)]);
        assert_eq!(written, [Delivered]);
        assert_eq!(status_of(state.furthest), Delivered);
        // The order carries on after an exception.
        let (_, written) = run(&[fact(Exception, 1), fact(Dispatched, 2)]);
        assert_eq!(written, [Exception, Dispatched]);
    }

    #[test]
    fn informational_facts_never_move_the_deal() {
        let mut scan = fact(OrderStatus::Dispatched, 3);
        scan.moves_deal = false;
        let (state, written) = run(&[scan]);
        assert!(written.is_empty());
        assert_eq!(state.furthest, 0);
    }

    #[test]
    fn keys_are_valid_kv_keys() {
        let key = order_key(&RecordRef {
            system: "netsuite".into(),
            object_type: "salesOrder".into(),
            id: "77/1".into(),
        });
        assert_eq!(key, "order.netsuite.salesOrder.77=2F1");
        assert_eq!(tracking_key(" 1Z 99 "), "tracking.1Z=2099");
    }
}
