//! Capability ports: one small trait per thing a vendor can do for a flow.
//!
//! Every port extends [`System`] (name and health probe). A vendor implements
//! the ports it really has and hands them out as one [`Capabilities`] bundle
//! (built by [`crate::registry`]); a flow asks the bundle for the ports it needs
//! at start-up, and a missing one is a [`MissingCapability`] error naming the
//! vendor, the capability and the flow, before any event is consumed.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmerp_proto::{Account, Deal, OrderStatus, OrderStatusChanged, RecordRef, SalesOrder};

use crate::{CallLog, ConnectorError};

/// What every port shares: the vendor's name and a health probe.
#[async_trait]
pub trait System: Send + Sync {
    /// Short system name used in references and outcomes, e.g. `"hubspot"`.
    fn system(&self) -> &'static str;

    /// A cheap authenticated read used to tell whether the vendor is back after
    /// an outage or a credentials problem (the flow's circuit breaker calls it).
    async fn probe(&self) -> Result<(), ConnectorError>;
}

/// A CRM's won deals: read one, record its ERP order on it, or flag it as failed.
#[async_trait]
pub trait DealSource: System {
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
}

/// An ERP's customer master: find or create the customer for a CRM account.
#[async_trait]
pub trait CustomerMaster: System {
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

/// An ERP's sales orders: find one by its external reference, or create it.
#[async_trait]
pub trait OrderSink: System {
    /// Finds an order by its external reference (the CRM deal reference).
    async fn find_order(
        &self,
        external_ref: &str,
        calls: &CallLog,
    ) -> Result<Option<SalesOrder>, ConnectorError>;

    /// Creates an order. Callers look it up with [`OrderSink::find_order`] first;
    /// the ERP's own external-id uniqueness is the second line of defence.
    async fn create_order(
        &self,
        request: &OrderRequest<'_>,
        calls: &CallLog,
    ) -> Result<SalesOrder, ConnectorError>;
}

/// An ERP's fulfilment view of its sales orders: where one stands now.
#[async_trait]
pub trait OrderStatusSource: System {
    /// The current fulfilment status of the ERP order `order` (a
    /// [`SalesOrder::ref`](crmerp_proto::SalesOrder)) with its shipments and
    /// the ERP's own change time; `None` when the ERP has no such order.
    async fn order_status(
        &self,
        order: &RecordRef,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError>;
}

/// A CRM's deal record as operations correct it: an operator's correction of a
/// dead-lettered deal (e.g. the missing shipping address) written back to the
/// record, so the CRM and the ERP order agree.
#[async_trait]
pub trait DealEditor: System {
    /// The canonical deal fields (lowerCamelCase JSON names, e.g.
    /// `shippingAddress`) this CRM can write back with the configured field maps.
    fn editable_fields(&self) -> Vec<&'static str>;

