//! HubSpot records -> canonical [`Deal`].

use chrono::DateTime;
use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};

use super::config::{DealToOrderFields, ShippingSource};
use super::model::{AssociatedObject, CrmObject};
use super::{ENDPOINT_DEAL, ENDPOINT_LINE_ITEMS, SYSTEM};
use crate::{ConnectorError, ErrorCategory, ErrorKind, decimal};

/// HubSpot's default line-item SKU property, read when the configured one is blank.
const HS_SKU: &str = "hs_sku";
/// Company properties read for the account and its address.
pub(crate) const COMPANY_PROPERTIES: &str =
    "name,domain,phone,address,address2,city,state,zip,country";
/// HUBSPOT_DEFINED association type of a deal's primary company.
const PRIMARY_COMPANY_TYPE: i64 = 5;

/// Deal properties to request: only what the mapping reads.
pub(crate) fn deal_properties(config: &DealToOrderFields) -> String {
    let mut props = vec![
        "dealname",
        "dealstage",
        "amount",
        "closedate",
        config.currency_property.as_str(),
        config.write_back_property.as_str(),
    ];
    if config.shipping != ShippingSource::Company {
        props.extend(config.shipping_properties.all());
    }
    dedup(props).join(",")
}

/// Line-item properties to request.
pub(crate) fn line_item_properties(config: &DealToOrderFields) -> Vec<String> {
    dedup(vec![
        "name",
        "quantity",
        "price",
        HS_SKU,
        config.sku_property.as_str(),
    ])
}

fn dedup(props: Vec<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(props.len());
    for p in props {
        if !out.iter().any(|o| o == p) {
            out.push(p.to_owned());
        }
    }
    out
}

/// The deal's primary company (association type 5), else the first associated one.
pub(crate) fn primary_company(companies: &[AssociatedObject]) -> Option<&str> {
    let is_primary = |c: &&AssociatedObject| {
        c.association_types.iter().any(|t| {
            t.type_id == Some(PRIMARY_COMPANY_TYPE)
                && t.category
                    .as_deref()
                    .is_none_or(|cat| cat == "HUBSPOT_DEFINED")
        })
    };
    companies
        .iter()
        .find(is_primary)
        .or_else(|| companies.first())
        .map(|c| c.to_object_id.as_str())
}

/// The deal's own currency (upper case), when it names one.
pub(crate) fn deal_currency(config: &DealToOrderFields, deal: &CrmObject) -> Option<String> {
    Some(
        deal.prop(&config.currency_property)
            .trim()
            .to_ascii_uppercase(),
    )
    .filter(|c| !c.is_empty())
}

/// Maps a deal, its line items (already in display order) and its company;
/// `fallback_currency` applies when the deal names none.
pub(crate) fn map_deal(
    config: &DealToOrderFields,
    deal: &CrmObject,
    line_items: &[CrmObject],
    company: Option<&CrmObject>,
    fallback_currency: &str,
) -> Result<Deal, ConnectorError> {
    let currency = deal_currency(config, deal).unwrap_or_else(|| fallback_currency.to_owned());
    let amount = match deal.prop("amount") {
        a if a.is_empty() => None,
        a => Some(Money {
            currency_code: currency.clone(),
            amount: decimal_field(&a, "amount", &ENDPOINT_DEAL)?,
        }),
    };
    let account = company.map(map_account);
    let company_address = company.and_then(company_address);
    let deal_address = deal_address(config, deal, company);
    let shipping_address = match config.shipping {
        ShippingSource::Deal => deal_address,
        ShippingSource::Company => company_address,
        ShippingSource::DealThenCompany => deal_address.or(company_address),
    };
    let line_items = line_items
        .iter()
        .map(|item| map_line_item(config, item, &currency))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Deal {
        r#ref: Some(record_ref("deal", &deal.id)),
        name: deal.prop("dealname"),
        stage: deal.prop("dealstage"),
        amount,
        account,
        line_items,
        shipping_address,
        closed_at: parse_timestamp(&deal.prop("closedate")),
        erp_order_number: deal.prop(&config.write_back_property),
    })
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

