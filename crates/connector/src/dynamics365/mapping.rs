//! Dataverse rows (opportunity, account, opportunityproduct, product) ->
//! canonical [`Deal`], and Dataverse error bodies -> [`ConnectorError`].

use chrono::DateTime;
use crmerp_proto::{Account, Address, Deal, LineItem, Money, RecordRef};
use serde::Deserialize;
use serde_json::Value;

use super::SYSTEM;
use crate::http_client::{VendorResponse, classify_status};
use crate::{ConnectorError, ErrorCategory, ErrorKind, decimal};

/// Account columns read.
pub(crate) const ACCOUNT_SELECT: &str = "accountid,name,websiteurl,telephone1,emailaddress1,address1_line1,address1_line2,address1_city,address1_stateorprovince,address1_postalcode,address1_country,address2_line1,address2_line2,address2_city,address2_stateorprovince,address2_postalcode,address2_country";
/// Opportunity-product columns read.
pub(crate) const LINE_SELECT: &str =
    "opportunityproductid,_productid_value,productdescription,quantity,priceperunit,sequencenumber";

/// A column as text.
pub(crate) fn text(row: &Value, column: &str) -> String {
    match row.get(column) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Maps the opportunity, its account, its products (in `sequencenumber`) and their catalogue rows.
pub(crate) fn map_deal(
    write_back: &str,
    currency: &str,
    opp: &Value,
    account: Option<&Value>,
    lines: &[Value],
    products: &[Value],
) -> Result<Deal, ConnectorError> {
    let money = |raw: String, column: &str| -> Result<Option<Money>, ConnectorError> {
        if raw.is_empty() {
            return Ok(None);
        }
        Ok(Some(Money {
            currency_code: currency.to_owned(),
            amount: decimal_field(&raw, column)?,
        }))
    };
    let amount = match money(text(opp, "totalamount"), "totalamount")? {
        Some(m) => Some(m),
        None => money(text(opp, "estimatedvalue"), "estimatedvalue")?,
    };
    let mut ordered: Vec<&Value> = lines.iter().collect();
    ordered.sort_by_key(|l| {
        l.get("sequencenumber")
            .and_then(Value::as_i64)
            .unwrap_or(i64::MAX)
    });
    let line_items = ordered
        .into_iter()
        .map(|line| {
            let product = products
                .iter()
                .find(|p| text(p, "productid") == text(line, "_productid_value"));
            let quantity = match text(line, "quantity") {
                q if q.is_empty() => String::new(),
                q => decimal_field(&q, "quantity")?,
            };
            Ok(LineItem {
                r#ref: Some(record_ref(
                    "opportunityproduct",
                    &text(line, "opportunityproductid"),
                )),
                sku: product
                    .map(|p| text(p, "productnumber"))
                    .unwrap_or_default(),
                name: product
                    .map(|p| text(p, "name"))
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| text(line, "productdescription")),
                quantity,
                unit_price: money(text(line, "priceperunit"), "priceperunit")?,
            })
        })
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    Ok(Deal {
        r#ref: Some(record_ref("deal", &text(opp, "opportunityid"))),
        name: text(opp, "name"),
        stage: match opp.get("statecode").and_then(Value::as_i64) {
            Some(1) => "won".into(),
            Some(2) => "lost".into(),
            _ => "open".into(),
        },
        amount,
        account: account.map(|a| Account {
            r#ref: Some(record_ref("account", &text(a, "accountid"))),
            name: text(a, "name"),
            domain: text(a, "websiteurl")
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_start_matches("www.")
                .trim_end_matches('/')
                .to_owned(),
            email: text(a, "emailaddress1"),
            phone: text(a, "telephone1"),
            billing_address: address(a, "address1"),
            ..Account::default()
        }),
        line_items,
        shipping_address: account
            .and_then(|a| address(a, "address2").or_else(|| address(a, "address1"))),
        closed_at: DateTime::parse_from_rfc3339(&text(opp, "actualclosedate"))
            .ok()
            .map(|t| crmerp_proto::timestamp_from(t.to_utc())),
        erp_order_number: text(opp, write_back),
    })
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

fn address(account: &Value, prefix: &str) -> Option<Address> {
    let col = |name: &str| text(account, &format!("{prefix}_{name}"));
    let country = col("country");
    let address = Address {
        addressee: text(account, "name"),
        line1: col("line1"),
        line2: col("line2"),
        city: col("city"),
        region: col("stateorprovince"),
        postal_code: col("postalcode"),
        country_code: if country.len() == 2 {
            country.to_ascii_uppercase()
        } else {
            country
        },
    };
    (!address.line1.is_empty() || !address.city.is_empty()).then_some(address)
}

