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
            "_ownerid_value",
            "_owninguser_value",
            "_owningteam_value",
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
            "crmerp_fulfilmentstatus",
            "crmerp_carrier",
            "crmerp_trackingnumber",
            "crmerp_trackingurl",
            "crmerp_deliveredon",
            "_ownerid_value",
            "_owninguser_value",
            "_owningteam_value",
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
            "actualend",
            "statecode",
            "statuscode",
            "_regardingobjectid_value",
            "_ownerid_value",
            "_owninguser_value",
            "_owningteam_value",
        ],
    },
    EntitySet {
        name: "systemusers",
        key: "systemuserid",
        logical: "systemuser",
        required: &["lastname"],
        columns: &[
            "systemuserid",
            "firstname",
            "lastname",
            "fullname",
            "internalemailaddress",
            "isdisabled",
        ],
    },
    EntitySet {
        name: "teams",
        key: "teamid",
        logical: "team",
        required: &["name"],
        columns: &["teamid", "name"],
    },
];

/// Tables whose rows have an owner (`ownerid`: a user or a team; by default
/// the calling application user).
const OWNED: &[&str] = &["accounts", "opportunities", "tasks"];

/// The application user the simulator's client credentials act as (`WhoAmI`'s `UserId`).
pub(crate) const APP_USER: &str = "0d365000-0000-4000-8000-0000000000a1";

/// A task's valid `statuscode`s per `statecode`: Open (Not Started, In
/// Progress, Waiting on someone else, Deferred), Completed, Canceled.
const TASK_STATES: &[(i64, &[i64])] = &[(0, &[2, 3, 4, 7]), (1, &[5]), (2, &[6])];

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
    Navigation {
        set: "accounts",
        name: "ownerid",
        target: "systemusers",
        column: "_ownerid_value",
    },
    Navigation {
        set: "accounts",
        name: "ownerid",
        target: "teams",
        column: "_ownerid_value",
    },
    Navigation {
        set: "opportunities",
        name: "ownerid",
        target: "systemusers",
        column: "_ownerid_value",
    },
    Navigation {
        set: "opportunities",
        name: "ownerid",
        target: "teams",
        column: "_ownerid_value",
    },
    Navigation {
        set: "tasks",
        name: "ownerid",
        target: "systemusers",
        column: "_ownerid_value",
    },
    Navigation {
        set: "tasks",
        name: "ownerid",
        target: "teams",
        column: "_ownerid_value",
    },
];

/// Columns the platform sets; a client may not write them.
const READ_ONLY: &[&str] = &[
    "statecode",
    "statuscode",
    "totalamount",
    "extendedamount",
    "actualclosedate",
    "fullname",
];

