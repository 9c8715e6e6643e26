//! Salesforce (REST API, composite requests, OAuth 2.0 JWT bearer or client
//! credentials) as a CRM providing [`DealSource`], plus the inbound-notification parsing
//! ingress needs (Outbound Messages and signed Flow/Apex callouts).

mod auth;
mod config;
mod errors;
mod mapping;
mod read;
pub mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Deal, SalesOrder};
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

pub use auth::{Claims, JWT_BEARER_GRANT};
pub use config::{AuthFlow, SalesforceConfig};

use self::errors::LimitGate;
use crate::config::{ConfigError, check_base_url};
use crate::http_client::{VendorResponse, execute, protocol_error};
use crate::ports::{Capabilities, DealSource, Role, System};
use crate::session_cache::SessionCache;
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "salesforce";

pub(crate) const ENDPOINT_COMPOSITE: &str = "POST /services/data/{v}/composite";
const ENDPOINT_NEXT_LINES: &str = "GET /services/data/{v}/query/{locator}";
const ENDPOINT_PRODUCTS: &str = "GET /services/data/{v}/composite/sobjects/Product2";
const ENDPOINT_UPDATE: &str = "PATCH /services/data/{v}/sobjects/Opportunity/{id}";
const ENDPOINT_TASK: &str = "POST /services/data/{v}/sobjects/Task";
const ENDPOINT_LIMITS: &str = "GET /services/data/{v}/limits";
/// Records per sObject Collections read.
const PRODUCT_CHUNK: usize = 200;
/// Line-item pages followed before giving up (a runaway cursor guard).
const MAX_PAGES: usize = 100;
/// Longest error text written to the opportunity's error field.
const MAX_REASON_CHARS: usize = 255;

/// The Salesforce connector. Share it behind an `Arc`: the token and the API
/// allowance state live here.
#[derive(Debug)]
pub struct SalesforceCrm {
    config: SalesforceConfig,
    client: reqwest::Client,
    tokens: SessionCache,
    gate: LimitGate,
}

impl SalesforceCrm {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: SalesforceConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let margin = Duration::from_secs(config.refresh_margin_secs);
        Ok(Self {
            config,
            client,
            tokens: SessionCache::new(margin),
            gate: LimitGate::default(),
        })
    }

    fn api(&self) -> String {
        format!("/services/data/{}", self.config.api_version)
    }

    /// One authenticated call to `path` on the instance. A 401 drops the cached
    /// session and retries once with a new one (sessions end early on logout or
    /// a policy change); other non-2xx answers come back as classified errors.
    async fn call(
        &self,
        calls: &CallLog,
        method: Method,
        endpoint: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        self.gate.check(endpoint)?;
        let mut retried = false;
        loop {
            let token = self
                .tokens
                .get(|| auth::fetch_token(&self.config, &self.client, calls))
                .await?;
            let base = self.base_url(token.instance_url.as_deref(), endpoint)?;
            let mut bearer =
                HeaderValue::try_from(format!("Bearer {}", token.access_token.expose_secret()))
                    .map_err(|_| {
                        protocol_error(SYSTEM, endpoint, "access token is not a header value")
                    })?;
            bearer.set_sensitive(true);
            let mut request = self
                .client
                .request(method.clone(), format!("{base}{path}"))
                .header(AUTHORIZATION, bearer)
                .header(ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = execute(calls, SYSTEM, endpoint, request).await?;
            if response.is_success() {
                self.gate.observe(&response, None);
                return Ok(response);
            }
            let err = errors::classify(endpoint, &response, Utc::now());
            self.gate.observe(&response, Some(&err));
            if response.status.as_u16() == 401 && !retried {
                retried = true;
                self.tokens.invalidate(&token).await;
                continue;
            }
            return Err(err);
        }
    }

    fn base_url(&self, from_token: Option<&str>, endpoint: &str) -> Result<String, ConnectorError> {
        let url = self
            .config
            .instance_url
            .as_deref()
            .or(from_token)
            .ok_or_else(|| {
                protocol_error(SYSTEM, endpoint, "token response without instance_url")
            })?;
        check_base_url("salesforce.instance_url", url)
            .map_err(|e| protocol_error(SYSTEM, endpoint, e.to_string()))?;
        Ok(url.trim_end_matches('/').to_owned())
    }

    async fn update_opportunity(
        &self,
        calls: &CallLog,
        id: &str,
        fields: serde_json::Map<String, Value>,
    ) -> Result<(), ConnectorError> {
        if fields.is_empty() {
            return Ok(());
        }
        let path = format!("{}/sobjects/Opportunity/{id}", self.api());
        self.call(
            calls,
            Method::PATCH,
            ENDPOINT_UPDATE,
            &path,
            Some(&Value::Object(fields)),
        )
        .await
        .map(drop)
    }
}

