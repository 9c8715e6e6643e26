//! fulfilment-sync's HubSpot ports against the sandbox's HubSpot simulator
//! (request shapes and idempotency as HubSpot stores them), and the timeline
//! event request against a tiny in-test endpoint.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;
use crate::conformance::dev_section;
use crate::test_support::{serve, simulator};
use crate::{CallLog, FlowMaps, Role};

struct Portal {
    url: String,
    http: reqwest::Client,
    token: String,
}

impl Portal {
    fn new(url: &str) -> Self {
        let section = dev_section(Role::Crm, SYSTEM, url);
        Self {
            url: url.to_owned(),
            http: reqwest::Client::new(),
            token: section["access_token"].as_str().expect("token").to_owned(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("sandbox answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn create(&self, object: &str, properties: Value) -> String {
        let body = self
            .send(
                reqwest::Method::POST,
                &format!("/crm/v3/objects/{object}"),
                Some(json!({ "properties": properties })),
            )
            .await;
        body["id"].as_str().expect("id").to_owned()
    }

    async fn associate_company(&self, deal: &str, company: &str) {
        self.send(
            reqwest::Method::PUT,
            &format!("/crm/v4/objects/deals/{deal}/associations/companies/{company}"),
            Some(json!([{ "associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5 }])),
        )
        .await;
    }

    async fn associated(&self, from: &str, id: &str, to: &str) -> Vec<String> {
        let body = self
            .send(
                reqwest::Method::GET,
                &format!("/crm/v4/objects/{from}/{id}/associations/{to}"),
                None,
            )
            .await;
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["toObjectId"].to_string().trim_matches('"').to_owned())
            .collect()
    }

    async fn read(&self, object: &str, id: &str, properties: &str) -> Value {
        self.send(
            reqwest::Method::GET,
            &format!("/crm/v3/objects/{object}/{id}?properties={properties}"),
            None,
        )
        .await["properties"]
            .clone()
    }
}

/// The three ports as the registry builds them for fulfilment-sync.
struct Ports {
    timeline: Arc<dyn ActivityTimeline>,
    tasks: Arc<dyn FollowUpTasks>,
    fulfilment: Arc<dyn DealFulfilment>,
}

fn connector(url: &str, fulfilment: Value) -> Ports {
    let maps = FlowMaps::new().with(
        crate::registry::FULFILMENT_SYNC,
        Some(json!({ "crm": { "hubspot": fulfilment } })),
    );
    let crm = crate::registry::build_crm(SYSTEM, Some(dev_section(Role::Crm, SYSTEM, url)), &maps)
        .expect("connector");
    Ports {
        timeline: crm.activity_timeline("fulfilment-sync").expect("timeline"),
        tasks: crm.follow_up_tasks("fulfilment-sync").expect("tasks"),
        fulfilment: crm.deal_fulfilment("fulfilment-sync").expect("fulfilment"),
    }
}

fn at(h: u32, m: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
        .single()
        .expect("time")
}

#[tokio::test]
async fn an_activity_is_one_note_on_the_deal_and_company_at_the_erp_time() {
    let sim = simulator("hubspot").await;
    let portal = Portal::new(&sim.url);
    let company = portal.create("companies", json!({ "name": "Acme" })).await;
    let deal = portal
        .create("deals", json!({ "dealname": "Widgets" }))
        .await;
    portal.associate_company(&deal, &company).await;
    let crm = connector(&sim.url, json!({}));
    let activity = Activity {
        key: "netsuite-salesOrder-77-dispatched-e1".into(),
        deal_id: deal.clone(),
        account_id: None,
        subject: "Order SO-77 dispatched with DHL".into(),
        body: "Tracking 00340 <DHL>\nhttps://track.example/00340".into(),
        occurred_at: at(9, 30),
    };
    let calls = CallLog::new();
    let first = crm
        .timeline
        .record_activity(&activity, &calls)
        .await
        .expect("note");
    let again = crm
        .timeline
        .record_activity(&activity, &calls)
        .await
        .expect("same");
    assert_eq!(first, again, "the key finds the first note");
    assert_eq!(first.object_type, "note");

    assert_eq!(
        portal.associated("deals", &deal, "notes").await,
        vec![first.id.clone()]
    );
    assert_eq!(
        portal.associated("companies", &company, "notes").await,
        vec![first.id.clone()],
        "the deal's primary company is looked up and associated"
    );
    let note = portal
        .read("notes", &first.id, "hs_note_body,hs_timestamp")
        .await;
    assert_eq!(note["hs_timestamp"], "2026-03-02T09:30:00.000Z");
    let body = note["hs_note_body"].as_str().expect("body");
    assert!(
        body.contains("<strong>Order SO-77 dispatched with DHL</strong>"),
        "{body}"
    );
    assert!(body.contains("<p>Tracking 00340 &lt;DHL&gt;</p>"), "{body}");
    assert!(
        body.contains("crmerp ref netsuite-salesOrder-77-dispatched-e1"),
        "{body}"
    );

    // Another key is another note.
    let other = Activity {
        key: "netsuite-salesOrder-77-delivered-e2".into(),
        ..activity
    };
    let second = crm
        .timeline
        .record_activity(&other, &calls)
        .await
        .expect("note");
    assert_ne!(second.id, first.id);
    assert_eq!(portal.associated("deals", &deal, "notes").await.len(), 2);
}

#[tokio::test]
async fn a_task_goes_to_the_company_owner_else_the_deal_owner_once_per_key() {
    let sim = simulator("hubspot").await;
    let portal = Portal::new(&sim.url);
    let company = portal
        .create(
            "companies",
            json!({ "name": "Acme", "hubspot_owner_id": "83000001" }),
        )
        .await;
    let deal = portal
        .create(
            "deals",
            json!({ "dealname": "Widgets", "hubspot_owner_id": "83000002" }),
        )
        .await;
    portal.associate_company(&deal, &company).await;
    let crm = connector(&sim.url, json!({ "task_priority": "MEDIUM" }));
    let task = FollowUpTask {
        key: "netsuite-salesOrder-77-exception-e3".into(),
        deal_id: deal.clone(),
        account_id: Some(company.clone()),
        subject: "Delivery problem: SO-77".into(),
        body: "Carrier exception: customs hold\nSuggested message: Hello".into(),
        due_at: Some(at(12, 0)),
    };
    let calls = CallLog::new();
    let created = crm.tasks.create_task(&task, &calls).await.expect("task");
    let again = crm.tasks.create_task(&task, &calls).await.expect("same");
    assert_eq!(created, again);
    let stored = portal
        .read(
            "tasks",
            &created.id,
            "hs_task_subject,hs_task_body,hs_task_status,hs_task_priority,hs_task_type,hs_timestamp,hubspot_owner_id",
        )
        .await;
    assert_eq!(
        stored["hubspot_owner_id"], "83000001",
        "the company's owner"
    );
    assert_eq!(stored["hs_task_subject"], "Delivery problem: SO-77");
    assert_eq!(stored["hs_task_status"], "NOT_STARTED");
    assert_eq!(stored["hs_task_priority"], "MEDIUM");
    assert_eq!(stored["hs_task_type"], "TODO");
    assert_eq!(stored["hs_timestamp"], "2026-03-02T12:00:00.000Z");
    assert!(
        stored["hs_task_body"]
            .as_str()
            .is_some_and(|b| b.contains("<p>Carrier exception: customs hold</p>")),
        "{stored}"
    );
    assert_eq!(
        portal.associated("deals", &deal, "tasks").await,
        vec![created.id.clone()]
    );
    assert_eq!(
        portal.associated("companies", &company, "tasks").await,
        [created.id]
    );

    // A company without an owner: the deal's owner gets the task.
    let orphan = portal
        .create("companies", json!({ "name": "Orphan" }))
        .await;
    let deal2 = portal
        .create(
            "deals",
            json!({ "dealname": "Bolts", "hubspot_owner_id": "83000002" }),
        )
        .await;
    portal.associate_company(&deal2, &orphan).await;
    let task2 = FollowUpTask {
        key: "k2".into(),
        deal_id: deal2,
        account_id: None,
        ..task
    };
    let created2 = crm.tasks.create_task(&task2, &calls).await.expect("task");
    let stored2 = portal.read("tasks", &created2.id, "hubspot_owner_id").await;
    assert_eq!(stored2["hubspot_owner_id"], "83000002", "the deal's owner");
}

#[tokio::test]
async fn fulfilment_writes_the_mapped_deal_properties_and_keeps_unknown_ones() {
    let sim = simulator("hubspot").await;
    let portal = Portal::new(&sim.url);
    let deal = portal
        .create("deals", json!({ "dealname": "Widgets" }))
        .await;
    let crm = connector(&sim.url, json!({}));
    let calls = CallLog::new();
    let dispatched = FulfilmentUpdate {
        status: crmerp_proto::OrderStatus::Dispatched,
        order_number: "SO-77".into(),
        carrier: Some("DHL".into()),
        tracking_number: Some("00340".into()),
        tracking_url: Some("https://track.example/00340".into()),
        delivered_at: None,
    };
    crm.fulfilment
        .write_fulfilment(&deal, &dispatched, &calls)
        .await
        .expect("written");
    let delivered = FulfilmentUpdate {
        status: crmerp_proto::OrderStatus::Delivered,
        carrier: None,
        tracking_number: None,
        tracking_url: None,
        delivered_at: Some(at(15, 45)),
        ..dispatched
    };
    crm.fulfilment
        .write_fulfilment(&deal, &delivered, &calls)
        .await
        .expect("written");
    let props = portal
        .read(
            "deals",
            &deal,
            "erp_fulfilment_status,erp_carrier,erp_tracking_number,erp_tracking_url,erp_delivered_at",
        )
        .await;
    assert_eq!(props["erp_fulfilment_status"], "delivered");
    assert_eq!(
        props["erp_carrier"], "DHL",
        "a status-only update keeps the carrier"
    );
    assert_eq!(props["erp_tracking_number"], "00340");
    assert_eq!(props["erp_tracking_url"], "https://track.example/00340");
    assert_eq!(props["erp_delivered_at"], "2026-03-02T15:45:00.000Z");
}

#[tokio::test]
async fn a_configured_event_template_writes_timeline_events_keyed_by_the_activity() {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let router = axum::Router::new().route(
        "/integrators/timeline/v3/events",
        post({
            let seen = Arc::clone(&seen);
            move |Json(body): Json<Value>| {
                let seen = Arc::clone(&seen);
                async move {
                    let mut seen = seen.lock().expect("lock");
                    let duplicate = seen.iter().any(|b| b["id"] == body["id"]);
                    seen.push(body);
                    if duplicate {
                        (StatusCode::CONFLICT, Json(json!({"status":"error","message":"Event already exists","category":"CONFLICT"})))
                    } else {
                        (StatusCode::OK, Json(json!({"id":"x","objectId":"1"})))
                    }
                }
            }
        }),
    );
    let addr = serve(router).await;
    let crm = connector(
        &format!("http://{addr}"),
        json!({ "timeline_event_template_id": "1001" }),
    );
    let activity = Activity {
        key: "k-1".into(),
        deal_id: "42".into(),
        account_id: None,
        subject: "Order SO-77 packed".into(),
        body: "Packed at the warehouse".into(),
        occurred_at: at(8, 0),
    };
    let calls = CallLog::new();
    let first = crm
        .timeline
        .record_activity(&activity, &calls)
        .await
        .expect("event");
    let again = crm
        .timeline
        .record_activity(&activity, &calls)
        .await
        .expect("409 is done");
    assert_eq!(first, again);
    assert_eq!(first.object_type, "timeline_event");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen[0],
        json!({
            "eventTemplateId": "1001",
            "id": "k-1",
            "objectId": "42",
            "timestamp": "2026-03-02T08:00:00.000Z",
            "tokens": { "subject": "Order SO-77 packed", "body": "Packed at the warehouse" },
        })
    );
}

#[test]
fn fulfilment_fields_refuse_blank_maps_and_unknown_priorities() {
    let blank = FulfilmentFields {
        carrier_property: " ".into(),
        ..FulfilmentFields::default()
    };
    let err = blank.validate().expect_err("blank");
    assert!(
        err.to_string()
            .contains("fulfilment_sync.crm.hubspot.carrier_property"),
        "{err}"
    );
    let urgent = FulfilmentFields {
        task_priority: "URGENT".into(),
        ..FulfilmentFields::default()
    };
    assert!(urgent.validate().is_err());
    let template = FulfilmentFields {
        timeline_event_template_id: "abc".into(),
        ..FulfilmentFields::default()
    };
    assert!(template.validate().is_err());
    assert_eq!(
        crate::order_status_label(crmerp_proto::OrderStatus::PartiallyDelivered),
        "partially_delivered"
    );
}
