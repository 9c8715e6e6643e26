//! Oracle Fusion Cloud Order Management REST (`salesOrdersForOrderHub`) as
//! an ERP providing [`CustomerMaster`] and [`OrderSink`].
//!
//! Orders carry the CRM deal reference as `SourceTransactionNumber` and
//! `SourceTransactionId` under our `SourceTransactionSystem`, which is how
//! Order Management identifies an order from an external system (its
//! `OrderKey` is `{system}:{id}`); look-ups use the `?q=` finder. The REST
//! service neither creates customers nor cross-references them, so customers
//! are CRM `accounts` carrying our `SourceSystem` reference.

mod config;
mod errors;
mod fulfilment;
mod payload;
mod status;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Account, RecordRef, SalesOrder};
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub(crate) use config::MOVED;
pub use config::{DealToOrderFields, OracleFusionConfig};
pub use fulfilment::FulfilmentFields;

use crate::config::ConfigError;
use crate::endpoint;
use crate::http_client::{VendorResponse, encode_segment, protocol_error};
use crate::http_kit::{Endpoint, HeaderAuth, VendorClient};
use crate::mapping::{account_name, account_ref, missing, short_key};
use crate::ports::{Capabilities, CustomerMaster, OrderRequest, OrderSink, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "oraclefusion";

/// The REST framework version we speak: JSON error bodies, `q` row-match expressions.
const FRAMEWORK_VERSION: &str = "4";
const ENDPOINT_FIND_CUSTOMER: Endpoint =
    endpoint!(GET "/crmRestApi/resources/{v}/accounts?q=SourceSystemReferenceValue");
const ENDPOINT_CREATE_CUSTOMER: Endpoint = endpoint!(POST "/crmRestApi/resources/{v}/accounts");
const ENDPOINT_FIND_ORDER: Endpoint =
    endpoint!(GET "/fscmRestApi/resources/{v}/salesOrdersForOrderHub?q=SourceTransactionNumber");
const ENDPOINT_CREATE_ORDER: Endpoint =
    endpoint!(POST "/fscmRestApi/resources/{v}/salesOrdersForOrderHub");
const ENDPOINT_PROBE: Endpoint =
    endpoint!(GET "/fscmRestApi/resources/{v}/salesOrdersForOrderHub?limit=1");
/// `SourceSystemReferenceValue` keys are kept short and stable.
const MAX_CUSTOMER_KEY: usize = 30;

/// The Oracle Fusion connector. Share one value behind an `Arc`: it holds the token cache.
#[derive(Debug)]
pub struct OracleFusionErp {
    config: OracleFusionConfig,
    http: VendorClient<HeaderAuth>,
}

/// A collection page: `{items, count, hasMore, limit, offset, links}`.
#[derive(Debug, Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Party {
    party_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Order {
    header_id: i64,
    #[serde(default)]
    order_number: Option<String>,
    #[serde(default)]
    buying_party_id: Option<i64>,
}

impl OracleFusionErp {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: OracleFusionConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            http: VendorClient::new(
                SYSTEM,
                client.clone(),
                config.auth.authenticator(SYSTEM, client)?,
                errors::classify,
            ),
            config,
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &OracleFusionConfig {
        &self.config
    }

    /// One authorised call; the kit renews a rejected bearer token once.
    async fn call(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        url: &str,
        body: Option<&Value>,
    ) -> Result<VendorResponse, ConnectorError> {
        self.http
            .send(calls, endpoint, url, |mut request| {
                request = request
                    .header(ACCEPT, "application/json")
                    .header("REST-Framework-Version", FRAMEWORK_VERSION);
                if let Some(body) = body {
                    request = request
                        .header(CONTENT_TYPE, "application/vnd.oracle.adf.resourceitem+json")
                        .body(body.to_string());
                }
                request
            })
            .await
    }

    /// The first item matching a `q` row-match expression.
    async fn first<T: DeserializeOwned>(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        collection: &str,
        q: &str,
        fields: &str,
    ) -> Result<Option<T>, ConnectorError> {
        let url = format!(
            "{collection}?q={}&fields={fields}&onlyData=true&limit=1",
            encode_segment(q)
        );
        let page: Page<T> = self
            .call(calls, endpoint, &url, None)
            .await?
            .json(SYSTEM, endpoint)?;
        Ok(page.items.into_iter().next())
    }

    fn customer_key(&self, account: &Account, endpoint: &str) -> Result<String, ConnectorError> {
        Ok(short_key(
            "",
            account_ref(SYSTEM, account, endpoint)?,
            MAX_CUSTOMER_KEY,
        ))
    }
}

/// A `q` string literal: single quotes doubled.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

impl OracleFusionErp {
    /// The ports this ERP provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Erp, self.clone())
            .with_customer_master(self.clone())
            .with_order_sink(self.clone())
            .with_order_status_source(self)
    }
}

