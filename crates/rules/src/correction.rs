//! Per-flow corrections of dead-lettered events before a requeue.
//!
//! An operator corrects a dead letter by sending an RFC 6902 JSON patch of a
//! document in the proto3 JSON mapping (for deal-to-order: the canonical
//! deal). Each flow says what that document is and how a patched one becomes
//! the corrected event through its [`Correction`]; monitoring finds it by flow
//! name in [`Corrections`], so a dead letter of a flow without one is refused
//! with a clear error rather than requeued unchecked.

use std::collections::HashMap;
use std::sync::Arc;

use crmerp_proto::{Deal, EventEnvelope, RecordRef, event_envelope::Data};
use json_patch::Patch;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::deal::{Invalid, validate_deal};

/// Why a correction was refused.
#[derive(Debug, thiserror::Error)]
pub enum CorrectionError {
    /// No correction is registered for the dead letter's flow.
    #[error("dead letters of flow \"{0}\" cannot be corrected, only requeued as they are")]
    UnknownFlow(String),
    /// The event is not one this flow's correction applies to.
    #[error("{0}")]
    NotApplicable(String),
    /// The patch does not apply to the document (a missing path, a failed test).
    #[error("the patch does not apply: {0}")]
    Patch(String),
    /// The patched document is not a valid record of its type.
    #[error("{0}")]
    Malformed(String),
    /// The patched record is well-formed but still breaks the flow's rules.
    #[error("The corrected deal is still invalid: {0}")]
    StillInvalid(Invalid),
}

/// What a correction starts from.
#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    /// The event carries the document already (e.g. an earlier correction).
    Carried(Value),
    /// The document is the CRM's current deal, which the caller reads.
    CrmDeal(RecordRef),
}

/// A corrected event, ready to requeue.
#[derive(Debug, Clone)]
pub struct Corrected {
    /// The original event with the correction in it.
    pub event: EventEnvelope,
    /// What changed, as a minimal patch from the base (for the audit trail),
    /// whatever shape of patch the operator sent.
    pub changes: Patch,
}

/// How an operator's patch corrects a dead-lettered event of one flow.
pub trait Correction: Send + Sync + 'static {
    /// The flow whose dead letters this corrects, e.g. "deal-to-order".
    fn flow(&self) -> &str;

    /// What a correction of `original` starts from.
    fn base(&self, original: &EventEnvelope) -> Result<Base, CorrectionError>;

    /// Applies `patch` to `base` (the document [`Correction::base`] named) and
    /// checks the result against the flow's rules.
    fn apply(
        &self,
        original: &EventEnvelope,
        base: &Value,
        patch: &Patch,
    ) -> Result<Corrected, CorrectionError>;
}

/// The corrections of every flow, by flow name.
#[derive(Clone, Default)]
pub struct Corrections {
    by_flow: HashMap<String, Arc<dyn Correction>>,
}

impl std::fmt::Debug for Corrections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut flows: Vec<_> = self.by_flow.keys().collect();
        flows.sort();
        f.debug_struct("Corrections")
            .field("flows", &flows)
            .finish()
    }
}

impl Corrections {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the correction of its flow.
    pub fn with(mut self, correction: impl Correction) -> Self {
        self.by_flow
            .insert(correction.flow().to_owned(), Arc::new(correction));
        self
    }

    /// The correction of `flow`.
    pub fn for_flow(&self, flow: &str) -> Result<&dyn Correction, CorrectionError> {
        self.by_flow
            .get(flow)
            .map(|c| c.as_ref())
            .ok_or_else(|| CorrectionError::UnknownFlow(flow.to_owned()))
    }
}

/// Deal-to-order's correction: the operator patches the canonical deal, which
/// must then pass [`validate_deal`]; it travels in `DealWon.corrected_deal`,
/// which the worker uses instead of hydrating from the CRM.
#[derive(Debug, Clone)]
pub struct DealCorrection {
    min_order_value: Decimal,
}

impl DealCorrection {
    /// The flow name.
    pub const FLOW: &'static str = "deal-to-order";

    /// A correction checking deals against deal-to-order's minimum order value.
    pub fn new(min_order_value: Decimal) -> Self {
        Self { min_order_value }
    }
}

