//! Settings of the fulfilment sources (`[ingress.<source>]`): each ERP,
//! carrier and messaging provider whose callbacks ingress verifies, with the
//! secret it authenticates them by and, for ERPs and carriers, the map from
//! the vendor's own status codes to the canonical statuses.
//!
//! A status map's entries override or extend that source's defaults (listed
//! on each key); codes compare case-insensitively, since configuration layers
//! may lower-case keys.

use std::collections::BTreeMap;
use std::time::Duration;

use crmerp_connector::config::Secret;
use crmerp_proto::{CarrierScanStatus, OrderStatus};
use crmerp_service_kit::settings::HumanDuration;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

/// A canonical order status as configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusName {
    /// No status: the flow reads the order back from the ERP.
    ReadBack,
    /// Accepted; fulfilment not started.
    Received,
    /// Being picked.
    Picking,
    /// Packed, waiting for the carrier.
    Packed,
    /// Handed to the carrier.
    Dispatched,
    /// Some shipments delivered.
    PartiallyDelivered,
    /// Every shipment delivered.
    Delivered,
    /// Stuck (shortage, hold, carrier exception).
    Exception,
    /// Cancelled in the ERP.
    Cancelled,
    /// Goods came back.
    Returned,
}

impl StatusName {
    /// The proto status (`read_back` is UNSPECIFIED).
    pub fn to_proto(self) -> OrderStatus {
        match self {
            Self::ReadBack => OrderStatus::Unspecified,
            Self::Received => OrderStatus::Received,
            Self::Picking => OrderStatus::Picking,
            Self::Packed => OrderStatus::Packed,
            Self::Dispatched => OrderStatus::Dispatched,
            Self::PartiallyDelivered => OrderStatus::PartiallyDelivered,
            Self::Delivered => OrderStatus::Delivered,
            Self::Exception => OrderStatus::Exception,
            Self::Cancelled => OrderStatus::Cancelled,
            Self::Returned => OrderStatus::Returned,
        }
    }
}

/// A canonical carrier scan status as configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScanName {
    /// Not a fulfilment step (e.g. AfterShip `Pending`): acknowledged, not published.
    Ignore,
    /// The carrier has the label, not the parcel.
    InfoReceived,
    /// Moving through the network.
    InTransit,
    /// On the delivery vehicle.
    OutForDelivery,
    /// Delivered.
    Delivered,
    /// A delivery attempt failed.
    FailedAttempt,
    /// Stuck: customs, damage, lost.
    Exception,
    /// The recipient refused it.
    Refused,
    /// On its way back, or back, to the sender.
    ReturnedToSender,
}

impl ScanName {
    /// The proto status; `None` for `ignore`.
    pub fn to_proto(self) -> Option<CarrierScanStatus> {
        Some(match self {
            Self::Ignore => return None,
            Self::InfoReceived => CarrierScanStatus::InfoReceived,
            Self::InTransit => CarrierScanStatus::InTransit,
            Self::OutForDelivery => CarrierScanStatus::OutForDelivery,
            Self::Delivered => CarrierScanStatus::Delivered,
            Self::FailedAttempt => CarrierScanStatus::FailedAttempt,
            Self::Exception => CarrierScanStatus::Exception,
            Self::Refused => CarrierScanStatus::Refused,
            Self::ReturnedToSender => CarrierScanStatus::ReturnedToSender,
        })
    }
}

/// Looks `code` up in `configured`, then in `defaults`, ignoring case.
fn lookup<T: Copy>(
    configured: &BTreeMap<String, T>,
    defaults: &[(&str, T)],
    code: &str,
) -> Option<T> {
    configured
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(code))
        .map(|(_, v)| *v)
        .or_else(|| {
            defaults
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(code))
                .map(|(_, v)| *v)
        })
}

