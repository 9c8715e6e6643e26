//! Salesforce records (Opportunity, Account, OpportunityLineItem, Product2) ->
//! canonical [`Deal`].

use chrono::NaiveDate;
use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use serde_json::Value;

use super::SYSTEM;
use super::config::DealToOrderFields;
use crate::{ConnectorError, ErrorCategory, ErrorKind, decimal};

/// Account fields read for the customer and its addresses.
pub(crate) const ACCOUNT_FIELDS: &str = "Id,Name,Website,Phone,BillingStreet,BillingCity,BillingState,BillingPostalCode,BillingCountry,ShippingStreet,ShippingCity,ShippingState,ShippingPostalCode,ShippingCountry";
/// Line-item fields read.
pub(crate) const LINE_FIELDS: &str = "Id,Product2Id,ProductCode,Name,Quantity,UnitPrice,SortOrder";
/// Product fields read.
pub(crate) const PRODUCT_FIELDS: &str = "Id,Name,ProductCode";

/// Opportunity fields to request: only what the mapping reads.
pub(crate) fn opportunity_fields(config: &DealToOrderFields) -> String {
    let mut fields = vec![
        "Id",
        "Name",
        "StageName",
        "Amount",
        "CloseDate",
        "AccountId",
        config.write_back_field.as_str(),
    ];
    if !config.currency_field.is_empty() {
        fields.push(config.currency_field.as_str());
    }
    fields.dedup();
    fields.join(",")
}

