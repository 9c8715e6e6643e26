//! Pipedrive (API v2, notes on v1; API token or OAuth 2.0) as
//! a CRM providing [`DealSource`] and fulfilment on the deal (activity
//! timeline, follow-up activities, fulfilment custom fields), plus the
//! webhooks v2 parsing ingress needs.

mod auth;
mod config;
mod errors;
mod fulfilment;
mod mapping;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Deal, SalesOrder};
use reqwest::header::HeaderName;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) use config::MOVED;
pub use config::{DealToOrderFields, PipedriveConfig, PipedriveOAuth};
pub use fulfilment::FulfilmentFields;

use crate::config::{ConfigError, check_base_url};
use crate::endpoint;
use crate::http_client::protocol_error;
use crate::http_kit::{Endpoint, HeaderAuth, JsonCall, RateGate, VendorClient};
use crate::oauth2::TokenCache;
use crate::ports::{Capabilities, DealSource, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "pipedrive";

pub(crate) const ENDPOINT_DEAL: Endpoint = endpoint!(GET "/api/v2/deals/{id}");
const ENDPOINT_DEAL_PRODUCTS: Endpoint = endpoint!(GET "/api/v2/deals/{id}/products");
const ENDPOINT_PRODUCTS: Endpoint = endpoint!(GET "/api/v2/products");
const ENDPOINT_ORG: Endpoint = endpoint!(GET "/api/v2/organizations/{id}");
const ENDPOINT_PERSON: Endpoint = endpoint!(GET "/api/v2/persons/{id}");
const ENDPOINT_UPDATE: Endpoint = endpoint!(PATCH "/api/v2/deals/{id}");
const ENDPOINT_NOTE: Endpoint = endpoint!(POST "/api/v1/notes");
const ENDPOINT_ACTIVITY: Endpoint = endpoint!(POST "/api/v2/activities");
const ENDPOINT_NOTES: Endpoint = endpoint!(GET "/api/v1/notes");
const ENDPOINT_ACTIVITIES: Endpoint = endpoint!(GET "/api/v2/activities");
const ENDPOINT_PROBE: Endpoint = endpoint!(GET "/api/v2/deals");
const ENDPOINT_TOKEN: Endpoint = endpoint!(POST "{oauth.token_url}");
/// Page size of deal products (v2 maximum).
const PAGE: &str = "500";
/// Product ids per catalogue read.
const IDS_PER_READ: usize = 100;
/// Pages followed before giving up (a runaway cursor guard).
const MAX_PAGES: usize = 100;

/// The Pipedrive connector. Share it behind an `Arc`: the OAuth token and the
/// rate-limit window live here.
#[derive(Debug)]
pub struct PipedriveCrm {
    config: PipedriveConfig,
    base_url: String,
    http: VendorClient<HeaderAuth>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    data: Value,
    #[serde(default)]
    additional_data: Value,
}

impl PipedriveCrm {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: PipedriveConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let base_url = check_base_url("pipedrive.base_url", &config.base_url)?
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        let auth = match &config.oauth {
            Some(oauth) if config.api_token.expose_secret().is_empty() => {
                HeaderAuth::Bearer(TokenCache::new(auth::RefreshGrant::new(
                    oauth.clone(),
                    client.clone(),
                    config.credentials.clone(),
                )))
            }
            _ => HeaderAuth::fixed(
                HeaderName::from_static("x-api-token"),
                config.api_token.expose_secret(),
                "pipedrive.api_token",
            )?,
        };
        let max_wait = Duration::from_millis(config.max_rate_limit_wait_ms);
        Ok(Self {
            http: VendorClient::new(SYSTEM, client, auth, errors::classify)
                .with_rate_gate(RateGate::new(errors::rate_policy(max_wait))),
            config,
            base_url,
        })
    }

    /// One authenticated call (the kit renews a rejected OAuth token once),
    /// its success body read as Pipedrive's envelope.
    async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Envelope, ConnectorError> {
        let call = JsonCall {
            query,
            body,
            ..JsonCall::default()
        };
        self.http
            .send_with(calls, endpoint, |http, token| {
                // An OAuth token names its company's API host (`api_domain`).
                let base = token
                    .as_ref()
                    .and_then(|t| t.instance_url.as_deref())
                    .unwrap_or(&self.base_url);
                Ok(call.apply(http.request(endpoint.method().clone(), format!("{base}{path}"))))
            })
            .await?
            .json(SYSTEM, endpoint)
    }

    async fn get(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Envelope, ConnectorError> {
        self.call(calls, endpoint, path, query, None).await
    }

    /// Every product attached to the deal, following `next_cursor`.
    async fn deal_products(&self, calls: &CallLog, id: &str) -> Result<Vec<Value>, ConnectorError> {
        let path = format!("/api/v2/deals/{id}/products");
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", PAGE)];
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let page = self
                .get(calls, &ENDPOINT_DEAL_PRODUCTS, &path, &query)
                .await?;
            all.extend(page.data.as_array().cloned().unwrap_or_default());
            match page
                .additional_data
                .get("next_cursor")
                .and_then(Value::as_str)
            {
                Some(next) if !next.is_empty() && cursor.as_deref() != Some(next) => {
                    cursor = Some(next.to_owned())
                }
                _ => return Ok(all),
            }
        }
        Err(protocol_error(
            SYSTEM,
            &ENDPOINT_DEAL_PRODUCTS,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    /// The catalogue entries (SKU in `code`) of the attached products.
    async fn products(
        &self,
        calls: &CallLog,
        lines: &[Value],
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut ids: Vec<String> = Vec::new();
        for id in lines.iter().map(|l| mapping::text(l, "product_id")) {
            if is_id(&id) && !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut products = Vec::new();
        for chunk in ids.chunks(IDS_PER_READ) {
            let ids = chunk.join(",");
            let limit = chunk.len().to_string();
            let page = self
                .get(
                    calls,
                    &ENDPOINT_PRODUCTS,
                    "/api/v2/products",
                    &[("ids", &ids), ("limit", &limit)],
                )
                .await?;
            products.extend(page.data.as_array().cloned().unwrap_or_default());
        }
        Ok(products)
    }

    async fn update_deal(
        &self,
        calls: &CallLog,
        id: &str,
        custom_fields: serde_json::Map<String, Value>,
    ) -> Result<(), ConnectorError> {
        let body = json!({ "custom_fields": custom_fields });
        self.call(
            calls,
            &ENDPOINT_UPDATE,
            &format!("/api/v2/deals/{id}"),
            &[],
            Some(&body),
        )
        .await
        .map(drop)
    }
}

impl PipedriveCrm {
    /// The ports this CRM provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Crm, self.clone())
            .with_deal_source(self.clone())
            .with_activity_timeline(self.clone())
            .with_follow_up_tasks(self.clone())
            .with_deal_fulfilment(self)
    }
}

#[async_trait]
impl System for PipedriveCrm {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.get(
            &CallLog::new(),
            &ENDPOINT_PROBE,
            "/api/v2/deals",
            &[("limit", "1")],
        )
        .await
        .map(drop)
    }
}

#[async_trait]
impl DealSource for PipedriveCrm {
    async fn fetch_deal(&self, deal_id: &str, calls: &CallLog) -> Result<Deal, ConnectorError> {
        check_id(deal_id, &ENDPOINT_DEAL)?;
        let deal = self
            .get(
                calls,
                &ENDPOINT_DEAL,
                &format!("/api/v2/deals/{deal_id}"),
                &[],
            )
            .await?
            .data;
        let lines = self.deal_products(calls, deal_id).await?;
        let products = self.products(calls, &lines).await?;
        let org = match mapping::text(&deal, "org_id") {
            id if is_id(&id) => Some(
                self.get(
                    calls,
                    &ENDPOINT_ORG,
                    &format!("/api/v2/organizations/{id}"),
                    &[],
                )
                .await?
                .data,
            ),
            _ => None,
        };
        let person = match mapping::text(&deal, "person_id") {
            id if is_id(&id) => Some(
                self.get(
                    calls,
                    &ENDPOINT_PERSON,
                    &format!("/api/v2/persons/{id}"),
                    &[],
                )
                .await?
                .data,
            ),
            _ => None,
        };
        mapping::map_deal(
            &self.config,
            &deal,
            &lines,
            &products,
            org.as_ref(),
            person.as_ref(),
        )
    }

    async fn write_back_order(
        &self,
        deal_id: &str,
        order: &SalesOrder,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE)?;
        let mut fields = serde_json::Map::new();
        fields.insert(
            self.config.deal_to_order.write_back_field.clone(),
            json!(order.order_number),
        );
        if !self.config.deal_to_order.sync_status_field.is_empty() {
            fields.insert(
                self.config.deal_to_order.sync_status_field.clone(),
                json!("synced"),
            );
        }
        self.update_deal(calls, deal_id, fields).await
    }

    async fn flag_sync_error(
        &self,
        deal_id: &str,
        reason: &str,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_NOTE)?;
        if !self.config.deal_to_order.sync_status_field.is_empty() {
            let mut fields = serde_json::Map::new();
            fields.insert(
                self.config.deal_to_order.sync_status_field.clone(),
                json!("error"),
            );
            self.update_deal(calls, deal_id, fields).await?;
        }
        let id: u64 = deal_id
            .parse()
            .map_err(|_| protocol_error(SYSTEM, &ENDPOINT_NOTE, "deal id is not numeric"))?;
        // A note on the deal (notes have no v2 endpoint) and a to-do for its
        // owner, each at most once per reason: a retry that flags again finds
        // the ones it already wrote.
        let content = format!("ERP sync failed: {}", escape_html(reason));
        let query = [("deal_id", deal_id), ("limit", PAGE)];
        let notes = self
            .get(calls, &ENDPOINT_NOTES, "/api/v1/notes", &query)
            .await?
            .data;
        if !has_record(&notes, "content", &content) {
            let note = json!({ "content": content, "deal_id": id });
            self.call(calls, &ENDPOINT_NOTE, "/api/v1/notes", &[], Some(&note))
                .await?;
        }
        let note = escape_html(reason);
        let activities = self
            .get(calls, &ENDPOINT_ACTIVITIES, "/api/v2/activities", &query)
            .await?
            .data;
        if has_record(&activities, "note", &note) {
            return Ok(());
        }
        let activity = json!({
            "subject": FLAG_SUBJECT, "type": "task", "deal_id": id,
            "due_date": Utc::now().date_naive().to_string(), "note": note, "done": false,
        });
        self.call(
            calls,
            &ENDPOINT_ACTIVITY,
            "/api/v2/activities",
            &[],
            Some(&activity),
        )
        .await
        .map(drop)
    }
}

/// Subject of the to-do a failed sync leaves for the deal's owner.
const FLAG_SUBJECT: &str = "ERP sync failed";

/// True when a listed note or activity (`records`, a JSON array) already
/// carries `text` in `field` (an activity also by our subject).
fn has_record(records: &Value, field: &str, text: &str) -> bool {
    records.as_array().is_some_and(|all| {
        all.iter().any(|r| {
            r[field].as_str() == Some(text)
                && (field != "note" || r["subject"].as_str() == Some(FLAG_SUBJECT))
        })
    })
}

fn is_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// Pipedrive ids are numeric; nothing else may reach a URL path.
fn check_id(id: &str, endpoint: &str) -> Result<(), ConnectorError> {
    if is_id(id) {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            endpoint,
            format!("invalid Pipedrive id {id:?}"),
        ))
    }
}

/// Note content is HTML in Pipedrive.
fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests;
