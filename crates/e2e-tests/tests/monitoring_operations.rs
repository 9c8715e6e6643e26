//! Operators' features over real processes: dead letters a page at a time,
//! bulk requeue and discard bound to a dry run, CSV and JSON exports
//! masked for viewers as the JSON API masks them, alert incidents with
//! acknowledgement.

use std::collections::BTreeSet;
use std::time::Duration;

use crmerp_testkit::alert_sinks::HttpSink;
use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::monitoring::{Monitoring, MonitoringApi, OPERATOR_TOKEN, VIEWER_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);

/// Ids of the open dead letters, once there are `count`.
async fn open_dead_letters(api: &MonitoringApi, count: usize) -> anyhow::Result<Vec<Value>> {
    eventually("the open dead letters", WAIT, || async {
        let (_, body) = api.get("/api/v1/dead-letters?status=open").await.ok()?;
        let items = body["items"].as_array()?.clone();
        (items.len() == count).then_some(items)
    })
    .await
}

fn ids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn bulk_requeue_takes_exactly_the_dry_run_set_and_is_audited() -> anyhow::Result<()> {
    // NetSuite is down: three deals use up their retries (fast schedule, a
    // breaker that stays closed) and are dead-lettered as exhausted; a
    // fourth has no address and is dead-lettered before any ERP call.
    let stack = Stack::start(StackOptions {
        env: vec![("CRMERP__FLOW__BREAKER_THRESHOLD".into(), "1000".into())],
        retry_schedule: vec!["50ms", "100ms", "200ms"],
        max_deliver: 4,
        ..StackOptions::default()
    })
    .await?;
    let monitoring = Monitoring::start(&stack).await?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;
    let viewer = monitoring.api(Some(VIEWER_TOKEN))?;
    stack
        .inject_fault("netsuite", json!({"status": 503, "rate": 1.0}))
        .await?;
    let mut deal_ids = Vec::new();
    for name in ["Bulk A", "Bulk B", "Bulk C"] {
        let deal = stack.hubspot.create_deal(&DealSpec::complete(name)).await?;
        stack.crm.win(&deal.deal_id).await?;
        deal_ids.push(deal.deal_id);
    }
    let no_address = stack
        .hubspot
        .win_deal_without_address("Bulk without address", json!({}))
        .await?;
    let all = open_dead_letters(&operator, 4).await?;
    stack.clear_fault("netsuite").await?;
    let exhausted: Vec<Value> = all
        .iter()
        .filter(|d| d["crm_record_id"] != no_address.deal_id.as_str())
        .cloned()
        .collect();
    let category = exhausted[0]["error_category"].clone();
    assert!(
        exhausted.iter().all(|d| d["error_category"] == category),
        "{exhausted:?}"
    );

    // Pages: two, then one, then none left; together every dead letter once.
    let (status, first) = viewer.get("/api/v1/dead-letters?limit=2").await?;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2), "{first}");
    let cursor = first["next_cursor"].as_str().unwrap_or_default().to_owned();
    assert!(!cursor.is_empty(), "{first}");
    let (_, second) = viewer
        .get(&format!("/api/v1/dead-letters?limit=3&cursor={cursor}"))
        .await?;
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(2),
        "{second}"
    );
    assert!(second["next_cursor"].is_null(), "{second}");
    let paged: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|p| p["items"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(ids(&paged), ids(&all));
    assert_eq!(paged.len(), 4);
    let (status, bad) = viewer.get("/api/v1/dead-letters?cursor=junk").await?;
    assert_eq!(status, 400, "{bad}");

    // Viewers cannot even prepare a bulk action.
    let filter = json!({"flow": "deal-to-order", "category": category});
    let (status, body) = viewer
        .post(
            "/api/v1/dead-letters/bulk/dry-run",
            &json!({"action": "requeue", "filter": filter}),
        )
        .await?;
    assert_eq!(status, 403, "{body}");
    let (status, body) = operator
        .post(
            "/api/v1/dead-letters/bulk/dry-run",
            &json!({"action": "requeue", "filter": {"colour": "red"}}),
        )
        .await?;
    assert_eq!(status, 400, "unknown filter field: {body}");

    // A dry run of every open one; the set changes (one is discarded) before
    // the action, which is then refused and changes nothing.
    let (status, everything) = operator
        .post(
            "/api/v1/dead-letters/bulk/dry-run",
            &json!({"action": "requeue", "filter": {"flow": "deal-to-order"}}),
        )
        .await?;
    assert_eq!(status, 200, "{everything}");
    assert_eq!(everything["count"], 4, "{everything}");
    let (status, body) = operator
        .post(
            "/api/v1/dead-letters/bulk/dry-run",
            &json!({"action": "discard", "filter": {"crm_record_id": no_address.deal_id}}),
        )
        .await?;
    assert_eq!((status, &body["count"]), (200, &json!(1)), "{body}");
    let (status, discarded) = operator
        .post(
            "/api/v1/dead-letters/bulk",
            &json!({"action": "discard", "filter": {"crm_record_id": no_address.deal_id},
                "token": body["token"], "reason": "entered by hand"}),
        )
        .await?;
    assert_eq!(status, 200, "{discarded}");
    assert_eq!(discarded["count"], 1, "{discarded}");
    let (status, stale) = operator
        .post(
            "/api/v1/dead-letters/bulk",
            &json!({"action": "requeue", "filter": {"flow": "deal-to-order"}, "token": everything["token"]}),
        )
        .await?;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(open_dead_letters(&operator, 3).await?.len(), 3);

    // The dry run names exactly the exhausted ones; the action takes them.
    let (status, plan) = operator
        .post(
            "/api/v1/dead-letters/bulk/dry-run",
            &json!({"action": "requeue", "filter": filter}),
        )
        .await?;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["count"], 3, "{plan}");
    let planned: BTreeSet<String> = plan["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(planned, ids(&exhausted));
    // Bound to its action: the same token does not discard.
    let (status, body) = operator
        .post(
            "/api/v1/dead-letters/bulk",
            &json!({"action": "discard", "filter": filter, "token": plan["token"], "reason": "x"}),
        )
        .await?;
    assert_eq!(status, 409, "{body}");
    let (status, done) = operator
        .post(
            "/api/v1/dead-letters/bulk",
            &json!({"action": "requeue", "filter": filter, "token": plan["token"]}),
        )
        .await?;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["count"], 3, "{done}");
    // Done once: the same token now names a set that changed.
    let (status, again) = operator
        .post(
            "/api/v1/dead-letters/bulk",
            &json!({"action": "requeue", "filter": filter, "token": plan["token"]}),
        )
        .await?;
    assert_eq!(status, 409, "{again}");

    // Each deal is processed once: one order each, every dead letter resolved.
    eventually("the requeued dead letters resolved", WAIT, || async {
        let (_, body) = viewer
            .get("/api/v1/dead-letters?status=resolved")
            .await
            .ok()?;
        (body["items"].as_array()?.len() == 3).then_some(())
    })
    .await?;
    stack.assert_one_order_per_deal(&deal_ids).await?;

    // Audited: one entry for the set (who, filter, count, ids), one per dead letter.
    let (_, audit) = viewer
        .get("/api/v1/events?event_type=monitoring.dead_letters.bulk_requeued")
        .await?;
    let entries = audit["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    let entry = &entries[0];
    assert_eq!(entry["actor"], "dev-operator", "{entry}");
    assert_eq!(entry["payload"]["count"], 3, "{entry}");
    assert_eq!(entry["payload"]["filter"], filter, "{entry}");
    assert_eq!(entry["causation_id"], done["bulk_id"], "{entry}");
    let (_, each) = viewer
        .get("/api/v1/events?event_type=monitoring.dead_letter.requeued")
        .await?;
    assert_eq!(each["items"].as_array().map(Vec::len), Some(3), "{each}");
    let (_, discards) = viewer
        .get("/api/v1/events?event_type=monitoring.dead_letters.bulk_discarded")
        .await?;
    assert_eq!(
        discards["items"][0]["payload"]["reason"], "entered by hand",
        "{discards}"
    );

    // Exports: every dead letter, CSV and JSON; a viewer's export is masked
    // exactly as the viewer's JSON list is.
    let (status, csv) = viewer.get("/api/v1/dead-letters/export").await?;
    assert_eq!(status, 200, "{csv}");
    let csv = csv.as_str().unwrap_or_default().to_owned();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("id,dead_lettered_at,flow,")),
        "{csv}"
    );
    assert_eq!(lines.count(), 4, "{csv}");
    let (_, listed) = viewer.get("/api/v1/dead-letters?limit=1000").await?;
    let (status, exported) = viewer
        .get("/api/v1/dead-letters/export?format=json&flow=deal-to-order")
        .await?;
    assert_eq!(status, 200, "{exported}");
    let exported = exported.as_array().cloned().unwrap_or_default();
    assert_eq!(ids(&exported), ids(&all), "{exported:?}");
    for row in &exported {
        let listed_row = listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|d| d["id"] == row["id"]))
            .cloned()
            .unwrap_or_default();
        for field in ["reason", "error_detail", "discard_reason", "status"] {
            assert_eq!(
                row[field], listed_row[field],
                "{field}: {row} vs {listed_row}"
            );
        }
    }
    let (_, searched) = viewer.get("/api/v1/events?limit=500").await?;
    let (status, events) = viewer.get("/api/v1/events/export?format=json").await?;
    assert_eq!(status, 200, "{events}");
    let events = events.as_array().cloned().unwrap_or_default();
    let (_, unmasked) = operator.get("/api/v1/events/export?format=json").await?;
    let mut masked_somewhere = false;
    for event in searched["items"].as_array().cloned().unwrap_or_default() {
        let same = events.iter().find(|e| e["id"] == event["id"]);
        assert_eq!(same, Some(&event), "the export differs from the search");
        let plain = unmasked
            .as_array()
            .and_then(|all| all.iter().find(|e| e["id"] == event["id"]));
        masked_somewhere |= plain.is_some_and(|p| p["payload"] != event["payload"]);
    }
    assert!(
        masked_somewhere,
        "nothing personal was masked for the viewer"
    );
    let (status, body) = viewer.get("/api/v1/events/export?format=xml").await?;
    assert_eq!(status, 400, "{body}");
    let (status, body) = viewer.get("/api/v1/dead-letters/export?colour=red").await?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}

