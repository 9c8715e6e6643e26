//! NetSuite REST Record Service v1 with token-based authentication, as
//! an ERP providing [`CustomerMaster`], [`OrderSink`] and
//! [`OrderStatusSource`](crate::ports::OrderStatusSource) ([`status`]).

mod config;
mod errors;
mod fulfilment;
mod items;
pub mod oauth1;
mod payload;
mod request;
mod status;

use async_trait::async_trait;
use chrono::Utc;
use crmerp_proto::{Account, RecordRef, SalesOrder};
use serde::Deserialize;

pub(crate) use config::MOVED;
pub use config::{DealToOrderFields, NetSuiteConfig};
pub use fulfilment::FulfilmentFields;

use self::errors::FIX_ERP_REFERENCE;
use self::items::ItemCache;
use self::payload::{check_internal_id, missing};
use self::request::TbaAuth;
use crate::config::ConfigError;
use crate::endpoint;
use crate::http_kit::{Endpoint, VendorClient};
use crate::ports::{Capabilities, CustomerMaster, OrderRequest, OrderSink, Role, System};
use crate::{CallLog, ConnectorError, ErrorCategory};

/// System name in references, outcomes and metrics.
pub const SYSTEM: &str = "netsuite";

const RECORD_PATH: &str = "/services/rest/record/v1";
const ENDPOINT_FIND_CUSTOMER: Endpoint =
    endpoint!(GET "/services/rest/record/v1/customer/eid:{externalId}");
const ENDPOINT_CREATE_CUSTOMER: Endpoint = endpoint!(POST "/services/rest/record/v1/customer");
const ENDPOINT_FIND_ORDER: Endpoint =
    endpoint!(GET "/services/rest/record/v1/salesOrder/eid:{externalId}");
const ENDPOINT_CREATE_ORDER: Endpoint = endpoint!(POST "/services/rest/record/v1/salesOrder");
const ENDPOINT_ORDER_NUMBER: Endpoint = endpoint!(GET "/services/rest/record/v1/salesOrder/{id}");
const ENDPOINT_PROBE: Endpoint = endpoint!(GET "/services/rest/record/v1/customer");

/// The NetSuite connector. Share one value behind an `Arc`: it holds the SKU cache.
#[derive(Debug)]
pub struct NetSuiteErp {
    config: NetSuiteConfig,
    base_url: String,
    http: VendorClient<TbaAuth>,
    items: ItemCache,
}

/// A record read with `?fields=…`; NetSuite always includes `id`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordFields {
    id: String,
    #[serde(default)]
    tran_id: Option<String>,
    #[serde(default)]
    entity: Option<Reference>,
}

#[derive(Debug, Deserialize)]
struct Reference {
    id: String,
}

/// A collection page: ids only.
#[derive(Debug, Deserialize)]
struct Collection {
    #[serde(default)]
    items: Vec<Reference>,
}

impl NetSuiteErp {
    /// Validates `config` and wraps `client` (see [`crate::http_client::build_client`]).
    pub fn new(config: NetSuiteConfig, client: reqwest::Client) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            base_url: config.effective_base_url(),
            http: VendorClient::new(
                SYSTEM,
                client,
                TbaAuth {
                    realm: config.realm(),
                    consumer_key: config.consumer_key.clone(),
                    consumer_secret: config.consumer_secret.clone(),
                    token_id: config.token_id.clone(),
                    token_secret: config.token_secret.clone(),
                },
                errors::classify,
            ),
            items: ItemCache::new(config.item_cache_capacity),
            config,
        })
    }

    /// The validated settings.
    pub fn config(&self) -> &NetSuiteConfig {
        &self.config
    }
}

fn record_ref(object_type: &str, id: &str) -> RecordRef {
    RecordRef {
        system: SYSTEM.to_owned(),
        object_type: object_type.to_owned(),
        id: id.to_owned(),
    }
}

impl NetSuiteErp {
    /// The ports this ERP provides, for the registry.
    pub fn capabilities(self: std::sync::Arc<Self>) -> Capabilities {
        Capabilities::new(Role::Erp, self.clone())
            .with_customer_master(self.clone())
            .with_order_sink(self.clone())
            .with_order_status_source(self)
    }
}

#[async_trait]
impl System for NetSuiteErp {
    fn system(&self) -> &'static str {
        SYSTEM
    }

    async fn probe(&self) -> Result<(), ConnectorError> {
        let path = format!("{RECORD_PATH}/customer");
        self.call(
            &CallLog::new(),
            &ENDPOINT_PROBE,
            &path,
            &[("limit", "1")],
            None,
        )
        .await
        .map(drop)
    }
}

