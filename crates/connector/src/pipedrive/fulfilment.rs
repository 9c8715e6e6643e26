//! Fulfilment on the deal: done activities as its timeline, an open activity
//! for the organization's owner on an exception, and the deal's fulfilment
//! custom fields (`[fulfilment_sync.crm.pipedrive]`).
//!
//! Activities carry `deal_id` and `org_id`, so they show in the deal's and the
//! organization's history. Pipedrive has no external id or custom fields on
//! activities: each one's idempotency key is a marker line in its note, and
//! the connector looks for it among the deal's activities before adding one.

use async_trait::async_trait;
use chrono::SecondsFormat;
use crmerp_proto::RecordRef;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{
    ENDPOINT_ACTIVITIES, ENDPOINT_ACTIVITY, ENDPOINT_DEAL, ENDPOINT_ORG, ENDPOINT_UPDATE,
    MAX_PAGES, PAGE, PipedriveCrm, SYSTEM, check_id, escape_html, is_id, mapping,
};
use crate::config::{ConfigError, check_not_blank};
use crate::crm_fulfilment::{DealFields, clip, deal_values};
use crate::endpoint;
use crate::http_client::protocol_error;
use crate::http_kit::Endpoint;
use crate::ports::{
    Activity, ActivityTimeline, DealFulfilment, FollowUpTask, FollowUpTasks, FulfilmentUpdate,
};
use crate::{CallLog, ConnectorError, ErrorCategory, ErrorKind};

/// Users have no v2 endpoint.
const ENDPOINT_USER: Endpoint = endpoint!(GET "/api/v1/users/{id}");
/// Longest activity subject and text field value written (a text field holds 255).
const MAX_SUBJECT: usize = 255;
/// Longest note text written (before HTML escaping).
const MAX_NOTE: usize = 10_000;

const SECTION: &str = "fulfilment_sync.crm.pipedrive";

/// Fulfilment-sync's Pipedrive field maps: section `[fulfilment_sync.crm.pipedrive]`.
/// Deal custom fields are named by their API key, the 40-character hash
/// Pipedrive shows in the field's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FulfilmentFields {
    /// Deal text custom field receiving the canonical fulfilment status
    /// (`picking`, `dispatched`, `delivered`, ...); required to write fulfilment.
    pub status_field: String,
    /// Deal text custom field receiving the carrier; empty to not write one.
    pub carrier_field: String,
    /// Deal text custom field receiving the tracking number; empty to not write one.
    pub tracking_number_field: String,
    /// Deal text custom field receiving the tracking page URL; empty to not write one.
    pub tracking_url_field: String,
    /// Deal date custom field receiving the delivery date; empty to not write one.
    pub delivered_at_field: String,
    /// Activity type (its key) of timeline entries (default `task`).
    pub activity_type: String,
    /// Activity type (its key) of the customer-success follow-up (default `task`).
    pub task_type: String,
}

impl Default for FulfilmentFields {
    fn default() -> Self {
        Self {
            status_field: String::new(),
            carrier_field: String::new(),
            tracking_number_field: String::new(),
            tracking_url_field: String::new(),
            delivered_at_field: String::new(),
            activity_type: "task".into(),
            task_type: "task".into(),
        }
    }
}

