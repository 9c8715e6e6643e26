//! Pipedrive v2 records (deal, deal products, products, organization, person) ->
//! canonical [`Deal`].

use std::str::FromStr;

use chrono::DateTime;
use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

use super::SYSTEM;
use super::config::PipedriveConfig;
use crate::{ConnectorError, ErrorCategory, ErrorKind, decimal};

/// A field as text: strings as they are, numbers printed, null and absent empty.
pub(crate) fn text(record: &Value, field: &str) -> String {
    match record.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Maps a deal with its attached products (in order), their catalogue entries,
/// its organization and its person.
pub(crate) fn map_deal(
    config: &PipedriveConfig,
    deal: &Value,
    lines: &[Value],
    products: &[Value],
    org: Option<&Value>,
    person: Option<&Value>,
) -> Result<Deal, ConnectorError> {
    let currency = match text(deal, "currency") {
        c if c.is_empty() => config.deal_to_order.default_currency.clone(),
        c => c.to_ascii_uppercase(),
    };
    let amount = match text(deal, "value") {
        v if v.is_empty() => None,
        v => Some(Money {
            currency_code: currency.clone(),
            amount: decimal_field(&v, "value")?,
        }),
    };
    // A disabled product stays on the deal without counting in its value.
    let line_items = lines
        .iter()
        .filter(|line| line.get("is_enabled") != Some(&Value::Bool(false)))
        .map(|line| map_line(line, products, &currency))
        .collect::<Result<Vec<_>, _>>()?;
    let custom = deal.get("custom_fields").cloned().unwrap_or(Value::Null);
    Ok(Deal {
        r#ref: Some(record_ref("deal", &text(deal, "id"))),
        name: text(deal, "title"),
        stage: text(deal, "status"),
        amount,
        account: org.map(|o| map_account(o, person)),
        line_items,
        shipping_address: org.and_then(address),
        closed_at: DateTime::parse_from_rfc3339(&text(deal, "won_time"))
            .ok()
            .map(|t| crmerp_proto::timestamp_from(t.to_utc())),
        erp_order_number: text(&custom, &config.deal_to_order.write_back_field),
    })
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

fn map_account(org: &Value, person: Option<&Value>) -> Account {
    let first = |list: &str| {
        person
            .and_then(|p| p.get(list))
            .and_then(Value::as_array)
            .and_then(|items| {
                items
                    .iter()
                    .find(|i| i["primary"] == true)
                    .or_else(|| items.first())
            })
            .map(|i| text(i, "value"))
            .unwrap_or_default()
    };
    Account {
        r#ref: Some(record_ref("organization", &text(org, "id"))),
        name: text(org, "name"),
        email: first("emails"),
        phone: first("phones"),
        billing_address: address(org),
        ..Account::default()
    }
}

/// The SKU is the catalogue product's `code`.
fn map_line(line: &Value, products: &[Value], currency: &str) -> Result<LineItem, ConnectorError> {
    let product_id = text(line, "product_id");
    let product = products.iter().find(|p| text(p, "id") == product_id);
    let name = match text(line, "name") {
        n if n.is_empty() => product.map(|p| text(p, "name")).unwrap_or_default(),
        n => n,
    };
    let quantity = match text(line, "quantity") {
        q if q.is_empty() => String::new(),
        q => decimal_field(&q, "quantity")?,
    };
    let unit_price = net_unit_price(line, &quantity)?.map(|amount| Money {
        currency_code: currency.to_owned(),
        amount,
    });
    Ok(LineItem {
        r#ref: Some(record_ref("deal_product", &text(line, "id"))),
        sku: product.map(|p| text(p, "code")).unwrap_or_default(),
        name,
        quantity,
        unit_price,
    })
}

/// Decimal places of a net unit price (what ERPs keep for a unit price).
const UNIT_PRICE_DP: u32 = 4;

/// The unit price the customer pays for a deal product, before tax: `item_price`
/// less the line's `discount` (`discount_type` `percentage` of the line, or an
/// `amount` off the line), and for `tax_method` `inclusive` without the `tax`
/// percentage the price holds (the ERP adds its own tax; `exclusive` and `none`
/// prices hold none). Quantity times this price is the line's discounted net
/// total; when no price of four decimals gets within a cent of it, the line
/// cannot be ordered as it is and the deal says so.
fn net_unit_price(line: &Value, quantity: &str) -> Result<Option<String>, ConnectorError> {
    let price = match text(line, "item_price") {
        p if p.is_empty() => return Ok(None),
        p => decimal_value(&p, "item_price")?,
    };
    let Some(quantity) = Decimal::from_str(quantity)
        .ok()
        .filter(|q| *q > Decimal::ZERO)
    else {
        // No usable quantity: deal validation names it; the price stays as listed.
        return Ok(Some(price.normalize().to_string()));
    };
    let field = |name: &str| match text(line, name) {
        v if v.is_empty() => Ok(Decimal::ZERO),
        v => decimal_value(&v, name),
    };
    let discount = field("discount")?;
    let tax = field("tax")?;
    let gross = price * quantity;
    let hundred = Decimal::ONE_HUNDRED;
    let net = match text(line, "discount_type").as_str() {
        "" | "percentage" => gross * (hundred - discount) / hundred,
        "amount" => gross - discount,
        other => {
            return Err(line_error(
                line,
                format!("has an unknown discount_type {other:?}"),
                "fix_crm_field:discount_type",
            ));
        }
    };
    if net.is_sign_negative() || discount.is_sign_negative() {
        return Err(line_error(
            line,
            format!("has a discount of {discount} that exceeds its total {gross}"),
            "fix_line_item:discount",
        ));
    }
    let net = match text(line, "tax_method").as_str() {
        "inclusive" => net * hundred / (hundred + tax),
        "" | "exclusive" | "none" => net,
        other => {
            return Err(line_error(
                line,
                format!("has an unknown tax_method {other:?}"),
                "fix_crm_field:tax_method",
            ));
        }
    };
    let unit = (net / quantity)
        .round_dp_with_strategy(UNIT_PRICE_DP, RoundingStrategy::MidpointAwayFromZero);
    if (unit * quantity).round_dp(2) != net.round_dp(2) {
        return Err(line_error(
            line,
            format!(
                "has a discounted total of {} that no unit price of {UNIT_PRICE_DP} decimals gives for quantity {quantity}",
                net.round_dp(2)
            ),
            "fix_line_item:discount",
        ));
    }
    Ok(Some(unit.normalize().to_string()))
}

fn line_error(line: &Value, what: String, resolution: &str) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::Permanent,
        ErrorCategory::Validation,
        SYSTEM,
        &super::ENDPOINT_DEAL,
        format!(
            "deal product {} ({}) {what}",
            text(line, "id"),
            text(line, "name")
        ),
    )
    .with_resolution(resolution)
}

