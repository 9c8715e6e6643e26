//! Fulfilment on the opportunity: completed tasks regarding it as its
//! activity timeline, an open task owned by the account's owner on an
//! exception, and the fulfilment columns (`[fulfilment_sync.crm.dynamics365]`).
//!
//! A task regarding the opportunity is on the opportunity's timeline and, by
//! Dataverse's activity roll-up, on its account's. Each task's id is a
//! name-based GUID of its idempotency key, created with `If-None-Match: *`: a
//! second write of the same key meets the row (412) instead of adding one.

use async_trait::async_trait;
use chrono::SecondsFormat;
use crmerp_proto::RecordRef;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    Dynamics365Crm, ENDPOINT_TASK, ENDPOINT_UPDATE, Precondition, SYSTEM, check_id, mapping,
    name_guid,
};
use crate::config::{ConfigError, check_not_blank};
use crate::crm_fulfilment::{DealFields, clip, deal_values};
use crate::endpoint;
use crate::http_kit::Endpoint;
use crate::ports::{
    Activity, ActivityTimeline, DealFulfilment, FollowUpTask, FollowUpTasks, FulfilmentUpdate,
};
use crate::{CallLog, ConnectorError};

const ENDPOINT_TASK_STATE: Endpoint = endpoint!(GET "/api/data/{v}/tasks({id})");
const ENDPOINT_OWNERS: Endpoint = endpoint!(GET "/api/data/{v}/opportunities({id})");
const ENDPOINT_ACCOUNT_OWNER: Endpoint = endpoint!(GET "/api/data/{v}/accounts({id})");
const ENDPOINT_USER: Endpoint = endpoint!(GET "/api/data/{v}/systemusers({id})");
/// `task.subject` holds 200 characters.
const MAX_SUBJECT: usize = 200;
/// `task.description` holds 2,000 characters by default.
const MAX_DESCRIPTION: usize = 2000;
/// A single-line text column holds at most 4,000 characters.
const MAX_TEXT: usize = 4000;
/// The owner columns of a user- or team-owned row.
const OWNER_SELECT: &str = "_owninguser_value,_owningteam_value";

const SECTION: &str = "fulfilment_sync.crm.dynamics365";

/// Fulfilment-sync's Dataverse field maps: section `[fulfilment_sync.crm.dynamics365]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// Opportunity text column (logical name) receiving the canonical status
    /// (`picking`, `dispatched`, `delivered`, ...; default `crmerp_fulfilmentstatus`).
    pub status_field: String,
    /// Opportunity text column receiving the carrier (default `crmerp_carrier`);
    /// empty to not write one.
    pub carrier_field: String,
    /// Opportunity text column receiving the tracking number (default
    /// `crmerp_trackingnumber`); empty to not write one.
    pub tracking_number_field: String,
    /// Opportunity URL text column receiving the tracking page (default
    /// `crmerp_trackingurl`); empty to not write one.
    pub tracking_url_field: String,
    /// Opportunity date-and-time column receiving the delivery time (default
    /// `crmerp_deliveredon`); empty to not write one.
    pub delivered_at_field: String,
}

impl Default for FulfilmentFields {
    fn default() -> Self {
        Self {
            status_field: "crmerp_fulfilmentstatus".into(),
            carrier_field: "crmerp_carrier".into(),
            tracking_number_field: "crmerp_trackingnumber".into(),
            tracking_url_field: "crmerp_trackingurl".into(),
            delivered_at_field: "crmerp_deliveredon".into(),
        }
    }
}

