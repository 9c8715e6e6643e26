//! The deal-to-order business logic for one deal-won event.

use async_trait::async_trait;
use crmerp_connector::{ConnectorError, ErrorCategory, OrderRequest};
use crmerp_flow::{
    Acquired, Attempt, Claim, ClaimError, Claims, Failure, Handler, LinkedRecord, OrderLink,
    OrderLinks, Success, crash_point,
};
use crmerp_proto::{
    Account, Deal, Effect, EventEnvelope, RecordRef, SalesOrder, event_envelope::Data,
};
use rust_decimal::Decimal;

use crate::connectors::Ports;
use crate::validate::{invalid_error, validate_deal};

/// Turns a won deal into exactly one ERP order and writes its number back.
///
/// Every create-type effect (the order, a new customer) runs under a claim
/// ([`Claims`]) on its business key, so however many replicas, redeliveries or
/// trigger sources race on one deal, one worker looks up and creates, and the
/// others find its recorded result.
pub struct DealToOrder {
    ports: Ports,
    claims: Claims,
    links: OrderLinks,
    min_order_value: Decimal,
}

impl DealToOrder {
    /// A handler over the configured vendors' ports, coordinating creates through `claims`.
    pub fn new(ports: Ports, claims: Claims, links: OrderLinks, min_order_value: Decimal) -> Self {
        Self {
            ports,
            claims,
            links,
            min_order_value,
        }
    }

    /// The ERP external id of a deal: stable across retries and requeues, so
    /// the ERP's own uniqueness check backs up our look-up-before-create.
    pub fn external_ref(deal: &RecordRef) -> String {
        format!("{}-{}-{}", deal.system, deal.object_type, deal.id)
    }

    async fn flag(&self, deal_ref: &RecordRef, reason: &str, attempt: &Attempt) {
        // Best effort: the dead letter is the record of truth, the flag is a courtesy to sales.
        if let Err(error) = self
            .ports
            .deals
            .flag_sync_error(&deal_ref.id, reason, &attempt.calls)
            .await
        {
            tracing::warn!(%error, deal_id = %deal_ref.id, "Cannot flag the deal in the CRM.");
        }
    }

    /// Wraps a vendor error, naming which side's credentials to check.
    fn vendor_failure(&self, error: ConnectorError, crm_record: Option<RecordRef>) -> Failure {
        let mut error = error;
        if error.resolution.is_none() && error.category == ErrorCategory::Unauthorized {
            let side = if error.system == self.ports.orders.system() {
                "erp"
            } else {
                "crm"
            };
            error.resolution = Some(format!("check_{side}_credentials"));
        }
        Failure::vendor(error, crm_record)
    }

    /// The deal's order: the one recorded under its claim, the one the ERP
    /// already holds, or a new one, created by exactly one worker.
    async fn order_for(
        &self,
        deal: &Deal,
        external_ref: &str,
        attempt: &Attempt,
    ) -> Result<SalesOrder, Failure> {
        let crm_ref = deal.r#ref.clone();
        let key = self.claims.key(
            &format!("order.{}", self.ports.orders.system()),
            external_ref,
        );
        let claim = match claim_or_recorded::<SalesOrder>(&self.claims, &key, &crm_ref).await? {
            Ok(claim) => claim,
            Err(order) => {
                tracing::info!(order_number = %order.order_number, "Order recorded by an earlier attempt; not creating another.");
                return Ok(order);
            }
        };
        let result = self
            .find_or_create_order(deal, external_ref, &claim, attempt)
            .await;
        settle(claim, result).await
    }

    /// Under the order's claim: look up by the deal reference, then create.
    async fn find_or_create_order(
        &self,
        deal: &Deal,
        external_ref: &str,
        claim: &Claim,
        attempt: &Attempt,
    ) -> Result<SalesOrder, Failure> {
        let crm_ref = deal.r#ref.clone();
        let vendor = |e| self.vendor_failure(e, crm_ref.clone());
        // The ERP is the source of truth: a holder that crashed after creating
        // left no record, but the ERP has the order under this reference.
        let look_up = attempt.calls.position();
        if let Some(existing) = self
            .ports
            .orders
            .find_order(external_ref, &attempt.calls)
            .await
            .map_err(vendor)?
        {
            // The row of this attempt shows the ERP call that found the order.
            attempt.calls.mark_result_since(look_up);
            tracing::info!(order_number = %existing.order_number, "Order already exists; not creating another.");
            return Ok(existing);
        }
        // validate_deal guarantees an account.
        let account = deal.account.clone().unwrap_or_default();
        let customer = self.customer_for(&account, &crm_ref, attempt).await?;
        let request = OrderRequest {
            external_ref,
            customer: &customer,
            deal,
        };
        claim
            .confirm()
            .await
            .map_err(|e| claim_failure(e, &crm_ref))?;
        let create = attempt.calls.position();
        let order = self
            .ports
            .orders
            .create_order(&request, &attempt.calls)
            .await
            .map_err(vendor)?;
        attempt.calls.mark_result_since(create);
        crash_point("after_erp_create");
        Ok(order)
    }

