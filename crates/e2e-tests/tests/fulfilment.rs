//! fulfilment-sync over real processes (nats-server, the sandbox, deal-to-order
//! creating and linking the order, fulfilment-sync): canonical order-status
//! events and carrier scans published onto the inbound subjects as ingress
//! publishes them, and the CRM deal's timeline, fulfilment fields and tasks
//! read back through HubSpot's own API.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use crmerp_flow::{OrderLink, OrderLinks};
use crmerp_proto::{
    CarrierScan, CarrierScanStatus, EventEnvelope, OrderStatus, RecordRef, event_envelope::Data,
    timestamp_from,
};
use crmerp_testkit::fulfilment::{carrier_scan_event, order_status_event, shipment};
use crmerp_testkit::monitoring::{Monitoring, OPERATOR_TOKEN};
use crmerp_testkit::settle::wait_drained;
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const CONSUMER: &str = "fulfilment-sync";
/// A seeded owner of the sandbox portal (the account's CSM).
const CSM: &str = "83000001";

async fn stack(erp: &'static str) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        erp,
        with_fulfilment: true,
        ..StackOptions::default()
    })
    .await
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, 0)
        .single()
        .expect("valid time")
}

fn millis(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A won deal whose order deal-to-order created and linked; its company
/// belongs to the CSM.
async fn linked_order(stack: &Stack, name: &str) -> anyhow::Result<(String, String, OrderLink)> {
    let (deal, _number) = stack.win_new_deal(name, WAIT).await?;
    let company = deal.company_id.clone().expect("a company");
    stack
        .hubspot
        .update_object("companies", &company, json!({ "hubspot_owner_id": CSM }))
        .await?;
    let links = OrderLinks::bind(&stack.jetstream().await?, "ORDER_LINKS").await?;
    let external_ref = format!("hubspot-deal-{}", deal.deal_id);
    let link = links
        .by_external_ref(stack.erp_kind(), &external_ref)
        .await?
        .expect("deal-to-order linked the order");
    Ok((deal.deal_id, company, link))
}

async fn publish_status(stack: &Stack, event: &EventEnvelope) -> anyhow::Result<bool> {
    let erp = match &event.data {
        Some(Data::OrderStatusChanged(changed)) => changed
            .order
            .as_ref()
            .map(|o| o.system.clone())
            .unwrap_or_default(),
        _ => anyhow::bail!("not an order-status event"),
    };
    stack
        .publish_inbound(&format!("inbound.erp.order.status.{erp}"), event)
        .await
}

async fn publish_scan(stack: &Stack, event: &EventEnvelope) -> anyhow::Result<bool> {
    stack
        .publish_inbound("inbound.carrier.shipment.aftership", event)
        .await
}

async fn drained(stack: &Stack) -> anyhow::Result<()> {
    wait_drained(&stack.jetstream().await?, "INBOUND", CONSUMER, WAIT).await
}

/// The deal's notes as `(hs_timestamp, body)`, in timeline order.
async fn timeline(stack: &Stack, object: &str, id: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut notes: Vec<(String, String)> = stack
        .hubspot
        .associated_objects(object, id, "notes", &["hs_note_body", "hs_timestamp"])
        .await?
        .iter()
        .map(|n| {
            (
                n["properties"]["hs_timestamp"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                n["properties"]["hs_note_body"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    notes.sort();
    Ok(notes)
}

fn order_ref(link: &OrderLink) -> RecordRef {
    RecordRef::from(&link.order)
}

fn scan(
    tracking: &str,
    status: CarrierScanStatus,
    when: DateTime<Utc>,
    id: &str,
    detail: &str,
) -> CarrierScan {
    CarrierScan {
        source: "aftership".into(),
        carrier: "dhl".into(),
        tracking_number: tracking.into(),
        status: status as i32,
        occurred_at: Some(timestamp_from(when)),
        detail: detail.into(),
        location: "Leipzig".into(),
        tracking_url: String::new(),
        source_event_id: id.into(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orders_life_is_the_deals_timeline_in_erp_time_whatever_the_arrival_order()
-> anyhow::Result<()> {
    let stack = stack("netsuite").await?;
    let (deal, company, link) = linked_order(&stack, "Fulfilment life").await?;
    let order = order_ref(&link);
    let number = link.order_number.clone();
    let dhl = || vec![shipment("DHL", "00340434161234567890", at(11, 0))];

    // Arrival order: picking, dispatched, then the late packed (twice: a
    // re-send under another message id), then the carrier's delivered scan.
    let picking = order_status_event(
        "ns-1",
        &order,
        &number,
        OrderStatus::Picking,
        at(9, 0),
        vec![],
        "",
    );
    let dispatched = order_status_event(
        "ns-3",
        &order,
        &number,
        OrderStatus::Dispatched,
        at(11, 0),
        dhl(),
        "",
    );
    let packed = order_status_event(
        "ns-2",
        &order,
        &number,
        OrderStatus::Packed,
        at(10, 0),
        vec![],
        "",
    );
    let packed_again = EventEnvelope {
        id: "ns-2-resent".into(),
        ..packed.clone()
    };
    for event in [&picking, &dispatched, &packed, &packed_again] {
        publish_status(&stack, event).await?;
    }
    // The very same message again is JetStream's duplicate.
    assert!(
        !publish_status(&stack, &packed).await?,
        "Nats-Msg-Id de-duplicates"
    );
    drained(&stack).await?;
    let props = &[
        "erp_fulfilment_status",
        "erp_carrier",
        "erp_tracking_number",
        "erp_tracking_url",
        "erp_delivered_at",
    ];
    let fields = stack.hubspot.deal_properties(&deal, props).await?;
    assert_eq!(
        fields["erp_fulfilment_status"], "dispatched",
        "the late packed did not regress it"
    );
    assert_eq!(fields["erp_carrier"], "DHL");
    assert_eq!(fields["erp_tracking_number"], "00340434161234567890");
    assert_eq!(
        fields["erp_tracking_url"],
        "https://track.example/00340434161234567890"
    );

    let delivered = carrier_scan_event(
        "as-1",
        scan(
            "00340434161234567890",
            CarrierScanStatus::Delivered,
            at(15, 30),
            "as-evt-1",
            "Delivered to the front door",
        ),
    );
    publish_scan(&stack, &delivered).await?;
    eventually("the delivered status on the deal", WAIT, || async {
        let fields = stack.hubspot.deal_properties(&deal, props).await.ok()?;
        (fields["erp_fulfilment_status"] == "delivered").then_some(fields)
    })
    .await
    .map(|fields| assert_eq!(fields["erp_delivered_at"], millis(at(15, 30))))?;
    // A regressing ERP event after delivery: history on the timeline, never the deal's status.
    let late = order_status_event(
        "ns-4",
        &order,
        &number,
        OrderStatus::Dispatched,
        at(11, 0),
        dhl(),
        "",
    );
    let late = EventEnvelope {
        id: "ns-4-late".into(),
        ..late
    };
    publish_status(&stack, &late).await?;
    drained(&stack).await?;

    let fields = stack.hubspot.deal_properties(&deal, props).await?;
    assert_eq!(fields["erp_fulfilment_status"], "delivered");
    let notes = timeline(&stack, "deals", &deal).await?;
    let times: Vec<&str> = notes.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        times,
        [
            millis(at(9, 0)),
            millis(at(10, 0)),
            millis(at(11, 0)),
            millis(at(15, 30))
        ],
        "one entry per fact, at the ERP's and carrier's times: {notes:#?}"
    );
    assert!(
        notes[0].1.contains(&format!("Order {number} picking")),
        "{}",
        notes[0].1
    );
    assert!(
        notes[1].1.contains(&format!("Order {number} packed")),
        "{}",
        notes[1].1
    );
    assert!(
        notes[2]
            .1
            .contains(&format!("Order {number} dispatched with DHL")),
        "{}",
        notes[2].1
    );
    assert!(
        notes[2].1.contains("00340434161234567890"),
        "{}",
        notes[2].1
    );
    assert!(notes[3].1.contains("delivered"), "{}", notes[3].1);
    assert_eq!(
        timeline(&stack, "companies", &company).await?,
        notes,
        "the account's timeline has the same entries"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn exceptions_and_failed_deliveries_become_tasks_for_the_accounts_csm() -> anyhow::Result<()>
{
    let stack = stack("netsuite").await?;
    let (deal, _company, link) = linked_order(&stack, "Fulfilment exception").await?;
    let order = order_ref(&link);
    let number = link.order_number.clone();
    let held = order_status_event(
        "ns-hold",
        &order,
        &number,
        OrderStatus::Exception,
        at(9, 30),
        vec![],
        "Supplier shortage: SKU-200",
    );
    publish_status(&stack, &held).await?;
    let resent = EventEnvelope {
        id: "ns-hold-resent".into(),
        ..held.clone()
    };
    publish_status(&stack, &resent).await?;
    let dispatched = order_status_event(
        "ns-dispatch",
        &order,
        &number,
        OrderStatus::Dispatched,
        at(12, 0),
        vec![shipment("UPS", "1Z999AA10123456784", at(12, 0))],
        "",
    );
    publish_status(&stack, &dispatched).await?;
    drained(&stack).await?;
    let failed = carrier_scan_event(
        "as-fail",
        scan(
            "1Z999AA10123456784",
            CarrierScanStatus::FailedAttempt,
            at(16, 0),
            "as-evt-fail",
            "Recipient not available",
        ),
    );
    publish_scan(&stack, &failed).await?;
    drained(&stack).await?;

    let tasks = stack
        .hubspot
        .associated_objects(
            "deals",
            &deal,
            "tasks",
            &[
                "hs_task_subject",
                "hs_task_body",
                "hubspot_owner_id",
                "hs_task_status",
            ],
        )
        .await?;
    assert_eq!(
        tasks.len(),
        2,
        "one task per problem, the re-sent hold absorbed: {tasks:#?}"
    );
    let (hold, failed) = (&tasks[0]["properties"], &tasks[1]["properties"]);
    assert_eq!(hold["hubspot_owner_id"], CSM, "the company's owner");
    assert_eq!(hold["hs_task_status"], "NOT_STARTED");
    assert_eq!(
        hold["hs_task_subject"],
        format!("Order {number} is held: Supplier shortage: SKU-200")
    );
    let body = hold["hs_task_body"].as_str().unwrap_or_default();
    assert!(body.contains("Suggested message to the customer"), "{body}");
    assert!(
        body.contains(&format!(
            "your order {number} is taking longer than planned (Supplier shortage: SKU-200)"
        )),
        "{body}"
    );
    assert_eq!(failed["hubspot_owner_id"], CSM);
    assert_eq!(
        failed["hs_task_subject"],
        format!("Delivery attempt failed for order {number}")
    );
    let body = failed["hs_task_body"].as_str().unwrap_or_default();
    assert!(
        body.contains("dhl could not deliver 1Z999AA10123456784: Recipient not available"),
        "{body}"
    );

    // The hold showed on the deal until the dispatch, which moved it on.
    let fields = stack
        .hubspot
        .deal_properties(&deal, &["erp_fulfilment_status"])
        .await?;
    assert_eq!(fields["erp_fulfilment_status"], "dispatched");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_for_an_unlinked_order_is_dead_lettered_and_requeued_from_monitoring_after_linking()
-> anyhow::Result<()> {
    let stack = stack("netsuite").await?;
    let monitoring = Monitoring::start(&stack).await?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;
    let (deal, _company, link) = linked_order(&stack, "Fulfilment unlinked").await?;
    // An order the ERP has but no deal is linked to (created outside the flow).
    let stray = RecordRef {
        system: "netsuite".into(),
        object_type: link.order.object_type.clone(),
        id: "990001".into(),
    };
    let event = order_status_event(
        "ns-stray",
        &stray,
        "SO-STRAY",
        OrderStatus::Packed,
        at(10, 0),
        vec![],
        "",
    );
    publish_status(&stack, &event).await?;
    let entry = eventually("the dead letter in monitoring", WAIT, || async {
        let (_, body) = operator
            .get("/api/v1/dead-letters?status=open&flow=fulfilment-sync")
            .await
            .ok()?;
        body["items"].as_array()?.first().cloned()
    })
    .await?;
    assert_eq!(entry["resolution_code"], "order_not_linked", "{entry}");
    assert_eq!(entry["error_category"], "missing_data", "{entry}");
    let id = entry["id"].as_str().unwrap_or_default().to_owned();
    let (status, detail) = operator.get(&format!("/api/v1/dead-letters/{id}")).await?;
    assert_eq!(status, 200, "{detail}");
    assert!(detail.to_string().contains("990001"), "{detail}");

    // Requeued before the link exists: dead-lettered again, nothing written.
    let requeue = format!("/api/v1/dead-letters/{id}/requeue");
    let (status, body) = operator.post(&requeue, &json!({})).await?;
    assert!((200..300).contains(&status), "{status} {body}");
    drained(&stack).await?;
    assert!(timeline(&stack, "deals", &deal).await?.is_empty());

    // The order gets linked (to the won deal), then the operator requeues again.
    let links = OrderLinks::bind(&stack.jetstream().await?, "ORDER_LINKS").await?;
    links
        .record(&OrderLink {
            order: (&stray).into(),
            order_number: "SO-STRAY".into(),
            external_ref: String::new(),
            deal: link.deal.clone(),
            account: link.account.clone(),
        })
        .await?;
    let again = eventually("the second dead letter", WAIT, || async {
        let (_, body) = operator
            .get("/api/v1/dead-letters?status=open&flow=fulfilment-sync")
            .await
            .ok()?;
        let item = body["items"].as_array()?.first().cloned()?;
        (item["id"] != id.as_str()).then_some(item)
    })
    .await?;
    assert_eq!(again["resolution_code"], "order_not_linked", "{again}");
    let again_id = again["id"].as_str().unwrap_or_default().to_owned();
    let (status, body) = operator
        .post(
            &format!("/api/v1/dead-letters/{again_id}/requeue"),
            &json!({}),
        )
        .await?;
    assert!((200..300).contains(&status), "{status} {body}");
    let notes = eventually("the requeued step on the deal", WAIT, || async {
        let notes = timeline(&stack, "deals", &deal).await.ok()?;
        (!notes.is_empty()).then_some(notes)
    })
    .await?;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].0, millis(at(10, 0)));
    assert!(
        notes[0].1.contains("Order SO-STRAY packed"),
        "{}",
        notes[0].1
    );
    let fields = stack
        .hubspot
        .deal_properties(&deal, &["erp_fulfilment_status"])
        .await?;
    assert_eq!(fields["erp_fulfilment_status"], "packed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_without_a_status_is_read_back_from_business_central() -> anyhow::Result<()> {
    let stack = stack("businesscentral").await?;
    let (deal, _company, link) = linked_order(&stack, "Fulfilment read-back").await?;
    let order = order_ref(&link);
    // The warehouse ships the order in Business Central.
    let bc = stack.sandbox.listener("businesscentral")?;
    let response = reqwest::Client::new()
        .post(format!(
            "http://{bc}/__sandbox/orders/{}/fulfilment",
            order.id
        ))
        .json(
            &json!({ "status": "dispatched", "carrier": "DHL", "tracking_number": "JJD000390007" }),
        )
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "sandbox fulfilment: {status} {body}");
    // BC's notification names the order only.
    let event = order_status_event(
        "bc-1",
        &order,
        "",
        OrderStatus::Unspecified,
        at(11, 0),
        vec![],
        "",
    );
    publish_status(&stack, &event).await?;
    let fields = eventually("the read-back status on the deal", WAIT, || async {
        let fields = stack
            .hubspot
            .deal_properties(&deal, &["erp_fulfilment_status", "erp_tracking_number"])
            .await
            .ok()?;
        (fields["erp_fulfilment_status"] == "dispatched").then_some(fields)
    })
    .await?;
    assert_eq!(fields["erp_tracking_number"], "JJD000390007");
    let notes = timeline(&stack, "deals", &deal).await?;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(notes[0].1.contains("dispatched with DHL"), "{}", notes[0].1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_apply_each_step_of_a_burst_once() -> anyhow::Result<()> {
    let mut stack = stack("netsuite").await?;
    stack.start_fulfilment_replica().await?;
    let (deal, _company, link) = linked_order(&stack, "Fulfilment replicas").await?;
    let order = order_ref(&link);
    let number = link.order_number.clone();
    let steps = [
        (OrderStatus::Received, at(8, 0)),
        (OrderStatus::Picking, at(9, 0)),
        (OrderStatus::Packed, at(10, 0)),
        (OrderStatus::Dispatched, at(11, 0)),
        (OrderStatus::Delivered, at(15, 0)),
    ];
    // Every step three times under different message ids, newest first, so
    // both replicas see duplicates and late steps at the same time.
    for copy in 0..3 {
        for (status, when) in steps.iter().rev() {
            let shipments = if *status >= OrderStatus::Dispatched {
                vec![shipment("DHL", "00340434169999", at(11, 0))]
            } else {
                vec![]
            };
            let id = format!("burst-{}-{copy}", *status as i32);
            let event = order_status_event(&id, &order, &number, *status, *when, shipments, "");
            publish_status(&stack, &event).await?;
        }
    }
    drained(&stack).await?;
    let notes = timeline(&stack, "deals", &deal).await?;
    let times: Vec<String> = notes.iter().map(|(t, _)| t.clone()).collect();
    let expected: Vec<String> = steps.iter().map(|(_, when)| millis(*when)).collect();
    assert_eq!(times, expected, "one entry per step: {notes:#?}");
    let fields = stack
        .hubspot
        .deal_properties(&deal, &["erp_fulfilment_status", "erp_tracking_number"])
        .await?;
    assert_eq!(fields["erp_fulfilment_status"], "delivered");
    assert_eq!(fields["erp_tracking_number"], "00340434169999");
    Ok(())
}
