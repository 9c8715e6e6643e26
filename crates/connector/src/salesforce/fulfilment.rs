//! Fulfilment on the Opportunity: completed Tasks as its activity timeline,
//! an open Task for the account's owner on an exception, and the fulfilment
//! fields (`[fulfilment_sync.crm.salesforce]`).
//!
//! A Task whose `WhatId` is the opportunity is on the opportunity's and (by
//! Salesforce's own roll-up through `Task.AccountId`) its account's activity
//! history. Salesforce offers no External ID on activity fields, so a Task's
//! idempotency key sits in a custom text field and the connector looks for it
//! among the opportunity's Tasks before creating one.

use async_trait::async_trait;
use chrono::SecondsFormat;
use crmerp_proto::RecordRef;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::read::QueryPage;
use super::{
    ENDPOINT_TASK, ENDPOINT_TASKS, ENDPOINT_UPDATE, SYSTEM, SalesforceCrm, check_id, mapping,
};
use crate::config::{ConfigError, check_not_blank};
use crate::crm_fulfilment::{DealFields, clip, deal_values};
use crate::endpoint;
use crate::http_client::protocol_error;
use crate::http_kit::Endpoint;
use crate::ports::{
    Activity, ActivityTimeline, DealFulfilment, FollowUpTask, FollowUpTasks, FulfilmentUpdate,
};
use crate::{CallLog, ConnectorError};

const ENDPOINT_OPPORTUNITY: Endpoint =
    endpoint!(GET "/services/data/{v}/sobjects/Opportunity/{id}");
const ENDPOINT_ACCOUNT: Endpoint = endpoint!(GET "/services/data/{v}/sobjects/Account/{id}");
const ENDPOINT_USER: Endpoint = endpoint!(GET "/services/data/{v}/sobjects/User/{id}");
/// `Task.Subject` holds 255 characters.
const MAX_SUBJECT: usize = 255;
/// `Task.Description` holds 32,000 characters.
const MAX_DESCRIPTION: usize = 32_000;
/// A custom text field holds at most 255 characters.
const MAX_KEY: usize = 255;

const SECTION: &str = "fulfilment_sync.crm.salesforce";

/// Fulfilment-sync's Salesforce field maps: section `[fulfilment_sync.crm.salesforce]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// Opportunity text field receiving the canonical fulfilment status
    /// (`picking`, `dispatched`, `delivered`, ...; default `Fulfilment_Status__c`).
    pub status_field: String,
    /// Opportunity text field receiving the carrier (default `Carrier__c`); empty to not write one.
    pub carrier_field: String,
    /// Opportunity text field receiving the tracking number (default
    /// `Tracking_Number__c`); empty to not write one.
    pub tracking_number_field: String,
    /// Opportunity URL field receiving the tracking page (default
    /// `Tracking_URL__c`); empty to not write one.
    pub tracking_url_field: String,
    /// Opportunity date/time field receiving the delivery time (default
    /// `Delivered_At__c`); empty to not write one.
    pub delivered_at_field: String,
    /// Custom text field on Task (Activity, Text(255)) holding each timeline
    /// entry's and task's idempotency key (default `CrmErp_Key__c`).
    pub task_key_field: String,
}

impl Default for FulfilmentFields {
    fn default() -> Self {
        Self {
            status_field: "Fulfilment_Status__c".into(),
            carrier_field: "Carrier__c".into(),
            tracking_number_field: "Tracking_Number__c".into(),
            tracking_url_field: "Tracking_URL__c".into(),
            delivered_at_field: "Delivered_At__c".into(),
            task_key_field: "CrmErp_Key__c".into(),
        }
    }
}

