//! Salesforce (REST API, composite requests, OAuth 2.0 JWT bearer or client
//! credentials) as a CRM providing [`DealSource`] and fulfilment on the
//! opportunity (activity timeline, follow-up tasks, fulfilment fields), plus the inbound-notification parsing
//! ingress needs (Outbound Messages and signed Flow/Apex callouts).

mod auth;
mod config;
mod errors;
mod fulfilment;
mod mapping;
mod read;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Deal, SalesOrder};
use serde_json::{Value, json};

pub use auth::{Claims, JWT_BEARER_GRANT};
pub(crate) use config::MOVED;
pub use config::{AuthFlow, DealToOrderFields, SalesforceConfig};
pub use fulfilment::FulfilmentFields;

use crate::config::{ConfigError, check_base_url};
use crate::endpoint;
use crate::http_client::{VendorResponse, protocol_error};
use crate::http_kit::{Endpoint, HeaderAuth, JsonCall, RateGate, VendorClient};
use crate::oauth2::{Token, TokenCache};
use crate::ports::{Capabilities, DealSource, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "salesforce";

pub(crate) const ENDPOINT_COMPOSITE: Endpoint = endpoint!(POST "/services/data/{v}/composite");
const ENDPOINT_NEXT_LINES: Endpoint = endpoint!(GET "/services/data/{v}/query/{locator}");
const ENDPOINT_PRODUCTS: Endpoint = endpoint!(GET "/services/data/{v}/composite/sobjects/Product2");
const ENDPOINT_UPDATE: Endpoint = endpoint!(PATCH "/services/data/{v}/sobjects/Opportunity/{id}");
const ENDPOINT_TASK: Endpoint = endpoint!(POST "/services/data/{v}/sobjects/Task");
const ENDPOINT_TASKS: Endpoint =
    endpoint!(GET "/services/data/{v}/sobjects/Opportunity/{id}/Tasks");
/// Subject of the task a failed sync leaves on the opportunity.
const FLAG_SUBJECT: &str = "ERP sync failed";
const ENDPOINT_LIMITS: Endpoint = endpoint!(GET "/services/data/{v}/limits");
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
    http: VendorClient<HeaderAuth>,
}

impl SalesforceCrm {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: SalesforceConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let margin = Duration::from_secs(config.refresh_margin_secs);
        let grant = auth::SalesforceGrant::new(config.clone(), client.clone(), margin);
        Ok(Self {
            http: VendorClient::new(
                SYSTEM,
                client,
                HeaderAuth::Bearer(TokenCache::new(grant)),
                errors::classify,
            )
            .with_rate_gate(RateGate::new(errors::rate_policy())),
            config,
        })
    }

    fn api(&self) -> String {
        format!("/services/data/{}", self.config.api_version)
    }

    /// One authenticated call to `path` on the instance (the token names the
    /// instance unless it is configured). The kit renews a rejected session once
    /// (sessions end early on logout or a policy change); other non-2xx answers
    /// come back as classified errors.
    async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: &str,
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        self.http
            .send_with(calls, endpoint, |http, token: &Option<Arc<Token>>| {
                let from_token = token.as_ref().and_then(|t| t.instance_url.as_deref());
                let base = self.base_url(from_token, endpoint)?;
                let call = JsonCall {
                    body,
                    ..JsonCall::default()
                };
                let request = http.request(endpoint.method().clone(), format!("{base}{path}"));
                Ok(call.apply(request))
            })
            .await
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
        self.call(calls, &ENDPOINT_UPDATE, &path, Some(&Value::Object(fields)))
            .await
            .map(drop)
    }
}

impl SalesforceCrm {
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
impl System for SalesforceCrm {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let path = format!("{}/limits", self.api());
        self.call(&CallLog::new(), &ENDPOINT_LIMITS, &path, None)
            .await
            .map(drop)
    }
}

#[async_trait]
impl DealSource for SalesforceCrm {
    async fn fetch_deal(&self, deal_id: &str, calls: &CallLog) -> Result<Deal, ConnectorError> {
        check_id(deal_id, &ENDPOINT_COMPOSITE)?;
        let (opportunity, account, first_lines) = self.read_opportunity(calls, deal_id).await?;
        let lines = self.all_lines(calls, first_lines).await?;
        let products = self.products(calls, &lines).await?;
        mapping::map_deal(
            &self.config.deal_to_order,
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
        check_id(deal_id, &ENDPOINT_UPDATE)?;
        let c = &self.config.deal_to_order;
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
        check_id(deal_id, &ENDPOINT_TASK)?;
        let c = &self.config.deal_to_order;
        let mut fields = serde_json::Map::new();
        if !c.sync_status_field.is_empty() {
            fields.insert(c.sync_status_field.clone(), json!("error"));
        }
        if !c.sync_error_field.is_empty() {
            let short: String = reason.chars().take(MAX_REASON_CHARS).collect();
            fields.insert(c.sync_error_field.clone(), json!(short));
        }
        self.update_opportunity(calls, deal_id, fields).await?;
        // A Task on the opportunity lands in the owner's to-do list, once per
        // reason: a retry that flags again finds the task it created.
        let description: String = reason.chars().take(32_000).collect();
        let path = format!(
            "{}/sobjects/Opportunity/{deal_id}/Tasks?fields=Subject,Description",
            self.api()
        );
        let tasks: Value = self
            .call(calls, &ENDPOINT_TASKS, &path, None)
            .await?
            .json(SYSTEM, &ENDPOINT_TASKS)?;
        let flagged = tasks["records"].as_array().is_some_and(|all| {
            all.iter().any(|t| {
                t["Subject"].as_str() == Some(FLAG_SUBJECT)
                    && t["Description"].as_str() == Some(description.as_str())
            })
        });
        if flagged {
            return Ok(());
        }
        let task = json!({
            "WhatId": deal_id,
            "Subject": FLAG_SUBJECT,
            "Description": description,
            "Status": "Not Started",
            "Priority": "High",
            "ActivityDate": Utc::now().date_naive().to_string(),
        });
        let path = format!("{}/sobjects/Task", self.api());
        self.call(calls, &ENDPOINT_TASK, &path, Some(&task))
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