fn deal_won(original: &EventEnvelope) -> Result<&crmerp_proto::DealWon, CorrectionError> {
    match &original.data {
        Some(Data::DealWon(won)) => Ok(won),
        _ => Err(CorrectionError::NotApplicable(
            "only deal-won events carry a deal to correct".into(),
        )),
    }
}

impl Correction for DealCorrection {
    fn flow(&self) -> &str {
        Self::FLOW
    }

    fn base(&self, original: &EventEnvelope) -> Result<Base, CorrectionError> {
        let won = deal_won(original)?;
        Ok(match &won.corrected_deal {
            Some(deal) => Base::Carried(to_json(deal)?),
            None => Base::CrmDeal(won.deal.clone().unwrap_or_default()),
        })
    }

    fn apply(
        &self,
        original: &EventEnvelope,
        base: &Value,
        patch: &Patch,
    ) -> Result<Corrected, CorrectionError> {
        deal_won(original)?;
        let mut json = base.clone();
        json_patch::patch(&mut json, patch).map_err(|e| CorrectionError::Patch(e.to_string()))?;
        let changes = json_patch::diff(base, &json);
        let deal: Deal = from_json(json)?;
        validate_deal(&deal, self.min_order_value).map_err(CorrectionError::StillInvalid)?;
        let mut event = original.clone();
        if let Some(Data::DealWon(won)) = event.data.as_mut() {
            won.corrected_deal = Some(deal);
        }
        Ok(Corrected { event, changes })
    }
}

fn to_json(message: &impl serde::Serialize) -> Result<Value, CorrectionError> {
    serde_json::to_value(message).map_err(|e| CorrectionError::Malformed(e.to_string()))
}

/// Reads a message from proto3 JSON, accepting only the lowerCamelCase JSON
/// names the documents are shown with.
///
/// The proto3 JSON parser also accepts the proto field names (`shipping_address`
/// for `shippingAddress`); refusing them keeps one spelling per field, so a
/// patch that adds `/shipping_address` next to an existing `shippingAddress`
/// is a clear error, not a silent choice between the two. Our proto field
/// names are snake_case, so a JSON name never contains `_`; the corrected
/// messages have no map fields, whose keys are free text.
fn from_json<T: serde::de::DeserializeOwned>(json: Value) -> Result<T, CorrectionError> {
    if let Some(key) = proto_field_name(&json) {
        return Err(CorrectionError::Malformed(format!(
            "not a valid canonical record: unknown field `{key}` (fields use lowerCamelCase JSON names)"
        )));
    }
    serde_json::from_value(json)
        .map_err(|e| CorrectionError::Malformed(format!("not a valid canonical record: {e}")))
}