    /// Writes `fields` (each one of [`DealEditor::editable_fields`]) of
    /// `corrected` to the CRM deal `deal_id`.
    async fn apply_correction(
        &self,
        deal_id: &str,
        corrected: &Deal,
        fields: &[&str],
        calls: &CallLog,
    ) -> Result<(), ConnectorError>;
}

/// One entry for a CRM record's activity timeline (what the ERP or a carrier
/// did), written on the deal and, where the CRM links activities to more than
/// one record, on its account too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// Stable idempotency key, unique per business fact (e.g.
    /// `netsuite-salesOrder-77-dispatched-<source event>`): writing the same key
    /// twice leaves one entry.
    pub key: String,
    /// The CRM deal the activity is about.
    pub deal_id: String,
    /// The deal's account in the CRM, when known (the connector looks it up otherwise).
    pub account_id: Option<String>,
    /// One-line title, e.g. `Order SO-1042 dispatched with DHL`.
    pub subject: String,
    /// Plain-text detail (tracking number, ERP reason, ...).
    pub body: String,
    /// When it happened in the source system; the timeline is ordered by it.
    pub occurred_at: DateTime<Utc>,
}

/// A CRM's activity timeline: where the sales team reads what happened to a deal.
#[async_trait]
pub trait ActivityTimeline: System {
    /// Writes `activity` unless an entry with its key exists; returns the CRM record.
    async fn record_activity(
        &self,
        activity: &Activity,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError>;
}

/// A follow-up task for the person who owns the customer relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpTask {
    /// Stable idempotency key: creating the same key twice leaves one task.
    pub key: String,
    /// The CRM deal the task is about.
    pub deal_id: String,
    /// The deal's account, when known (the connector looks it up otherwise).
    pub account_id: Option<String>,
    /// One-line title, e.g. `Delivery failed: SO-1042`.
    pub subject: String,
    /// What happened and the suggested message to the customer.
    pub body: String,
    /// When the task is due; the CRM's default when `None`.
    pub due_at: Option<DateTime<Utc>>,
}

/// A CRM's tasks: work assigned to a person (the account's owner, falling back
/// to the deal's owner, which the connector looks up).
#[async_trait]
pub trait FollowUpTasks: System {
    /// Creates `task` for the account's owner unless a task with its key
    /// exists; returns the CRM task record.
    async fn create_task(
        &self,
        task: &FollowUpTask,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError>;
}

/// Where a deal's order stands in fulfilment, as written onto the deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentUpdate {
    /// The order's canonical status.
    pub status: OrderStatus,
    /// The ERP's order number, e.g. `SO-1042`.
    pub order_number: String,
    /// Carrier of the (latest) shipment, when dispatched.
    pub carrier: Option<String>,
    /// Its tracking number.
    pub tracking_number: Option<String>,
    /// Its public tracking page.
    pub tracking_url: Option<String>,
    /// When the order was delivered, once it is.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// The lower-case canonical name of `status`, e.g. `dispatched` or
/// `partially_delivered`, as CRMs show it on deals and timelines.
pub fn order_status_label(status: OrderStatus) -> String {
    status
        .as_str_name()
        .trim_start_matches("ORDER_STATUS_")
        .to_ascii_lowercase()
}

/// A CRM deal's fulfilment fields (status, carrier, tracking number and URL,
/// delivered time), mapped to the deal's properties by configuration. A
/// property change is also what a CRM workflow reacts to, e.g. to e-mail the
/// customer on dispatch.
#[async_trait]
pub trait DealFulfilment: System {
    /// Writes `update` onto the deal; idempotent.
    async fn write_fulfilment(
        &self,
        deal_id: &str,
        update: &FulfilmentUpdate,
        calls: &CallLog,
    ) -> Result<(), ConnectorError>;
}

/// Which side of an integration a vendor sits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A CRM: deals, accounts and the sales team's view.
    Crm,
    /// An ERP: customers, orders, fulfilment and invoices.
    Erp,
}

impl Role {
    /// The configuration prefix and table label, `crm` or `erp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crm => "crm",
            Self::Erp => "erp",
        }
    }
}

/// A capability a vendor may declare; one per port trait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// [`DealSource`].
    DealSource,
    /// [`CustomerMaster`].
    CustomerMaster,
    /// [`OrderSink`].
    OrderSink,
    /// [`OrderStatusSource`].
    OrderStatusSource,
    /// [`DealEditor`].
    DealEditor,
    /// [`ActivityTimeline`].
    ActivityTimeline,
    /// [`FollowUpTasks`].
    FollowUpTasks,
    /// [`DealFulfilment`].
    DealFulfilment,
}

impl Capability {
    /// Every capability, in the order the support table lists them.
    pub const ALL: &'static [Capability] = &[
        Capability::DealSource,
        Capability::CustomerMaster,
        Capability::OrderSink,
        Capability::OrderStatusSource,
        Capability::DealEditor,
        Capability::ActivityTimeline,
        Capability::FollowUpTasks,
        Capability::DealFulfilment,
    ];

    /// The name used in errors, docs and the support table, e.g. `order sink`.
    pub fn name(self) -> &'static str {
        match self {
            Self::DealSource => "deal source",
            Self::CustomerMaster => "customer master",
            Self::OrderSink => "order sink",
            Self::OrderStatusSource => "order status source",
            Self::DealEditor => "deal editor",
            Self::ActivityTimeline => "activity timeline",
            Self::FollowUpTasks => "follow-up tasks",
            Self::DealFulfilment => "deal fulfilment",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A flow needs a capability the configured vendor does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "flow `{flow}` needs the {capability} capability, which {system} ({role}) does not provide; it provides: {provided}"
)]
pub struct MissingCapability {
    /// The flow asking, e.g. `deal-to-order`.
    pub flow: String,
    /// What it asked for.
    pub capability: Capability,
    /// The configured vendor, e.g. `pipedrive`.
    pub system: &'static str,
    /// The vendor's side, `crm` or `erp`.
    pub role: &'static str,
    /// The capabilities the vendor does declare, comma-separated.
    pub provided: String,
}