/// NetSuite sales order `orderstatus` codes.
const NETSUITE_ORDER_STATUSES: &[(&str, StatusName)] = &[
    ("A", StatusName::Received),   // Pending Approval
    ("B", StatusName::Received),   // Pending Fulfillment
    ("C", StatusName::Cancelled),  // Cancelled
    ("D", StatusName::Picking),    // Partially Fulfilled
    ("E", StatusName::Picking),    // Pending Billing/Partially Fulfilled
    ("F", StatusName::Dispatched), // Pending Billing
    ("G", StatusName::Dispatched), // Billed
    ("H", StatusName::ReadBack),   // Closed: cancelled lines or done; ask
];

/// NetSuite item fulfilment `shipstatus` codes.
const NETSUITE_SHIP_STATUSES: &[(&str, StatusName)] = &[
    ("A", StatusName::Picking),    // Picked
    ("B", StatusName::Packed),     // Packed
    ("C", StatusName::Dispatched), // Shipped
];

/// Oracle Fusion Order Management status codes (header and fulfilment line).
const ORACLE_STATUSES: &[(&str, StatusName)] = &[
    ("DOO_DRAFT", StatusName::Received),
    ("OPEN", StatusName::Received),
    ("PROCESSING", StatusName::Picking),
    ("AWAIT_SHIPPING", StatusName::Picking),
    ("BACKORDERED", StatusName::Exception),
    ("ON_HOLD", StatusName::Exception),
    ("PARTIAL_SHIP", StatusName::Dispatched),
    ("SHIPPED", StatusName::Dispatched),
    ("AWAIT_BILLING", StatusName::Dispatched),
    ("BILLED", StatusName::Dispatched),
    ("DELIVERED", StatusName::Delivered),
    ("CANCELED", StatusName::Cancelled),
    ("CLOSED", StatusName::ReadBack),
];

/// AfterShip tags, and subtags that say more than their tag.
const AFTERSHIP_TAGS: &[(&str, ScanName)] = &[
    ("Pending", ScanName::Ignore),
    ("Expired", ScanName::Ignore),
    ("InfoReceived", ScanName::InfoReceived),
    ("InTransit", ScanName::InTransit),
    ("OutForDelivery", ScanName::OutForDelivery),
    ("AvailableForPickup", ScanName::FailedAttempt),
    ("AttemptFail", ScanName::FailedAttempt),
    ("Delivered", ScanName::Delivered),
    ("Exception", ScanName::Exception),
    ("Exception_003", ScanName::Refused), // Customer refused delivery
    ("Exception_010", ScanName::ReturnedToSender), // Returning to sender
    ("Exception_011", ScanName::ReturnedToSender), // Returned to sender
];

/// EasyPost tracker statuses.
const EASYPOST_STATUSES: &[(&str, ScanName)] = &[
    ("unknown", ScanName::Ignore),
    ("pre_transit", ScanName::InfoReceived),
    ("in_transit", ScanName::InTransit),
    ("out_for_delivery", ScanName::OutForDelivery),
    ("available_for_pickup", ScanName::FailedAttempt),
    ("delivered", ScanName::Delivered),
    ("return_to_sender", ScanName::ReturnedToSender),
    ("failure", ScanName::Exception),
    ("error", ScanName::Exception),
    ("cancelled", ScanName::Exception),
];

/// `[ingress.netsuite]`: posts of the SuiteScript user-event script
/// (`deploy/netsuite/crmerp_fulfilment_ue.js`). Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetSuiteIngress {
    /// The shared secret the script signs with (the value of its NetSuite API
    /// secret): HMAC-SHA256 over `<timestamp>.<body>`.
    #[schemars(with = "Secret")]
    pub secret: SecretString,
    /// The NetSuite account id posts must name (`account` in the body); empty
    /// accepts any.
    #[serde(default)]
    pub account: String,
    /// Largest distance between the signed timestamp and now; older (or
    /// future) posts get 401, so a captured post cannot be replayed later.
    #[serde(default = "default_replay_window", with = "humantime_serde")]
    #[schemars(with = "HumanDuration")]
    pub replay_window: Duration,
    /// Sales order `orderstatus` code -> canonical status. Defaults: A, B
    /// received; C cancelled; D, E picking; F, G dispatched; H read_back.
    #[serde(default)]
    pub order_statuses: BTreeMap<String, StatusName>,
    /// Item fulfilment `shipstatus` code -> canonical status. Defaults: A
    /// picking, B packed, C dispatched.
    #[serde(default)]
    pub ship_statuses: BTreeMap<String, StatusName>,
}