fn proto_field_name(json: &Value) -> Option<&str> {
    match json {
        Value::Object(fields) => fields.iter().find_map(|(key, value)| {
            if key.contains('_') {
                Some(key.as_str())
            } else {
                proto_field_name(value)
            }
        }),
        Value::Array(items) => items.iter().find_map(proto_field_name),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::{Account, Address, DealWon, LineItem, Money};
    use serde_json::json;

    fn deal_ref() -> RecordRef {
        RecordRef {
            system: "hubspot".into(),
            object_type: "deal".into(),
            id: "7".into(),
        }
    }

    /// A deal that passes validation except for its missing shipping address.
    fn deal_without_address() -> Deal {
        Deal {
            r#ref: Some(deal_ref()),
            account: Some(Account {
                name: "Acme".into(),
                ..Default::default()
            }),
            line_items: vec![LineItem {
                sku: "SKU-1".into(),
                name: "Widget".into(),
                quantity: "2".into(),
                unit_price: Some(Money {
                    currency_code: "EUR".into(),
                    amount: "10.00".into(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn won(corrected: Option<Deal>) -> EventEnvelope {
        EventEnvelope {
            id: "hubspot:1".into(),
            data: Some(Data::DealWon(DealWon {
                deal: Some(deal_ref()),
                corrected_deal: corrected,
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn patch(ops: Value) -> Patch {
        serde_json::from_value(ops).expect("a patch")
    }

    fn address() -> Value {
        json!({"line1": "Hafenstrasse 1", "city": "Hamburg", "countryCode": "DE"})
    }

    fn base_of(correction: &DealCorrection, event: &EventEnvelope) -> Value {
        match correction.base(event).expect("a base") {
            Base::Carried(json) => json,
            Base::CrmDeal(_) => to_json(&deal_without_address()).expect("json"),
        }
    }

    #[test]
    fn the_base_is_the_last_correction_else_the_crm_deal() {
        let correction = DealCorrection::new(Decimal::ZERO);
        assert_eq!(
            correction.base(&won(None)).expect("a base"),
            Base::CrmDeal(deal_ref())
        );
        let Base::Carried(json) = correction
            .base(&won(Some(deal_without_address())))
            .expect("a base")
        else {
            panic!("the earlier correction is the base");
        };
        assert_eq!(json["lineItems"][0]["unitPrice"]["amount"], "10.00");
        assert!(json.get("stage").is_none(), "defaults are omitted");
    }

    #[test]
    fn a_patched_valid_deal_travels_in_the_event_with_the_minimal_changes() {
        let correction = DealCorrection::new(Decimal::ZERO);
        let event = won(None);
        let base = base_of(&correction, &event);
        let corrected = correction
            .apply(
                &event,
                &base,
                &patch(json!([{"op": "add", "path": "/shippingAddress", "value": address()}])),
            )
            .expect("corrected");
        let Some(Data::DealWon(won)) = &corrected.event.data else {
            panic!("still a deal-won event");
        };
        let deal = won.corrected_deal.clone().expect("the corrected deal");
        assert_eq!(
            deal.shipping_address,
            Some(Address {
                line1: "Hafenstrasse 1".into(),
                city: "Hamburg".into(),
                country_code: "DE".into(),
                ..Default::default()
            })
        );
        assert_eq!(deal.line_items, deal_without_address().line_items);
        assert_eq!(corrected.event.id, "hubspot:1");
        let changes = serde_json::to_value(&corrected.changes).expect("json");
        assert_eq!(changes[0]["path"], "/shippingAddress");
    }

    #[test]
    fn a_correction_that_is_still_invalid_or_misspelt_is_refused() {
        let correction = DealCorrection::new(Decimal::ZERO);
        let event = won(None);
        let base = base_of(&correction, &event);
        let incomplete = correction.apply(
            &event,
            &base,
            &patch(
                json!([{"op": "add", "path": "/shippingAddress", "value": {"city": "Hamburg"}}]),
            ),
        );
        match incomplete {
            Err(CorrectionError::StillInvalid(invalid)) => {
                assert_eq!(invalid.resolution, "fix_address_format");
            }
            other => panic!("expected still invalid, got {other:?}"),
        }
        let proto_name = correction.apply(
            &event,
            &base,
            &patch(json!([{"op": "add", "path": "/shipping_address", "value": address()}])),
        );
        assert!(
            matches!(&proto_name, Err(CorrectionError::Malformed(m)) if m.contains("shipping_address")),
            "{proto_name:?}"
        );
        let unknown = correction.apply(
            &event,
            &base,
            &patch(json!([{"op": "add", "path": "/shippingAdress", "value": address()}])),
        );
        assert!(
            matches!(unknown, Err(CorrectionError::Malformed(_))),
            "{unknown:?}"
        );
        let missing_path = correction.apply(
            &event,
            &base,
            &patch(json!([{"op": "replace", "path": "/shippingAddress/city", "value": "X"}])),
        );
        assert!(
            matches!(missing_path, Err(CorrectionError::Patch(_))),
            "{missing_path:?}"
        );
    }

    #[test]
    fn only_deal_won_events_are_corrected() {
        let correction = DealCorrection::new(Decimal::ZERO);
        let other = EventEnvelope::default();
        assert!(matches!(
            correction.base(&other),
            Err(CorrectionError::NotApplicable(_))
        ));
        assert!(matches!(
            correction.apply(&other, &json!({}), &patch(json!([]))),
            Err(CorrectionError::NotApplicable(_))
        ));
    }

    #[test]
    fn the_registry_finds_a_flow_and_names_an_unknown_one() {
        let corrections = Corrections::new().with(DealCorrection::new(Decimal::ZERO));
        assert_eq!(
            corrections
                .for_flow("deal-to-order")
                .expect("registered")
                .flow(),
            "deal-to-order"
        );
        let Err(error) = corrections.for_flow("invoice-sync") else {
            panic!("an unknown flow has no correction");
        };
        assert!(matches!(&error, CorrectionError::UnknownFlow(flow) if flow == "invoice-sync"));
        assert!(error.to_string().contains("invoice-sync"));
        assert!(format!("{corrections:?}").contains("deal-to-order"));
    }
}