#[async_trait]
impl CustomerMaster for NetSuiteErp {
    async fn find_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<Option<RecordRef>, ConnectorError> {
        let external_id = payload::customer_external_id(
            &self.config.external_id_prefix,
            account,
            &ENDPOINT_FIND_CUSTOMER,
        )?;
        let path = format!("{RECORD_PATH}/customer/eid:{external_id}");
        let found = self
            .find(calls, &ENDPOINT_FIND_CUSTOMER, &path, "externalId")
            .await?;
        found
            .map(|record| {
                check_internal_id(&record.id, "customer", &ENDPOINT_FIND_CUSTOMER)
                    .map(|id| record_ref("customer", id))
            })
            .transpose()
    }

    async fn create_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        let external_id = payload::customer_external_id(
            &self.config.external_id_prefix,
            account,
            &ENDPOINT_CREATE_CUSTOMER,
        )?;
        if account.name.trim().is_empty() {
            return Err(missing(
                &ENDPOINT_CREATE_CUSTOMER,
                "account.name",
                "the account has no name",
            ));
        }
        let body = payload::customer_body(
            account,
            &external_id,
            self.config.deal_to_order.subsidiary_id.as_deref(),
        );
        let path = format!("{RECORD_PATH}/customer");
        match self
            .call(calls, &ENDPOINT_CREATE_CUSTOMER, &path, &[], Some(&body))
            .await
        {
            Ok(response) => Ok(record_ref(
                "customer",
                &errors::location_id(&response, &ENDPOINT_CREATE_CUSTOMER)?,
            )),
            // A concurrent create won the race: use its record.
            Err(err) if err.category == ErrorCategory::Duplicate => {
                self.find_customer(account, calls).await?.ok_or(err)
            }
            Err(err) => Err(err),
        }
    }
}

#[async_trait]
impl OrderSink for NetSuiteErp {
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError> {
        let external_id = payload::order_external_id(
            &self.config.external_id_prefix,
            external_ref,
            &ENDPOINT_FIND_ORDER,
        )?;
        let path = format!("{RECORD_PATH}/salesOrder/eid:{external_id}");
        let Some(record) = self
            .find(
                calls,
                &ENDPOINT_FIND_ORDER,
                &path,
                "tranId,externalId,entity",
            )
            .await?
        else {
            return Ok(None);
        };
        check_internal_id(&record.id, "sales order", &ENDPOINT_FIND_ORDER)?;
        Ok(Some(SalesOrder {
            r#ref: Some(record_ref("salesOrder", &record.id)),
            order_number: record.tran_id.unwrap_or_default(),
            external_ref: external_ref.to_owned(),
            customer: record.entity.map(|e| record_ref("customer", &e.id)),
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
        let external_id = payload::order_external_id(
            &self.config.external_id_prefix,
            request.external_ref,
            endpoint,
        )?;
        let customer_id = check_internal_id(&request.customer.id, "customer", endpoint)?;
        let deal = request.deal;
        if deal.line_items.is_empty() {
            return Err(missing(
                endpoint,
                "line_items",
                "the deal has no line items",
            ));
        }
        let mut item_ids = Vec::with_capacity(deal.line_items.len());
        for line in &deal.line_items {
            item_ids.push(self.resolve_item(&line.sku, calls).await?);
        }
        let body = payload::order_body(
            deal,
            customer_id,
            &external_id,
            &item_ids,
            Utc::now().date_naive(),
            endpoint,
        )?;
        let path = format!("{RECORD_PATH}/salesOrder");
        let id = match self.call(calls, endpoint, &path, &[], Some(&body)).await {
            Ok(response) => errors::location_id(&response, endpoint)?,
            Err(err) if err.category == ErrorCategory::Duplicate => {
                return self
                    .find_order(request.external_ref, calls)
                    .await?
                    .ok_or(err);
            }
            Err(err) => {
                if err.resolution.as_deref() == Some(FIX_ERP_REFERENCE) {
                    // A cached item may have been deleted or replaced; look SKUs up afresh next time.
                    self.items.clear();
                }
                return Err(err);
            }
        };
        let path = format!("{RECORD_PATH}/salesOrder/{id}");
        let tran_id = self
            .call(
                calls,
                &ENDPOINT_ORDER_NUMBER,
                &path,
                &[("fields", "tranId")],
                None,
            )
            .await?
            .json::<RecordFields>(SYSTEM, &ENDPOINT_ORDER_NUMBER)?
            .tran_id
            .unwrap_or_default();
        Ok(SalesOrder {
            r#ref: Some(record_ref("salesOrder", &id)),
            order_number: tran_id,
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
