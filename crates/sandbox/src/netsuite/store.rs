//! The NetSuite account's state: records by type, id counters and derived indexes.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A record as stored: its JSON fields, `id` included.
pub(crate) type Record = Map<String, Value>;

/// A record type the sandbox supports, named as in the REST record URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum RecordType {
    /// `customer`.
    Customer,
    /// `inventoryItem`.
    InventoryItem,
    /// `salesOrder`.
    SalesOrder,
    /// `itemFulfillment` (made from a sales order by the fulfilment control endpoint).
    ItemFulfillment,
    /// `invoice` (billed from a sales order by the fulfilment control endpoint).
    Invoice,
}

impl RecordType {
    /// Parses a URL segment; NetSuite record names are case-insensitive.
    pub(crate) fn parse(segment: &str) -> Option<Self> {
        match segment.to_ascii_lowercase().as_str() {
            "customer" => Some(Self::Customer),
            "inventoryitem" => Some(Self::InventoryItem),
            "salesorder" => Some(Self::SalesOrder),
            "itemfulfillment" => Some(Self::ItemFulfillment),
            "invoice" => Some(Self::Invoice),
            _ => None,
        }
    }

    /// The record name as used in URLs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::InventoryItem => "inventoryItem",
            Self::SalesOrder => "salesOrder",
            Self::ItemFulfillment => "itemFulfillment",
            Self::Invoice => "invoice",
        }
    }

    fn first_id(self) -> u64 {
        match self {
            Self::Customer => 1001,
            Self::InventoryItem => 501,
            Self::SalesOrder => 20001,
            Self::ItemFulfillment => 30001,
            Self::Invoice => 40001,
        }
    }

    /// Sublists, returned as links unless `expandSubResources=true`.
    pub(crate) fn sublists(self) -> &'static [&'static str] {
        match self {
            Self::Customer => &["addressBook"],
            Self::InventoryItem | Self::Invoice => &[],
            Self::SalesOrder => &["item"],
            Self::ItemFulfillment => &["package"],
        }
    }

    /// Subrecords, returned as links unless `expandSubResources=true`.
    pub(crate) fn subrecords(self) -> &'static [&'static str] {
        match self {
            Self::SalesOrder => &["shippingAddress", "billingAddress"],
            _ => &[],
        }
    }
}

/// First sales order number (`SO1001`).
const FIRST_TRAN_NUMBER: u64 = 1001;

/// The whole account. Serialised as-is to `netsuite.json` (indexes are rebuilt on load).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetSuiteData {
    next_ids: BTreeMap<RecordType, u64>,
    next_tran_number: u64,
    records: BTreeMap<RecordType, BTreeMap<u64, Record>>,
    #[serde(skip)]
    external_ids: HashMap<RecordType, HashMap<String, u64>>,
    #[serde(skip)]
    item_names: HashMap<String, u64>,
}

impl Default for NetSuiteData {
    fn default() -> Self {
        Self {
            next_ids: BTreeMap::new(),
            next_tran_number: FIRST_TRAN_NUMBER,
            records: BTreeMap::new(),
            external_ids: HashMap::new(),
            item_names: HashMap::new(),
        }
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

impl NetSuiteData {
    /// Rebuilds the external-id and item-name indexes (after loading from disk).
    pub(crate) fn rebuild_indexes(&mut self) {
        self.external_ids.clear();
        self.item_names.clear();
        let entries: Vec<(RecordType, u64, Record)> = self
            .records
            .iter()
            .flat_map(|(record_type, records)| {
                records
                    .iter()
                    .map(|(id, record)| (*record_type, *id, record.clone()))
            })
            .collect();
        for (record_type, id, record) in entries {
            self.index(record_type, id, &record);
        }
    }

    fn index(&mut self, record_type: RecordType, id: u64, record: &Record) {
        if let Some(external_id) = text(record.get("externalId")) {
            self.external_ids
                .entry(record_type)
                .or_default()
                .insert(external_id, id);
        }
        if record_type == RecordType::InventoryItem
            && let Some(name) = text(record.get("itemId"))
        {
            self.item_names.insert(name.to_lowercase(), id);
        }
    }

    fn unindex(&mut self, record_type: RecordType, record: &Record) {
        if let Some(external_id) = text(record.get("externalId"))
            && let Some(index) = self.external_ids.get_mut(&record_type)
        {
            index.remove(&external_id);
        }
        if record_type == RecordType::InventoryItem
            && let Some(name) = text(record.get("itemId"))
        {
            self.item_names.remove(&name.to_lowercase());
        }
    }

    /// One record.
    pub(crate) fn get(&self, record_type: RecordType, id: u64) -> Option<&Record> {
        self.records.get(&record_type)?.get(&id)
    }

    /// The id of the record with this external id.
    pub(crate) fn id_by_external_id(
        &self,
        record_type: RecordType,
        external_id: &str,
    ) -> Option<u64> {
        self.external_ids
            .get(&record_type)?
            .get(external_id)
            .copied()
    }

    /// The id of the inventory item with this name (case-insensitive).
    pub(crate) fn item_by_name(&self, name: &str) -> Option<u64> {
        self.item_names.get(&name.to_lowercase()).copied()
    }

    /// Records of a type, ordered by id.
    pub(crate) fn records(&self, record_type: RecordType) -> impl Iterator<Item = (u64, &Record)> {
        self.records
            .get(&record_type)
            .into_iter()
            .flat_map(|records| records.iter().map(|(id, record)| (*id, record)))
    }

    /// Stores a new record, assigning `id` (and `tranId` for sales orders without one).
    pub(crate) fn insert(&mut self, record_type: RecordType, mut record: Record) -> u64 {
        let next = self
            .next_ids
            .entry(record_type)
            .or_insert_with(|| record_type.first_id());
        let id = *next;
        *next += 1;
        record.insert("id".to_owned(), Value::String(id.to_string()));
        if record_type == RecordType::SalesOrder && !record.contains_key("tranId") {
            record.insert(
                "tranId".to_owned(),
                Value::String(format!("SO{}", self.next_tran_number)),
            );
            self.next_tran_number += 1;
        }
        self.index(record_type, id, &record);
        self.records
            .entry(record_type)
            .or_default()
            .insert(id, record);
        id
    }

    /// Replaces an existing record.
    pub(crate) fn replace(&mut self, record_type: RecordType, id: u64, record: Record) {
        if let Some(old) = self
            .records
            .get_mut(&record_type)
            .and_then(|records| records.remove(&id))
        {
            self.unindex(record_type, &old);
        }
        self.index(record_type, id, &record);
        self.records
            .entry(record_type)
            .or_default()
            .insert(id, record);
    }

    /// Deletes a record; `false` when it did not exist.
    pub(crate) fn remove(&mut self, record_type: RecordType, id: u64) -> bool {
        match self
            .records
            .get_mut(&record_type)
            .and_then(|records| records.remove(&id))
        {
            Some(old) => {
                self.unindex(record_type, &old);
                true
            }
            None => false,
        }
    }
}
