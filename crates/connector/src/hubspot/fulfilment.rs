//! fulfilment-sync's HubSpot side: order steps as notes on the deal and its
//! company, follow-up tasks for the company's owner, and the deal's fulfilment
//! properties.
//!
//! HubSpot notes and tasks have no external-id or unique property, and custom
//! properties cannot be created on notes, so idempotency rides in the body: the
//! last paragraph names the key (`crmerp ref <key>`). Before writing, the
//! connector lists the notes (tasks) associated with the deal through the v4
//! associations API, which is read-after-write consistent unlike search, and
//! batch-reads their bodies for that marker.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use crmerp_proto::RecordRef;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::CrmObject;
use super::{
    BATCH_SIZE, ENDPOINT_CREATE_NOTE, ENDPOINT_DEAL_NOTES, ENDPOINT_NOTES, HubSpotCrm,
    NOTE_TO_DEAL, SYSTEM, check_id, escape_html,
};
use crate::config::{ConfigError, check_not_blank};
use crate::crm_fulfilment::{DealFields, UNCLIPPED, deal_values};
use crate::endpoint;
use crate::http_client::encode_segment;
use crate::http_kit::Endpoint;
use crate::ports::{
    Activity, ActivityTimeline, DealFulfilment, FollowUpTask, FollowUpTasks, FulfilmentUpdate,
};
use crate::{CallLog, ConnectorError};

const ENDPOINT_CREATE_TASK: Endpoint = endpoint!(POST "/crm/v3/objects/tasks");
const ENDPOINT_DEAL_TASKS: Endpoint =
    endpoint!(GET "/crm/v4/objects/deals/{id}/associations/tasks");
const ENDPOINT_TASKS: Endpoint = endpoint!(POST "/crm/v3/objects/tasks/batch/read");
const ENDPOINT_DEAL_COMPANIES: Endpoint =
    endpoint!(GET "/crm/v4/objects/deals/{id}/associations/companies");
const ENDPOINT_COMPANY_OWNER: Endpoint = endpoint!(GET "/crm/v3/objects/companies/{id}");
const ENDPOINT_DEAL_OWNER: Endpoint = endpoint!(GET "/crm/v3/objects/deals/{id}");
const ENDPOINT_TIMELINE_EVENT: Endpoint = endpoint!(POST "/integrators/timeline/v3/events");

/// HUBSPOT_DEFINED association types (HubSpot's documented ids; note -> deal is the parent's).
const NOTE_TO_COMPANY: u32 = 190;
const TASK_TO_DEAL: u32 = 216;
const TASK_TO_COMPANY: u32 = 192;

/// The owner property of companies and deals.
const OWNER_PROPERTY: &str = "hubspot_owner_id";

const SECTION: &str = "fulfilment_sync.crm.hubspot";

/// fulfilment-sync's HubSpot field maps: section `[fulfilment_sync.crm.hubspot]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// Deal property receiving the canonical fulfilment status, e.g.
    /// `dispatched` (default `erp_fulfilment_status`).
    pub status_property: String,
    /// Deal property receiving the carrier (default `erp_carrier`).
    pub carrier_property: String,
    /// Deal property receiving the tracking number (default `erp_tracking_number`).
    pub tracking_number_property: String,
    /// Deal property receiving the public tracking URL (default `erp_tracking_url`).
    pub tracking_url_property: String,
    /// Deal datetime property receiving the delivery time (default `erp_delivered_at`).
    pub delivered_at_property: String,
    /// When set, order steps are timeline events of this app event template
    /// (`POST /integrators/timeline/v3/events`, tokens `subject` and `body`) on
    /// the deal instead of notes; empty (the default) writes notes.
    pub timeline_event_template_id: String,
    /// `hs_task_priority` of follow-up tasks: `LOW`, `MEDIUM` or `HIGH` (default `HIGH`).
    pub task_priority: String,
}

impl Default for FulfilmentFields {
    fn default() -> Self {
        Self {
            status_property: "erp_fulfilment_status".into(),
            carrier_property: "erp_carrier".into(),
            tracking_number_property: "erp_tracking_number".into(),
            tracking_url_property: "erp_tracking_url".into(),
            delivered_at_property: "erp_delivered_at".into(),
            timeline_event_template_id: String::new(),
            task_priority: "HIGH".into(),
        }
    }
}

