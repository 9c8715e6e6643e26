//! Hydration reads: the opportunity, its line items and its account in one
//! composite request, further line-item pages, and the products through sObject
//! Collections.

use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ENDPOINT_COMPOSITE, ENDPOINT_NEXT_LINES, ENDPOINT_PRODUCTS, MAX_PAGES, PRODUCT_CHUNK, SYSTEM,
    SalesforceCrm, check_id, errors, mapping,
};
use crate::http_client::{VendorResponse, classify_status, protocol_error};
use crate::{CallLog, ConnectorError};

#[derive(Deserialize)]
struct CompositeResponse {
    #[serde(rename = "compositeResponse")]
    responses: Vec<SubResponse>,
}

#[derive(Deserialize)]
struct SubResponse {
    #[serde(default)]
    body: Value,
    #[serde(rename = "httpStatusCode")]
    status: u16,
    #[serde(rename = "referenceId")]
    reference: String,
}

#[derive(Deserialize)]
pub(super) struct QueryPage {
    #[serde(default)]
    records: Vec<Value>,
    #[serde(rename = "nextRecordsUrl")]
    next: Option<String>,
}

impl SalesforceCrm {
    /// Opportunity, line items and account in one composite round trip.
    pub(super) async fn read_opportunity(
        &self,
        calls: &CallLog,
        id: &str,
    ) -> Result<(Value, Option<Value>, QueryPage), ConnectorError> {
        let api = self.api();
        let opp_fields = mapping::opportunity_fields(&self.config.deal_to_order);
        let body = json!({
            "allOrNone": false,
            "compositeRequest": [
                {"method": "GET", "referenceId": "opp",
                 "url": format!("{api}/sobjects/Opportunity/{id}?fields={opp_fields}")},
                {"method": "GET", "referenceId": "lines",
                 "url": format!("{api}/sobjects/Opportunity/{id}/OpportunityLineItems?fields={}", mapping::LINE_FIELDS)},
                {"method": "GET", "referenceId": "acct",
                 "url": format!("{api}/sobjects/Account/@{{opp.AccountId}}?fields={}", mapping::ACCOUNT_FIELDS)},
            ],
        });
        let path = format!("{api}/composite");
        let composite: CompositeResponse = self
            .call(calls, &ENDPOINT_COMPOSITE, &path, Some(&body))
            .await?
            .json(SYSTEM, &ENDPOINT_COMPOSITE)?;
        let part = |name: &str| composite.responses.iter().find(|r| r.reference == name);
        let opp = match part("opp") {
            Some(r) if (200..300).contains(&r.status) => r.body.clone(),
            Some(r) => return Err(sub_error(r)),
            None => {
                return Err(protocol_error(
                    SYSTEM,
                    &ENDPOINT_COMPOSITE,
                    "no opp sub-response",
                ));
            }
        };
        let lines = match part("lines") {
            Some(r) if (200..300).contains(&r.status) => serde_json::from_value(r.body.clone())
                .map_err(|e| protocol_error(SYSTEM, &ENDPOINT_COMPOSITE, e.to_string()))?,
            // Salesforce answers a child relationship without rows as not found.
            Some(r) if r.status == 404 => QueryPage {
                records: Vec::new(),
                next: None,
            },
            Some(r) => return Err(sub_error(r)),
            None => {
                return Err(protocol_error(
                    SYSTEM,
                    &ENDPOINT_COMPOSITE,
                    "no lines sub-response",
                ));
            }
        };
        let has_account = !mapping::text(&opp, "AccountId").is_empty();
        let account = match part("acct") {
            _ if !has_account => None,
            Some(r) if (200..300).contains(&r.status) => Some(r.body.clone()),
            Some(r) => return Err(sub_error(r)),
            None => {
                return Err(protocol_error(
                    SYSTEM,
                    &ENDPOINT_COMPOSITE,
                    "no acct sub-response",
                ));
            }
        };
        Ok((opp, account, lines))
    }

    /// Every line item, following `nextRecordsUrl`.
    pub(super) async fn all_lines(
        &self,
        calls: &CallLog,
        first: QueryPage,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut records = first.records;
        let mut next = first.next;
        for _ in 0..MAX_PAGES {
            let Some(url) = next.take() else {
                return Ok(records);
            };
            if !url.starts_with("/services/data/") {
                return Err(protocol_error(
                    SYSTEM,
                    &ENDPOINT_NEXT_LINES,
                    format!("unexpected nextRecordsUrl {url:?}"),
                ));
            }
            let page: QueryPage = self
                .call(calls, &ENDPOINT_NEXT_LINES, &url, None)
                .await?
                .json(SYSTEM, &ENDPOINT_NEXT_LINES)?;
            records.extend(page.records);
            next = page.next;
        }
        Err(protocol_error(
            SYSTEM,
            &ENDPOINT_NEXT_LINES,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// The products of the lines, through sObject Collections.
    pub(super) async fn products(
        &self,
        calls: &CallLog,
        lines: &[Value],
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut ids: Vec<String> = Vec::new();
        for line in lines {
            let id = mapping::text(line, "Product2Id");
            if check_id(&id, &ENDPOINT_PRODUCTS).is_ok() && !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut products = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PRODUCT_CHUNK) {
            let path = format!(
                "{}/composite/sobjects/Product2?ids={}&fields={}",
                self.api(),
                chunk.join(","),
                mapping::PRODUCT_FIELDS
            );
            let found: Vec<Value> = self
                .call(calls, &ENDPOINT_PRODUCTS, &path, None)
                .await?
                .json(SYSTEM, &ENDPOINT_PRODUCTS)?;
            products.extend(found.into_iter().filter(|p| !p.is_null()));
        }
        Ok(products)
    }
}

/// A failed composite sub-request, classified like a top-level answer.
fn sub_error(part: &SubResponse) -> ConnectorError {
    let response = VendorResponse {
        status: reqwest::StatusCode::from_u16(part.status)
            .unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
        headers: reqwest::header::HeaderMap::new(),
        body: bytes::Bytes::from(part.body.to_string()),
        truncated: false,
    };
    let endpoint = format!("{ENDPOINT_COMPOSITE} ({})", part.reference);
    errors::refine(
        classify_status(SYSTEM, &endpoint, &response, Utc::now()),
        errors::first_error(&response.body),
    )
}