    /// The account's ERP customer, found or created by exactly one worker.
    async fn customer_for(
        &self,
        account: &Account,
        crm_ref: &Option<RecordRef>,
        attempt: &Attempt,
    ) -> Result<RecordRef, Failure> {
        // Most accounts exist already: finding them needs no claim.
        if let Some(customer) = self.existing_customer(account, crm_ref, attempt).await? {
            return Ok(customer);
        }
        let account_ref = account.r#ref.clone().unwrap_or_default();
        let key = self.claims.key(
            &format!("customer.{}", self.ports.customers.system()),
            &Self::external_ref(&account_ref),
        );
        let claim = match claim_or_recorded::<RecordRef>(&self.claims, &key, crm_ref).await? {
            Ok(claim) => claim,
            Err(customer) => return Ok(customer),
        };
        let result = self
            .find_or_create_customer(account, crm_ref, &claim, attempt)
            .await;
        settle(claim, result).await
    }

    /// Under the customer's claim: look up again (another worker may have
    /// created it between our look-up and the claim), then create.
    async fn find_or_create_customer(
        &self,
        account: &Account,
        crm_ref: &Option<RecordRef>,
        claim: &Claim,
        attempt: &Attempt,
    ) -> Result<RecordRef, Failure> {
        if let Some(customer) = self.existing_customer(account, crm_ref, attempt).await? {
            return Ok(customer);
        }
        claim
            .confirm()
            .await
            .map_err(|e| claim_failure(e, crm_ref))?;
        let created = self
            .ports
            .customers
            .create_customer(account, &attempt.calls)
            .await
            .map_err(|e| self.vendor_failure(e, crm_ref.clone()))?;
        tracing::info!(customer_id = %created.id, "Customer created in the ERP.");
        Ok(created)
    }

    /// The ERP customer of `account`, looked up by its external reference.
    async fn existing_customer(
        &self,
        account: &Account,
        crm_ref: &Option<RecordRef>,
        attempt: &Attempt,
    ) -> Result<Option<RecordRef>, Failure> {
        self.ports
            .customers
            .find_customer(account, &attempt.calls)
            .await
            .map_err(|e| self.vendor_failure(e, crm_ref.clone()))
    }
}

/// What a processed deal left behind: the ERP order (searchable by its
/// number), the ERP customer it is for, and the number written back to the deal.
fn effects(order: &SalesOrder, erp: &str, crm: &str, deal: &RecordRef) -> Vec<Effect> {
    let number = &order.order_number;
    let mut effects = vec![Effect {
        system: erp.to_owned(),
        kind: "order".into(),
        id: number.clone(),
        label: number.clone(),
    }];
    if let Some(customer) = order.customer.as_ref().filter(|c| !c.id.is_empty()) {
        effects.push(Effect {
            system: erp.to_owned(),
            kind: "customer".into(),
            id: customer.id.clone(),
            label: format!("customer {}", customer.id),
        });
    }
    effects.push(Effect {
        system: crm.to_owned(),
        kind: "write_back".into(),
        id: deal.id.clone(),
        label: format!("order {number} on deal {}", deal.id),
    });
    effects
}

/// The claim on `key` (`Ok`), or the result an earlier holder recorded (`Err`).
async fn claim_or_recorded<T: crmerp_proto::Message + Default>(
    claims: &Claims,
    key: &str,
    crm_ref: &Option<RecordRef>,
) -> Result<Result<Claim, T>, Failure> {
    match claims.acquire(key).await {
        Ok(Acquired::Held(claim)) => Ok(Ok(claim)),
        Ok(Acquired::Done(recorded)) => T::decode(recorded.as_slice())
            .map(Err)
            .map_err(|e| claim_failure(ClaimError::Store(e.to_string()), crm_ref)),
        Err(error) => Err(claim_failure(error, crm_ref)),
    }
}

