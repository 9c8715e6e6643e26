//! SKU -> item id resolution, behind a small bounded cache so repeated SKUs cost one lookup.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use reqwest::Method;

use super::payload::{check_internal_id, missing};
use super::{Collection, ENDPOINT_CREATE_ORDER, NetSuiteErp, RECORD_PATH, SYSTEM};
use crate::http_kit::Endpoint;
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// First-in, first-out bounded map; entries never go stale on their own, so the
/// connector clears it when NetSuite rejects an item reference.
#[derive(Debug)]
pub(crate) struct ItemCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ids: HashMap<String, String>,
    order: VecDeque<String>,
}

impl ItemCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub(crate) fn get(&self, sku: &str) -> Option<String> {
        self.lock().ids.get(sku).cloned()
    }

    pub(crate) fn insert(&self, sku: &str, item_id: &str) {
        let mut inner = self.lock();
        if inner
            .ids
            .insert(sku.to_owned(), item_id.to_owned())
            .is_some()
        {
            return;
        }
        inner.order.push_back(sku.to_owned());
        while inner.order.len() > self.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                inner.ids.remove(&oldest);
            }
        }
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.ids.clear();
        inner.order.clear();
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl NetSuiteErp {
    /// The item id of `sku`: cache, then each configured item record type.
    pub(super) async fn resolve_item(
        &self,
        sku: &str,
        calls: &CallLog,
    ) -> Result<String, ConnectorError> {
        let sku = sku.trim();
        if sku.is_empty() {
            return Err(missing(
                &ENDPOINT_CREATE_ORDER,
                "line_items.sku",
                "a line has no SKU",
            ));
        }
        if let Some(id) = self.items.get(sku) {
            return Ok(id);
        }
        if sku.contains('"') {
            // The query language has no escape for a quote inside a string.
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                ErrorCategory::Validation,
                SYSTEM,
                &ENDPOINT_CREATE_ORDER,
                format!("SKU {sku:?} contains a double quote"),
            ));
        }
        let q = format!("itemId IS \"{sku}\"");
        for record_type in &self.config.item_record_types {
            let endpoint = Endpoint::dynamic(
                Method::GET,
                &format!("{RECORD_PATH}/{record_type}?q=itemId"),
            );
            let path = format!("{RECORD_PATH}/{record_type}");
            let page: Collection = self
                .call(
                    calls,
                    &endpoint,
                    &path,
                    &[("q", q.as_str()), ("limit", "2")],
                    None,
                )
                .await?
                .json(SYSTEM, &endpoint)?;
            match page.items.as_slice() {
                [] => continue,
                [item] => {
                    let id = check_internal_id(&item.id, "item", &endpoint)?.to_owned();
                    self.items.insert(sku, &id);
                    return Ok(id);
                }
                _ => {
                    return Err(ConnectorError::new(
                        ErrorKind::Permanent,
                        ErrorCategory::Validation,
                        SYSTEM,
                        endpoint,
                        format!("SKU {sku:?} matches several {record_type} records"),
                    )
                    .with_resolution(format!("deduplicate_item_in_erp:{sku}")));
                }
            }
        }
        Err(ConnectorError::new(
            ErrorKind::Permanent,
            ErrorCategory::UnknownItem,
            SYSTEM,
            format!("GET {RECORD_PATH}/{{itemType}}?q=itemId"),
            format!("no NetSuite item has itemId {sku:?}"),
        )
        .with_resolution(format!("create_item_in_erp:{sku}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entry_is_evicted_at_capacity() {
        let cache = ItemCache::new(2);
        cache.insert("A", "1");
        cache.insert("B", "2");
        cache.insert("A", "1");
        cache.insert("C", "3");
        assert_eq!(cache.get("A"), None);
        assert_eq!(cache.get("B").as_deref(), Some("2"));
        assert_eq!(cache.get("C").as_deref(), Some("3"));
        cache.clear();
        assert_eq!(cache.get("C"), None);
    }
}
