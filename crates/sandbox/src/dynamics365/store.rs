//! The simulated Dataverse environment: rows by entity set, lookups bound with
//! `@odata.bind`, required and known columns, derived totals.

use std::collections::BTreeMap;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// An entity set: key column, logical name, required and known columns.
pub(crate) struct EntitySet {
    pub(crate) name: &'static str,
    pub(crate) key: &'static str,
    pub(crate) logical: &'static str,
    required: &'static [&'static str],
    pub(crate) columns: &'static [&'static str],
}

pub(crate) const SETS: &[EntitySet] = &[
    EntitySet {
        name: "accounts",
        key: "accountid",
        logical: "account",
        required: &["name"],
        columns: &[
            "accountid",
            "name",
            "websiteurl",
            "telephone1",
            "emailaddress1",
            "address1_line1",
            "address1_line2",
            "address1_city",
            "address1_stateorprovince",
            "address1_postalcode",
            "address1_country",
            "address2_line1",
            "address2_line2",
            "address2_city",
            "address2_stateorprovince",
            "address2_postalcode",
            "address2_country",
        ],
    },
    EntitySet {
        name: "opportunities",
        key: "opportunityid",
        logical: "opportunity",
        required: &["name"],
        columns: &[
            "opportunityid",
            "name",
            "statecode",
            "statuscode",
            "totalamount",
            "estimatedvalue",
            "actualclosedate",
            "_parentaccountid_value",
            "_transactioncurrencyid_value",
            "new_erpordernumber",
            "new_erpsyncstatus",
        ],
    },
    EntitySet {
        name: "opportunityproducts",
        key: "opportunityproductid",
        logical: "opportunityproduct",
        required: &["_opportunityid_value", "quantity"],
        columns: &[
            "opportunityproductid",
            "_opportunityid_value",
            "_productid_value",
            "productdescription",
            "quantity",
            "priceperunit",
            "extendedamount",
            "sequencenumber",
        ],
    },
    EntitySet {
        name: "products",
        key: "productid",
        logical: "product",
        required: &["name", "productnumber"],
        columns: &["productid", "name", "productnumber"],
    },
    EntitySet {
        name: "transactioncurrencies",
        key: "transactioncurrencyid",
        logical: "transactioncurrency",
        required: &["isocurrencycode"],
        columns: &["transactioncurrencyid", "isocurrencycode", "currencyname"],
    },
    EntitySet {
        name: "tasks",
        key: "activityid",
        logical: "task",
        required: &["subject"],
        columns: &[
            "activityid",
            "subject",
            "description",
            "prioritycode",
            "scheduledend",
            "_regardingobjectid_value",
        ],
    },
];

/// A single-valued navigation property a client may bind with
/// `<name>@odata.bind`: the entity set it points at and the lookup column
/// it fills (polymorphic lookups have one property per target table).
pub(crate) struct Navigation {
    set: &'static str,
    name: &'static str,
    target: &'static str,
    column: &'static str,
}

/// The navigation properties the simulated tables declare (Microsoft's Web
/// API entity reference); any other `@odata.bind` is refused as Dataverse does.
const NAVIGATIONS: &[Navigation] = &[
    Navigation {
        set: "opportunities",
        name: "parentaccountid",
        target: "accounts",
        column: "_parentaccountid_value",
    },
    Navigation {
        set: "opportunities",
        name: "transactioncurrencyid",
        target: "transactioncurrencies",
        column: "_transactioncurrencyid_value",
    },
    Navigation {
        set: "opportunityproducts",
        name: "opportunityid",
        target: "opportunities",
        column: "_opportunityid_value",
    },
    Navigation {
        set: "opportunityproducts",
        name: "productid",
        target: "products",
        column: "_productid_value",
    },
    Navigation {
        set: "tasks",
        name: "regardingobjectid_opportunity_task",
        target: "opportunities",
        column: "_regardingobjectid_value",
    },
    Navigation {
        set: "tasks",
        name: "regardingobjectid_account_task",
        target: "accounts",
        column: "_regardingobjectid_value",
    },
];

/// Columns the platform sets; a client may not write them.
const READ_ONLY: &[&str] = &[
    "statecode",
    "statuscode",
    "totalamount",
    "extendedamount",
    "actualclosedate",
];

pub(crate) fn set(name: &str) -> Option<&'static EntitySet> {
    SETS.iter().find(|s| s.name == name)
}

/// A rejected write: status, Dataverse error code and message.
pub(crate) type Rejection = (u16, &'static str, String);

/// Every row, by entity set then id.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EnvData {
    pub(crate) rows: BTreeMap<String, BTreeMap<String, Map<String, Value>>>,
}

pub(crate) fn missing(set: &EntitySet, id: &str) -> Rejection {
    (
        404,
        "0x80040217",
        format!("{} With Id = {id} Does Not Exist", set.logical),
    )
}

impl EnvData {
    pub(crate) fn get(&self, set: &str, id: &str) -> Option<&Map<String, Value>> {
        self.rows.get(set)?.get(&id.to_ascii_lowercase())
    }

