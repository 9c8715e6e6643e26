//! The fulfilment-sync business logic for one order-status event or carrier scan.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use crmerp_connector::{
    Activity, ConnectorError, ErrorCategory, ErrorKind, FollowUpTask,
    order_status_label as status_label,
};
use crmerp_flow::{
    Acquired, Attempt, Claim, Claims, Failure, Handler, OrderLink, OrderLinks, Success,
};
use crmerp_proto::{
    CarrierScan, CarrierScanStatus, Effect, EventEnvelope, OrderStatus, OrderStatusChanged,
    RecordRef, Shipment, event_envelope::Data, timestamp_to_chrono,
};

use crate::FLOW;
use crate::connectors::Ports;
use crate::state::{Fact, ShipmentInfo, StateStore, order_key, plan};
use crate::templates::{TaskContext, TaskTemplates};

/// Resolution of an event about an order no deal is linked to: link the
/// order (deal-to-order does when it creates or finds it), then requeue.
pub const ORDER_NOT_LINKED: &str = "order_not_linked";

/// Turns order-status events and carrier scans into the deal's timeline,
/// fulfilment fields and follow-up tasks.
pub struct FulfilmentSync {
    ports: Ports,
    links: OrderLinks,
    state: StateStore,
    claims: Claims,
    templates: Arc<TaskTemplates>,
}

/// Everything written for one fact besides the state.
struct Step {
    fact: Fact,
    subject: String,
    body: String,
    /// The task's kind (a template name), when the fact needs a person.
    task: Option<&'static str>,
    reason: String,
    /// Tracking numbers to index for later carrier scans.
    tracking_numbers: Vec<String>,
}

fn permanent(category: ErrorCategory, action: &str, message: String) -> ConnectorError {
    ConnectorError::new(ErrorKind::Permanent, category, FLOW, action, message)
}

