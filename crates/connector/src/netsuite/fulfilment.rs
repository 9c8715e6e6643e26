//! Fulfilment-sync's settings for NetSuite, `[fulfilment_sync.erp.netsuite]`.

use serde::Deserialize;

use crate::status_map::{FulfilmentStatus, StatusOverrides};

/// How sales order and item fulfillment statuses map to canonical statuses.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// Sales order `status` (its id or its name) -> status, applied first
    /// when it maps to `cancelled` or `exception`, and when the order has no
    /// item fulfillment yet. Defaults: `Pending Approval`, `Pending
    /// Fulfillment` -> `received`; `Cancelled` -> `cancelled`.
    pub order_statuses: StatusOverrides,
    /// Item fulfillment `shipStatus` (its id or its name) -> status; the
    /// order takes the least advanced fulfillment. Defaults: `A` / `Picked`
    /// -> `picking`, `B` / `Packed` -> `packed`, `C` / `Shipped` -> `dispatched`.
    pub ship_statuses: StatusOverrides,
    /// A date body field of the item fulfillment that records delivery
    /// (NetSuite has none of its own); empty: deliveries are not read.
    pub delivered_date_field: String,
}

impl Default for FulfilmentFields {
    fn default() -> Self {
        Self {
            order_statuses: StatusOverrides::new(),
            ship_statuses: StatusOverrides::new(),
            delivered_date_field: "custbody_crmerp_delivered_date".to_owned(),
        }
    }
}

/// Default sales order statuses.
pub(crate) const ORDER_STATUSES: &[(&str, FulfilmentStatus)] = &[
    ("Pending Approval", FulfilmentStatus::Received),
    ("Pending Fulfillment", FulfilmentStatus::Received),
    ("Cancelled", FulfilmentStatus::Cancelled),
];

/// Default item fulfillment ship statuses.
pub(crate) const SHIP_STATUSES: &[(&str, FulfilmentStatus)] = &[
    ("A", FulfilmentStatus::Picking),
    ("Picked", FulfilmentStatus::Picking),
    ("B", FulfilmentStatus::Packed),
    ("Packed", FulfilmentStatus::Packed),
    ("C", FulfilmentStatus::Dispatched),
    ("Shipped", FulfilmentStatus::Dispatched),
];
