//! S/4HANA as an [`OrderStatusSource`]: the status fields of the sales order
//! header (`API_SALES_ORDER_SRV` `A_SalesOrder`), mapped through
//! [`FulfilmentFields`](super::FulfilmentFields):
//!
//! 1. `OverallSDDocumentRejectionSts` (fully rejected: cancelled);
//! 2. a `DeliveryBlockReason` (exception, with the block as the reason);
//! 3. `OverallTotalDeliveryStatus` (not / partially / completely delivered,
//!    SAP's "delivered" being goods issue: our dispatched).
//!
//! Carrier and tracking number live on the outbound delivery
//! (`API_OUTBOUND_DELIVERY_SRV`), which this read does not follow yet, so
//! shipments are not reported; SAP records no proof of delivery here either.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use crmerp_proto::{OrderStatus, OrderStatusChanged, RecordRef, timestamp_from};
use serde::Deserialize;

use super::fulfilment::{DELIVERY_STATUSES, FulfilmentFields, REJECTION_STATUSES};
use super::{D, S4HanaErp, SALES_ORDER_SERVICE, SYSTEM, record_ref};
use crate::endpoint;
use crate::http_client::encode_segment;
use crate::http_kit::Endpoint;
use crate::mapping;
use crate::ports::OrderStatusSource;
use crate::status_map::{FulfilmentStatus, resolve};
use crate::{CallLog, ConnectorError, ErrorCategory};

const ENDPOINT_ORDER_STATUS: Endpoint =
    endpoint!(GET "API_SALES_ORDER_SRV/A_SalesOrder('{SalesOrder}')");

/// The header's status fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OrderState {
    pub(crate) sales_order: String,
    /// The configured reference field's value (deal-to-order's `reference_field`).
    #[serde(skip)]
    pub(crate) external_ref: String,
    #[serde(default)]
    pub(crate) overall_total_delivery_status: String,
    #[serde(default, rename = "OverallSDDocumentRejectionSts")]
    pub(crate) overall_sd_document_rejection_sts: String,
    #[serde(default)]
    pub(crate) delivery_block_reason: String,
    #[serde(default)]
    pub(crate) last_change_date_time: Option<String>,
}

/// An OData V2 `/Date(<ms>[+-offset])/` value as a time.
fn odata_time(value: &str) -> Option<DateTime<Utc>> {
    let inner = value.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let millis = inner
        .find(['+', '-'])
        .filter(|at| *at > 0)
        .map_or(inner, |at| &inner[..at]);
    DateTime::from_timestamp_millis(millis.parse().ok()?)
}

/// The canonical status of `state` (see the module docs).
pub(crate) fn status_of(fields: &FulfilmentFields, state: OrderState) -> OrderStatusChanged {
    let rejected = resolve(
        &fields.rejection_statuses,
        REJECTION_STATUSES,
        &state.overall_sd_document_rejection_sts,
    );
    let block = state.delivery_block_reason.trim();
    let blocked = (!block.is_empty()).then(|| {
        resolve(&fields.delivery_blocks, &[], block).unwrap_or(FulfilmentStatus::Exception)
    });
    let delivery = resolve(
        &fields.delivery_statuses,
        DELIVERY_STATUSES,
        &state.overall_total_delivery_status,
    );
    let status = rejected
        .or(blocked)
        .or(delivery)
        .map_or(OrderStatus::Received, OrderStatus::from);
    let reason = match status {
        OrderStatus::Exception if !block.is_empty() => format!("delivery block {block}"),
        OrderStatus::Cancelled => "sales order rejected".to_owned(),
        _ => String::new(),
    };
    let mut changed = OrderStatusChanged {
        order: Some(record_ref("salesOrder", &state.sales_order)),
        order_number: state.sales_order,
        external_ref: state.external_ref,
        changed_at: state
            .last_change_date_time
            .as_deref()
            .and_then(odata_time)
            .map(timestamp_from),
        reason,
        ..OrderStatusChanged::default()
    };
    changed.set_status(status);
    changed
}

