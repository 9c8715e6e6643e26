//! HubSpot CRM (CRM v3 objects, v4 associations) as a CRM providing [`DealSource`],
//! [`DealEditor`](crate::DealEditor) and fulfilment-sync's timeline, tasks and deal fulfilment
//! ports, plus the webhook parsing and signature checks ingress needs.

mod config;
mod corrections;
mod errors;
mod fulfilment;
mod mapping;
mod model;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use crmerp_proto::{Deal, SalesOrder};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub(crate) use config::MOVED;
pub use config::{DealToOrderFields, HubSpotConfig, ShippingProperties, ShippingSource};
pub use fulfilment::FulfilmentFields;

use self::model::{AssociatedObject, AssociationPage, BatchRead, CrmObject};
use crate::config::{ConfigError, check_base_url};
use crate::endpoint;
use crate::http_client::{VendorResponse, encode_segment};
use crate::http_kit::{Endpoint, HeaderAuth, JsonCall, RateGate, VendorClient};
use crate::ports::{Capabilities, DealSource, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "hubspot";

const ENDPOINT_DEAL: Endpoint = endpoint!(GET "/crm/v3/objects/deals/{id}");
const ENDPOINT_DEAL_LINE_ITEMS: Endpoint =
    endpoint!(GET "/crm/v4/objects/deals/{id}/associations/line_items");
const ENDPOINT_DEAL_COMPANIES: Endpoint =
    endpoint!(GET "/crm/v4/objects/deals/{id}/associations/companies");
const ENDPOINT_LINE_ITEMS: Endpoint = endpoint!(POST "/crm/v3/objects/line_items/batch/read");
const ENDPOINT_COMPANY: Endpoint = endpoint!(GET "/crm/v3/objects/companies/{id}");
const ENDPOINT_UPDATE_DEAL: Endpoint = endpoint!(PATCH "/crm/v3/objects/deals/{id}");
const ENDPOINT_CREATE_NOTE: Endpoint = endpoint!(POST "/crm/v3/objects/notes");
const ENDPOINT_DEAL_NOTES: Endpoint =
    endpoint!(GET "/crm/v4/objects/deals/{id}/associations/notes");
const ENDPOINT_NOTES: Endpoint = endpoint!(POST "/crm/v3/objects/notes/batch/read");
const ENDPOINT_PROBE: Endpoint = endpoint!(GET "/crm/v3/objects/deals");
const ENDPOINT_ACCOUNT_DETAILS: Endpoint = endpoint!(GET "/account-info/v3/details");

/// Batch-read inputs per request (HubSpot's limit).
const BATCH_SIZE: usize = 100;
/// v4 association page size (HubSpot's maximum).
const ASSOCIATION_PAGE_SIZE: &str = "500";
/// Association pages followed before giving up (a runaway cursor guard).
const MAX_ASSOCIATION_PAGES: usize = 100;
/// HUBSPOT_DEFINED association type note -> deal.
const NOTE_TO_DEAL: u32 = 214;
/// Longest sync-error text written to the deal property.
const MAX_REASON_CHARS: usize = 1000;

/// The HubSpot connector. Cheap to share behind an `Arc`: the rate-limit state
/// lives here, so every task using one value honours the same window.
#[derive(Debug)]
pub struct HubSpotCrm {
    config: HubSpotConfig,
    base_url: String,
    http: VendorClient<HeaderAuth>,
    /// The portal's company currency, read once when a deal first lacks one.
    company_currency: tokio::sync::OnceCell<String>,
}

impl HubSpotCrm {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: HubSpotConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let base_url = check_base_url("hubspot.base_url", &config.base_url)?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        Ok(Self {
            base_url,
            http: VendorClient::new(
                SYSTEM,
                client,
                HeaderAuth::static_bearer(
                    config.access_token.expose_secret(),
                    "hubspot.access_token",
                )?,
                errors::classify,
            )
            .with_rate_gate(RateGate::new(errors::rate_policy(Duration::from_millis(
                config.max_rate_limit_wait_ms,
            )))),
            config,
            company_currency: tokio::sync::OnceCell::new(),
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &HubSpotConfig {
        &self.config
    }

    /// One authenticated call; non-2xx answers come back as classified errors.
    async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        let url = format!("{}{path}", self.base_url);
        let call = JsonCall {
            query,
            body,
            ..JsonCall::default()
        };
        self.http.send_json(calls, endpoint, &url, call).await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, ConnectorError> {
        self.call(calls, endpoint, path, query, None)
            .await?
            .json(SYSTEM, endpoint)
    }

    /// Every object of type `to` associated with the deal, following the cursor.
    async fn associations(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        deal_id: &str,
        to: &str,
    ) -> Result<Vec<AssociatedObject>, ConnectorError> {
        let path = format!(
            "/crm/v4/objects/deals/{}/associations/{to}",
            encode_segment(deal_id)
        );
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_ASSOCIATION_PAGES {
            let mut query = vec![("limit", ASSOCIATION_PAGE_SIZE)];
            if let Some(cursor) = after.as_deref() {
                query.push(("after", cursor));
            }
            let page: AssociationPage = self.get_json(calls, endpoint, &path, &query).await?;
            all.extend(page.results);
            match page.paging.and_then(|p| p.next).map(|n| n.after) {
                Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
                _ => return Ok(all),
            }
        }
        Err(crate::http_client::protocol_error(
            SYSTEM,
            endpoint,
            format!("more than {MAX_ASSOCIATION_PAGES} association pages"),
        ))
    }

    /// Reads the line items in chunks, returned in the order of `ids`.
    async fn line_items(
        &self,
        calls: &CallLog,
        ids: &[String],
    ) -> Result<Vec<CrmObject>, ConnectorError> {
        let properties = mapping::line_item_properties(&self.config.deal_to_order);
        let mut found: Vec<CrmObject> = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(BATCH_SIZE) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({ "id": id })).collect();
            let body =
                json!({ "properties": properties, "propertiesWithHistory": [], "inputs": inputs });
            let batch: BatchRead = self
                .call(
                    calls,
                    &ENDPOINT_LINE_ITEMS,
                    "/crm/v3/objects/line_items/batch/read",
                    &[],
                    Some(&body),
                )
                .await?
                .json(SYSTEM, &ENDPOINT_LINE_ITEMS)?;
            found.extend(batch.results);
        }
        let mut ordered = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(pos) = found.iter().position(|o| &o.id == id) else {
                // Listed but unreadable: a concurrent delete; a fresh read will agree.
                return Err(ConnectorError::new(
                    ErrorKind::Transient,
                    ErrorCategory::Unavailable,
                    SYSTEM,
                    &ENDPOINT_LINE_ITEMS,
                    format!("line item {id} is associated with the deal but could not be read"),
                ));
            };
            ordered.push(found.swap_remove(pos));
        }
        Ok(ordered)
    }

    /// The currency of a deal that names none: the portal's company currency
    /// (account details), else `default_currency`; with neither, a permanent
    /// error, since an order in a guessed currency is worse than none.
    async fn fallback_currency(
        &self,
        calls: &CallLog,
        deal_id: &str,
    ) -> Result<String, ConnectorError> {
        let portal = self
            .company_currency
            .get_or_try_init(|| async {
                let details: Value = self
                    .get_json(
                        calls,
                        &ENDPOINT_ACCOUNT_DETAILS,
                        "/account-info/v3/details",
                        &[],
                    )
                    .await?;
                Ok::<_, ConnectorError>(
                    details["companyCurrency"]
                        .as_str()
                        .unwrap_or_default()
                        .trim()
                        .to_ascii_uppercase(),
                )
            })
            .await;
        let unread = match portal {
            Ok(currency) if !currency.is_empty() => return Ok(currency.clone()),
            Ok(_) => "the portal names no company currency".to_owned(),
            // A refusal (a token without the scope) leaves the configured default;
            // anything retryable is retried rather than decided now.
            Err(err) if err.kind == ErrorKind::Permanent || err.kind == ErrorKind::Auth => {
                format!(
                    "the portal's company currency could not be read ({})",
                    err.message
                )
            }
            Err(err) => return Err(err),
        };
        let default = &self.config.deal_to_order.default_currency;
        if !default.is_empty() {
            return Ok(default.clone());
        }
        Err(ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            &ENDPOINT_DEAL,
            format!(
                "deal {deal_id} has no currency (property `{}`), {unread}, and no \
                 deal_to_order.crm.hubspot.default_currency is configured",
                self.config.deal_to_order.currency_property
            ),
        )
        .with_resolution(format!(
            "add_missing_field:{}",
            self.config.deal_to_order.currency_property
        )))
    }

    /// True when a note associated with the deal already holds `body`.
    async fn has_note(
        &self,
        calls: &CallLog,
        deal_id: &str,
        body: &str,
    ) -> Result<bool, ConnectorError> {
        self.find_associated(
            calls,
            (&ENDPOINT_DEAL_NOTES, &ENDPOINT_NOTES),
            deal_id,
            "notes",
            "hs_note_body",
            body,
        )
        .await
        .map(|found| found.is_some())
    }

    async fn update_deal(
        &self,
        calls: &CallLog,
        deal_id: &str,
        properties: Value,
    ) -> Result<(), ConnectorError> {
        let path = format!("/crm/v3/objects/deals/{}", encode_segment(deal_id));
        let body = json!({ "properties": properties });
        self.call(calls, &ENDPOINT_UPDATE_DEAL, &path, &[], Some(&body))
            .await
            .map(drop)
    }
}

