//! Fulfilment-sync's settings for Tryton, `[fulfilment_sync.erp.tryton]`.

use serde::Deserialize;

use crate::status_map::{FulfilmentStatus, StatusOverrides};

/// How Tryton's sale and customer-shipment states map to canonical statuses,
/// and where carrier and tracking number live (the base modules have neither).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// `sale.sale` `state` -> status, overriding the defaults one code at a
    /// time. Defaults: `draft`, `quotation`, `confirmed`, `processing`,
    /// `done` -> `received` (the shipments say more), `cancelled` -> `cancelled`.
    pub sale_states: StatusOverrides,
    /// `sale.sale` `shipment_state` -> status, applied before the shipments.
    /// Defaults: `exception` -> `exception`.
    pub sale_shipment_states: StatusOverrides,
    /// `stock.shipment.out` `state` -> status; the order takes the least
    /// advanced of its shipments that are not cancelled. Defaults: `draft`,
    /// `waiting` -> `received`; `assigned`, `picked` -> `picking`; `packed`
    /// -> `packed`; `done` -> `dispatched`.
    pub shipment_states: StatusOverrides,
    /// A `stock.shipment.out` Many2One read as the carrier's name (e.g.
    /// `carrier` with the `sale_shipment_cost` module); empty: no carrier.
    pub carrier_field: String,
    /// A `stock.shipment.out` text field holding the tracking number (e.g.
    /// `tracking_number` of a custom module); empty: no tracking number.
    pub tracking_field: String,
}

/// Default `sale.sale` `state` codes.
pub(crate) const SALE_STATES: &[(&str, FulfilmentStatus)] = &[
    ("draft", FulfilmentStatus::Received),
    ("quotation", FulfilmentStatus::Received),
    ("confirmed", FulfilmentStatus::Received),
    ("processing", FulfilmentStatus::Received),
    ("done", FulfilmentStatus::Received),
    ("cancelled", FulfilmentStatus::Cancelled),
];

/// Default `sale.sale` `shipment_state` codes.
pub(crate) const SALE_SHIPMENT_STATES: &[(&str, FulfilmentStatus)] =
    &[("exception", FulfilmentStatus::Exception)];

/// Default `stock.shipment.out` `state` codes.
pub(crate) const SHIPMENT_STATES: &[(&str, FulfilmentStatus)] = &[
    ("draft", FulfilmentStatus::Received),
    ("waiting", FulfilmentStatus::Received),
    ("assigned", FulfilmentStatus::Picking),
    ("picked", FulfilmentStatus::Picking),
    ("packed", FulfilmentStatus::Packed),
    ("done", FulfilmentStatus::Dispatched),
];