/// Publishes deal-to-order's breaker change for NetSuite, as the flow does.
async fn publish_breaker(stack: &Stack, open: bool, at_seconds: i64) -> anyhow::Result<()> {
    use crmerp_proto::{BreakerChange, EventEnvelope, Message as _, event_envelope::Data};
    let label = if open {
        "breaker_opened"
    } else {
        "breaker_closed"
    };
    let at = crmerp_proto::timestamp_from(
        chrono::DateTime::from_timestamp(at_seconds, 0).unwrap_or_default(),
    );
    let envelope = EventEnvelope {
        id: format!("breaker:deal-to-order:netsuite:{label}:{at_seconds}"),
        r#type: "integration.outcome".into(),
        time: Some(at),
        data: Some(Data::BreakerChange(BreakerChange {
            flow: "deal-to-order".into(),
            system: "netsuite".into(),
            open,
            reason: "NetSuite answered 503 five times".into(),
            error_category: "unavailable".into(),
            consecutive_failures: 5,
            resolution_code: String::new(),
            at: Some(at),
        })),
        ..Default::default()
    };
    let js = stack.jetstream().await?;
    js.publish(
        format!("outcome.deal-to-order.{label}"),
        envelope.encode_to_vec().into(),
    )
    .await?
    .await?;
    Ok(())
}