fn decimal_value(raw: &str, field: &str) -> Result<Decimal, ConnectorError> {
    let canonical = decimal_field(raw, field)?;
    Decimal::from_str(&canonical).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            &super::ENDPOINT_DEAL,
            format!("field `{field}` is out of range: {raw:?}"),
        )
        .with_resolution(format!("fix_crm_field:{field}"))
    })
}

/// The organization's address (v2: an object of Google-geocoded parts).
fn address(org: &Value) -> Option<Address> {
    let a = org.get("address").filter(|a| a.is_object())?;
    let street = [text(a, "route"), text(a, "street_number")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let country = text(a, "country");
    let address = Address {
        addressee: text(org, "name"),
        line1: if street.is_empty() {
            text(a, "value")
        } else {
            street
        },
        line2: text(a, "subpremise"),
        city: text(a, "locality"),
        region: text(a, "admin_area_level_1"),
        postal_code: text(a, "postal_code"),
        country_code: if country.len() == 2 {
            country.to_ascii_uppercase()
        } else {
            country
        },
    };
    (!address.line1.is_empty() || !address.city.is_empty()).then_some(address)
}

fn decimal_field(raw: &str, field: &str) -> Result<String, ConnectorError> {
    decimal::normalize(raw).ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            &super::ENDPOINT_DEAL,
            format!("field `{field}` is not a decimal number: {raw:?}"),
        )
        .with_resolution(format!("fix_crm_field:{field}"))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Shapes of the v2 API reference (GetDeal, GetDealProducts, GetOrganization, GetPerson).
    #[test]
    fn maps_a_v2_deal_with_products_organization_and_person() {
        let config = PipedriveConfig {
            deal_to_order: crate::pipedrive::DealToOrderFields {
                write_back_field: "8f4b27b0d9a1c2e3f4a5b6c7d8e9f0a1b2c3d4e5".into(),
                ..Default::default()
            },
            ..PipedriveConfig::default()
        };
        let deal = json!({"id": 42, "title": "Acme deal", "value": 249.5, "currency": "EUR", "status": "won",
            "won_time": "2026-11-20T10:00:00Z", "org_id": 7, "person_id": 9,
            "custom_fields": {"8f4b27b0d9a1c2e3f4a5b6c7d8e9f0a1b2c3d4e5": null}});
        let lines = vec![
            json!({"id": 1, "deal_id": 42, "product_id": 100, "name": "Widget", "item_price": 100, "quantity": 2, "sum": 200}),
            json!({"id": 2, "deal_id": 42, "product_id": 200, "item_price": 49.5, "quantity": 1, "sum": 49.5}),
        ];
        let products = vec![
            json!({"id": 100, "name": "Widget", "code": "SKU-100"}),
            json!({"id": 200, "name": "Gadget", "code": "SKU-200"}),
        ];
        let org = json!({"id": 7, "name": "Acme GmbH", "address": {"value": "Lagerstrasse 7, 20095 Hamburg, Germany", "route": "Lagerstrasse", "street_number": "7", "locality": "Hamburg", "postal_code": "20095", "country": "DE"}});
        let person = json!({"id": 9, "name": "Ann", "emails": [{"value": "ann@acme.example", "primary": true}], "phones": []});
        let mapped =
            map_deal(&config, &deal, &lines, &products, Some(&org), Some(&person)).expect("maps");
        assert_eq!(mapped.stage, "won");
        assert_eq!(mapped.amount.map(|m| m.amount), Some("249.5".to_owned()));
        let lines: Vec<_> = mapped
            .line_items
            .iter()
            .map(|l| (l.sku.as_str(), l.name.as_str(), l.quantity.as_str()))
            .collect();
        assert_eq!(
            lines,
            [("SKU-100", "Widget", "2"), ("SKU-200", "Gadget", "1")]
        );
        let ship = mapped.shipping_address.expect("address");
        assert_eq!(
            (
                ship.line1.as_str(),
                ship.city.as_str(),
                ship.country_code.as_str()
            ),
            ("Lagerstrasse 7", "Hamburg", "DE")
        );
        assert_eq!(
            mapped.account.map(|a| a.email),
            Some("ann@acme.example".to_owned())
        );
        assert!(mapped.erp_order_number.is_empty());
    }
}
