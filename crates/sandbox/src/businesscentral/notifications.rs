//! Webhook notifications to API subscriptions, as Business Central sends them:
//! changes are gathered for `notification_delay` (BC: about 30 s), then each
//! notification URL gets one POST `{"value":[…]}` that may mix several of its
//! subscriptions. Each entry carries the subscription's `clientState`; more
//! than `collection_threshold` changes for one subscription collapse into one
//! `collection` notice whose `resource` carries a `$filter`. A line change
//! notifies on its order. BC signs nothing (`clientState` is the shared
//! secret), retries only 408, 429 and 5xx, and deletes a subscription whose
//! URL answers anything else.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::config::BusinessCentralConfig;
use super::store::text;
use crate::error::SandboxError;
use crate::kit::emitter::{Answer, Attempt, Emitter, Verdict};
use crate::util::{lock, rfc3339_millis};

/// What happened to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// One change waiting for the next notification round.
#[derive(Debug, Clone)]
struct Change {
    set: &'static str,
    id: String,
    change_type: ChangeType,
    at: DateTime<Utc>,
}

/// What the delivery log says of a notification POST.
#[derive(Debug, Clone, Serialize)]
pub(super) struct About {
    notification_id: String,
    subscription_ids: Vec<String>,
    change_types: Vec<String>,
}

/// The notification machinery of one environment.
pub(super) struct Notifications {
    emitter: Arc<Emitter<(), About>>,
    pending: Mutex<Vec<Change>>,
    scheduled: AtomicBool,
    delay: Duration,
    threshold: usize,
}

impl Notifications {
    pub(super) fn new(
        config: &BusinessCentralConfig,
        shutdown: CancellationToken,
    ) -> Result<Self, SandboxError> {
        Ok(Self {
            emitter: Emitter::new(
                "businesscentral",
                (),
                config.retry,
                config.request_timeout,
                shutdown,
            )?,
            pending: Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
            delay: config.notification_delay,
            threshold: config.collection_threshold,
        })
    }

    /// `GET` / `DELETE /__sandbox/webhooks/deliveries`.
    pub(super) fn routes(&self) -> Router {
        self.emitter.log_routes()
    }

    /// Forgets pending changes and the delivery log (a reset).
    pub(super) fn clear(&self) {
        lock(&self.pending).clear();
        self.emitter.clear();
    }
}

/// Records that entity `id` of `set` changed; the next round notifies its subscribers.
pub(super) fn changed(shared: &AppState, set: &'static str, id: &str, change_type: ChangeType) {
    let notifications = &shared.notifications;
    lock(&notifications.pending).push(Change {
        set,
        id: id.to_owned(),
        change_type,
        at: Utc::now(),
    });
    if !notifications.scheduled.swap(true, Ordering::AcqRel) {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep(shared.notifications.delay).await;
            shared
                .notifications
                .scheduled
                .store(false, Ordering::Release);
            let changes = std::mem::take(&mut *lock(&shared.notifications.pending));
            send_round(&shared, &changes);
        });
    }
}

/// The entity set a subscription's `resource` names, e.g. `salesOrders`.
pub(super) fn subscribed_set<'a>(resource: &'a str, company_id: &str) -> Option<&'a str> {
    let company = format!("companies({company_id})/");
    resource
        .trim_start_matches('/')
        .strip_prefix("api/v2.0/")
        .and_then(|rest| rest.strip_prefix(company.as_str()))
}

/// One POST per notification URL for `changes`.
fn send_round(shared: &AppState, changes: &[Change]) {
    if changes.is_empty() {
        return;
    }
    let company = &shared.config.company_id;
    let now = Utc::now();
    let subscriptions = shared.data.read().subscriptions.clone();
    // notification URL -> (entries, subscription ids)
    let mut posts: BTreeMap<String, (Vec<Value>, Vec<String>)> = BTreeMap::new();
    for subscription in &subscriptions {
        let expired = text(subscription, "expirationDateTime")
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .is_some_and(|e| e < now);
        let (Some(url), Some(id), Some(set)) = (
            text(subscription, "notificationUrl"),
            text(subscription, "subscriptionId"),
            text(subscription, "resource").and_then(|r| subscribed_set(r, company)),
        ) else {
            continue;
        };
        let matching: Vec<&Change> = changes.iter().filter(|c| c.set == set).collect();
        if expired || matching.is_empty() {
            continue;
        }
        let entry = |resource: String, change_type: &str, at: DateTime<Utc>| {
            json!({
                "subscriptionId": id,
                "clientState": subscription.get("clientState").cloned().unwrap_or(json!("")),
                "expirationDateTime": subscription.get("expirationDateTime").cloned().unwrap_or(Value::Null),
                "resource": resource,
                "changeType": change_type,
                "lastModifiedDateTime": rfc3339_millis(at),
            })
        };
        let (entries, ids) = posts.entry(url.to_owned()).or_default();
        ids.push(id.to_owned());
        if matching.len() > shared.notifications.threshold {
            let since = matching.iter().map(|c| c.at).min().unwrap_or(now)
                - chrono::Duration::milliseconds(1);
            entries.push(entry(
                format!(
                    "api/v2.0/companies({company})/{set}?$filter=lastModifiedDateTime%20gt%20{}",
                    rfc3339_millis(since)
                ),
                "collection",
                now,
            ));
        } else {
            entries.extend(matching.iter().map(|c| {
                entry(
                    format!("api/v2.0/companies({company})/{set}({})", c.id),
                    c.change_type.as_str(),
                    c.at,
                )
            }));
        }
    }
    for (url, (entries, ids)) in posts {
        let change_types = entries
            .iter()
            .filter_map(|e| e["changeType"].as_str().map(str::to_owned))
            .collect();
        let about = About {
            notification_id: uuid::Uuid::new_v4().to_string(),
            subscription_ids: ids.clone(),
            change_types,
        };
        let body = json!({ "value": entries }).to_string();
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            let emitter = Arc::clone(&shared.notifications.emitter);
            let attempt = |(): &(), _attempt: u32| {
                let request = emitter
                    .client()
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body.clone());
                Some(Attempt {
                    target: url.clone(),
                    request,
                })
            };
            if emitter.deliver(about, attempt, bc_rule).await == Verdict::Rejected {
                tracing::info!(
                    url,
                    "Business Central subscription deleted after a refused notification."
                );
                shared.data.write().subscriptions.retain(|s| {
                    !text(s, "subscriptionId").is_some_and(|id| ids.iter().any(|i| i == id))
                });
            }
        });
    }
}

/// 2xx delivers; 408, 429, 5xx and transport failures are retried; anything
/// else makes BC delete the subscription.
fn bc_rule(answer: &Answer<'_>) -> Verdict {
    match answer.status {
        Some(200..=299) => Verdict::Delivered,
        Some(408 | 429 | 500..=599) | None => Verdict::Retry,
        Some(_) => Verdict::Rejected,
    }
}