impl FulfilmentFields {
    /// Checks every map; errors name keys under `fulfilment_sync.crm.pipedrive`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, value) in [
            ("status_field", &self.status_field),
            ("carrier_field", &self.carrier_field),
            ("tracking_number_field", &self.tracking_number_field),
            ("tracking_url_field", &self.tracking_url_field),
            ("delivered_at_field", &self.delivered_at_field),
        ] {
            if !value.is_empty() && !is_field_key(value) {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{name}"),
                    format!(
                        "{value:?} is not a Pipedrive custom field key (the field's 40-character hexadecimal API key)"
                    ),
                ));
            }
        }
        for (name, value) in [
            ("activity_type", &self.activity_type),
            ("task_type", &self.task_type),
        ] {
            check_not_blank(&format!("{SECTION}.{name}"), value)?;
            if !value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(ConfigError::invalid(
                    format!("{SECTION}.{name}"),
                    format!("{value:?} is not an activity type key (e.g. task, call)"),
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

/// A custom field's API key: 40 lower-case hexadecimal characters.
fn is_field_key(key: &str) -> bool {
    key.len() == 40 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The note line that carries an activity's idempotency key.
fn key_marker(key: &str) -> String {
    format!("[crmerp-key:{}]", escape_html(key))
}

/// An activity's note: the text as HTML paragraphs, then the key marker.
fn note(text: &str, extra: Option<String>, key: &str) -> String {
    let mut html: String = clip(text, MAX_NOTE)
        .lines()
        .map(|line| format!("<p>{}</p>", escape_html(line)))
        .collect();
    if let Some(extra) = extra {
        html.push_str(&format!("<p>{}</p>", escape_html(&extra)));
    }
    html.push_str(&format!("<p>{}</p>", key_marker(key)));
    html
}

fn activity_ref(id: String) -> RecordRef {
    RecordRef {
        system: SYSTEM.into(),
        object_type: "activity".into(),
        id,
    }
}

/// A numeric id field of `record`, when it holds one.
fn id_of(record: &Value, field: &str) -> Option<u64> {
    Some(mapping::text(record, field))
        .filter(|id| is_id(id))
        .and_then(|id| id.parse().ok())
}

impl PipedriveCrm {
    /// The deal's activity whose note carries `key`, every page of the deal's
    /// activities searched.
    async fn activity_with_key(
        &self,
        calls: &CallLog,
        deal_id: &str,
        key: &str,
    ) -> Result<Option<String>, ConnectorError> {
        let marker = key_marker(key);
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("deal_id", deal_id), ("limit", PAGE)];
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let page = self
                .get(calls, &ENDPOINT_ACTIVITIES, "/api/v2/activities", &query)
                .await?;
            let found = page.data.as_array().and_then(|all| {
                all.iter()
                    .find(|a| a["note"].as_str().is_some_and(|n| n.contains(&marker)))
            });
            if let Some(activity) = found {
                return Ok(Some(mapping::text(activity, "id")));
            }
            match page
                .additional_data
                .get("next_cursor")
                .and_then(Value::as_str)
            {
                Some(next) if !next.is_empty() && cursor.as_deref() != Some(next) => {
                    cursor = Some(next.to_owned());
                }
                _ => return Ok(None),
            }
        }
        Err(protocol_error(
            SYSTEM,
            &ENDPOINT_ACTIVITIES,
            format!("more than {MAX_PAGES} pages"),
        ))
    }

    async fn read(
        &self,
        calls: &CallLog,
        endpoint: &Endpoint,
        path: String,
    ) -> Result<Value, ConnectorError> {
        Ok(self.get(calls, endpoint, &path, &[]).await?.data)
    }

    /// The deal and the organization the activity belongs to: the given
    /// account, else the deal's organization.
    async fn deal_and_org(
        &self,
        calls: &CallLog,
        deal_id: &str,
        account_id: Option<&str>,
    ) -> Result<(Value, Option<u64>), ConnectorError> {
        let deal = self
            .read(calls, &ENDPOINT_DEAL, format!("/api/v2/deals/{deal_id}"))
            .await?;
        let org = match account_id {
            Some(id) if !id.is_empty() => {
                check_id(id, &ENDPOINT_ORG)?;
                id.parse().ok()
            }
            _ => id_of(&deal, "org_id"),
        };
        Ok((deal, org))
    }

    /// The organization's owner while that user is active, else the deal's owner.
    async fn csm_owner(
        &self,
        calls: &CallLog,
        deal: &Value,
        org: Option<u64>,
    ) -> Result<Option<u64>, ConnectorError> {
        if let Some(org) = org {
            let row = self
                .read(calls, &ENDPOINT_ORG, format!("/api/v2/organizations/{org}"))
                .await?;
            if let Some(owner) = id_of(&row, "owner_id") {
                let user = self
                    .read(calls, &ENDPOINT_USER, format!("/api/v1/users/{owner}"))
                    .await?;
                if user["active_flag"].as_bool() == Some(true) {
                    return Ok(Some(owner));
                }
            }
        }
        Ok(id_of(deal, "owner_id"))
    }

    async fn add_activity(&self, calls: &CallLog, body: &Value) -> Result<String, ConnectorError> {
        let created = self
            .call(
                calls,
                &ENDPOINT_ACTIVITY,
                "/api/v2/activities",
                &[],
                Some(body),
            )
            .await?
            .data;
        match mapping::text(&created, "id") {
            id if !id.is_empty() => Ok(id),
            _ => Err(protocol_error(
                SYSTEM,
                &ENDPOINT_ACTIVITY,
                "created without id",
            )),
        }
    }
}

fn numeric(deal_id: &str) -> Result<u64, ConnectorError> {
    deal_id
        .parse()
        .map_err(|_| protocol_error(SYSTEM, &ENDPOINT_ACTIVITY, "deal id is not numeric"))
}

#[async_trait]
impl ActivityTimeline for PipedriveCrm {
    async fn record_activity(
        &self,
        activity: &Activity,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&activity.deal_id, &ENDPOINT_ACTIVITY)?;
        if let Some(id) = self
            .activity_with_key(calls, &activity.deal_id, &activity.key)
            .await?
        {
            return Ok(activity_ref(id));
        }
        let (_, org) = self
            .deal_and_org(calls, &activity.deal_id, activity.account_id.as_deref())
            .await?;
        // Due date and time (UTC in Pipedrive) are the ERP's time, to the
        // minute; the note keeps the exact instant.
        let at = activity.occurred_at;
        let mut body = json!({
            "subject": clip(&activity.subject, MAX_SUBJECT),
            "type": self.config.fulfilment.activity_type,
            "deal_id": numeric(&activity.deal_id)?,
            "done": true,
            "due_date": at.date_naive().to_string(),
            "due_time": at.format("%H:%M").to_string(),
            "note": note(
                &activity.body,
                Some(format!("At {}", at.to_rfc3339_opts(SecondsFormat::Secs, true))),
                &activity.key,
            ),
        });
        if let Some(org) = org {
            body["org_id"] = json!(org);
        }
        self.add_activity(calls, &body).await.map(activity_ref)
    }
}

#[async_trait]
impl FollowUpTasks for PipedriveCrm {
    async fn create_task(
        &self,
        task: &FollowUpTask,
        calls: &CallLog,
    ) -> Result<RecordRef, ConnectorError> {
        check_id(&task.deal_id, &ENDPOINT_ACTIVITY)?;
        if let Some(id) = self
            .activity_with_key(calls, &task.deal_id, &task.key)
            .await?
        {
            return Ok(activity_ref(id));
        }
        let (deal, org) = self
            .deal_and_org(calls, &task.deal_id, task.account_id.as_deref())
            .await?;
        let owner = self.csm_owner(calls, &deal, org).await?;
        let mut body = json!({
            "subject": clip(&task.subject, MAX_SUBJECT),
            "type": self.config.fulfilment.task_type,
            "deal_id": numeric(&task.deal_id)?,
            "done": false,
            "note": note(&task.body, None, &task.key),
        });
        if let Some(org) = org {
            body["org_id"] = json!(org);
        }
        if let Some(owner) = owner {
            body["owner_id"] = json!(owner);
        }
        if let Some(due) = task.due_at {
            body["due_date"] = json!(due.date_naive().to_string());
            body["due_time"] = json!(due.format("%H:%M").to_string());
        }
        self.add_activity(calls, &body).await.map(activity_ref)
    }
}

#[async_trait]
impl DealFulfilment for PipedriveCrm {
    async fn write_fulfilment(
        &self,
        deal_id: &str,
        update: &FulfilmentUpdate,
        calls: &CallLog,
    ) -> Result<(), ConnectorError> {
        check_id(deal_id, &ENDPOINT_UPDATE)?;
        if self.config.fulfilment.status_field.is_empty() {
            return Err(ConnectorError::new(
                ErrorKind::Permanent,
                ErrorCategory::Validation,
                SYSTEM,
                &ENDPOINT_UPDATE,
                format!(
                    "no deal field for the fulfilment status: set {SECTION}.status_field to the custom field's key"
                ),
            )
            .with_resolution("configure_fulfilment_fields"));
        }
        // A date field takes YYYY-MM-DD; text fields hold 255 characters.
        let fields = deal_values(
            &self.config.fulfilment.deal_fields(),
            update,
            MAX_SUBJECT,
            |at| json!(at.date_naive().to_string()),
        );
        self.update_deal(calls, deal_id, fields).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keys_are_40_character_hashes_and_types_are_keys() {
        FulfilmentFields::default()
            .validate()
            .expect("nothing configured is valid");
        let hash = "1f3e5d7c9b0a2f4e6d8c0b1a3f5e7d9c1b3a5f70";
        let ok = FulfilmentFields {
            status_field: hash.into(),
            ..FulfilmentFields::default()
        };
        ok.validate().expect("a hash");
        for bad in ["carrier", &hash[..39], &hash.to_ascii_uppercase(), "Ω"] {
            let fields = FulfilmentFields {
                carrier_field: bad.into(),
                ..ok.clone()
            };
            let err = fields.validate().expect_err(bad);
            assert!(
                err.to_string()
                    .contains("fulfilment_sync.crm.pipedrive.carrier_field"),
                "{err}"
            );
        }
        let no_type = FulfilmentFields {
            task_type: String::new(),
            ..ok.clone()
        };
        assert_eq!(
            no_type.validate(),
            Err(ConfigError::missing(
                "fulfilment_sync.crm.pipedrive.task_type"
            ))
        );
        let bad_type = FulfilmentFields {
            activity_type: "Phone Call".into(),
            ..ok
        };
        assert!(bad_type.validate().is_err());
    }

    #[test]
    fn notes_escape_the_text_and_end_with_the_key() {
        let html = note("a < b\nsecond", None, "k&1");
        assert_eq!(
            html,
            "<p>a &lt; b</p><p>second</p><p>[crmerp-key:k&amp;1]</p>"
        );
        // The marker is closed, so `k-1` never matches `k-10`.
        assert!(!note("", None, "k-10").contains(&key_marker("k-1")));
    }
}