impl SalesforceCrm {
    /// The ports this CRM provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Crm, self.clone()).with_deal_source(self)
    }
}

#[async_trait]
impl System for SalesforceCrm {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let path = format!("{}/limits", self.api());
        self.call(&CallLog::new(), Method::GET, ENDPOINT_LIMITS, &path, None)
            .await
            .map(drop)
    }
}

#[async_trait]
impl DealSource for SalesforceCrm {
    async fn fetch_deal(&self, deal_id: &str, calls: &CallLog) -> Result<Deal, ConnectorError> {
        check_id(deal_id, ENDPOINT_COMPOSITE)?;
        let (opportunity, account, first_lines) = self.read_opportunity(calls, deal_id).await?;
        let lines = self.all_lines(calls, first_lines).await?;
        let products = self.products(calls, &lines).await?;
        mapping::map_deal(
            &self.config,
            &opportunity,
            account.as_ref(),
            &lines,
            &products,
        )
    }

    async fn write_back_order(
        &self,
        deal_id: &str,
        order: &SalesOrder,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, ENDPOINT_UPDATE)?;
        let c = &self.config;
        let mut fields = serde_json::Map::new();
        fields.insert(c.write_back_field.clone(), json!(order.order_number));
        if !c.sync_status_field.is_empty() {
            fields.insert(c.sync_status_field.clone(), json!("synced"));
        }
        if !c.sync_error_field.is_empty() {
            fields.insert(c.sync_error_field.clone(), Value::Null);
        }
        self.update_opportunity(calls, deal_id, fields).await
    }

    async fn flag_sync_error(
        &self,
        deal_id: &str,
        reason: &str,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, ENDPOINT_TASK)?;
        let c = &self.config;
        let mut fields = serde_json::Map::new();
        if !c.sync_status_field.is_empty() {
            fields.insert(c.sync_status_field.clone(), json!("error"));
        }
        if !c.sync_error_field.is_empty() {
            let short: String = reason.chars().take(MAX_REASON_CHARS).collect();
            fields.insert(c.sync_error_field.clone(), json!(short));
        }
        self.update_opportunity(calls, deal_id, fields).await?;
        // A Task on the opportunity lands in the owner's to-do list.
        let task = json!({
            "WhatId": deal_id,
            "Subject": "ERP sync failed",
            "Description": reason.chars().take(32_000).collect::<String>(),
            "Status": "Not Started",
            "Priority": "High",
            "ActivityDate": Utc::now().date_naive().to_string(),
        });
        let path = format!("{}/sobjects/Task", self.api());
        self.call(calls, Method::POST, ENDPOINT_TASK, &path, Some(&task))
            .await
            .map(drop)
    }
}

/// Salesforce ids are 15 or 18 alphanumeric characters; nothing else may reach a URL.
fn check_id(id: &str, endpoint: &str) -> Result<(), ConnectorError> {
    if matches!(id.len(), 15 | 18) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            endpoint,
            format!("invalid Salesforce record id {id:?}"),
        ))
    }
}

#[cfg(test)]
mod tests;