/// The ports one configured vendor provides, handed to flows at start-up.
#[derive(Clone)]
pub struct Capabilities {
    role: Role,
    base: Arc<dyn System>,
    deal_source: Option<Arc<dyn DealSource>>,
    customer_master: Option<Arc<dyn CustomerMaster>>,
    order_sink: Option<Arc<dyn OrderSink>>,
    order_status_source: Option<Arc<dyn OrderStatusSource>>,
    deal_editor: Option<Arc<dyn DealEditor>>,
    activity_timeline: Option<Arc<dyn ActivityTimeline>>,
    follow_up_tasks: Option<Arc<dyn FollowUpTasks>>,
    deal_fulfilment: Option<Arc<dyn DealFulfilment>>,
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capabilities")
            .field("system", &self.system())
            .field("role", &self.role)
            .field("declared", &self.declared())
            .finish()
    }
}

impl Capabilities {
    /// A bundle with no capability yet; `base` answers [`System`] for the vendor.
    pub fn new(role: Role, base: Arc<dyn System>) -> Self {
        Self {
            role,
            base,
            deal_source: None,
            customer_master: None,
            order_sink: None,
            order_status_source: None,
            deal_editor: None,
            activity_timeline: None,
            follow_up_tasks: None,
            deal_fulfilment: None,
        }
    }

    /// Declares the [`DealSource`] port.
    #[must_use]
    pub fn with_deal_source(mut self, port: Arc<dyn DealSource>) -> Self {
        self.deal_source = Some(port);
        self
    }

    /// Declares the [`CustomerMaster`] port.
    #[must_use]
    pub fn with_customer_master(mut self, port: Arc<dyn CustomerMaster>) -> Self {
        self.customer_master = Some(port);
        self
    }

    /// Declares the [`OrderSink`] port.
    #[must_use]
    pub fn with_order_sink(mut self, port: Arc<dyn OrderSink>) -> Self {
        self.order_sink = Some(port);
        self
    }

    /// Declares the [`OrderStatusSource`] port.
    #[must_use]
    pub fn with_order_status_source(mut self, port: Arc<dyn OrderStatusSource>) -> Self {
        self.order_status_source = Some(port);
        self
    }

    /// Declares the [`DealEditor`] port.
    #[must_use]
    pub fn with_deal_editor(mut self, port: Arc<dyn DealEditor>) -> Self {
        self.deal_editor = Some(port);
        self
    }

    /// Declares the [`ActivityTimeline`] port.
    #[must_use]
    pub fn with_activity_timeline(mut self, port: Arc<dyn ActivityTimeline>) -> Self {
        self.activity_timeline = Some(port);
        self
    }

    /// Declares the [`FollowUpTasks`] port.
    #[must_use]
    pub fn with_follow_up_tasks(mut self, port: Arc<dyn FollowUpTasks>) -> Self {
        self.follow_up_tasks = Some(port);
        self
    }

    /// Declares the [`DealFulfilment`] port.
    #[must_use]
    pub fn with_deal_fulfilment(mut self, port: Arc<dyn DealFulfilment>) -> Self {
        self.deal_fulfilment = Some(port);
        self
    }

