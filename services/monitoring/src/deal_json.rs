//! The canonical [`Deal`] in the proto3 JSON mapping (lowerCamelCase names,
//! default values omitted, timestamps as RFC 3339), so an operator can read it
//! and correct it with a JSON patch. Unknown fields are rejected, which catches
//! a mistyped path in a patch.

use chrono::{DateTime, SecondsFormat, Utc};
use crmerp_proto::{
    Account, Address, Deal, LineItem, Money, RecordRef, timestamp_from, timestamp_to_chrono,
};
use serde::{Deserialize, Serialize};

/// A JSON value could not be read as a deal.
#[derive(Debug, thiserror::Error)]
#[error("not a valid canonical deal: {0}")]
pub struct DealJsonError(String);

fn is_empty(s: &str) -> bool {
    s.is_empty()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct RefJson {
    #[serde(skip_serializing_if = "is_empty")]
    system: String,
    #[serde(skip_serializing_if = "is_empty")]
    object_type: String,
    #[serde(skip_serializing_if = "is_empty")]
    id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct MoneyJson {
    #[serde(skip_serializing_if = "is_empty")]
    currency_code: String,
    #[serde(skip_serializing_if = "is_empty")]
    amount: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct AddressJson {
    #[serde(skip_serializing_if = "is_empty")]
    addressee: String,
    #[serde(skip_serializing_if = "is_empty")]
    line1: String,
    #[serde(skip_serializing_if = "is_empty")]
    line2: String,
    #[serde(skip_serializing_if = "is_empty")]
    city: String,
    #[serde(skip_serializing_if = "is_empty")]
    region: String,
    #[serde(skip_serializing_if = "is_empty")]
    postal_code: String,
    #[serde(skip_serializing_if = "is_empty")]
    country_code: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct AccountJson {
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<RefJson>,
    #[serde(skip_serializing_if = "is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_empty")]
    domain: String,
    #[serde(skip_serializing_if = "is_empty")]
    email: String,
    #[serde(skip_serializing_if = "is_empty")]
    phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    billing_address: Option<AddressJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping_address: Option<AddressJson>,
    #[serde(skip_serializing_if = "is_empty")]
    tax_id: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct LineItemJson {
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<RefJson>,
    #[serde(skip_serializing_if = "is_empty")]
    sku: String,
    #[serde(skip_serializing_if = "is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_empty")]
    quantity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_price: Option<MoneyJson>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct DealJson {
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    reference: Option<RefJson>,
    #[serde(skip_serializing_if = "is_empty")]
    name: String,
    #[serde(skip_serializing_if = "is_empty")]
    stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<MoneyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<AccountJson>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    line_items: Vec<LineItemJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shipping_address: Option<AddressJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    closed_at: Option<String>,
    #[serde(skip_serializing_if = "is_empty")]
    erp_order_number: String,
}

impl From<&RecordRef> for RefJson {
    fn from(r: &RecordRef) -> Self {
        Self {
            system: r.system.clone(),
            object_type: r.object_type.clone(),
            id: r.id.clone(),
        }
    }
}
impl From<RefJson> for RecordRef {
    fn from(r: RefJson) -> Self {
        Self {
            system: r.system,
            object_type: r.object_type,
            id: r.id,
        }
    }
}
impl From<&Money> for MoneyJson {
    fn from(m: &Money) -> Self {
        Self {
            currency_code: m.currency_code.clone(),
            amount: m.amount.clone(),
        }
    }
}
impl From<MoneyJson> for Money {
    fn from(m: MoneyJson) -> Self {
        Self {
            currency_code: m.currency_code,
            amount: m.amount,
        }
    }
}
impl From<&Address> for AddressJson {
    fn from(a: &Address) -> Self {
        Self {
            addressee: a.addressee.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country_code: a.country_code.clone(),
        }
    }
}
impl From<AddressJson> for Address {
    fn from(a: AddressJson) -> Self {
        Self {
            addressee: a.addressee,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country_code: a.country_code,
        }
    }
}
impl From<&Account> for AccountJson {
    fn from(a: &Account) -> Self {
        Self {
            reference: a.r#ref.as_ref().map(Into::into),
            name: a.name.clone(),
            domain: a.domain.clone(),
            email: a.email.clone(),
            phone: a.phone.clone(),
            billing_address: a.billing_address.as_ref().map(Into::into),
            shipping_address: a.shipping_address.as_ref().map(Into::into),
            tax_id: a.tax_id.clone(),
        }
    }
}
impl From<AccountJson> for Account {
    fn from(a: AccountJson) -> Self {
        Self {
            r#ref: a.reference.map(Into::into),
            name: a.name,
            domain: a.domain,
            email: a.email,
            phone: a.phone,
            billing_address: a.billing_address.map(Into::into),
            shipping_address: a.shipping_address.map(Into::into),
            tax_id: a.tax_id,
        }
    }
}
impl From<&LineItem> for LineItemJson {
    fn from(l: &LineItem) -> Self {
        Self {
            reference: l.r#ref.as_ref().map(Into::into),
            sku: l.sku.clone(),
            name: l.name.clone(),
            quantity: l.quantity.clone(),
            unit_price: l.unit_price.as_ref().map(Into::into),
        }
    }
}
impl From<LineItemJson> for LineItem {
    fn from(l: LineItemJson) -> Self {
        Self {
            r#ref: l.reference.map(Into::into),
            sku: l.sku,
            name: l.name,
            quantity: l.quantity,
            unit_price: l.unit_price.map(Into::into),
        }
    }
}

/// The deal as proto3 JSON.
pub fn deal_to_json(deal: &Deal) -> serde_json::Value {
    let json = DealJson {
        reference: deal.r#ref.as_ref().map(Into::into),
        name: deal.name.clone(),
        stage: deal.stage.clone(),
        amount: deal.amount.as_ref().map(Into::into),
        account: deal.account.as_ref().map(Into::into),
        line_items: deal.line_items.iter().map(Into::into).collect(),
        shipping_address: deal.shipping_address.as_ref().map(Into::into),
        closed_at: deal
            .closed_at
            .as_ref()
            .and_then(timestamp_to_chrono)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        erp_order_number: deal.erp_order_number.clone(),
    };
    serde_json::to_value(json).unwrap_or_default()
}

/// Reads a deal from proto3 JSON.
pub fn deal_from_json(value: serde_json::Value) -> Result<Deal, DealJsonError> {
    let json: DealJson = serde_json::from_value(value).map_err(|e| DealJsonError(e.to_string()))?;
    let closed_at = json
        .closed_at
        .map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| timestamp_from(t.with_timezone(&Utc)))
                .map_err(|e| DealJsonError(format!("closedAt: {e}")))
        })
        .transpose()?;
    Ok(Deal {
        r#ref: json.reference.map(Into::into),
        name: json.name,
        stage: json.stage,
        amount: json.amount.map(Into::into),
        account: json.account.map(Into::into),
        line_items: json.line_items.into_iter().map(Into::into).collect(),
        shipping_address: json.shipping_address.map(Into::into),
        closed_at,
        erp_order_number: json.erp_order_number,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deal_round_trips_and_uses_camel_case() {
        let deal = Deal {
            r#ref: Some(RecordRef {
                system: "hubspot".into(),
                object_type: "deal".into(),
                id: "7".into(),
            }),
            name: "Big".into(),
            line_items: vec![LineItem {
                sku: "SKU-1".into(),
                quantity: "2".into(),
                unit_price: Some(Money {
                    currency_code: "EUR".into(),
                    amount: "10.00".into(),
                }),
                ..Default::default()
            }],
            shipping_address: Some(Address {
                country_code: "DE".into(),
                ..Default::default()
            }),
            closed_at: Some(timestamp_from(Utc::now())),
            ..Default::default()
        };
        let json = deal_to_json(&deal);
        assert_eq!(json["shippingAddress"]["countryCode"], "DE");
        assert_eq!(json["lineItems"][0]["unitPrice"]["amount"], "10.00");
        assert!(json.get("stage").is_none(), "defaults are omitted");
        let back = deal_from_json(json).expect("parses");
        assert_eq!(back.line_items, deal.line_items);
        assert_eq!(back.shipping_address, deal.shipping_address);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = deal_from_json(serde_json::json!({"shipping_address": {}}));
        assert!(err.is_err());
    }
}
