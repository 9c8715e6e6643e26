//! Fulfilment-sync's settings for Oracle Fusion, `[fulfilment_sync.erp.oraclefusion]`.

use serde::Deserialize;

use crate::status_map::{FulfilmentStatus, StatusOverrides};

/// How Order Management's order and fulfillment line statuses map to
/// canonical statuses.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// Order header `StatusCode` -> status, applied first when it maps to
    /// `cancelled` or `exception`. Defaults: `DRAFT`, `OPEN`,
    /// `PROCESSING`, `CLOSED` -> `received` (the lines say more);
    /// `CANCELED` -> `cancelled`.
    pub order_statuses: StatusOverrides,
    /// Fulfillment line `StatusCode` -> status; the order takes the least
    /// advanced line that is not cancelled. Defaults: `OPEN`, `SCHEDULED`,
    /// `AWAIT_RESERVATION` -> `received`; `AWAIT_SHIP` -> `picking`;
    /// `PICKED`, `PACKED`, `STAGED` -> `packed`; `SHIPPED`, `AWAIT_BILLING`,
    /// `BILLED`, `CLOSED` -> `dispatched`; `BACKORDERED`, `ON_HOLD` ->
    /// `exception`; `CANCELED` -> `cancelled`.
    pub line_statuses: StatusOverrides,
}

/// Default header `StatusCode` values.
pub(crate) const ORDER_STATUSES: &[(&str, FulfilmentStatus)] = &[
    ("DRAFT", FulfilmentStatus::Received),
    ("OPEN", FulfilmentStatus::Received),
    ("PROCESSING", FulfilmentStatus::Received),
    ("CLOSED", FulfilmentStatus::Received),
    ("CANCELED", FulfilmentStatus::Cancelled),
];

/// Default fulfillment line `StatusCode` values.
pub(crate) const LINE_STATUSES: &[(&str, FulfilmentStatus)] = &[
    ("OPEN", FulfilmentStatus::Received),
    ("SCHEDULED", FulfilmentStatus::Received),
    ("AWAIT_RESERVATION", FulfilmentStatus::Received),
    ("AWAIT_SHIP", FulfilmentStatus::Picking),
    ("PICKED", FulfilmentStatus::Packed),
    ("PACKED", FulfilmentStatus::Packed),
    ("STAGED", FulfilmentStatus::Packed),
    ("SHIPPED", FulfilmentStatus::Dispatched),
    ("AWAIT_BILLING", FulfilmentStatus::Dispatched),
    ("BILLED", FulfilmentStatus::Dispatched),
    ("CLOSED", FulfilmentStatus::Dispatched),
    ("BACKORDERED", FulfilmentStatus::Exception),
    ("ON_HOLD", FulfilmentStatus::Exception),
    ("CANCELED", FulfilmentStatus::Cancelled),
];