    pub(crate) fn list(&self, set: &str) -> Vec<Map<String, Value>> {
        self.rows
            .get(set)
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Resolves `x@odata.bind` keys into `_x_value` columns and checks every column.
    fn columns(
        &self,
        set: &EntitySet,
        body: Map<String, Value>,
        creating: bool,
    ) -> Result<Map<String, Value>, Rejection> {
        let mut out = Map::new();
        for (key, value) in body {
            if let Some(nav) = key.strip_suffix("@odata.bind") {
                let declared = NAVIGATIONS
                    .iter()
                    .find(|n| n.set == set.name && n.name == nav)
                    .ok_or_else(|| {
                        (
                            400,
                            "0x80060888",
                            format!(
                                "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
                            ),
                        )
                    })?;
                let target = value.as_str().unwrap_or_default();
                let (set_name, id) = target.trim_start_matches('/').split_once('(').ok_or((
                    400,
                    "0x80060888",
                    format!("Invalid @odata.bind value {target}"),
                ))?;
                let id = id.trim_end_matches(')');
                let target_set = self::set(set_name).ok_or((
                    400,
                    "0x80060888",
                    format!("Unknown entity set {set_name}"),
                ))?;
                if set_name != declared.target {
                    return Err((
                        400,
                        "0x80060888",
                        format!(
                            "The navigation property '{nav}' of 'Microsoft.Dynamics.CRM.{}' refers to '{}', not to '{set_name}'.",
                            set.logical, declared.target
                        ),
                    ));
                }
                if self.get(set_name, id).is_none() {
                    return Err(missing(target_set, id));
                }
                out.insert(declared.column.into(), json!(id.to_ascii_lowercase()));
                continue;
            }
            if READ_ONLY.contains(&key.as_str()) || key == set.key {
                return Err((
                    400,
                    "0x80048d19",
                    format!(
                        "Error identified in Payload provided by the user for Entity :'{}', the column '{key}' cannot be set.",
                        set.logical
                    ),
                ));
            }
            if !set.columns.contains(&key.as_str()) || key.starts_with('_') {
                return Err((
                    400,
                    "0x80060888",
                    format!(
                        "Could not find a property named '{key}' on type 'Microsoft.Dynamics.CRM.{}'.",
                        set.logical
                    ),
                ));
            }
            out.insert(key, value);
        }
        if creating
            && let Some(column) = set
                .required
                .iter()
                .find(|c| out.get(**c).is_none_or(Value::is_null))
        {
            return Err((
                400,
                "0x80040203",
                format!(
                    "Required field '{column}' is missing for entity '{}'.",
                    set.logical
                ),
            ));
        }
        Ok(out)
    }

    /// Creates a row; returns its id.
    pub(crate) fn create(
        &mut self,
        set: &EntitySet,
        body: Map<String, Value>,
    ) -> Result<String, Rejection> {
        let mut row = self.columns(set, body, true)?;
        let id = uuid::Uuid::new_v4().to_string();
        row.insert(set.key.into(), json!(id));
        row.insert("createdon".into(), json!(Utc::now().to_rfc3339()));
        if set.name == "opportunities" {
            row.insert("statecode".into(), json!(0));
            row.insert("statuscode".into(), json!(1));
        }
        if set.name == "opportunityproducts" {
            let n = |c: &str| row.get(c).and_then(Value::as_f64).unwrap_or(0.0);
            let total = n("quantity") * n("priceperunit");
            row.insert("extendedamount".into(), json!(total));
        }
        let opportunity = row
            .get("_opportunityid_value")
            .and_then(Value::as_str)
            .map(str::to_owned);
        self.rows
            .entry(set.name.to_owned())
            .or_default()
            .insert(id.clone(), row);
        if let Some(opp) = opportunity {
            self.total(&opp);
        }
        Ok(id)
    }

    /// Updates a row (`If-Match: *` refuses to create one).
    pub(crate) fn update(
        &mut self,
        set: &EntitySet,
        id: &str,
        body: Map<String, Value>,
        must_exist: bool,
        must_be_new: bool,
    ) -> Result<(), Rejection> {
        let id = id.to_ascii_lowercase();
        let exists = self.get(set.name, &id).is_some();
        // Upsert with `If-None-Match: *`: create only.
        if must_be_new && exists {
            return Err((
                412,
                "0x80040237",
                "A record with matching key values already exists.".to_owned(),
            ));
        }
        let columns = self.columns(set, body, false)?;
        if !exists {
            if must_exist {
                return Err((
                    412,
                    "0x80040217",
                    format!("{} With Id = {id} Does Not Exist", set.logical),
                ));
            }
            let mut row = columns;
            row.insert(set.key.into(), json!(id));
            self.rows
                .entry(set.name.to_owned())
                .or_default()
                .insert(id, row);
            return Ok(());
        }
        if let Some(row) = self.rows.get_mut(set.name).and_then(|r| r.get_mut(&id)) {
            row.extend(columns);
        }
        Ok(())
    }

    /// `WinOpportunity`: state Won, status `status`, close date today.
    pub(crate) fn win(&mut self, id: &str, status: i64) -> Result<(), Rejection> {
        let opportunities =
            set("opportunities").ok_or((500, "0x80040216", "no opportunities".to_owned()))?;
        let row = self
            .rows
            .get_mut("opportunities")
            .and_then(|r| r.get_mut(&id.to_ascii_lowercase()))
            .ok_or_else(|| missing(opportunities, id))?;
        if row.get("statecode").and_then(Value::as_i64) != Some(0) {
            return Err((
                400,
                "0x80040203",
                "The opportunity is already closed.".into(),
            ));
        }
        row.insert("statecode".into(), json!(1));
        row.insert("statuscode".into(), json!(status));
        row.insert(
            "actualclosedate".into(),
            json!(Utc::now().date_naive().to_string() + "T00:00:00Z"),
        );
        Ok(())
    }

    fn total(&mut self, opportunity: &str) {
        let total: f64 = self
            .list("opportunityproducts")
            .iter()
            .filter(|l| l.get("_opportunityid_value").and_then(Value::as_str) == Some(opportunity))
            .filter_map(|l| l.get("extendedamount").and_then(Value::as_f64))
            .sum();
        if let Some(row) = self
            .rows
            .get_mut("opportunities")
            .and_then(|r| r.get_mut(opportunity))
        {
            row.insert("totalamount".into(), json!(total));
        }
    }
}