impl NetSuiteIngress {
    /// The status of a sales order code; unknown codes read back.
    pub fn order_status(&self, code: &str) -> StatusName {
        lookup(&self.order_statuses, NETSUITE_ORDER_STATUSES, code).unwrap_or(StatusName::ReadBack)
    }

    /// The status of an item fulfilment code; unknown codes read back.
    pub fn ship_status(&self, code: &str) -> StatusName {
        lookup(&self.ship_statuses, NETSUITE_SHIP_STATUSES, code).unwrap_or(StatusName::ReadBack)
    }
}

/// `[ingress.businesscentral]`: Business Central webhook notifications.
/// Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessCentralIngress {
    /// The `clientState` the subscriptions were created with; every
    /// notification must carry it (BC signs nothing else).
    #[schemars(with = "Secret")]
    pub client_state: SecretString,
}

/// `[ingress.s4hana]`: SAP Business Events delivered by an Event Mesh webhook
/// subscription with authentication type Basic. Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S4HanaIngress {
    /// The Basic user configured on the webhook.
    pub user: String,
    /// The Basic password configured on the webhook.
    #[schemars(with = "Secret")]
    pub password: SecretString,
}

/// `[ingress.oraclefusion]`: Order Management status callbacks, authenticated
/// by Basic credentials or a bearer token (either configured one passes).
/// Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OracleFusionIngress {
    /// Basic user; empty disables Basic.
    #[serde(default)]
    pub user: String,
    /// Basic password.
    #[serde(default)]
    #[schemars(with = "Secret")]
    pub password: SecretString,
    /// Bearer token (`Authorization: Bearer ...`); empty disables bearer.
    #[serde(default)]
    #[schemars(with = "Secret")]
    pub bearer_token: SecretString,
    /// Order Management status code (header or fulfilment line) -> canonical
    /// status. Defaults: DOO_DRAFT, OPEN received; PROCESSING, AWAIT_SHIPPING
    /// picking; BACKORDERED, ON_HOLD exception; PARTIAL_SHIP, SHIPPED,
    /// AWAIT_BILLING, BILLED dispatched; DELIVERED delivered; CANCELED
    /// cancelled; CLOSED read_back.
    #[serde(default)]
    pub statuses: BTreeMap<String, StatusName>,
}

impl OracleFusionIngress {
    /// The status of a code; unknown codes read back.
    pub fn status(&self, code: &str) -> StatusName {
        lookup(&self.statuses, ORACLE_STATUSES, code).unwrap_or(StatusName::ReadBack)
    }
}

/// `[ingress.aftership]`: AfterShip tracking webhooks. Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AfterShipIngress {
    /// The webhook secret (Settings > Webhooks): HMAC-SHA256 of the raw body,
    /// Base64, in `aftership-hmac-sha256`.
    #[schemars(with = "Secret")]
    pub secret: SecretString,
    /// AfterShip `tag` or `subtag` -> scan status; a subtag entry wins over its
    /// tag. Defaults: Pending, Expired ignore; InfoReceived info_received;
    /// InTransit in_transit; OutForDelivery out_for_delivery;
    /// AvailableForPickup, AttemptFail failed_attempt; Delivered delivered;
    /// Exception exception; Exception_003 refused; Exception_010,
    /// Exception_011 returned_to_sender.
    #[serde(default)]
    pub tags: BTreeMap<String, ScanName>,
}

impl AfterShipIngress {
    /// The scan status of a tag and subtag; `None` when neither is known.
    pub fn status(&self, tag: &str, subtag: &str) -> Option<ScanName> {
        lookup(&self.tags, AFTERSHIP_TAGS, subtag)
            .or_else(|| lookup(&self.tags, AFTERSHIP_TAGS, tag))
    }
}