/// Records a successful effect's result under its claim for later workers, or
/// releases the claim after a failure, and passes the result on.
async fn settle<T: crmerp_proto::Message>(
    claim: Claim,
    result: Result<T, Failure>,
) -> Result<T, Failure> {
    match result {
        Ok(value) => {
            if let Err(error) = claim.complete(&value.encode_to_vec()).await {
                // The ERP holds the record; a later worker finds it by its reference.
                tracing::warn!(%error, "Cannot record the result under its claim.");
            }
            Ok(value)
        }
        Err(failure) => {
            claim.release().await;
            Err(failure)
        }
    }
}

/// A claim that could not be taken or kept: transient, and no vendor's fault.
fn claim_failure(error: ClaimError, crm_ref: &Option<RecordRef>) -> Failure {
    Failure::vendor(error.into_connector_error(), crm_ref.clone())
}

#[async_trait]
impl Handler for DealToOrder {
    async fn handle(&self, event: &EventEnvelope, attempt: &Attempt) -> Result<Success, Failure> {
        let Some(Data::DealWon(won)) = &event.data else {
            let error = crmerp_connector::ConnectorError::new(
                crmerp_connector::ErrorKind::Permanent,
                crmerp_connector::ErrorCategory::Protocol,
                "deal-to-order",
                "decode event",
                format!("expected a deal-won event, got type {:?}", event.r#type),
            )
            .with_resolution("discard_or_fix_producer");
            return Err(Failure::vendor(error, None));
        };
        let deal_ref = won.deal.clone().unwrap_or_default();
        let crm_record = Some(deal_ref.clone());

        let deal = match &won.corrected_deal {
            Some(corrected) => corrected.clone(),
            None => self
                .ports
                .deals
                .fetch_deal(&deal_ref.id, &attempt.calls)
                .await
                .map_err(|e| self.vendor_failure(e, crm_record.clone()))?,
        };

        if let Err(invalid) = validate_deal(&deal, self.min_order_value) {
            self.flag(&deal_ref, &invalid.reason, attempt).await;
            return Err(Failure {
                error: invalid_error(invalid, self.ports.deals.system()),
                crm_record,
                validation: true,
            });
        }

        let external_ref = Self::external_ref(&deal_ref);
        let order = match self.order_for(&deal, &external_ref, attempt).await {
            Ok(order) => order,
            Err(failure) => {
                if !failure.is_retryable() || attempt.is_last {
                    self.flag(&deal_ref, &failure.error.message, attempt).await;
                }
                return Err(failure);
            }
        };

        // Before the write-back, so fulfilment and invoice events for the order find
        // their deal even when the CRM is down; a redelivery writes the same link.
        if let Some(order_ref) = &order.r#ref {
            let link = OrderLink {
                order: order_ref.into(),
                order_number: order.order_number.clone(),
                external_ref: external_ref.clone(),
                deal: (&deal_ref).into(),
                account: deal
                    .account
                    .as_ref()
                    .and_then(|account| account.r#ref.as_ref())
                    .map(LinkedRecord::from),
            };
            self.links
                .record(&link)
                .await
                .map_err(|e| Failure::vendor(e.into_connector_error(), crm_record.clone()))?;
        }

        // Idempotent PATCH: a redelivery after a crash here writes the same number again.
        if let Err(error) = self
            .ports
            .deals
            .write_back_order(&deal_ref.id, &order, &attempt.calls)
            .await
        {
            let failure = self.vendor_failure(error, crm_record.clone());
            if !failure.is_retryable() || attempt.is_last {
                // The order exists: tell sales so nobody re-enters it by hand.
                let reason = format!(
                    "ERP order {} was created, but writing its number to this deal failed: {}",
                    order.order_number, failure.error.message
                );
                self.flag(&deal_ref, &reason, attempt).await;
            }
            return Err(failure);
        }
        crash_point("after_write_back");

        Ok(Success {
            crm_record,
            erp_record: order.r#ref.clone(),
            effects: effects(
                &order,
                self.ports.orders.system(),
                self.ports.deals.system(),
                &deal_ref,
            ),
        })
    }

    async fn probe(&self, system: &str) -> Result<(), ConnectorError> {
        self.ports.probe(system).await
    }
}