impl FulfilmentFields {
    fn deal_fields(&self) -> DealFields<'_> {
        DealFields {
            status: &self.status_property,
            carrier: &self.carrier_property,
            tracking_number: &self.tracking_number_property,
            tracking_url: &self.tracking_url_property,
            delivered_at: &self.delivered_at_property,
        }
    }

    /// Checks every map; errors name keys under `fulfilment_sync.crm.hubspot`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("status_property", &self.status_property),
            ("carrier_property", &self.carrier_property),
            ("tracking_number_property", &self.tracking_number_property),
            ("tracking_url_property", &self.tracking_url_property),
            ("delivered_at_property", &self.delivered_at_property),
        ] {
            check_not_blank(&format!("{SECTION}.{name}"), value)?;
        }
        if !["LOW", "MEDIUM", "HIGH"].contains(&self.task_priority.as_str()) {
            return Err(ConfigError::invalid(
                format!("{SECTION}.task_priority"),
                format!(
                    "\"{}\" is not a HubSpot task priority (LOW, MEDIUM, HIGH)",
                    self.task_priority
                ),
            ));
        }
        let template = self.timeline_event_template_id.trim();
        if !template.is_empty() && !template.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::invalid(
                format!("{SECTION}.timeline_event_template_id"),
                "must be the numeric id of an app event template",
            ));
        }
        Ok(())
    }
}

/// The idempotency marker written as a body's last paragraph.
fn marker(key: &str) -> String {
    format!("crmerp ref {}", escape_html(key))
}

/// Plain text as HubSpot rich text: one paragraph per line.
fn paragraphs(text: &str) -> String {
    text.lines()
        .map(|line| format!("<p>{}</p>", escape_html(line)))
        .collect()
}

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl HubSpotCrm {
    /// The id of an object of type `to` (notes, tasks) associated with the deal
    /// whose `property` contains `needle`.
    pub(super) async fn find_associated(
        &self,
        calls: &CallLog,
        (list, read): (&Endpoint, &Endpoint),
        deal_id: &str,
        to: &str,
        property: &str,
        needle: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let ids: Vec<Value> = self
            .associations(calls, list, deal_id, to)
            .await?
            .into_iter()
            .map(|a| json!({ "id": a.to_object_id }))
            .collect();
        let path = format!("/crm/v3/objects/{to}/batch/read");
        for chunk in ids.chunks(BATCH_SIZE) {
            let request =
                json!({ "properties": [property], "propertiesWithHistory": [], "inputs": chunk });
            let batch: super::model::BatchRead = self
                .call(calls, read, &path, &[], Some(&request))
                .await?
                .json(SYSTEM, read)?;
            // HubSpot may wrap a stored body in its own markup.
            if let Some(found) = batch
                .results
                .into_iter()
                .find(|o| o.prop(property).contains(needle))
            {
                return Ok(Some(found.id));
            }
        }
        Ok(None)
    }

    /// The account named by the caller, else the deal's primary company.
    async fn company_of(
        &self,
        calls: &CallLog,
        deal_id: &str,
        account_id: Option<&str>,
    ) -> Result<Option<String>, ConnectorError> {
        if let Some(id) = account_id.filter(|id| !id.is_empty()) {
            check_id(id, &ENDPOINT_COMPANY_OWNER)?;
            return Ok(Some(id.to_owned()));
        }
        let companies = self
            .associations(calls, &ENDPOINT_DEAL_COMPANIES, deal_id, "companies")
            .await?;
        Ok(super::mapping::primary_company(&companies).map(str::to_owned))
    }

    /// `hubspot_owner_id` of one record, when set.
    async fn owner_of(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        object: &str,
        id: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let path = format!("/crm/v3/objects/{object}/{}", encode_segment(id));
        let record: CrmObject = self
            .get_json(calls, endpoint, &path, &[("properties", OWNER_PROPERTY)])
            .await?;
        Ok(Some(record.prop(OWNER_PROPERTY)).filter(|owner| !owner.is_empty()))
    }

    /// Creates an object with inline associations to the deal and the company.
    async fn create_associated(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        object: &str,
        properties: Value,
        targets: [(Option<&str>, u32); 2],
    ) -> Result<String, ConnectorError> {
        let associations: Vec<Value> = targets
            .iter()
            .filter_map(|(id, type_id)| id.map(|id| (id, type_id)))
            .map(|(id, type_id)| {
                json!({
                    "to": { "id": id },
                    "types": [{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id }],
                })
            })
            .collect();
        let body = json!({ "properties": properties, "associations": associations });
        let path = format!("/crm/v3/objects/{object}");
        let created: CrmObject = self
            .call(calls, endpoint, &path, &[], Some(&body))
            .await?
            .json(SYSTEM, endpoint)?;
        Ok(created.id)
    }

    /// An order step as an app timeline event on the deal; the event id is the
    /// activity's key, so HubSpot itself refuses a second one (409).
    async fn timeline_event(
        &self,
        activity: &Activity,
        template: &str,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        let body = json!({
            "eventTemplateId": template,
            "id": activity.key,
            "objectId": activity.deal_id,
            "timestamp": millis(activity.occurred_at),
            "tokens": { "subject": activity.subject, "body": activity.body },
        });
        let record = |id: &str| RecordRef {
            system: SYSTEM.into(),
            object_type: "timeline_event".into(),
            id: id.to_owned(),
        };
        match self
            .call(
                calls,
                &ENDPOINT_TIMELINE_EVENT,
                "/integrators/timeline/v3/events",
                &[],
                Some(&body),
            )
            .await
        {
            Ok(_) => Ok(record(&activity.key)),
            Err(error) if error.http_status == 409 => Ok(record(&activity.key)),
            Err(error) => Err(error),
        }
    }
}

