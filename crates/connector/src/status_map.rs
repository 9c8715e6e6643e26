//! ERP fulfilment status codes -> canonical [`OrderStatus`], as the ERP
//! modules' `[fulfilment_sync.erp.<kind>]` settings configure them: each ERP
//! has defaults for its own codes, and a configured entry overrides (or adds)
//! one code without restating the rest.

use std::collections::BTreeMap;

use crmerp_proto::OrderStatus;
use serde::{Deserialize, Serialize};

/// A canonical fulfilment status, as configuration spells it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentStatus {
    /// The ERP accepted the order; fulfilment has not started.
    Received,
    /// Items are being picked in the warehouse.
    Picking,
    /// Picked and packed, waiting for the carrier.
    Packed,
    /// Handed to the carrier.
    Dispatched,
    /// Some, not all, shipments delivered.
    PartiallyDelivered,
    /// Every shipment delivered.
    Delivered,
    /// Fulfilment is stuck (hold, shortage, carrier exception).
    Exception,
    /// Cancelled in the ERP.
    Cancelled,
    /// Goods came back after delivery.
    Returned,
}

impl From<FulfilmentStatus> for OrderStatus {
    fn from(status: FulfilmentStatus) -> Self {
        match status {
            FulfilmentStatus::Received => Self::Received,
            FulfilmentStatus::Picking => Self::Picking,
            FulfilmentStatus::Packed => Self::Packed,
            FulfilmentStatus::Dispatched => Self::Dispatched,
            FulfilmentStatus::PartiallyDelivered => Self::PartiallyDelivered,
            FulfilmentStatus::Delivered => Self::Delivered,
            FulfilmentStatus::Exception => Self::Exception,
            FulfilmentStatus::Cancelled => Self::Cancelled,
            FulfilmentStatus::Returned => Self::Returned,
        }
    }
}

/// Configured status codes: ERP code -> canonical status. An absent code
/// falls back to the ERP's defaults.
pub type StatusOverrides = BTreeMap<String, FulfilmentStatus>;

/// The status of ERP `code`: the configured entry, else the default, else
/// `None` (a code the mapping does not know: the caller decides).
pub fn resolve(
    overrides: &StatusOverrides,
    defaults: &[(&str, FulfilmentStatus)],
    code: &str,
) -> Option<FulfilmentStatus> {
    let code = code.trim();
    overrides.get(code).copied().or_else(|| {
        defaults
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(code))
            .map(|(_, status)| *status)
    })
}

/// How far along fulfilment a status is, for "the least advanced shipment"
/// rules: stuck and cancelled states rank apart (they are not progress).
pub fn progress(status: FulfilmentStatus) -> u8 {
    match status {
        FulfilmentStatus::Received => 1,
        FulfilmentStatus::Picking => 2,
        FulfilmentStatus::Packed => 3,
        FulfilmentStatus::Dispatched => 4,
        FulfilmentStatus::PartiallyDelivered => 5,
        FulfilmentStatus::Delivered => 6,
        FulfilmentStatus::Returned => 7,
        FulfilmentStatus::Exception | FulfilmentStatus::Cancelled => 0,
    }
}

/// The order status of its shipments' (or lines') statuses: delivered when
/// all are, partially delivered when some are, else the least advanced one;
/// any exception wins. Cancelled ones do not count; `None` when none is left.
pub fn combine(statuses: impl IntoIterator<Item = FulfilmentStatus>) -> Option<FulfilmentStatus> {
    let live: Vec<FulfilmentStatus> = statuses
        .into_iter()
        .filter(|s| *s != FulfilmentStatus::Cancelled)
        .collect();
    if live.contains(&FulfilmentStatus::Exception) {
        return Some(FulfilmentStatus::Exception);
    }
    let delivered = live
        .iter()
        .filter(|s| progress(**s) >= progress(FulfilmentStatus::Delivered))
        .count();
    if delivered > 0 && delivered < live.len() {
        return Some(FulfilmentStatus::PartiallyDelivered);
    }
    live.into_iter().min_by_key(|s| progress(*s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_codes_override_defaults_one_by_one() {
        let defaults = [
            ("A", FulfilmentStatus::Picking),
            ("B", FulfilmentStatus::Packed),
        ];
        let mut overrides = StatusOverrides::new();
        overrides.insert("B".into(), FulfilmentStatus::Exception);
        overrides.insert("Z".into(), FulfilmentStatus::Returned);
        assert_eq!(
            resolve(&overrides, &defaults, "a"),
            Some(FulfilmentStatus::Picking)
        );
        assert_eq!(
            resolve(&overrides, &defaults, "B"),
            Some(FulfilmentStatus::Exception)
        );
        assert_eq!(
            resolve(&overrides, &defaults, " Z "),
            Some(FulfilmentStatus::Returned)
        );
        assert_eq!(resolve(&overrides, &defaults, "Q"), None);
        use FulfilmentStatus::*;
        assert_eq!(combine([Dispatched, Packed, Cancelled]), Some(Packed));
        assert_eq!(combine([Delivered, Dispatched]), Some(PartiallyDelivered));
        assert_eq!(combine([Delivered, Delivered]), Some(Delivered));
        assert_eq!(combine([Delivered, Exception]), Some(Exception));
        assert_eq!(combine([Cancelled]), None);
        assert_eq!(
            OrderStatus::from(FulfilmentStatus::PartiallyDelivered),
            OrderStatus::PartiallyDelivered
        );
    }
}