    /// The vendor's system name.
    pub fn system(&self) -> &'static str {
        self.base.system()
    }

    /// The vendor's side.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The vendor's name and probe, whatever it provides.
    pub fn base(&self) -> Arc<dyn System> {
        Arc::clone(&self.base)
    }

    /// Every capability the vendor declares, in [`Capability::ALL`] order.
    pub fn declared(&self) -> Vec<Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(|capability| self.has(*capability))
            .collect()
    }

    /// True when the vendor declares `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        match capability {
            Capability::DealSource => self.deal_source.is_some(),
            Capability::CustomerMaster => self.customer_master.is_some(),
            Capability::OrderSink => self.order_sink.is_some(),
            Capability::OrderStatusSource => self.order_status_source.is_some(),
            Capability::DealEditor => self.deal_editor.is_some(),
            Capability::ActivityTimeline => self.activity_timeline.is_some(),
            Capability::FollowUpTasks => self.follow_up_tasks.is_some(),
            Capability::DealFulfilment => self.deal_fulfilment.is_some(),
        }
    }

    /// The [`DealSource`] port for `flow`, or an error naming what is missing.
    pub fn deal_source(&self, flow: &str) -> Result<Arc<dyn DealSource>, MissingCapability> {
        self.require(flow, Capability::DealSource, self.deal_source.clone())
    }

    /// The [`CustomerMaster`] port for `flow`, or an error naming what is missing.
    pub fn customer_master(
        &self,
        flow: &str,
    ) -> Result<Arc<dyn CustomerMaster>, MissingCapability> {
        self.require(
            flow,
            Capability::CustomerMaster,
            self.customer_master.clone(),
        )
    }

    /// The [`OrderSink`] port for `flow`, or an error naming what is missing.
    pub fn order_sink(&self, flow: &str) -> Result<Arc<dyn OrderSink>, MissingCapability> {
        self.require(flow, Capability::OrderSink, self.order_sink.clone())
    }

    /// The [`OrderStatusSource`] port for `flow`, or an error naming what is missing.
    pub fn order_status_source(
        &self,
        flow: &str,
    ) -> Result<Arc<dyn OrderStatusSource>, MissingCapability> {
        self.require(
            flow,
            Capability::OrderStatusSource,
            self.order_status_source.clone(),
        )
    }

    /// The [`DealEditor`] port for `flow`, or an error naming what is missing.
    pub fn deal_editor(&self, flow: &str) -> Result<Arc<dyn DealEditor>, MissingCapability> {
        self.require(flow, Capability::DealEditor, self.deal_editor.clone())
    }

    /// The [`ActivityTimeline`] port for `flow`, or an error naming what is missing.
    pub fn activity_timeline(
        &self,
        flow: &str,
    ) -> Result<Arc<dyn ActivityTimeline>, MissingCapability> {
        self.require(
            flow,
            Capability::ActivityTimeline,
            self.activity_timeline.clone(),
        )
    }

    /// The [`FollowUpTasks`] port for `flow`, or an error naming what is missing.
    pub fn follow_up_tasks(&self, flow: &str) -> Result<Arc<dyn FollowUpTasks>, MissingCapability> {
        self.require(
            flow,
            Capability::FollowUpTasks,
            self.follow_up_tasks.clone(),
        )
    }

    /// The [`DealFulfilment`] port for `flow`, or an error naming what is missing.
    pub fn deal_fulfilment(
        &self,
        flow: &str,
    ) -> Result<Arc<dyn DealFulfilment>, MissingCapability> {
        self.require(
            flow,
            Capability::DealFulfilment,
            self.deal_fulfilment.clone(),
        )
    }

    fn require<P: ?Sized>(
        &self,
        flow: &str,
        capability: Capability,
        port: Option<Arc<P>>,
    ) -> Result<Arc<P>, MissingCapability> {
        port.ok_or_else(|| MissingCapability {
            flow: flow.to_owned(),
            capability,
            system: self.system(),
            role: self.role.as_str(),
            provided: self
                .declared()
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Probe;

    #[async_trait]
    impl System for Probe {
        fn system(&self) -> &'static str {
            "probe-only"
        }
        async fn probe(&self) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    #[test]
    fn a_missing_port_names_the_flow_the_capability_and_the_vendor() {
        let bundle = Capabilities::new(Role::Erp, Arc::new(Probe));
        assert!(bundle.declared().is_empty());
        let err = bundle.order_sink("deal-to-order").err().expect("missing");
        let text = err.to_string();
        for part in ["deal-to-order", "order sink", "probe-only", "erp"] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
    }
}