fn not_linked(message: String) -> Failure {
    Failure::vendor(
        permanent(ErrorCategory::MissingData, "find deal", message)
            .with_resolution(ORDER_NOT_LINKED),
        None,
    )
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn some_text(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The shipment a status event is about: the latest dispatched one with a
/// tracking number, else the first.
fn main_shipment(shipments: &[Shipment]) -> Option<&Shipment> {
    shipments
        .iter()
        .filter(|s| !s.tracking_number.trim().is_empty())
        .max_by_key(|s| s.dispatched_at.as_ref().and_then(timestamp_to_chrono))
        .or_else(|| shipments.first())
}

impl FulfilmentSync {
    /// A handler over the configured vendors' ports.
    pub fn new(
        ports: Ports,
        links: OrderLinks,
        state: StateStore,
        claims: Claims,
        templates: Arc<TaskTemplates>,
    ) -> Self {
        Self {
            ports,
            links,
            state,
            claims,
            templates,
        }
    }

    /// Wraps a vendor error, naming which side's credentials to check.
    fn vendor_failure(&self, error: ConnectorError, deal: Option<RecordRef>) -> Failure {
        let mut error = error;
        if error.resolution.is_none() && error.category == ErrorCategory::Unauthorized {
            let side = if error.system == self.ports.erp {
                "erp"
            } else {
                "crm"
            };
            error.resolution = Some(format!("check_{side}_credentials"));
        }
        Failure::vendor(error, deal)
    }

    /// The deal of `order`: by the ERP record, else by the external reference.
    async fn link_for(&self, order: &RecordRef, external_ref: &str) -> Result<OrderLink, Failure> {
        let store = |e: crmerp_flow::LinkError| Failure::vendor(e.into_connector_error(), None);
        if let Some(link) = self.links.by_order(order).await.map_err(store)? {
            return Ok(link);
        }
        if !external_ref.is_empty()
            && let Some(link) = self
                .links
                .by_external_ref(&order.system, external_ref)
                .await
                .map_err(store)?
        {
            return Ok(link);
        }
        Err(not_linked(format!(
            "no CRM deal is linked to {} {} {} (external reference {external_ref:?})",
            order.system, order.object_type, order.id
        )))
    }

    /// The order's status as the ERP reports it now (for events carrying ids only).
    async fn read_back(
        &self,
        order: &RecordRef,
        deal: &RecordRef,
        attempt: &Attempt,
    ) -> Result<OrderStatusChanged, Failure> {
        let Some(source) = &self.ports.status_source else {
            return Err(Failure::vendor(
                permanent(
                    ErrorCategory::Protocol,
                    "read back order status",
                    format!(
                        "the event names no status and {} cannot be asked for one",
                        self.ports.erp
                    ),
                )
                .with_resolution("discard_or_fix_producer"),
                Some(deal.clone()),
            ));
        };
        let current = source
            .order_status(order, &attempt.calls)
            .await
            .map_err(|e| self.vendor_failure(e, Some(deal.clone())))?;
        match current {
            Some(current) if current.status() != OrderStatus::Unspecified => Ok(current),
            Some(_) => Err(Failure::vendor(
                permanent(
                    ErrorCategory::Protocol,
                    "read back order status",
                    format!(
                        "{} reports no status for order {}",
                        self.ports.erp, order.id
                    ),
                ),
                Some(deal.clone()),
            )),
            None => Err(Failure::vendor(
                permanent(
                    ErrorCategory::NotFound,
                    "read back order status",
                    format!("{} has no order {}", self.ports.erp, order.id),
                ),
                Some(deal.clone()),
            )),
        }
    }

    /// The step an ERP status means.
    fn status_step(link: &OrderLink, changed: &OrderStatusChanged, event: &EventEnvelope) -> Step {
        let status = changed.status();
        let label = status_label(status);
        let at = changed
            .changed_at
            .as_ref()
            .or(event.time.as_ref())
            .and_then(timestamp_to_chrono);
        // The ERP's time names the fact; an event without one is named by its own id.
        let when = match at {
            Some(at) => at.timestamp_millis().to_string(),
            None => event
                .id
                .split(":requeue:")
                .next()
                .unwrap_or_default()
                .to_owned(),
        };
        let at = at.unwrap_or_else(Utc::now);
        let order = RecordRef::from(&link.order);
        let key = format!("{}-{label}-{when}", order_key(&order));
        let shipment = main_shipment(&changed.shipments);
        let info = ShipmentInfo {
            carrier: shipment.and_then(|s| some_text(&s.carrier)),
            tracking_number: shipment.and_then(|s| some_text(&s.tracking_number)),
            tracking_url: shipment.and_then(|s| some_text(&s.tracking_url)),
        };
        let delivered_at = (status == OrderStatus::Delivered).then(|| {
            changed
                .shipments
                .iter()
                .filter_map(|s| s.delivered_at.as_ref().and_then(timestamp_to_chrono))
                .max()
                .unwrap_or(at)
        });
        let reason = some_text(&changed.reason)
            .or_else(|| shipment.and_then(|s| some_text(&s.exception_reason)))
            .unwrap_or_default();
        let number = &link.order_number;
        let mut subject = format!("Order {number} {}", label.replace('_', " "));
        if status == OrderStatus::Dispatched
            && let Some(carrier) = &info.carrier
        {
            subject.push_str(&format!(" with {carrier}"));
        }
        let mut body = vec![format!(
            "{} reports order {number} {label} at {}.",
            order.system,
            rfc3339(at)
        )];
        if let Some(tracking) = &info.tracking_number {
            body.push(format!(
                "Tracking number: {tracking} ({})",
                info.carrier.as_deref().unwrap_or("carrier unknown")
            ));
        }
        if let Some(url) = &info.tracking_url {
            body.push(format!("Tracking: {url}"));
        }
        if !reason.is_empty() {
            body.push(format!("Reason: {reason}"));
        }
        let task = match status {
            OrderStatus::Exception => Some("exception"),
            OrderStatus::Cancelled => Some("cancelled"),
            OrderStatus::Returned => Some("returned"),
            _ => None,
        };
        Step {
            tracking_numbers: changed
                .shipments
                .iter()
                .filter_map(|s| some_text(&s.tracking_number))
                .collect(),
            fact: Fact {
                key,
                status,
                at,
                shipment: info,
                delivered_at,
                moves_deal: true,
            },
            subject,
            body: body.join("\n"),
            task,
            reason,
        }
    }

    /// The step a carrier scan means.
    fn scan_step(link: &OrderLink, scan: &CarrierScan, event: &EventEnvelope) -> Step {
        let at = scan
            .occurred_at
            .as_ref()
            .or(event.time.as_ref())
            .and_then(timestamp_to_chrono)
            .unwrap_or_else(Utc::now);
        let status = scan.status();
        let (canonical, moves_deal, task, what) = match status {
            CarrierScanStatus::Delivered => (OrderStatus::Delivered, true, None, "delivered"),
            CarrierScanStatus::FailedAttempt => (
                OrderStatus::Exception,
                false,
                Some("failed_attempt"),
                "delivery attempt failed",
            ),
            CarrierScanStatus::Refused => (
                OrderStatus::Exception,
                false,
                Some("refused"),
                "refused by the recipient",
            ),
            CarrierScanStatus::ReturnedToSender => (
                OrderStatus::Exception,
                false,
                Some("returned_to_sender"),
                "returned to sender",
            ),
            CarrierScanStatus::Exception => (
                OrderStatus::Exception,
                false,
                Some("carrier_exception"),
                "carrier exception",
            ),
            CarrierScanStatus::OutForDelivery => {
                (OrderStatus::Dispatched, false, None, "out for delivery")
            }
            CarrierScanStatus::InTransit => (OrderStatus::Dispatched, false, None, "in transit"),
            CarrierScanStatus::InfoReceived | CarrierScanStatus::Unspecified => {
                (OrderStatus::Dispatched, false, None, "label created")
            }
        };
        let order = RecordRef::from(&link.order);
        let source_event = some_text(&scan.source_event_id)
            .unwrap_or_else(|| format!("{}-{}", status.as_str_name(), at.timestamp_millis()));
        let key = format!("{}-scan-{}-{source_event}", order_key(&order), scan.source);
        let carrier = some_text(&scan.carrier);
        let number = &link.order_number;
        let subject = format!(
            "Order {number}: {} {what}",
            carrier.as_deref().unwrap_or("carrier")
        );
        let mut body = vec![format!(
            "{} scan of {} at {}: {what}.",
            scan.source,
            scan.tracking_number,
            rfc3339(at)
        )];
        if let Some(detail) = some_text(&scan.detail) {
            body.push(format!("Carrier says: {detail}"));
        }
        if let Some(location) = some_text(&scan.location) {
            body.push(format!("Location: {location}"));
        }
        Step {
            tracking_numbers: Vec::new(),
            fact: Fact {
                key,
                status: canonical,
                at,
                shipment: ShipmentInfo {
                    carrier,
                    tracking_number: some_text(&scan.tracking_number),
                    tracking_url: some_text(&scan.tracking_url),
                },
                delivered_at: (status == CarrierScanStatus::Delivered).then_some(at),
                moves_deal,
            },
            subject,
            body: body.join("\n"),
            task,
            reason: some_text(&scan.detail).unwrap_or_else(|| what.to_owned()),
        }
    }

    /// Applies `step` to the order of `link` under the order's claim.
    async fn apply(
        &self,
        link: &OrderLink,
        step: Step,
        attempt: &Attempt,
    ) -> Result<Success, Failure> {
        let order = RecordRef::from(&link.order);
        let deal = RecordRef::from(&link.deal);
        let jetstream = |e: ConnectorError| Failure::vendor(e, Some(deal.clone()));
        let key = self.claims.key("order", &order_key(&order));
        let claim = match self.claims.acquire(&key).await {
            Ok(Acquired::Held(claim)) => claim,
            // This flow releases its claims and never records a result; a
            // recorded one is another flow's key, which cannot be.
            Ok(Acquired::Done(_)) => {
                return Err(jetstream(permanent(
                    ErrorCategory::Protocol,
                    "claim order",
                    format!("claim {key} holds a recorded result"),
                )));
            }
            Err(error) => return Err(jetstream(error.into_connector_error())),
        };
        let result = self
            .apply_held(link, &order, &deal, step, &claim, attempt)
            .await;
        claim.release().await;
        result
    }

    async fn apply_held(
        &self,
        link: &OrderLink,
        order: &RecordRef,
        deal: &RecordRef,
        step: Step,
        claim: &Claim,
        attempt: &Attempt,
    ) -> Result<Success, Failure> {
        let jetstream = |e: ConnectorError| Failure::vendor(e, Some(deal.clone()));
        let vendor = |e: ConnectorError| self.vendor_failure(e, Some(deal.clone()));
        // Before the CRM writes, so a scan finds the order even while the CRM is down.
        for tracking in &step.tracking_numbers {
            self.state
                .index_tracking(tracking, order)
                .await
                .map_err(|e| jetstream(e.into_connector_error()))?;
        }
        let current = self
            .state
            .read(order)
            .await
            .map_err(|e| jetstream(e.into_connector_error()))?;
        let plan = plan(&current.state, &step.fact, &link.order_number);
        let mut success = Success {
            crm_record: Some(deal.clone()),
            erp_record: Some(order.clone()),
            effects: Vec::new(),
        };
        if plan.duplicate {
            tracing::info!(key = %step.fact.key, "Step applied before; nothing to write.");
            return Ok(success);
        }
        claim
            .confirm()
            .await
            .map_err(|e| jetstream(e.into_connector_error()))?;
        let crm = self.ports.timeline.system();
        let account_id = link.account.as_ref().map(|a| a.id.clone());
        let entry = self
            .ports
            .timeline
            .record_activity(
                &Activity {
                    key: step.fact.key.clone(),
                    deal_id: deal.id.clone(),
                    account_id: account_id.clone(),
                    subject: step.subject.clone(),
                    body: step.body.clone(),
                    occurred_at: step.fact.at,
                },
                &attempt.calls,
            )
            .await
            .map_err(vendor)?;
        success.effects.push(Effect {
            system: crm.to_owned(),
            kind: "timeline".into(),
            id: entry.id.clone(),
            label: step.subject.clone(),
        });
        if let Some(update) = &plan.fulfilment {
            self.ports
                .fulfilment
                .write_fulfilment(&deal.id, update, &attempt.calls)
                .await
                .map_err(vendor)?;
            success.effects.push(Effect {
                system: crm.to_owned(),
                kind: "fulfilment".into(),
                id: deal.id.clone(),
                label: format!("{} on deal {}", status_label(update.status), deal.id),
            });
        }
        if let Some(kind) = step.task {
            let mut ctx = TaskContext {
                reason: step.reason.clone(),
                kind: kind.to_owned(),
                occurred_at: rfc3339(step.fact.at),
                ..TaskContext::default()
            };
            ctx.deal.id.clone_from(&deal.id);
            ctx.account.id = account_id.clone().unwrap_or_default();
            ctx.order.number.clone_from(&link.order_number);
            ctx.order.id.clone_from(&order.id);
            ctx.order.external_ref.clone_from(&link.external_ref);
            ctx.order.status = status_label(step.fact.status);
            ctx.carrier.name = plan.next.shipment.carrier.clone().unwrap_or_default();
            ctx.carrier.tracking_number = plan
                .next
                .shipment
                .tracking_number
                .clone()
                .unwrap_or_default();
            ctx.carrier.tracking_url = plan.next.shipment.tracking_url.clone().unwrap_or_default();
            let (subject, body) = self.templates.render(&ctx).map_err(|message| {
                Failure::vendor(
                    permanent(ErrorCategory::Validation, "render task", message),
                    Some(deal.clone()),
                )
            })?;
            let task = self
                .ports
                .tasks
                .create_task(
                    &FollowUpTask {
                        key: format!("{}-task", step.fact.key),
                        deal_id: deal.id.clone(),
                        account_id,
                        subject: subject.clone(),
                        body,
                        due_at: None,
                    },
                    &attempt.calls,
                )
                .await
                .map_err(vendor)?;
            success.effects.push(Effect {
                system: crm.to_owned(),
                kind: "task".into(),
                id: task.id,
                label: subject,
            });
        }
        // Compare-and-set: a writer that lost its claim fails here and retries,
        // finding its CRM writes by their keys.
        self.state
            .write(order, &plan.next, current.revision)
            .await
            .map_err(|e| jetstream(e.into_connector_error()))?;
        Ok(success)
    }

    async fn on_status(
        &self,
        event: &EventEnvelope,
        changed: &OrderStatusChanged,
        attempt: &Attempt,
    ) -> Result<Success, Failure> {
        let order = changed.order.clone().unwrap_or_default();
        let link = self.link_for(&order, &changed.external_ref).await?;
        let deal = RecordRef::from(&link.deal);
        let changed = if changed.status() == OrderStatus::Unspecified {
            self.read_back(&RecordRef::from(&link.order), &deal, attempt)
                .await?
        } else {
            changed.clone()
        };
        let step = Self::status_step(&link, &changed, event);
        self.apply(&link, step, attempt).await
    }

    async fn on_scan(
        &self,
        event: &EventEnvelope,
        scan: &CarrierScan,
        attempt: &Attempt,
    ) -> Result<Success, Failure> {
        let store = |e: crate::state::StateError| Failure::vendor(e.into_connector_error(), None);
        let Some(order) = self
            .state
            .order_of_tracking(&scan.tracking_number)
            .await
            .map_err(store)?
        else {
            return Err(not_linked(format!(
                "no order dispatched tracking number {:?} ({} scan)",
                scan.tracking_number, scan.source
            )));
        };
        let link = self.link_for(&order, "").await?;
        let step = Self::scan_step(&link, scan, event);
        self.apply(&link, step, attempt).await
    }
}

#[async_trait]
impl Handler for FulfilmentSync {
    async fn handle(&self, event: &EventEnvelope, attempt: &Attempt) -> Result<Success, Failure> {
        match &event.data {
            Some(Data::OrderStatusChanged(changed)) => {
                self.on_status(event, changed, attempt).await
            }
            Some(Data::CarrierScan(scan)) => self.on_scan(event, scan, attempt).await,
            _ => Err(Failure::vendor(
                permanent(
                    ErrorCategory::Protocol,
                    "decode event",
                    format!(
                        "expected an order-status event or a carrier scan, got type {:?}",
                        event.r#type
                    ),
                )
                .with_resolution("discard_or_fix_producer"),
                None,
            )),
        }
    }

    async fn probe(&self, system: &str) -> Result<(), ConnectorError> {
        self.ports.probe(system).await
    }
}
