//! Pipedrive (API v2, notes on v1; API token or OAuth 2.0) as
//! a CRM providing [`DealSource`], plus the webhooks v2 parsing ingress needs.

mod auth;
mod config;
mod errors;
mod mapping;
pub mod webhook;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Deal, SalesOrder};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

pub use config::{PipedriveConfig, PipedriveOAuth};

use self::errors::RateGate;
use crate::config::{ConfigError, check_base_url};
use crate::http_client::{VendorResponse, execute, protocol_error};
use crate::ports::{Capabilities, DealSource, Role, System};
use crate::session_cache::SessionCache;
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "pipedrive";

pub(crate) const ENDPOINT_DEAL: &str = "GET /api/v2/deals/{id}";
const ENDPOINT_DEAL_PRODUCTS: &str = "GET /api/v2/deals/{id}/products";
const ENDPOINT_PRODUCTS: &str = "GET /api/v2/products";
const ENDPOINT_ORG: &str = "GET /api/v2/organizations/{id}";
const ENDPOINT_PERSON: &str = "GET /api/v2/persons/{id}";
const ENDPOINT_UPDATE: &str = "PATCH /api/v2/deals/{id}";
const ENDPOINT_NOTE: &str = "POST /api/v1/notes";
const ENDPOINT_ACTIVITY: &str = "POST /api/v2/activities";
const ENDPOINT_PROBE: &str = "GET /api/v2/deals";
const ENDPOINT_TOKEN: &str = "POST {oauth.token_url}";
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
    client: reqwest::Client,
    gate: RateGate,
    tokens: SessionCache,
    /// The current refresh token: Pipedrive may rotate it on each refresh.
    refresh_token: Mutex<Option<SecretString>>,
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
        let refresh_token = Mutex::new(config.oauth.as_ref().map(|o| o.refresh_token.clone()));
        Ok(Self {
            config,
            base_url,
            client,
            gate: RateGate::default(),
            tokens: SessionCache::new(Duration::from_secs(120)),
            refresh_token,
        })
    }

    /// One authenticated call; OAuth sessions rejected with 401 are renewed once.
    async fn call(
        &self,
        calls: &CallLog,
        method: Method,
        endpoint: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Envelope, ConnectorError> {
        let max_wait = Duration::from_millis(self.config.max_rate_limit_wait_ms);
        let mut retried = false;
        loop {
            self.gate.wait(max_wait, endpoint).await?;
            let mut request = self
                .client
                .request(method.clone(), format!("{}{path}", self.base_url))
                .header(ACCEPT, "application/json");
            let token = match &self.config.oauth {
                Some(oauth) if self.config.api_token.expose_secret().is_empty() => {
                    let token = self.tokens.get(|| self.refresh(oauth, calls)).await?;
                    request = request.header(
                        AUTHORIZATION,
                        sensitive(
                            &format!("Bearer {}", token.access_token.expose_secret()),
                            endpoint,
                        )?,
                    );
                    Some(token)
                }
                _ => {
                    request = request.header(
                        "x-api-token",
                        sensitive(self.config.api_token.expose_secret(), endpoint)?,
                    );
                    None
                }
            };
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response: VendorResponse = execute(calls, SYSTEM, endpoint, request).await?;
            self.gate.observe(&response);
            if response.is_success() {
                return response.json(SYSTEM, endpoint);
            }
            if let (401, Some(token), false) = (response.status.as_u16(), token.as_ref(), retried) {
                retried = true;
                self.tokens.invalidate(token).await;
                continue;
            }
            return Err(errors::classify(endpoint, &response, Utc::now()));
        }
    }

    async fn get(
        &self,
        calls: &CallLog,
        endpoint: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Envelope, ConnectorError> {
        self.call(calls, Method::GET, endpoint, path, query, None)
            .await
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
                .get(calls, ENDPOINT_DEAL_PRODUCTS, &path, &query)
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
            ENDPOINT_DEAL_PRODUCTS,
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
                    ENDPOINT_PRODUCTS,
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
            Method::PATCH,
            ENDPOINT_UPDATE,
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
        Capabilities::new(Role::Crm, self.clone()).with_deal_source(self)
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
            ENDPOINT_PROBE,
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
        check_id(deal_id, ENDPOINT_DEAL)?;
        let deal = self
            .get(
                calls,
                ENDPOINT_DEAL,
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
                    ENDPOINT_ORG,
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
                    ENDPOINT_PERSON,
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
        check_id(deal_id, ENDPOINT_UPDATE)?;
        let mut fields = serde_json::Map::new();
        fields.insert(
            self.config.write_back_field.clone(),
            json!(order.order_number),
        );
        if !self.config.sync_status_field.is_empty() {
            fields.insert(self.config.sync_status_field.clone(), json!("synced"));
        }
        self.update_deal(calls, deal_id, fields).await
    }

    async fn flag_sync_error(
        &self,
        deal_id: &str,
        reason: &str,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, ENDPOINT_NOTE)?;
        if !self.config.sync_status_field.is_empty() {
            let mut fields = serde_json::Map::new();
            fields.insert(self.config.sync_status_field.clone(), json!("error"));
            self.update_deal(calls, deal_id, fields).await?;
        }
        let id: u64 = deal_id
            .parse()
            .map_err(|_| protocol_error(SYSTEM, ENDPOINT_NOTE, "deal id is not numeric"))?;
        // A note on the deal (notes have no v2 endpoint) and a to-do for its owner.
        let note = json!({ "content": format!("ERP sync failed: {}", escape_html(reason)), "deal_id": id });
        self.call(
            calls,
            Method::POST,
            ENDPOINT_NOTE,
            "/api/v1/notes",
            &[],
            Some(&note),
        )
        .await?;
        let activity = json!({
            "subject": "ERP sync failed", "type": "task", "deal_id": id,
            "due_date": Utc::now().date_naive().to_string(), "note": escape_html(reason), "done": false,
        });
        self.call(
            calls,
            Method::POST,
            ENDPOINT_ACTIVITY,
            "/api/v2/activities",
            &[],
            Some(&activity),
        )
        .await
        .map(drop)
    }
}

fn sensitive(value: &str, endpoint: &str) -> Result<HeaderValue, ConnectorError> {
    let mut header = HeaderValue::try_from(value).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Auth,
            ErrorCategory::Unauthorized,
            SYSTEM,
            endpoint,
            "credential is not a valid header value",
        )
        .with_resolution("check_crm_credentials")
    })?;
    header.set_sensitive(true);
    Ok(header)
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