#[async_trait]
impl OrderStatusSource for S4HanaErp {
    async fn order_status(
        &self,
        order: &RecordRef,
        calls: &CallLog,
    ) -> Result<Option<OrderStatusChanged>, ConnectorError> {
        // SalesOrder is Edm.String MaxLength 10, digits in every standard number range.
        if order.id.is_empty()
            || order.id.len() > 10
            || !order.id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(mapping::invalid(
                SYSTEM,
                &ENDPOINT_ORDER_STATUS,
                format!("\"{}\" is not an S/4HANA sales order number", order.id),
            ));
        }
        let reference_field = &self.config.deal_to_order.reference_field;
        let select = format!(
            "SalesOrder,{reference_field},OverallTotalDeliveryStatus,\
             OverallSDDocumentRejectionSts,DeliveryBlockReason,LastChangeDateTime"
        );
        let url = self.url(
            SALES_ORDER_SERVICE,
            &format!("/A_SalesOrder('{}')", encode_segment(&order.id)),
            &[("$select", &select)],
        );
        let record = match self.call(calls, &ENDPOINT_ORDER_STATUS, &url, None).await {
            Ok(response) => {
                response
                    .json::<D<serde_json::Value>>(SYSTEM, &ENDPOINT_ORDER_STATUS)?
                    .d
            }
            Err(err) if err.category == ErrorCategory::NotFound => return Ok(None),
            Err(err) => return Err(err),
        };
        let mut state: OrderState = serde_json::from_value(record.clone()).map_err(|e| {
            crate::http_client::protocol_error(SYSTEM, &ENDPOINT_ORDER_STATUS, e.to_string())
        })?;
        state.external_ref = record[reference_field.as_str()]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok(Some(status_of(&self.config.fulfilment, state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(delivery: &str, rejection: &str, block: &str) -> OrderState {
        OrderState {
            sales_order: "1000042".into(),
            external_ref: "hubspot-deal-1".into(),
            overall_total_delivery_status: delivery.into(),
            overall_sd_document_rejection_sts: rejection.into(),
            delivery_block_reason: block.into(),
            last_change_date_time: Some("/Date(1767225600000+0000)/".into()),
        }
    }

    #[test]
    fn header_status_fields_map_with_defaults_and_overrides() {
        let defaults = FulfilmentFields::default();
        let of = |s| status_of(&defaults, s);
        assert_eq!(of(state("A", "", "")).status(), OrderStatus::Received);
        assert_eq!(of(state("B", "", "")).status(), OrderStatus::Picking);
        let dispatched = of(state("C", "A", ""));
        assert_eq!(dispatched.status(), OrderStatus::Dispatched);
        assert_eq!(dispatched.external_ref, "hubspot-deal-1");
        assert_eq!(
            dispatched.changed_at.map(|t| t.seconds),
            Some(1_767_225_600)
        );
        assert_eq!(of(state("A", "C", "")).status(), OrderStatus::Cancelled);
        let blocked = of(state("A", "", "01"));
        assert_eq!(blocked.status(), OrderStatus::Exception);
        assert_eq!(blocked.reason, "delivery block 01");

        let mut fields = FulfilmentFields::default();
        fields
            .delivery_blocks
            .insert("08".into(), FulfilmentStatus::Received);
        fields
            .delivery_statuses
            .insert("B".into(), FulfilmentStatus::Packed);
        assert_eq!(
            status_of(&fields, state("B", "", "08")).status(),
            OrderStatus::Received
        );
        assert_eq!(
            status_of(&fields, state("B", "", "")).status(),
            OrderStatus::Packed
        );
        assert_eq!(
            odata_time("/Date(1000-0100)/").map(|t| t.timestamp_millis()),
            Some(1000)
        );
    }
}