fn decimal_field(raw: &str, column: &str) -> Result<String, ConnectorError> {
    decimal::normalize(raw).ok_or_else(|| {
        ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            super::ENDPOINT_OPPORTUNITY.label(),
            format!("column `{column}` is not a decimal number: {raw:?}"),
        )
        .with_resolution(format!("fix_crm_field:{column}"))
    })
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Classifies a non-2xx Dataverse answer by status, then by its error code.
pub(crate) fn classify(
    endpoint: &str,
    response: &VendorResponse,
    now: chrono::DateTime<chrono::Utc>,
) -> ConnectorError {
    let mut err = classify_status(SYSTEM, endpoint, response, now);
    let Ok(body) = serde_json::from_slice::<ErrorBody>(&response.body) else {
        return err;
    };
    match body.error.code.as_str() {
        // Object does not exist; 412 answers a PATCH with If-Match: * on a missing row.
        "0x80040217" => (err.kind, err.category) = (ErrorKind::Permanent, ErrorCategory::NotFound),
        // Privilege checks: the application user lacks a security role.
        "0x80040220" | "0x80042f09" => {
            (err.kind, err.category) = (ErrorKind::Auth, ErrorCategory::Unauthorized);
            err.resolution = Some("grant_crm_permissions".into());
        }
        // Service protection limits (also 429 with Retry-After).
        "0x80072322" | "0x80072321" | "0x80072326" => {
            (err.kind, err.category) = (ErrorKind::Transient, ErrorCategory::RateLimited)
        }
        _ => {}
    }
    if response.status.as_u16() == 412 {
        (err.kind, err.category) = (ErrorKind::Permanent, ErrorCategory::NotFound);
    }
    if err.kind == ErrorKind::Auth && err.resolution.is_none() {
        err.resolution = Some("check_crm_credentials".into());
    }
    if !body.error.message.is_empty() {
        let short: String = body.error.message.chars().take(300).collect();
        err.message = format!("{}: {} {short}", err.message, body.error.code);
    }
    err
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use serde_json::json;

    use super::*;

    fn response(status: u16, body: &str) -> VendorResponse {
        VendorResponse {
            status: StatusCode::from_u16(status).expect("status"),
            headers: HeaderMap::new(),
            body: Bytes::from(body.to_owned()),
            truncated: false,
        }
    }

    #[test]
    fn documented_errors_are_classified() {
        // "Web API error codes" / "Service protection API limits" shapes.
        let err = classify(
            "GET /x",
            &response(
                404,
                r#"{"error":{"code":"0x80040217","message":"opportunity With Id = 00000000-0000-0000-0000-000000000001 Does Not Exist"}}"#,
            ),
            chrono::Utc::now(),
        );
        assert_eq!(err.category, ErrorCategory::NotFound);
        let err = classify(
            "GET /x",
            &response(
                429,
                r#"{"error":{"code":"0x80072322","message":"Number of requests exceeded the limit of 6000 over time window of 300 seconds."}}"#,
            ),
            chrono::Utc::now(),
        );
        assert!(err.is_transient());
        let err = classify(
            "GET /x",
            &response(
                403,
                r#"{"error":{"code":"0x80040220","message":"Principal user is missing prvReadOpportunity privilege"}}"#,
            ),
            chrono::Utc::now(),
        );
        assert_eq!(err.resolution.as_deref(), Some("grant_crm_permissions"));
    }

    #[test]
    fn maps_rows_with_formatted_lookups() {
        let opp = json!({"opportunityid": "o1", "name": "Big", "statecode": 1, "totalamount": 249.5, "new_erpordernumber": null, "actualclosedate": "2026-11-20T00:00:00Z"});
        let account = json!({"accountid": "a1", "name": "Acme", "address1_line1": "Friedrichstrasse 1", "address1_city": "Berlin", "address2_line1": "Lagerstrasse 7", "address2_city": "Hamburg", "address2_country": "de"});
        let lines = vec![
            json!({"opportunityproductid": "l2", "_productid_value": "p2", "quantity": 1, "priceperunit": 49.5, "sequencenumber": 2}),
            json!({"opportunityproductid": "l1", "_productid_value": "p1", "quantity": 2, "priceperunit": 100, "sequencenumber": 1}),
        ];
        let products = vec![
            json!({"productid": "p1", "name": "Widget", "productnumber": "SKU-100"}),
            json!({"productid": "p2", "name": "Gadget", "productnumber": "SKU-200"}),
        ];
        let deal = map_deal(
            "new_erpordernumber",
            "EUR",
            &opp,
            Some(&account),
            &lines,
            &products,
        )
        .expect("maps");
        assert_eq!(deal.stage, "won");
        let skus: Vec<_> = deal.line_items.iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(skus, ["SKU-100", "SKU-200"]);
        assert_eq!(
            deal.shipping_address.map(|a| (a.city, a.country_code)),
            Some(("Hamburg".into(), "DE".into()))
        );
    }
}