const BREAKER: &str = "breaker:deal-to-order:netsuite";

/// The breaker incident, once `done` holds for it.
async fn breaker_incident(
    api: &MonitoringApi,
    done: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    eventually("the breaker incident", WAIT, || async {
        let (_, body) = api.get("/api/v1/incidents").await.ok()?;
        body["items"]
            .as_array()?
            .iter()
            .find(|i| i["key"] == BREAKER && done(i))
            .cloned()
    })
    .await
}

#[tokio::test]
async fn incidents_are_listed_and_acknowledged_once_per_opening() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let slack = HttpSink::start(0).await?;
    let config = format!(
        "\n[monitoring.alerts]\nevaluate_every = \"200ms\"\n\n[monitoring.alerts.slack]\nwebhook_url = \"{}\"\n",
        slack.url("/services/T000/B000/XXXX")
    );
    let monitoring = Monitoring::start_with(&stack, &config).await?;
    let viewer = monitoring.api(Some(VIEWER_TOKEN))?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;
    let now = chrono::Utc::now().timestamp();
    publish_breaker(&stack, true, now).await?;
    let open = breaker_incident(&viewer, |i| i["status"] == "open").await?;
    assert_eq!(open["rule"], "breaker", "{open}");
    assert_eq!(open["flow"], "deal-to-order", "{open}");
    assert!(
        open["severity"]
            .as_str()
            .is_some_and(|s| s.starts_with('P')),
        "{open}"
    );
    assert!(open["acknowledged_at"].is_null(), "{open}");
    // The breaker's state per vendor.
    let (_, breakers) = viewer.get("/api/v1/breakers").await?;
    assert_eq!(
        (
            &breakers["items"][0]["system"],
            &breakers["items"][0]["state"]
        ),
        (&json!("netsuite"), &json!("open")),
        "{breakers}"
    );
    let (_, unacked) = viewer
        .get("/api/v1/incidents?status=unacknowledged")
        .await?;
    assert_eq!(
        unacked["items"].as_array().map(Vec::len),
        Some(1),
        "{unacked}"
    );

    let path = format!("/api/v1/incidents/{BREAKER}/acknowledge");
    let (status, body) = viewer.post(&path, &json!({})).await?;
    assert_eq!(status, 403, "{body}");
    let (status, body) = operator
        .post("/api/v1/incidents/no_such:incident/acknowledge", &json!({}))
        .await?;
    assert_eq!(status, 404, "{body}");
    let (status, acked) = operator
        .post(&path, &json!({"note": "looking into NetSuite"}))
        .await?;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["acknowledged_by"], "dev-operator", "{acked}");
    assert!(acked["acknowledged_at"].is_string(), "{acked}");
    let (status, body) = operator.post(&path, &json!({})).await?;
    assert_eq!(status, 409, "acknowledged twice: {body}");
    let (_, listed) = viewer.get("/api/v1/incidents?status=acknowledged").await?;
    assert_eq!(listed["items"][0]["key"], BREAKER, "{listed}");
    let (_, audit) = viewer
        .get("/api/v1/events?event_type=monitoring.alert.acknowledged")
        .await?;
    let entry = &audit["items"][0];
    assert_eq!(
        (
            &entry["actor"],
            &entry["causation_id"],
            &entry["payload"]["note"]
        ),
        (
            &json!("dev-operator"),
            &json!(BREAKER),
            &json!("looking into NetSuite")
        ),
        "{audit}"
    );

    // Resolved, it cannot be acknowledged; reopened, it needs a new acknowledgement.
    publish_breaker(&stack, false, now + 1).await?;
    breaker_incident(&viewer, |i| i["status"] == "resolved").await?;
    let (_, breakers) = viewer.get("/api/v1/breakers").await?;
    assert_eq!(breakers["items"][0]["state"], "closed", "{breakers}");
    assert_eq!(
        breakers["items"].as_array().map(Vec::len),
        Some(1),
        "{breakers}"
    );
    let (status, body) = operator.post(&path, &json!({})).await?;
    assert_eq!(status, 409, "{body}");
    publish_breaker(&stack, true, now + 2).await?;
    let reopened = breaker_incident(&viewer, |i| i["status"] == "open").await?;
    assert!(reopened["acknowledged_at"].is_null(), "{reopened}");
    assert!(reopened["acknowledged_by"].is_null(), "{reopened}");
    let (status, body) = viewer.get("/api/v1/incidents?status=closed").await?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}