fn map_account(company: &CrmObject) -> Account {
    Account {
        r#ref: Some(record_ref("company", &company.id)),
        name: company.prop("name"),
        domain: company.prop("domain"),
        phone: company.prop("phone"),
        billing_address: company_address(company),
        ..Account::default()
    }
}

fn map_line_item(
    config: &DealToOrderFields,
    item: &CrmObject,
    currency: &str,
) -> Result<LineItem, ConnectorError> {
    let sku = match item.prop(&config.sku_property) {
        s if s.is_empty() => item.prop(HS_SKU),
        s => s,
    };
    let quantity = match item.prop("quantity") {
        q if q.is_empty() => String::new(),
        q => decimal_field(&q, "quantity", &ENDPOINT_LINE_ITEMS)?,
    };
    let unit_price = match item.prop("price") {
        p if p.is_empty() => None,
        p => Some(Money {
            currency_code: currency.to_owned(),
            amount: decimal_field(&p, "price", &ENDPOINT_LINE_ITEMS)?,
        }),
    };
    Ok(LineItem {
        r#ref: Some(record_ref("line_item", &item.id)),
        sku,
        name: item.prop("name"),
        quantity,
        unit_price,
    })
}

/// The deal's own shipping address, when any street, city, region, zip or
/// country property is set; the addressee falls back to the company name.
fn deal_address(
    config: &DealToOrderFields,
    deal: &CrmObject,
    company: Option<&CrmObject>,
) -> Option<Address> {
    let p = &config.shipping_properties;
    let mut address = Address {
        addressee: deal.prop(&p.addressee),
        line1: deal.prop(&p.street),
        line2: deal.prop(&p.street2),
        city: deal.prop(&p.city),
        region: deal.prop(&p.state),
        postal_code: deal.prop(&p.zip),
        country_code: country_code(&deal.prop(&p.country)),
    };
    if !has_location(&address) {
        return None;
    }
    if address.addressee.is_empty() {
        address.addressee = company.map(|c| c.prop("name")).unwrap_or_default();
    }
    Some(address)
}

/// The company's address, addressed to the company, when it has a location.
fn company_address(company: &CrmObject) -> Option<Address> {
    let address = Address {
        addressee: company.prop("name"),
        line1: company.prop("address"),
        line2: company.prop("address2"),
        city: company.prop("city"),
        region: company.prop("state"),
        postal_code: company.prop("zip"),
        country_code: country_code(&company.prop("country")),
    };
    has_location(&address).then_some(address)
}

fn has_location(a: &Address) -> bool {
    [
        &a.line1,
        &a.line2,
        &a.city,
        &a.region,
        &a.postal_code,
        &a.country_code,
    ]
    .iter()
    .any(|f| !f.is_empty())
}

/// Two-letter codes are upper-cased; anything else (HubSpot's country is free
/// text) is kept for the flow's validation to reject or an operator to fix.
fn country_code(raw: &str) -> String {
    if raw.len() == 2 && raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        raw.to_ascii_uppercase()
    } else {
        raw.to_owned()
    }
}

fn decimal_field(raw: &str, property: &str, endpoint: &str) -> Result<String, ConnectorError> {
    decimal::normalize(raw).ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            endpoint,
            format!("property `{property}` is not a decimal number: {raw:?}"),
        )
        .with_resolution(format!("fix_crm_field:{property}"))
    })
}

/// HubSpot datetimes are ISO 8601; older payloads use epoch milliseconds.
fn parse_timestamp(raw: &str) -> Option<crmerp_proto::Timestamp> {
    if raw.is_empty() {
        return None;
    }
    let time = DateTime::parse_from_rfc3339(raw)
        .map(|t| t.to_utc())
        .ok()
        .or_else(|| {
            raw.parse::<i64>()
                .ok()
                .and_then(DateTime::from_timestamp_millis)
        })?;
    Some(crmerp_proto::timestamp_from(time))
}

#[cfg(test)]
mod tests;
