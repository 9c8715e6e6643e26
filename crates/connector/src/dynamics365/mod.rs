//! Microsoft Dynamics 365 / Dataverse (Web API, OData v4; Entra ID client
//! credentials) as a CRM providing [`DealSource`] and fulfilment on the
//! opportunity (activity timeline, follow-up tasks, fulfilment columns), plus
//! the service-endpoint webhook
//! parsing ingress needs.

mod config;
mod fulfilment;
mod mapping;
pub mod webhook;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Deal, SalesOrder};
use reqwest::Method;
use serde_json::{Value, json};

pub(crate) use config::MOVED;
pub use config::{DealToOrderFields, Dynamics365Config};
pub use fulfilment::FulfilmentFields;

use crate::config::{ConfigError, check_base_url};
use crate::endpoint;
use crate::http_client::protocol_error;
use crate::http_kit::{Endpoint, HeaderAuth, JsonCall, VendorClient};
use crate::oauth2::TokenCache;
use crate::ports::{Capabilities, DealSource, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "dynamics365";

pub(crate) const ENDPOINT_OPPORTUNITY: Endpoint =
    endpoint!(GET "/api/data/{v}/opportunities({id})");
const ENDPOINT_ACCOUNT: Endpoint = endpoint!(GET "/api/data/{v}/accounts({id})");
const ENDPOINT_CURRENCY: Endpoint = endpoint!(GET "/api/data/{v}/transactioncurrencies({id})");
const ENDPOINT_LINES: Endpoint =
    endpoint!(GET "/api/data/{v}/opportunities({id})/product_opportunities");
const ENDPOINT_PRODUCT: Endpoint = endpoint!(GET "/api/data/{v}/products({id})");
const ENDPOINT_UPDATE: Endpoint = endpoint!(PATCH "/api/data/{v}/opportunities({id})");
/// The failure task, created with a key of its own (create only: `If-None-Match: *`).
const ENDPOINT_TASK: Endpoint = endpoint!(PATCH "/api/data/{v}/tasks({id})");
const ENDPOINT_WHOAMI: Endpoint = endpoint!(GET "/api/data/{v}/WhoAmI");
/// Rows per page asked with `Prefer: odata.maxpagesize`.
const PAGE_SIZE: &str = "odata.maxpagesize=500";
/// Pages followed before giving up (a runaway nextLink guard).
const MAX_PAGES: usize = 100;

/// What a `PATCH` may do to a row: upsert (no header), only create
/// (`If-None-Match: *`, 412 when the row exists) or only update (`If-Match: *`).
#[derive(Debug, Clone, Copy)]
enum Precondition {
    None,
    CreateOnly,
    UpdateOnly,
}

/// The Dataverse connector. Share it behind an `Arc`: the token lives here.
#[derive(Debug)]
pub struct Dynamics365Crm {
    config: Dynamics365Config,
    api: String,
    http: VendorClient<HeaderAuth>,
}

impl Dynamics365Crm {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: Dynamics365Config, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        let base = check_base_url("dynamics365.base_url", &config.base_url)?;
        let api = format!(
            "{}/api/data/{}",
            base.as_str().trim_end_matches('/'),
            config.api_version
        );
        let tokens = TokenCache::client_credentials(SYSTEM, config.oauth.clone(), client.clone());
        Ok(Self {
            config,
            api,
            http: VendorClient::new(
                SYSTEM,
                client,
                HeaderAuth::Bearer(tokens),
                mapping::classify,
            ),
        })
    }

    /// One authenticated call to `url` (the kit renews a rejected token once);
    /// `None` for an empty success body.
    async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        let condition = if *endpoint == ENDPOINT_TASK {
            // Create only: the task's key names (opportunity, reason), so a
            // retry that flags again meets the task it already created.
            Precondition::CreateOnly
        } else if endpoint.method() == Method::PATCH {
            // Update only: without it a PATCH to a missing id would create the row.
            Precondition::UpdateOnly
        } else {
            Precondition::None
        };
        self.send(calls, endpoint, url, body, condition).await
    }

    /// [`Self::call`] with the write's precondition chosen by the caller.
    async fn send(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        body: Option<&Value>,
        condition: Precondition,
    ) -> Result<Option<Value>, ConnectorError> {
        let mut headers = vec![
            ("OData-MaxVersion", "4.0"),
            ("OData-Version", "4.0"),
            ("Prefer", PAGE_SIZE),
        ];
        match condition {
            Precondition::CreateOnly => headers.push(("If-None-Match", "*")),
            Precondition::UpdateOnly => headers.push(("If-Match", "*")),
            Precondition::None => {}
        }
        let call = JsonCall {
            headers: &headers,
            body,
            ..JsonCall::default()
        };
        let response = self.http.send_json(calls, endpoint, url, call).await?;
        if response.body.is_empty() {
            Ok(None)
        } else {
            response.json(SYSTEM, endpoint).map(Some)
        }
    }

    async fn get(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
    ) -> Result<Value, ConnectorError> {
        self.call(calls, endpoint, url, None)
            .await?
            .ok_or_else(|| protocol_error(SYSTEM, endpoint, "empty answer"))
    }

    /// Every product row of the opportunity, following `@odata.nextLink`.
    async fn lines(&self, calls: &CallLog, id: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut url = format!(
            "{}/opportunities({id})/product_opportunities?$select={}",
            self.api,
            mapping::LINE_SELECT
        );
        let mut rows = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.get(calls, &ENDPOINT_LINES, &url).await?;
            rows.extend(page["value"].as_array().cloned().unwrap_or_default());
            match page["@odata.nextLink"].as_str() {
                // Only links on our own API: a token must never follow a link elsewhere.
                Some(next) if next.starts_with(&self.api) => url = next.to_owned(),
                Some(next) => {
                    return Err(protocol_error(
                        SYSTEM,
                        &ENDPOINT_LINES,
                        format!("nextLink outside the API: {next}"),
                    ));
                }
                None => return Ok(rows),
            }
        }
        Err(protocol_error(
            SYSTEM,
            &ENDPOINT_LINES,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    async fn update(&self, calls: &CallLog, id: &str, body: Value) -> Result<(), ConnectorError> {
        self.call(
            calls,
            &ENDPOINT_UPDATE,
            &format!("{}/opportunities({id})", self.api),
            Some(&body),
        )
        .await
        .map(drop)
    }
}

impl Dynamics365Crm {
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
impl System for Dynamics365Crm {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        self.get(
            &CallLog::new(),
            &ENDPOINT_WHOAMI,
            &format!("{}/WhoAmI", self.api),
        )
        .await
        .map(drop)
    }
}

#[async_trait]
impl DealSource for Dynamics365Crm {
    async fn fetch_deal(&self, deal_id: &str, calls: &CallLog) -> Result<Deal, ConnectorError> {
        check_id(deal_id, &ENDPOINT_OPPORTUNITY)?;
        let write_back = &self.config.deal_to_order.write_back_field;
        let select = format!(
            "opportunityid,name,statecode,totalamount,estimatedvalue,actualclosedate,_parentaccountid_value,_transactioncurrencyid_value,{write_back}"
        );
        let opp = self
            .get(
                calls,
                &ENDPOINT_OPPORTUNITY,
                &format!("{}/opportunities({deal_id})?$select={select}", self.api),
            )
            .await?;
        let account = match mapping::text(&opp, "_parentaccountid_value") {
            id if check_id(&id, &ENDPOINT_ACCOUNT).is_ok() => Some(
                self.get(
                    calls,
                    &ENDPOINT_ACCOUNT,
                    &format!(
                        "{}/accounts({id})?$select={}",
                        self.api,
                        mapping::ACCOUNT_SELECT
                    ),
                )
                .await?,
            ),
            _ => None,
        };
        let currency = match mapping::text(&opp, "_transactioncurrencyid_value") {
            id if check_id(&id, &ENDPOINT_CURRENCY).is_ok() => {
                let row = self
                    .get(
                        calls,
                        &ENDPOINT_CURRENCY,
                        &format!(
                            "{}/transactioncurrencies({id})?$select=isocurrencycode",
                            self.api
                        ),
                    )
                    .await?;
                mapping::text(&row, "isocurrencycode").to_ascii_uppercase()
            }
            _ => self.config.deal_to_order.default_currency.clone(),
        };
        let lines = self.lines(calls, deal_id).await?;
        let mut products: Vec<Value> = Vec::new();
        for line in &lines {
            let id = mapping::text(line, "_productid_value");
            if check_id(&id, &ENDPOINT_PRODUCT).is_ok()
                && !products.iter().any(|p| mapping::text(p, "productid") == id)
            {
                products.push(
                    self.get(
                        calls,
                        &ENDPOINT_PRODUCT,
                        &format!(
                            "{}/products({id})?$select=productid,name,productnumber",
                            self.api
                        ),
                    )
                    .await?,
                );
            }
        }
        mapping::map_deal(
            write_back,
            &currency,
            &opp,
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
        let mut body =
            json!({ self.config.deal_to_order.write_back_field.as_str(): order.order_number });
        if !self.config.deal_to_order.sync_status_field.is_empty() {
            body[self.config.deal_to_order.sync_status_field.as_str()] = json!("synced");
        }
        self.update(calls, deal_id, body).await
    }

    async fn flag_sync_error(
        &self,
        deal_id: &str,
        reason: &str,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_TASK)?;
        if !self.config.deal_to_order.sync_status_field.is_empty() {
            self.update(
                calls,
                deal_id,
                json!({ self.config.deal_to_order.sync_status_field.as_str(): "error" }),
            )
            .await?;
        }
        // A task regarding the opportunity, in its owner's activities.
        let task = json!({
            "subject": "ERP sync failed",
            "description": reason.chars().take(2000).collect::<String>(),
            "prioritycode": 2,
            "scheduledend": Utc::now().to_rfc3339(),
            // The task's single-valued navigation property for an opportunity
            // (the regarding lookup is polymorphic: one property per table).
            "regardingobjectid_opportunity_task@odata.bind": format!("/opportunities({deal_id})"),
        });
        let key = task_key(deal_id, reason);
        match self
            .call(
                calls,
                &ENDPOINT_TASK,
                &format!("{}/tasks({key})", self.api),
                Some(&task),
            )
            .await
        {
            // 412: the task of this opportunity and reason exists already.
            Err(err) if err.http_status == 412 => Ok(()),
            result => result.map(drop),
        }
    }
}

/// The key of the failure task of (opportunity, reason): a name-based GUID
/// (RFC 9562 version 8, from SHA-256), the same on every retry.
fn task_key(deal_id: &str, reason: &str) -> String {
    name_guid(&format!("crmerp-flag\n{deal_id}\n{reason}"))
}

/// A name-based GUID of `name` (RFC 9562 version 8, from SHA-256): the same
/// row id for the same name on every retry.
fn name_guid(name: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Dataverse ids are GUIDs; nothing else may reach a URL.
fn check_id(id: &str, endpoint: &str) -> Result<(), ConnectorError> {
    if crate::mapping::is_guid(id) {
        Ok(())
    } else {
        Err(ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::Validation,
            SYSTEM,
            endpoint,
            format!("invalid Dataverse id {id:?}"),
        ))
    }
}

#[cfg(test)]
mod tests;