/// A field as text: strings as they are, numbers and booleans printed, null empty.
pub(crate) fn text(record: &Value, field: &str) -> String {
    match record.get(field) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Maps the opportunity, its account, its line items (in `SortOrder`) and their products.
pub(crate) fn map_deal(
    config: &DealToOrderFields,
    opportunity: &Value,
    account: Option<&Value>,
    lines: &[Value],
    products: &[Value],
) -> Result<Deal, ConnectorError> {
    let currency = match config.currency_field.as_str() {
        "" => config.default_currency.clone(),
        field => match text(opportunity, field) {
            c if c.is_empty() => config.default_currency.clone(),
            c => c.to_ascii_uppercase(),
        },
    };
    let amount = match text(opportunity, "Amount") {
        a if a.is_empty() => None,
        a => Some(Money {
            currency_code: currency.clone(),
            amount: decimal_field(&a, "Amount")?,
        }),
    };
    let mut ordered: Vec<&Value> = lines.iter().collect();
    ordered.sort_by_key(|l| {
        l.get("SortOrder")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX)
    });
    let line_items = ordered
        .into_iter()
        .map(|line| map_line(line, products, &currency))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Deal {
        r#ref: Some(record_ref("deal", &text(opportunity, "Id"))),
        name: text(opportunity, "Name"),
        stage: text(opportunity, "StageName"),
        amount,
        account: account.map(map_account),
        line_items,
        shipping_address: account
            .and_then(|a| address(a, "Shipping").or_else(|| address(a, "Billing"))),
        closed_at: NaiveDate::parse_from_str(&text(opportunity, "CloseDate"), "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| crmerp_proto::timestamp_from(d.and_utc())),
        erp_order_number: text(opportunity, &config.write_back_field),
    })
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

fn map_account(account: &Value) -> Account {
    let website = text(account, "Website");
    let domain = website
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_start_matches("www.")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    Account {
        r#ref: Some(record_ref("account", &text(account, "Id"))),
        name: text(account, "Name"),
        domain,
        phone: text(account, "Phone"),
        billing_address: address(account, "Billing"),
        ..Account::default()
    }
}

/// The SKU is the product's `ProductCode` (the line's copy when the product is unreadable).
fn map_line(line: &Value, products: &[Value], currency: &str) -> Result<LineItem, ConnectorError> {
    let product_id = text(line, "Product2Id");
    let product = products.iter().find(|p| text(p, "Id") == product_id);
    let sku = product
        .map(|p| text(p, "ProductCode"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| text(line, "ProductCode"));
    let name = product
        .map(|p| text(p, "Name"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| text(line, "Name"));
    let quantity = match text(line, "Quantity") {
        q if q.is_empty() => String::new(),
        q => decimal_field(&q, "Quantity")?,
    };
    let unit_price = match text(line, "UnitPrice") {
        p if p.is_empty() => None,
        p => Some(Money {
            currency_code: currency.to_owned(),
            amount: decimal_field(&p, "UnitPrice")?,
        }),
    };
    Ok(LineItem {
        r#ref: Some(record_ref("opportunity_line_item", &text(line, "Id"))),
        sku,
        name,
        quantity,
        unit_price,
    })
}

/// `<prefix>Street` (two lines split on the first newline), City, State, PostalCode, Country.
fn address(account: &Value, prefix: &str) -> Option<Address> {
    let field = |name: &str| text(account, &format!("{prefix}{name}"));
    let street = field("Street");
    let (line1, line2) = match street.split_once('\n') {
        Some((a, b)) => (a.trim().to_owned(), b.trim().to_owned()),
        None => (street.clone(), String::new()),
    };
    let country = field("Country");
    let address = Address {
        addressee: text(account, "Name"),
        line1,
        line2,
        city: field("City"),
        region: field("State"),
        postal_code: field("PostalCode"),
        country_code: if country.len() == 2 {
            country.to_ascii_uppercase()
        } else {
            country
        },
    };
    let located = [
        &address.line1,
        &address.city,
        &address.postal_code,
        &address.country_code,
    ]
    .iter()
    .any(|f| !f.is_empty());
    located.then_some(address)
}

fn decimal_field(raw: &str, field: &str) -> Result<String, ConnectorError> {
    decimal::normalize(raw).ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            &super::ENDPOINT_COMPOSITE,
            format!("field `{field}` is not a decimal number: {raw:?}"),
        )
        .with_resolution(format!("fix_crm_field:{field}"))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Shapes as the REST API returns them (developer guide "Get Field Values from a
    /// Standard Object Record" and "Get Records Using sObject Relationships").
    #[test]
    fn maps_an_opportunity_with_account_lines_and_products() {
        let config = DealToOrderFields {
            currency_field: "CurrencyIsoCode".into(),
            ..DealToOrderFields::default()
        };
        let opp = json!({
            "attributes": {"type": "Opportunity", "url": "/services/data/v62.0/sobjects/Opportunity/006xx000001a2b3AAA"},
            "Id": "006xx000001a2b3AAA", "Name": "Acme - 200 Widgets", "StageName": "Closed Won",
            "Amount": 249.5, "CloseDate": "2026-11-20", "AccountId": "001xx000003DGb2AAG",
            "CurrencyIsoCode": "eur", "ERP_Order_Number__c": null
        });
        let account = json!({
            "attributes": {"type": "Account"}, "Id": "001xx000003DGb2AAG", "Name": "Acme GmbH",
            "Website": "https://www.acme.example/", "Phone": "+49 30 1234",
            "BillingStreet": "Friedrichstrasse 1", "BillingCity": "Berlin", "BillingPostalCode": "10117", "BillingCountry": "DE",
            "ShippingStreet": "Lagerstrasse 7\nTor 3", "ShippingCity": "Hamburg", "ShippingPostalCode": "20095", "ShippingCountry": "de"
        });
        let lines = vec![
            json!({"Id": "00kxx0000002", "Product2Id": "01txx0000002", "ProductCode": "SKU-200", "Quantity": 1.0, "UnitPrice": 49.5, "SortOrder": 2}),
            json!({"Id": "00kxx0000001", "Product2Id": "01txx0000001", "ProductCode": "OLD", "Quantity": 2.0, "UnitPrice": 100.0, "SortOrder": 1}),
        ];
        let products = vec![
            json!({"Id": "01txx0000001", "Name": "Widget", "ProductCode": "SKU-100"}),
            json!({"Id": "01txx0000002", "Name": "Gadget", "ProductCode": "SKU-200"}),
        ];
        let deal = map_deal(&config, &opp, Some(&account), &lines, &products).expect("maps");
        assert_eq!(
            deal.r#ref.as_ref().map(|r| r.id.as_str()),
            Some("006xx000001a2b3AAA")
        );
        assert_eq!(deal.stage, "Closed Won");
        let amount = deal.amount.expect("amount");
        assert_eq!(
            (amount.currency_code.as_str(), amount.amount.as_str()),
            ("EUR", "249.5")
        );
        let skus: Vec<_> = deal
            .line_items
            .iter()
            .map(|l| (l.sku.as_str(), l.name.as_str(), l.quantity.as_str()))
            .collect();
        assert_eq!(
            skus,
            vec![("SKU-100", "Widget", "2"), ("SKU-200", "Gadget", "1")]
        );
        let ship = deal.shipping_address.expect("shipping");
        assert_eq!(
            (
                ship.line1.as_str(),
                ship.line2.as_str(),
                ship.city.as_str(),
                ship.country_code.as_str()
            ),
            ("Lagerstrasse 7", "Tor 3", "Hamburg", "DE")
        );
        let account = deal.account.expect("account");
        assert_eq!(account.domain, "acme.example");
        assert_eq!(
            account.billing_address.map(|a| a.city),
            Some("Berlin".to_owned())
        );
        assert!(deal.closed_at.is_some());
    }

    #[test]
    fn bad_numbers_name_the_field() {
        let opp = json!({"Id": "006", "Amount": "lots"});
        let err =
            map_deal(&DealToOrderFields::default(), &opp, None, &[], &[]).expect_err("rejected");
        assert_eq!(err.resolution.as_deref(), Some("fix_crm_field:Amount"));
    }
}
