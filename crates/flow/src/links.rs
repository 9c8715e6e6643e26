//! Order links: which CRM deal each ERP order came from.
//!
//! deal-to-order records a link when it creates (or finds) an ERP order; the
//! flows that report on orders (fulfilment, invoices) read it to know which
//! deal and account to write to. A link is stored under two keys in the
//! `ORDER_LINKS` bucket, the ERP order record and the order's external
//! reference, because some ERP events name the order only by one of them.

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use crmerp_proto::RecordRef;
use serde::{Deserialize, Serialize};

use crate::claims::encode_key_part;

/// The link store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("order links: {0}")]
pub struct LinkError(String);

impl LinkError {
    /// The error as a transient, breaker-neutral failure: JetStream, not a
    /// vendor, did not answer.
    pub fn into_connector_error(self) -> crmerp_connector::ConnectorError {
        crmerp_connector::ConnectorError::new(
            crmerp_connector::ErrorKind::Transient,
            crmerp_connector::ErrorCategory::Contended,
            "jetstream",
            "order-links",
            self.to_string(),
        )
    }
}

/// One ERP order and the CRM deal it was created for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLink {
    /// The order record in the ERP.
    pub order: LinkedRecord,
    /// Human-facing order number, e.g. the NetSuite tranId.
    pub order_number: String,
    /// The order's external reference (the deal's key, as deal-to-order wrote it).
    pub external_ref: String,
    /// The CRM deal.
    pub deal: LinkedRecord,
    /// The deal's account in the CRM, when known.
    pub account: Option<LinkedRecord>,
}

/// A [`RecordRef`] in the link's JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedRecord {
    /// The owning system, e.g. `netsuite`.
    pub system: String,
    /// The vendor's object type.
    pub object_type: String,
    /// The vendor's id.
    pub id: String,
}

impl From<&RecordRef> for LinkedRecord {
    fn from(r: &RecordRef) -> Self {
        Self {
            system: r.system.clone(),
            object_type: r.object_type.clone(),
            id: r.id.clone(),
        }
    }
}

impl From<&LinkedRecord> for RecordRef {
    fn from(r: &LinkedRecord) -> Self {
        Self {
            system: r.system.clone(),
            object_type: r.object_type.clone(),
            id: r.id.clone(),
        }
    }
}

/// The order-link bucket; cheap to clone.
#[derive(Clone)]
pub struct OrderLinks {
    store: kv::Store,
}

impl std::fmt::Debug for OrderLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderLinks").finish_non_exhaustive()
    }
}

impl OrderLinks {
    /// The links in `bucket` (declared by the service kit's topology).
    pub async fn bind(js: &jetstream::Context, bucket: &str) -> Result<Self, LinkError> {
        let store = js
            .get_key_value(bucket)
            .await
            .map_err(|e| LinkError(e.to_string()))?;
        Ok(Self { store })
    }

    fn order_key(order: &LinkedRecord) -> String {
        format!(
            "order.{}.{}",
            encode_key_part(&order.system),
            encode_key_part(&order.id)
        )
    }

    fn external_key(erp: &str, external_ref: &str) -> String {
        format!(
            "ref.{}.{}",
            encode_key_part(erp),
            encode_key_part(external_ref)
        )
    }

    /// Records `link` under both its keys; writing the same link again is harmless.
    pub async fn record(&self, link: &OrderLink) -> Result<(), LinkError> {
        let value: Bytes = serde_json::to_vec(link)
            .map_err(|e| LinkError(e.to_string()))?
            .into();
        self.store
            .put(Self::order_key(&link.order), value.clone())
            .await
            .map_err(|e| LinkError(e.to_string()))?;
        if !link.external_ref.is_empty() {
            self.store
                .put(
                    Self::external_key(&link.order.system, &link.external_ref),
                    value,
                )
                .await
                .map_err(|e| LinkError(e.to_string()))?;
        }
        Ok(())
    }

    /// The link of the ERP order `order`, if one was recorded.
    pub async fn by_order(&self, order: &RecordRef) -> Result<Option<OrderLink>, LinkError> {
        self.read(&Self::order_key(&LinkedRecord::from(order)))
            .await
    }

    /// The link of the order in `erp` with external reference `external_ref`.
    pub async fn by_external_ref(
        &self,
        erp: &str,
        external_ref: &str,
    ) -> Result<Option<OrderLink>, LinkError> {
        self.read(&Self::external_key(erp, external_ref)).await
    }

    async fn read(&self, key: &str) -> Result<Option<OrderLink>, LinkError> {
        let Some(bytes) = self
            .store
            .get(key)
            .await
            .map_err(|e| LinkError(e.to_string()))?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| LinkError(format!("unreadable link {key}: {e}")))
    }
}