impl FulfilmentFields {
    /// Checks every map; errors name keys under `fulfilment_sync.crm.salesforce`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_not_blank(&format!("{SECTION}.status_field"), &self.status_field)?;
        check_not_blank(&format!("{SECTION}.task_key_field"), &self.task_key_field)?;
        for (name, value) in [
            ("status_field", &self.status_field),
            ("carrier_field", &self.carrier_field),
            ("tracking_number_field", &self.tracking_number_field),
            ("tracking_url_field", &self.tracking_url_field),
            ("delivered_at_field", &self.delivered_at_field),
            ("task_key_field", &self.task_key_field),
        ] {
            if !value.is_empty() && !is_api_name(value) {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{name}"),
                    format!("{value:?} is not a Salesforce field API name (e.g. Carrier__c)"),
                ));
            }
        }
        if !self.task_key_field.ends_with("__c") {
            return Err(ConfigError::invalid(
                format!("{SECTION}.task_key_field"),
                "must be a custom field on Task (its API name ends in __c)",
            ));
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

/// A field API name: a letter, then letters, digits and single underscores
/// (a custom field's `__c` suffix aside), at most 40 characters before it.
fn is_api_name(name: &str) -> bool {
    let stem = name.strip_suffix("__c").unwrap_or(name);
    stem.len() <= 40
        && stem.starts_with(|c: char| c.is_ascii_alphabetic())
        && !stem.ends_with('_')
        && !stem.contains("__")
        && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The value stored in the key field: the key itself, or a digest of a key
/// longer than the field holds.
fn stored_key(key: &str) -> String {
    if key.chars().count() <= MAX_KEY {
        key.to_owned()
    } else {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

fn task_ref(id: String) -> RecordRef {
    RecordRef {
        system: SYSTEM.into(),
        object_type: "Task".into(),
        id,
    }
}

impl SalesforceCrm {
    /// The Task on opportunity `deal_id` carrying `key`, if one exists: the
    /// opportunity's Tasks related list, every page.
    async fn task_with_key(
        &self,
        calls: &CallLog,
        deal_id: &str,
        key: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let field = &self.config.fulfilment.task_key_field;
        let path = format!(
            "{}/sobjects/Opportunity/{deal_id}/Tasks?fields=Id,{field}",
            self.api()
        );
        let first: QueryPage = match self.call(calls, &ENDPOINT_TASKS, &path, None).await {
            Ok(response) => response.json(SYSTEM, &ENDPOINT_TASKS)?,
            // A related list without rows answers as not found; the
            // opportunity itself is checked when the task is created.
            Err(err) if err.http_status == 404 => return Ok(None),
            Err(err) => return Err(err),
        };
        let tasks = self.all_lines(calls, first).await?;
        Ok(tasks
            .iter()
            .find(|t| t[field.as_str()].as_str() == Some(key))
            .map(|t| mapping::text(t, "Id")))
    }

    /// Creates `task` (a Task's fields) and returns its id.
    async fn create_task_record(
        &self,
        calls: &CallLog,
        task: &Value,
    ) -> Result<String, ConnectorError> {
        let path = format!("{}/sobjects/Task", self.api());
        let created: Value = self
            .call(calls, &ENDPOINT_TASK, &path, Some(task))
            .await?
            .json(SYSTEM, &ENDPOINT_TASK)?;
        match mapping::text(&created, "id") {
            id if !id.is_empty() => Ok(id),
            _ => Err(protocol_error(SYSTEM, &ENDPOINT_TASK, "created without id")),
        }
    }

    async fn read_fields(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        object: &str,
        id: &str,
        fields: &str,
    ) -> Result<Value, ConnectorError> {
        check_id(id, endpoint)?;
        let path = format!("{}/sobjects/{object}/{id}?fields={fields}", self.api());
        self.call(calls, endpoint, &path, None)
            .await?
            .json(SYSTEM, endpoint)
    }

    /// Who gets the customer-success task: the account's owner while that
    /// user is active (a Task cannot be assigned to an inactive user), else
    /// the opportunity's owner.
    async fn csm_owner(
        &self,
        calls: &CallLog,
        deal_id: &str,
        account_id: Option<&str>,
    ) -> Result<Option<String>, ConnectorError> {
        let opp = self
            .read_fields(
                calls,
                &ENDPOINT_OPPORTUNITY,
                "Opportunity",
                deal_id,
                "AccountId,OwnerId",
            )
            .await?;
        let account = match account_id {
            Some(id) if !id.is_empty() => id.to_owned(),
            _ => mapping::text(&opp, "AccountId"),
        };
        if !account.is_empty() {
            let row = self
                .read_fields(calls, &ENDPOINT_ACCOUNT, "Account", &account, "OwnerId")
                .await?;
            let owner = mapping::text(&row, "OwnerId");
            if !owner.is_empty() {
                let user = self
                    .read_fields(calls, &ENDPOINT_USER, "User", &owner, "IsActive")
                    .await?;
                if user["IsActive"].as_bool() == Some(true) {
                    return Ok(Some(owner));
                }
            }
        }
        Ok(Some(mapping::text(&opp, "OwnerId")).filter(|o| !o.is_empty()))
    }
}

#[async_trait]
impl ActivityTimeline for SalesforceCrm {
    async fn record_activity(
        &self,
        activity: &Activity,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&activity.deal_id, &ENDPOINT_TASK)?;
        let key = stored_key(&activity.key);
        if let Some(id) = self.task_with_key(calls, &activity.deal_id, &key).await? {
            return Ok(task_ref(id));
        }
        // `CompletedDateTime` is set by Salesforce when the Task closes and
        // cannot be written: the ERP's date goes to `ActivityDate` (what the
        // activity history sorts by), its exact time into the description.
        let at = activity
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let description = clip(
            &format!("{}\n\nAt {at}", activity.body.trim_end()),
            MAX_DESCRIPTION,
        );
        let mut task = json!({
            "WhatId": activity.deal_id,
            "Subject": clip(&activity.subject, MAX_SUBJECT),
            "Description": description,
            "Status": "Completed",
            "Priority": "Normal",
            "ActivityDate": activity.occurred_at.date_naive().to_string(),
        });
        task[self.config.fulfilment.task_key_field.as_str()] = json!(key);
        self.create_task_record(calls, &task).await.map(task_ref)
    }
}

#[async_trait]
impl FollowUpTasks for SalesforceCrm {
    async fn create_task(
        &self,
        task: &FollowUpTask,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&task.deal_id, &ENDPOINT_TASK)?;
        let key = stored_key(&task.key);
        if let Some(id) = self.task_with_key(calls, &task.deal_id, &key).await? {
            return Ok(task_ref(id));
        }
        let owner = self
            .csm_owner(calls, &task.deal_id, task.account_id.as_deref())
            .await?;
        let mut body = json!({
            "WhatId": task.deal_id,
            "Subject": clip(&task.subject, MAX_SUBJECT),
            "Description": clip(&task.body, MAX_DESCRIPTION),
            "Status": "Not Started",
            "Priority": "High",
        });
        body[self.config.fulfilment.task_key_field.as_str()] = json!(key);
        if let Some(owner) = owner {
            body["OwnerId"] = json!(owner);
        }
        if let Some(due) = task.due_at {
            body["ActivityDate"] = json!(due.date_naive().to_string());
        }
        self.create_task_record(calls, &body).await.map(task_ref)
    }
}

#[async_trait]
impl DealFulfilment for SalesforceCrm {
    async fn write_fulfilment(
        &self,
        deal_id: &str,
        update: &FulfilmentUpdate,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE)?;
        let fields = deal_values(
            &self.config.fulfilment.deal_fields(),
            update,
            MAX_KEY,
            |at| json!(at.to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        self.update_opportunity(calls, deal_id, fields).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_names_are_checked() {
        FulfilmentFields::default().validate().expect("defaults");
        let bad = FulfilmentFields {
            carrier_field: "Carrier c".into(),
            ..FulfilmentFields::default()
        };
        let err = bad.validate().expect_err("not an API name");
        assert!(
            err.to_string()
                .contains("fulfilment_sync.crm.salesforce.carrier_field"),
            "{err}"
        );
        let standard_key = FulfilmentFields {
            task_key_field: "Subject".into(),
            ..FulfilmentFields::default()
        };
        assert!(standard_key.validate().is_err());
        let no_status = FulfilmentFields {
            status_field: String::new(),
            ..FulfilmentFields::default()
        };
        assert_eq!(
            no_status.validate(),
            Err(ConfigError::missing(
                "fulfilment_sync.crm.salesforce.status_field"
            ))
        );
        let optional_off = FulfilmentFields {
            carrier_field: String::new(),
            tracking_url_field: String::new(),
            ..FulfilmentFields::default()
        };
        optional_off.validate().expect("optional fields may be off");
    }

    #[test]
    fn long_keys_are_stored_as_a_digest() {
        assert_eq!(stored_key("k-1"), "k-1");
        let long = "x".repeat(300);
        let stored = stored_key(&long);
        assert!(
            stored.starts_with("sha256:") && stored.len() == 71,
            "{stored}"
        );
        assert_eq!(stored, stored_key(&long));
    }
}
