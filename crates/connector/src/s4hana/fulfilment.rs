//! Fulfilment-sync's settings for S/4HANA, `[fulfilment_sync.erp.s4hana]`.

use serde::Deserialize;

use crate::status_map::{FulfilmentStatus, StatusOverrides};

/// How a sales order's status fields map to canonical statuses.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// `OverallTotalDeliveryStatus` -> status, overriding the defaults one
    /// code at a time. Defaults: `` (not relevant) and `A` (not delivered)
    /// -> `received`; `B` (partially delivered: a delivery is being picked)
    /// -> `picking`; `C` (completely delivered, goods issued) -> `dispatched`.
    pub delivery_statuses: StatusOverrides,
    /// `OverallSDDocumentRejectionSts` -> status, applied first. Defaults:
    /// `C` (fully rejected) -> `cancelled`.
    pub rejection_statuses: StatusOverrides,
    /// `DeliveryBlockReason` -> status, applied before the delivery status
    /// when the order has a block. Every block counts as `exception` unless
    /// listed here (e.g. a credit block mapped to `received`).
    pub delivery_blocks: StatusOverrides,
}

/// Default `OverallTotalDeliveryStatus` codes.
pub(crate) const DELIVERY_STATUSES: &[(&str, FulfilmentStatus)] = &[
    ("", FulfilmentStatus::Received),
    ("A", FulfilmentStatus::Received),
    ("B", FulfilmentStatus::Picking),
    ("C", FulfilmentStatus::Dispatched),
];

/// Default `OverallSDDocumentRejectionSts` codes.
pub(crate) const REJECTION_STATUSES: &[(&str, FulfilmentStatus)] =
    &[("C", FulfilmentStatus::Cancelled)];
