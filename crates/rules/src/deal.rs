//! Checks that a hydrated deal can become an order, naming what to fix.
//!
//! Deal-to-order applies it before creating an order; monitoring applies it to
//! an operator's correction before requeueing.

use crmerp_proto::{Address, Deal};
use rust_decimal::Decimal;

/// A deal that cannot become an order as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({resolution})")]
pub struct Invalid {
    /// What is wrong, in words a salesperson understands.
    pub reason: String,
    /// Recommended resolution code, e.g. `add_missing_field:shipping_address`.
    pub resolution: String,
}

impl Invalid {
    fn new(reason: impl Into<String>, resolution: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            resolution: resolution.into(),
        }
    }
}

/// Checks line items, account, shipping address and minimum order value.
pub fn validate_deal(deal: &Deal, min_order_value: Decimal) -> Result<(), Invalid> {
    if deal.account.is_none() {
        return Err(Invalid::new(
            "The deal has no associated company to bill.",
            "add_missing_field:company",
        ));
    }
    if deal.line_items.is_empty() {
        return Err(Invalid::new(
            "The deal has no line items.",
            "add_missing_field:line_items",
        ));
    }
    let mut total = Decimal::ZERO;
    for line in &deal.line_items {
        if line.sku.trim().is_empty() {
            return Err(Invalid::new(
                format!("Line item \"{}\" has no SKU.", line.name),
                "add_missing_field:sku",
            ));
        }
        let quantity = parse_positive(&line.quantity).ok_or_else(|| {
            Invalid::new(
                format!(
                    "Line item \"{}\" has an invalid quantity \"{}\".",
                    line.name, line.quantity
                ),
                "fix_line_item:quantity",
            )
        })?;
        let price = line
            .unit_price
            .as_ref()
            .and_then(|p| p.amount.parse::<Decimal>().ok())
            .filter(|p| !p.is_sign_negative())
            .ok_or_else(|| {
                Invalid::new(
                    format!("Line item \"{}\" has no valid price.", line.name),
                    "fix_line_item:price",
                )
            })?;
        total += quantity * price;
    }
    match &deal.shipping_address {
        Some(address) if is_complete(address) => {}
        Some(_) => {
            return Err(Invalid::new(
                "The shipping address needs a street, a city and a country.",
                "fix_address_format",
            ));
        }
        None => {
            return Err(Invalid::new(
                "The deal has no shipping address (neither on the deal nor on its company).",
                "add_missing_field:shipping_address",
            ));
        }
    }
    if total < min_order_value {
        return Err(Invalid::new(
            format!("The order value {total} is below the minimum of {min_order_value}."),
            "raise_order_value",
        ));
    }
    Ok(())
}

fn parse_positive(text: &str) -> Option<Decimal> {
    text.trim()
        .parse::<Decimal>()
        .ok()
        .filter(|q| *q > Decimal::ZERO)
}

fn is_complete(address: &Address) -> bool {
    [&address.line1, &address.city, &address.country_code]
        .iter()
        .all(|field| !field.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crmerp_proto::{Account, LineItem, Money};

    fn deal() -> Deal {
        Deal {
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
                    amount: "10.50".into(),
                }),
                ..Default::default()
            }],
            shipping_address: Some(Address {
                line1: "1 Main St".into(),
                city: "Berlin".into(),
                country_code: "DE".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_deal_passes() {
        assert_eq!(validate_deal(&deal(), Decimal::ZERO), Ok(()));
    }

    #[test]
    fn missing_shipping_address_names_the_field() {
        let mut d = deal();
        d.shipping_address = None;
        let err = validate_deal(&d, Decimal::ZERO).unwrap_err();
        assert_eq!(err.resolution, "add_missing_field:shipping_address");
    }

    #[test]
    fn incomplete_address_asks_for_format_fix() {
        let mut d = deal();
        if let Some(a) = d.shipping_address.as_mut() {
            a.city.clear();
        }
        assert_eq!(
            validate_deal(&d, Decimal::ZERO).unwrap_err().resolution,
            "fix_address_format"
        );
    }

    #[test]
    fn no_lines_no_company_no_sku_bad_quantity() {
        let mut d = deal();
        d.line_items.clear();
        assert_eq!(
            validate_deal(&d, Decimal::ZERO).unwrap_err().resolution,
            "add_missing_field:line_items"
        );
        let mut d = deal();
        d.account = None;
        assert_eq!(
            validate_deal(&d, Decimal::ZERO).unwrap_err().resolution,
            "add_missing_field:company"
        );
        let mut d = deal();
        d.line_items[0].sku.clear();
        assert_eq!(
            validate_deal(&d, Decimal::ZERO).unwrap_err().resolution,
            "add_missing_field:sku"
        );
        let mut d = deal();
        d.line_items[0].quantity = "0".into();
        assert_eq!(
            validate_deal(&d, Decimal::ZERO).unwrap_err().resolution,
            "fix_line_item:quantity"
        );
    }

    #[test]
    fn minimum_order_value_is_enforced_on_the_line_total() {
        // 2 x 10.50 = 21.00
        assert!(validate_deal(&deal(), Decimal::new(2100, 2)).is_ok());
        assert_eq!(
            validate_deal(&deal(), Decimal::new(2101, 2))
                .unwrap_err()
                .resolution,
            "raise_order_value"
        );
    }
}