#[async_trait]
impl ActivityTimeline for HubSpotCrm {
    async fn record_activity(
        &self,
        activity: &Activity,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&activity.deal_id, &ENDPOINT_CREATE_NOTE)?;
        let template = self.config.fulfilment.timeline_event_template_id.trim();
        if !template.is_empty() {
            return self.timeline_event(activity, template, calls).await;
        }
        let marker = marker(&activity.key);
        let record = |id: String| RecordRef {
            system: SYSTEM.into(),
            object_type: "note".into(),
            id,
        };
        if let Some(existing) = self
            .find_associated(
                calls,
                (&ENDPOINT_DEAL_NOTES, &ENDPOINT_NOTES),
                &activity.deal_id,
                "notes",
                "hs_note_body",
                &marker,
            )
            .await?
        {
            return Ok(record(existing));
        }
        let company = self
            .company_of(calls, &activity.deal_id, activity.account_id.as_deref())
            .await?;
        let body = format!(
            "<p><strong>{}</strong></p>{}<p>{marker}</p>",
            escape_html(&activity.subject),
            paragraphs(&activity.body)
        );
        let properties = json!({
            "hs_note_body": body,
            // The ERP's time, so HubSpot orders the timeline as things happened.
            "hs_timestamp": millis(activity.occurred_at),
        });
        let id = self
            .create_associated(
                calls,
                &ENDPOINT_CREATE_NOTE,
                "notes",
                properties,
                [
                    (Some(activity.deal_id.as_str()), NOTE_TO_DEAL),
                    (company.as_deref(), NOTE_TO_COMPANY),
                ],
            )
            .await?;
        Ok(record(id))
    }
}

#[async_trait]
impl FollowUpTasks for HubSpotCrm {
    async fn create_task(
        &self,
        task: &FollowUpTask,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&task.deal_id, &ENDPOINT_CREATE_TASK)?;
        let marker = marker(&task.key);
        let record = |id: String| RecordRef {
            system: SYSTEM.into(),
            object_type: "task".into(),
            id,
        };
        if let Some(existing) = self
            .find_associated(
                calls,
                (&ENDPOINT_DEAL_TASKS, &ENDPOINT_TASKS),
                &task.deal_id,
                "tasks",
                "hs_task_body",
                &marker,
            )
            .await?
        {
            return Ok(record(existing));
        }
        let company = self
            .company_of(calls, &task.deal_id, task.account_id.as_deref())
            .await?;
        // The company's owner is the account's CSM; a company without one falls
        // back to the deal's owner, and with neither the task is unassigned.
        let mut owner = match &company {
            Some(company) => {
                self.owner_of(calls, &ENDPOINT_COMPANY_OWNER, "companies", company)
                    .await?
            }
            None => None,
        };
        if owner.is_none() {
            owner = self
                .owner_of(calls, &ENDPOINT_DEAL_OWNER, "deals", &task.deal_id)
                .await?;
        }
        let mut properties = json!({
            "hs_task_subject": task.subject,
            "hs_task_body": format!("{}<p>{marker}</p>", paragraphs(&task.body)),
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": self.config.fulfilment.task_priority,
            "hs_task_type": "TODO",
            // HubSpot requires a due date; "now" puts it at the top of the queue.
            "hs_timestamp": millis(task.due_at.unwrap_or_else(Utc::now)),
        });
        if let Some(owner) = owner {
            properties[OWNER_PROPERTY] = json!(owner);
        } else {
            tracing::warn!(deal_id = %task.deal_id, "Neither the company nor the deal has an owner; the task is unassigned.");
        }
        let id = self
            .create_associated(
                calls,
                &ENDPOINT_CREATE_TASK,
                "tasks",
                properties,
                [
                    (Some(task.deal_id.as_str()), TASK_TO_DEAL),
                    (company.as_deref(), TASK_TO_COMPANY),
                ],
            )
            .await?;
        Ok(record(id))
    }
}

#[async_trait]
impl DealFulfilment for HubSpotCrm {
    async fn write_fulfilment(
        &self,
        deal_id: &str,
        update: &FulfilmentUpdate,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &super::ENDPOINT_UPDATE_DEAL)?;
        // Unknown values are left as they are: a status-only update must not
        // blank the tracking number an earlier dispatch wrote.
        let properties = deal_values(
            &self.config.fulfilment.deal_fields(),
            update,
            UNCLIPPED,
            |at| json!(millis(at)),
        );
        self.update_deal(calls, deal_id, Value::Object(properties))
            .await
    }
}

#[cfg(test)]
#[path = "fulfilment_tests.rs"]
mod tests;