impl HubSpotCrm {
    /// The ports this CRM provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Crm, self.clone())
            .with_deal_source(self.clone())
            .with_deal_editor(self.clone())
            .with_activity_timeline(self.clone())
            .with_follow_up_tasks(self.clone())
            .with_deal_fulfilment(self)
    }
}

#[async_trait]
impl System for HubSpotCrm {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let calls = CallLog::new();
        let _: Value = self
            .get_json(
                &calls,
                &ENDPOINT_PROBE,
                "/crm/v3/objects/deals",
                &[("limit", "1")],
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl DealSource for HubSpotCrm {
    async fn fetch_deal(&self, deal_id: &str, calls: &CallLog) -> Result<Deal, ConnectorError> {
        check_id(deal_id, &ENDPOINT_DEAL)?;
        let properties = mapping::deal_properties(&self.config.deal_to_order);
        let path = format!("/crm/v3/objects/deals/{}", encode_segment(deal_id));
        let deal: CrmObject = self
            .get_json(calls, &ENDPOINT_DEAL, &path, &[("properties", &properties)])
            .await?;

        let mut line_ids: Vec<String> = Vec::new();
        for assoc in self
            .associations(calls, &ENDPOINT_DEAL_LINE_ITEMS, deal_id, "line_items")
            .await?
        {
            if !line_ids.contains(&assoc.to_object_id) {
                line_ids.push(assoc.to_object_id);
            }
        }
        let companies = self
            .associations(calls, &ENDPOINT_DEAL_COMPANIES, deal_id, "companies")
            .await?;
        let line_items = self.line_items(calls, &line_ids).await?;

        let company = match mapping::primary_company(&companies) {
            Some(company_id) => {
                check_id(company_id, &ENDPOINT_COMPANY)?;
                let path = format!("/crm/v3/objects/companies/{}", encode_segment(company_id));
                let query = [("properties", mapping::COMPANY_PROPERTIES)];
                Some(
                    self.get_json::<CrmObject>(calls, &ENDPOINT_COMPANY, &path, &query)
                        .await?,
                )
            }
            None => None,
        };
        let fallback = match mapping::deal_currency(&self.config.deal_to_order, &deal) {
            Some(_) => String::new(),
            None => self.fallback_currency(calls, deal_id).await?,
        };
        mapping::map_deal(
            &self.config.deal_to_order,
            &deal,
            &line_items,
            company.as_ref(),
            &fallback,
        )
    }

    async fn write_back_order(
        &self,
        deal_id: &str,
        order: &SalesOrder,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE_DEAL)?;
        let c = &self.config.deal_to_order;
        let mut properties = serde_json::Map::new();
        properties.insert(c.write_back_property.clone(), json!(order.order_number));
        properties.insert(c.sync_status_property.clone(), json!("synced"));
        properties.insert(c.sync_error_property.clone(), json!(""));
        self.update_deal(calls, deal_id, Value::Object(properties))
            .await
    }

    async fn flag_sync_error(
        &self,
        deal_id: &str,
        reason: &str,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE_DEAL)?;
        let c = &self.config.deal_to_order;
        let short: String = reason.chars().take(MAX_REASON_CHARS).collect();
        let mut properties = serde_json::Map::new();
        properties.insert(c.sync_status_property.clone(), json!("error"));
        properties.insert(c.sync_error_property.clone(), json!(short));
        self.update_deal(calls, deal_id, Value::Object(properties))
            .await?;

        // The note body is rendered as HTML in HubSpot.
        let body = format!("ERP sync failed: {}", escape_html(reason));
        if self.has_note(calls, deal_id, &body).await? {
            // Flagged for this reason already (a retry): one note per reason.
            return Ok(());
        }
        let note = json!({
            "properties": {
                "hs_note_body": body,
                "hs_timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            },
            "associations": [{
                "to": { "id": deal_id },
                "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_DEAL }],
            }],
        });
        self.call(
            calls,
            &ENDPOINT_CREATE_NOTE,
            "/crm/v3/objects/notes",
            &[],
            Some(&note),
        )
        .await
        .map(drop)
    }
}

/// HubSpot record ids are numeric; anything else cannot name a record and must
/// not reach a URL path unchecked.
fn check_id(id: &str, endpoint: &str) -> Result<(), ConnectorError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            endpoint,
            format!("invalid HubSpot record id {id:?}"),
        ))
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests;