#[async_trait]
impl System for OracleFusionErp {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let url = format!(
            "{}/salesOrdersForOrderHub?limit=1&onlyData=true&fields=HeaderId",
            self.config.fscm_root()
        );
        self.call(&CallLog::new(), &ENDPOINT_PROBE, &url, None)
            .await
            .map(drop)
    }
}

#[async_trait]
impl CustomerMaster for OracleFusionErp {
    async fn find_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<Option<RecordRef>, ConnectorError> {
        let key = self.customer_key(account, &ENDPOINT_FIND_CUSTOMER)?;
        let q = format!(
            "SourceSystem={} and SourceSystemReferenceValue={}",
            literal(&self.config.source_transaction_system),
            literal(&key)
        );
        let url = format!("{}/accounts", self.config.crm_root());
        let found: Option<Party> = self
            .first(
                calls,
                &ENDPOINT_FIND_CUSTOMER,
                &url,
                &q,
                "PartyId,PartyNumber",
            )
            .await?;
        Ok(found.map(|p| record_ref("account", &p.party_id.to_string())))
    }

    async fn create_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        let key = self.customer_key(account, &ENDPOINT_CREATE_CUSTOMER)?;
        let name = account_name(SYSTEM, account, &ENDPOINT_CREATE_CUSTOMER)?;
        let body = payload::account_body(&self.config, account, &key, name);
        let url = format!("{}/accounts", self.config.crm_root());
        match self
            .call(calls, &ENDPOINT_CREATE_CUSTOMER, &url, Some(&body))
            .await
        {
            Ok(response) => {
                let party: Party = response.json(SYSTEM, &ENDPOINT_CREATE_CUSTOMER)?;
                Ok(record_ref("account", &party.party_id.to_string()))
            }
            Err(err) if err.category == ErrorCategory::Duplicate => {
                self.find_customer(account, calls).await?.ok_or(err)
            }
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl OrderSink for OracleFusionErp {
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError> {
        let reference = payload::source_transaction(external_ref, &ENDPOINT_FIND_ORDER)?;
        let q = format!(
            "SourceTransactionNumber={} and SourceTransactionSystem={}",
            literal(&reference),
            literal(&self.config.source_transaction_system)
        );
        let url = format!("{}/salesOrdersForOrderHub", self.config.fscm_root());
        let found: Option<Order> = self
            .first(
                calls,
                &ENDPOINT_FIND_ORDER,
                &url,
                &q,
                "HeaderId,OrderNumber,BuyingPartyId",
            )
            .await?;
        Ok(found.map(|order| SalesOrder {
            r#ref: Some(record_ref("salesOrder", &order.header_id.to_string())),
            order_number: order.order_number.unwrap_or_default(),
            external_ref: external_ref.to_owned(),
            customer: order
                .buying_party_id
                .map(|p| record_ref("account", &p.to_string())),
            created: false,
            ..SalesOrder::default()
        }))
    }

    async fn create_order(
        &self,
        request: &OrderRequest<'_>,
        calls: &CallLog,
    ) -> Result<SalesOrder, ConnectorError> {
        let endpoint = &ENDPOINT_CREATE_ORDER;
        let reference = payload::source_transaction(request.external_ref, endpoint)?;
        let deal = request.deal;
        if deal.line_items.is_empty() {
            return Err(missing(
                SYSTEM,
                endpoint,
                "line_items",
                "the deal has no line items",
            ));
        }
        let party_id: i64 = request.customer.id.parse().map_err(|_| {
            protocol_error(
                SYSTEM,
                endpoint,
                format!("invalid Oracle party id {:?}", request.customer.id),
            )
            .with_resolution("fix_erp_reference")
        })?;
        let body = payload::order_body(
            &self.config,
            &self.config.deal_to_order,
            deal,
            party_id,
            &reference,
            Utc::now(),
            endpoint,
        )?;
        let url = format!("{}/salesOrdersForOrderHub", self.config.fscm_root());
        let created: Order = match self.call(calls, endpoint, &url, Some(&body)).await {
            Ok(response) => response.json(SYSTEM, endpoint)?,
            Err(err) if err.category == ErrorCategory::Duplicate => {
                return self
                    .find_order(request.external_ref, calls)
                    .await?
                    .ok_or(err);
            }
            Err(err) => return Err(err),
        };
        Ok(SalesOrder {
            r#ref: Some(record_ref("salesOrder", &created.header_id.to_string())),
            order_number: created.order_number.unwrap_or_default(),
            external_ref: request.external_ref.to_owned(),
            customer: Some(request.customer.clone()),
            lines: deal.line_items.clone(),
            ship_to: deal.shipping_address.clone(),
            created: true,
        })
    }
}

#[cfg(test)]
mod tests;
