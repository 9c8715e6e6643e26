//! The vendor-neutral ports every CRM and ERP implementation provides.

use async_trait::async_trait;
use crmerp_proto::{Account, Deal, RecordRef, SalesOrder};

use crate::{CallLog, ConnectorError};

/// A CRM: the source of deals and the place ERP facts are written back to.
#[async_trait]
pub trait CrmConnector: Send + Sync {
    /// Short system name used in references and outcomes, e.g. `"hubspot"`.
    fn system(&self) -> &'static str;

    /// Reads a deal with its line items, account and shipping address.
    async fn fetch_deal(&self, deal_id: &str, calls: &CallLog) -> Result<Deal, ConnectorError>;

    /// Writes the ERP order number back onto the deal and clears any sync-error flag.
    /// Idempotent: writing the same order twice leaves the deal unchanged.
    async fn write_back_order(
        &self,
        deal_id: &str,
        order: &SalesOrder,
        calls: &CallLog,
    ) -> Result<(), ConnectorError>;

    /// Flags the deal as failed to sync, with a reason a salesperson can act on.
    async fn flag_sync_error(
        &self,
        deal_id: &str,
        reason: &str,
        calls: &CallLog,
    ) -> Result<(), ConnectorError>;

    /// A cheap authenticated read used to tell whether the CRM is back after an
    /// outage or a credentials problem (the flow's circuit breaker calls it).
    async fn probe(&self) -> Result<(), ConnectorError>;
}

/// What the ERP needs to create a sales order for a won deal.
#[derive(Debug, Clone)]
pub struct OrderRequest<'a> {
    /// Stable reference to the CRM deal; the ERP's external id, so a retry finds the order.
    pub external_ref: &'a str,
    /// The ERP customer the order is for.
    pub customer: &'a RecordRef,
    /// The hydrated, validated deal (lines, prices, shipping address).
    pub deal: &'a Deal,
}

/// An ERP: where customers and sales orders live.
#[async_trait]
pub trait ErpConnector: Send + Sync {
    /// Short system name used in references and outcomes, e.g. `"netsuite"`.
    fn system(&self) -> &'static str;

    /// Finds the ERP customer for a CRM account, by the account's external reference.
    async fn find_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<Option<RecordRef>, ConnectorError>;

    /// Creates the ERP customer for a CRM account, keyed by the account's external reference.
    async fn create_customer(
        &self,
        account: &Account,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError>;

    /// Finds an order by its external reference (the CRM deal reference).
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError>;

    /// Creates an order. Callers look it up with [`ErpConnector::find_order`] first;
    /// the ERP's own external-id uniqueness is the second line of defence.
    async fn create_order(
        &self,
        request: &OrderRequest<'_>,
        calls: &CallLog,
    ) -> Result<SalesOrder, ConnectorError>;

    /// A cheap authenticated read used to tell whether the ERP is back.
    async fn probe(&self) -> Result<(), ConnectorError>;
}