/// Read-only columns an update of a table may still set: an activity's state
/// changes with an update (an opportunity's only through its actions).
fn settable_on_update(set: &str, column: &str) -> bool {
    set == "tasks" && matches!(column, "statecode" | "statuscode")
}

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
                let target = value.as_str().unwrap_or_default();
                let bound_set = target
                    .trim_start_matches('/')
                    .split_once('(')
                    .map_or("", |(name, _)| name);
                let declared = NAVIGATIONS
                    .iter()
                    .filter(|n| n.set == set.name && n.name == nav)
                    .min_by_key(|n| n.target != bound_set)
                    .ok_or_else(|| {
                        (
                            400,
                            "0x80060888",
                            format!(
                                "An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values."
                            ),
                        )
                    })?;
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
                let Some(row) = self.get(set_name, id) else {
                    return Err(missing(target_set, id));
                };
                let id = id.to_ascii_lowercase();
                if nav == "ownerid" {
                    if row.get("isdisabled").and_then(Value::as_bool) == Some(true) {
                        return Err(disabled_user(&id));
                    }
                    // The owner is a user or a team, never both.
                    let (owning, other) = if set_name == "teams" {
                        ("_owningteam_value", "_owninguser_value")
                    } else {
                        ("_owninguser_value", "_owningteam_value")
                    };
                    out.insert(owning.into(), json!(id));
                    out.insert(other.into(), Value::Null);
                }
                out.insert(declared.column.into(), json!(id));
                continue;
            }
            let settable = !creating && settable_on_update(set.name, &key);
            if (READ_ONLY.contains(&key.as_str()) && !settable) || key == set.key {
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
        let row = self.columns(set, body, true)?;
        let id = uuid::Uuid::new_v4().to_string();
        self.insert_new(set, &id, row);
        Ok(id)
    }

    /// Stores a new row with what the platform fills in: key, creation
    /// time, owner, initial state and derived amounts.
    fn insert_new(&mut self, set: &EntitySet, id: &str, mut row: Map<String, Value>) {
        row.insert(set.key.into(), json!(id));
        row.insert("createdon".into(), json!(Utc::now().to_rfc3339()));
        if OWNED.contains(&set.name) && row.get("_ownerid_value").is_none_or(Value::is_null) {
            self.app_user();
            row.insert("_ownerid_value".into(), json!(APP_USER));
            row.insert("_owninguser_value".into(), json!(APP_USER));
            row.insert("_owningteam_value".into(), Value::Null);
        }
        if set.name == "tasks" {
            row.insert("statecode".into(), json!(0));
            row.insert("statuscode".into(), json!(2));
        }
        if set.name == "systemusers" {
            derive_fullname(&mut row);
            row.entry("isdisabled").or_insert(json!(false));
        }
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
            .insert(id.to_owned(), row);
        if let Some(opp) = opportunity {
            self.total(&opp);
        }
    }

    /// The application user's row, created on first use.
    fn app_user(&mut self) {
        let users = self.rows.entry("systemusers".to_owned()).or_default();
        users.entry(APP_USER.to_owned()).or_insert_with(|| {
            let mut row = Map::new();
            row.insert("systemuserid".into(), json!(APP_USER));
            row.insert("lastname".into(), json!("crmerp"));
            row.insert("fullname".into(), json!("# crmerp"));
            row.insert("isdisabled".into(), json!(false));
            row
        });
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
        // An upsert that creates checks the columns as a create does.
        let columns = self.columns(set, body, !exists && !must_exist)?;
        if !exists {
            if must_exist {
                return Err((
                    412,
                    "0x80040217",
                    format!("{} With Id = {id} Does Not Exist", set.logical),
                ));
            }
            self.insert_new(set, &id, columns);
            return Ok(());
        }
        if let Some(row) = self.rows.get_mut(set.name).and_then(|r| r.get_mut(&id)) {
            let mut next = row.clone();
            next.extend(columns);
            if set.name == "tasks" {
                check_task_state(&next)?;
                if next.get("statecode").and_then(Value::as_i64) == Some(1)
                    && next.get("actualend").is_none_or(Value::is_null)
                {
                    next.insert("actualend".into(), json!(Utc::now().to_rfc3339()));
                }
            }
            if set.name == "systemusers" {
                derive_fullname(&mut next);
            }
            *row = next;
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

/// A systemuser's `fullname`: first and last name.
fn derive_fullname(row: &mut Map<String, Value>) {
    let name = ["firstname", "lastname"]
        .iter()
        .filter_map(|c| row.get(*c).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    row.insert("fullname".into(), json!(name));
}

/// A task's `statuscode` must belong to its `statecode`.
fn check_task_state(row: &Map<String, Value>) -> Result<(), Rejection> {
    let state = row.get("statecode").and_then(Value::as_i64).unwrap_or(0);
    let status = row.get("statuscode").and_then(Value::as_i64).unwrap_or(2);
    let valid = TASK_STATES
        .iter()
        .any(|(s, statuses)| *s == state && statuses.contains(&status));
    if valid {
        Ok(())
    } else {
        Err((
            400,
            "0x80040203",
            format!("{status} is not a valid status code for state code TaskState.{state}"),
        ))
    }
}

/// Assigning a row to a disabled user.
fn disabled_user(id: &str) -> Rejection {
    (
        400,
        "0x80040225",
        format!("The specified user (Id = {id}) is disabled. Consider enabling this user."),
    )
}