impl FulfilmentFields {
    /// Checks every map; errors name keys under `fulfilment_sync.crm.dynamics365`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_not_blank(&format!("{SECTION}.status_field"), &self.status_field)?;
        for (name, value) in [
            ("status_field", &self.status_field),
            ("carrier_field", &self.carrier_field),
            ("tracking_number_field", &self.tracking_number_field),
            ("tracking_url_field", &self.tracking_url_field),
            ("delivered_at_field", &self.delivered_at_field),
        ] {
            if !value.is_empty() && !is_logical_name(value) {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{name}"),
                    format!(
                        "{value:?} is not a column logical name (lower case, e.g. crmerp_carrier)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl FulfilmentFields {
    fn deal_fields(&self) -> DealFields<'_> {
        DealFields {
            status: &self.status_field,
            carrier: &self.carrier_field,
            tracking_number: &self.tracking_number_field,
            tracking_url: &self.tracking_url_field,
            delivered_at: &self.delivered_at_field,
        }
    }
}

/// A column's logical name: lower-case letters, digits and underscores,
/// starting with a letter, at most 50 characters.
fn is_logical_name(name: &str) -> bool {
    name.len() <= 50
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn task_ref(id: String) -> RecordRef {
    RecordRef {
        system: SYSTEM.into(),
        object_type: "task".into(),
        id,
    }
}

impl Dynamics365Crm {
    /// Creates task `id` unless it exists; true when this call created it.
    async fn create_task_once(
        &self,
        calls: &CallLog,
        id: &str,
        body: &Value,
    ) -> Result<bool, ConnectorError> {
        let url = format!("{}/tasks({id})", self.api);
        match self
            .send(
                calls,
                &ENDPOINT_TASK,
                &url,
                Some(body),
                Precondition::CreateOnly,
            )
            .await
        {
            Ok(_) => Ok(true),
            // 412: the task of this key exists already.
            Err(err) if err.http_status == 412 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Marks task `id` Completed unless it is closed already (Completed, or
    /// Canceled by someone in the CRM, which stays as they left it).
    async fn complete_task(
        &self,
        calls: &CallLog,
        id: &str,
        created: bool,
    ) -> Result<(), ConnectorError> {
        let url = format!("{}/tasks({id})", self.api);
        if !created {
            let row = self
                .get(
                    calls,
                    &ENDPOINT_TASK_STATE,
                    &format!("{url}?$select=statecode"),
                )
                .await?;
            if row["statecode"].as_i64() != Some(0) {
                return Ok(());
            }
        }
        let state = json!({ "statecode": 1, "statuscode": 5 });
        self.send(
            calls,
            &ENDPOINT_TASK,
            &url,
            Some(&state),
            Precondition::UpdateOnly,
        )
        .await
        .map(drop)
    }

    /// The `ownerid@odata.bind` target for the customer-success task: the
    /// account's owner (a user while enabled, or a team), else the
    /// opportunity's owner; `None` leaves the task to the calling user.
    async fn csm_owner(
        &self,
        calls: &CallLog,
        deal_id: &str,
        account_id: Option<&str>,
    ) -> Result<Option<String>, ConnectorError> {
        let opp = self
            .get(
                calls,
                &ENDPOINT_OWNERS,
                &format!(
                    "{}/opportunities({deal_id})?$select=_parentaccountid_value,{OWNER_SELECT}",
                    self.api
                ),
            )
            .await?;
        let account = match account_id {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => mapping::text(&opp, "_parentaccountid_value"),
        };
        if !account.is_empty() {
            check_id(&account, &ENDPOINT_ACCOUNT_OWNER)?;
            let row = self
                .get(
                    calls,
                    &ENDPOINT_ACCOUNT_OWNER,
                    &format!("{}/accounts({account})?$select={OWNER_SELECT}", self.api),
                )
                .await?;
            let user = mapping::text(&row, "_owninguser_value");
            if check_id(&user, &ENDPOINT_USER).is_ok() {
                let state = self
                    .get(
                        calls,
                        &ENDPOINT_USER,
                        &format!("{}/systemusers({user})?$select=isdisabled", self.api),
                    )
                    .await?;
                if state["isdisabled"].as_bool() != Some(true) {
                    return Ok(Some(format!("/systemusers({user})")));
                }
            } else if let Some(team) = owner_of(&row, "_owningteam_value") {
                return Ok(Some(format!("/teams({team})")));
            }
        }
        Ok(owner_of(&opp, "_owninguser_value")
            .map(|user| format!("/systemusers({user})"))
            .or_else(|| owner_of(&opp, "_owningteam_value").map(|t| format!("/teams({t})"))))
    }
}

/// A GUID-valued owner column of `row`.
fn owner_of(row: &Value, column: &str) -> Option<String> {
    Some(mapping::text(row, column)).filter(|id| crate::mapping::is_guid(id))
}

#[async_trait]
impl ActivityTimeline for Dynamics365Crm {
    async fn record_activity(
        &self,
        activity: &Activity,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&activity.deal_id, &ENDPOINT_TASK)?;
        let id = name_guid(&format!("crmerp-activity\n{}", activity.key));
        let at = activity
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let task = json!({
            "subject": clip(&activity.subject, MAX_SUBJECT),
            "description": clip(&activity.body, MAX_DESCRIPTION),
            "prioritycode": 1,
            // The ERP's time: when it was due and when it was done.
            "scheduledend": at,
            "actualend": at,
            "regardingobjectid_opportunity_task@odata.bind":
                format!("/opportunities({})", activity.deal_id),
        });
        let created = self.create_task_once(calls, &id, &task).await?;
        self.complete_task(calls, &id, created).await?;
        Ok(task_ref(id))
    }
}

#[async_trait]
impl FollowUpTasks for Dynamics365Crm {
    async fn create_task(
        &self,
        task: &FollowUpTask,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&task.deal_id, &ENDPOINT_TASK)?;
        let id = name_guid(&format!("crmerp-follow-up\n{}", task.key));
        let exists = self
            .get(
                calls,
                &ENDPOINT_TASK_STATE,
                &format!("{}/tasks({id})?$select=activityid", self.api),
            )
            .await;
        match exists {
            Ok(_) => return Ok(task_ref(id)),
            Err(err) if err.http_status == 404 => {}
            Err(err) => return Err(err),
        }
        let owner = self
            .csm_owner(calls, &task.deal_id, task.account_id.as_deref())
            .await?;
        let mut body = json!({
            "subject": clip(&task.subject, MAX_SUBJECT),
            "description": clip(&task.body, MAX_DESCRIPTION),
            "prioritycode": 2,
            "regardingobjectid_opportunity_task@odata.bind":
                format!("/opportunities({})", task.deal_id),
        });
        if let Some(owner) = owner {
            body["ownerid@odata.bind"] = json!(owner);
        }
        if let Some(due) = task.due_at {
            body["scheduledend"] = json!(due.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        self.create_task_once(calls, &id, &body).await?;
        Ok(task_ref(id))
    }
}

#[async_trait]
impl DealFulfilment for Dynamics365Crm {
    async fn write_fulfilment(
        &self,
        deal_id: &str,
        update: &FulfilmentUpdate,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE)?;
        let columns = deal_values(
            &self.config.fulfilment.deal_fields(),
            update,
            MAX_TEXT,
            |at| json!(at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        );
        self.update(calls, deal_id, Value::Object(columns)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_names_are_checked() {
        FulfilmentFields::default().validate().expect("defaults");
        let bad = FulfilmentFields {
            tracking_url_field: "crmerp_TrackingUrl".into(),
            ..FulfilmentFields::default()
        };
        let err = bad.validate().expect_err("schema name, not logical name");
        assert!(
            err.to_string()
                .contains("fulfilment_sync.crm.dynamics365.tracking_url_field"),
            "{err}"
        );
        let none = FulfilmentFields {
            status_field: " ".into(),
            ..FulfilmentFields::default()
        };
        assert!(none.validate().is_err());
    }
}