/// `[ingress.easypost]`: EasyPost webhooks. Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EasyPostIngress {
    /// The webhook's `webhook_secret`: HMAC-SHA256 keyed with its NFKD form,
    /// hex, in `X-Hmac-Signature: hmac-sha256-hex=...`.
    #[schemars(with = "Secret")]
    pub secret: SecretString,
    /// Tracker `status` -> scan status. Defaults: unknown ignore; pre_transit
    /// info_received; in_transit in_transit; out_for_delivery
    /// out_for_delivery; available_for_pickup failed_attempt; delivered
    /// delivered; return_to_sender returned_to_sender; failure, error,
    /// cancelled exception.
    #[serde(default)]
    pub statuses: BTreeMap<String, ScanName>,
}

impl EasyPostIngress {
    /// The scan status of a tracker status; `None` when unknown.
    pub fn status(&self, status: &str) -> Option<ScanName> {
        lookup(&self.statuses, EASYPOST_STATUSES, status)
    }
}

/// `[ingress.twilio]`: Twilio message status callbacks. Absent: the route answers 404.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioIngress {
    /// The account's auth token: the HMAC-SHA1 key of `X-Twilio-Signature`.
    #[schemars(with = "Secret")]
    pub auth_token: SecretString,
    /// The account SID callbacks must name (`AccountSid`); empty accepts any.
    #[serde(default)]
    pub account_sid: String,
}

fn default_replay_window() -> Duration {
    Duration::from_secs(5 * 60)
}

/// The fulfilment sources of `[ingress]`, checked at load.
pub(crate) fn validate(
    netsuite: Option<&NetSuiteIngress>,
    businesscentral: Option<&BusinessCentralIngress>,
    s4hana: Option<&S4HanaIngress>,
    oraclefusion: Option<&OracleFusionIngress>,
    secrets: &[(&str, Option<&SecretString>)],
) -> Result<(), String> {
    for (key, secret) in secrets {
        if secret.is_some_and(|s| s.expose_secret().is_empty()) {
            return Err(format!("ingress.{key} must be set"));
        }
    }
    if netsuite.is_some_and(|n| n.replay_window.is_zero()) {
        return Err("ingress.netsuite.replay_window must be positive".into());
    }
    if businesscentral.is_some_and(|b| b.client_state.expose_secret().len() > 2048) {
        return Err(
            "ingress.businesscentral.client_state: BC allows at most 2048 characters".into(),
        );
    }
    if s4hana.is_some_and(|s| s.user.is_empty()) {
        return Err("ingress.s4hana.user must be set".into());
    }
    if let Some(oracle) = oraclefusion {
        let basic = !oracle.user.is_empty() && !oracle.password.expose_secret().is_empty();
        if !basic && oracle.bearer_token.expose_secret().is_empty() {
            return Err("ingress.oraclefusion needs user and password, or bearer_token".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_codes_override_defaults_case_insensitively() {
        let netsuite: NetSuiteIngress = serde_json::from_value(serde_json::json!({
            "secret": "s", "order_statuses": { "b": "picking" }
        }))
        .expect("parses");
        assert_eq!(netsuite.order_status("B"), StatusName::Picking);
        assert_eq!(netsuite.order_status("C"), StatusName::Cancelled);
        assert_eq!(netsuite.order_status("Z"), StatusName::ReadBack);
        assert_eq!(netsuite.ship_status("C"), StatusName::Dispatched);
        assert_eq!(netsuite.replay_window, Duration::from_secs(300));

        let aftership: AfterShipIngress =
            serde_json::from_value(serde_json::json!({ "secret": "s" })).expect("parses");
        assert_eq!(
            aftership.status("Exception", "Exception_011"),
            Some(ScanName::ReturnedToSender)
        );
        assert_eq!(
            aftership.status("Exception", "Exception_004"),
            Some(ScanName::Exception)
        );
        assert_eq!(aftership.status("Pending", ""), Some(ScanName::Ignore));
        assert_eq!(aftership.status("Teleported", ""), None);
        assert!(
            serde_json::from_value::<AfterShipIngress>(
                serde_json::json!({ "secret": "s", "tags": { "X": "lost" } })
            )
            .is_err()
        );
    }
}
