//! The monitoring service over real processes: nats-server, Postgres, the
//! sandbox, ingress, deal-to-order and monitoring.

use std::time::Duration;

use crmerp_proto::{
    EventEnvelope, Message as _, Outcome, OutcomeStatus, RecordRef, event_envelope::Data,
};
use crmerp_testkit::hubspot::{CreatedDeal, DealSpec};
use crmerp_testkit::monitoring::{Monitoring, MonitoringApi, OPERATOR_TOKEN, VIEWER_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn events(api: &MonitoringApi, query: &str) -> anyhow::Result<Vec<Value>> {
    let (status, body) = api.get(&format!("/api/v1/events?{query}")).await?;
    anyhow::ensure!(status == 200, "search answered {status}: {body}");
    Ok(body["items"].as_array().cloned().unwrap_or_default())
}

async fn wait_for_events(
    api: &MonitoringApi,
    query: &str,
    count: usize,
) -> anyhow::Result<Vec<Value>> {
    eventually(&format!("{count} events for {query}"), WAIT, || async {
        let items = events(api, query).await.ok()?;
        // An accepted deal is listed as `received` until its outcome arrives.
        let processed = items.iter().all(|e| e["outcome"] != "received");
        (items.len() >= count && processed).then_some(items)
    })
    .await
}

async fn win_complete_deal(stack: &Stack, name: &str) -> anyhow::Result<CreatedDeal> {
    let deal = stack.hubspot.create_deal(&DealSpec::complete(name)).await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;
    Ok(deal)
}

#[tokio::test]
async fn outcomes_are_logged_once_and_searchable_with_a_timeline() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let monitoring = Monitoring::start(&stack).await?;
    let api = monitoring.api(Some(VIEWER_TOKEN))?;
    let first = win_complete_deal(&stack, "Logged One").await?;
    let second = win_complete_deal(&stack, "Logged Two").await?;

    let items = wait_for_events(&api, &format!("crm_record_id={}", first.deal_id), 1).await?;
    let success = &items[0];
    assert_eq!(success["outcome"], "success", "{success}");
    assert_eq!(success["flow"], "deal-to-order");
    assert_eq!(success["event_type"], "integration.outcome");
    assert_eq!(success["crm_system"], "hubspot");
    assert_eq!(success["attempt"], 1);
    assert!(success["duration_ms"].as_i64().is_some());
    assert_eq!(
        success["payload"]["data"]["outcome"]["status"],
        "OUTCOME_STATUS_SUCCEEDED"
    );
    let order_number = success["erp_order_number"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!order_number.is_empty(), "{success}");
    // The order number is the id of the outcome's "order" effect, next to the ERP customer.
    let effects = success["effects"].as_array().cloned().unwrap_or_default();
    assert!(
        effects
            .iter()
            .any(|e| e["kind"] == "order" && e["id"] == order_number.as_str()),
        "{success}"
    );
    assert!(effects.iter().any(|e| e["kind"] == "customer"), "{success}");

    // By ERP order number, by outcome and flow, and by date range.
    let by_order = events(&api, &format!("erp_order_number={order_number}")).await?;
    assert_eq!(by_order.len(), 1);
    let by_effect = events(&api, &format!("effect_id={order_number}")).await?;
    assert_eq!(by_effect.len(), 1);
    assert_eq!(by_effect[0]["envelope_id"], by_order[0]["envelope_id"]);
    assert_eq!(
        by_order[0]["crm_record_id"].as_str(),
        Some(first.deal_id.as_str())
    );
    wait_for_events(&api, &format!("crm_record_id={}", second.deal_id), 1).await?;
    let successes = events(
        &api,
        "flow=deal-to-order&outcome=success&event_type=integration.outcome",
    )
    .await?;
    assert_eq!(successes.len(), 2);
    assert!(events(&api, "outcome=dead_lettered").await?.is_empty());
    assert!(events(&api, "to=2000-01-01T00:00:00Z").await?.is_empty());
    assert_eq!(events(&api, "from=2000-01-01T00:00:00Z").await?.len(), 2);

    // Newest first, one per page.
    let (_, page1) = api.get("/api/v1/events?limit=1").await?;
    let cursor = page1["next_cursor"].as_str().unwrap_or_default().to_owned();
    let (_, page2) = api
        .get(&format!("/api/v1/events?limit=1&cursor={cursor}"))
        .await?;
    assert!(page2["next_cursor"].is_null(), "{page2}");
    let (newer, older) = (&page1["items"][0], &page2["items"][0]);
    let mut ids = [
        newer["crm_record_id"].as_str(),
        older["crm_record_id"].as_str(),
    ];
    ids.sort();
    let mut expected = [Some(first.deal_id.as_str()), Some(second.deal_id.as_str())];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        newer["occurred_at"].as_str() >= older["occurred_at"].as_str(),
        "{newer} {older}"
    );
    let (status, problem) = api.get("/api/v1/events?cursor=junk").await?;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = api.get("/api/v1/events?from=yesterday").await?;
    assert_eq!(status, 400);

    // The same outcome published twice (a producer retry past de-duplication) is stored once.
    let js = stack.jetstream().await?;
    let envelope = EventEnvelope {
        id: "test-outcome-1".into(),
        r#type: "integration.outcome".into(),
        subject: "hubspot/deal/dup-1".into(),
        time: Some(crmerp_proto::timestamp_now()),
        data: Some(Data::Outcome(Outcome {
            flow: "deal-to-order".into(),
            status: OutcomeStatus::RetryScheduled as i32,
            crm_record: Some(RecordRef {
                system: "hubspot".into(),
                object_type: "deal".into(),
                id: "dup-1".into(),
            }),
            attempt: 1,
            ..Default::default()
        })),
        ..Default::default()
    };
    for _ in 0..2 {
        js.publish(
            "outcome.deal-to-order.retry_scheduled",
            envelope.encode_to_vec().into(),
        )
        .await?
        .await?;
    }
    // A different event published after the two copies: once it is stored,
    // ingest has read past both copies (it reads the stream in order).
    let mut later = envelope.clone();
    later.id = "test-outcome-2".into();
    js.publish(
        "outcome.deal-to-order.retry_scheduled",
        later.encode_to_vec().into(),
    )
    .await?
    .await?;
    wait_for_events(&api, "crm_record_id=dup-1", 2).await?;
    let stored = events(&api, "crm_record_id=dup-1").await?;
    assert_eq!(stored.len(), 2, "the copy was stored once: {stored:?}");

    // The timeline by order number reaches the deal's events, oldest first.
    let (status, timeline) = api
        .get(&format!("/api/v1/timeline?erp_order_number={order_number}"))
        .await?;
    assert_eq!(status, 200);
    let items = timeline["items"].as_array().cloned().unwrap_or_default();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|e| e["crm_record_id"].as_str() == Some(first.deal_id.as_str()))
    );
    let (status, _) = api.get("/api/v1/timeline").await?;
    assert_eq!(status, 400);
    Ok(())
}

#[tokio::test]
async fn a_dead_letter_is_corrected_requeued_and_resolved() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let monitoring = Monitoring::start(&stack).await?;
    let viewer = monitoring.api(Some(VIEWER_TOKEN))?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;
    let deal = stack
        .hubspot
        .win_deal_without_address("Needs Address", json!({}))
        .await?;
    let other = stack
        .hubspot
        .win_deal_without_address("Not Wanted", json!({}))
        .await?;

    let listed = eventually("two open dead letters", WAIT, || async {
        let (_, body) = viewer
            .get("/api/v1/dead-letters?status=open&flow=deal-to-order")
            .await
            .ok()?;
        let items = body["items"].as_array().cloned()?;
        (items.len() == 2).then_some(items)
    })
    .await?;
    let entry = listed
        .iter()
        .find(|d| d["crm_record_id"].as_str() == Some(deal.deal_id.as_str()))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no dead letter for the deal: {listed:?}"))?;
    assert_eq!(
        entry["resolution_code"],
        "add_missing_field:shipping_address"
    );
    assert_eq!(entry["error_category"], "missing_data");
    assert!(
        entry["resolution"]
            .as_str()
            .unwrap_or_default()
            .contains("no shipping address"),
        "{entry}"
    );
    let id = entry["id"].as_str().unwrap_or_default().to_owned();
    let (_, by_category) = viewer
        .get("/api/v1/dead-letters?category=missing_data&max_age_minutes=60")
        .await?;
    assert_eq!(by_category["items"].as_array().map(Vec::len), Some(2));
    let (_, none_old) = viewer
        .get("/api/v1/dead-letters?min_age_minutes=60")
        .await?;
    assert_eq!(none_old["items"].as_array().map(Vec::len), Some(0));

    // The detail shows the deal from the CRM, without an address, and a CRM link.
    let (status, detail) = viewer.get(&format!("/api/v1/dead-letters/{id}")).await?;
    assert_eq!(status, 200, "{detail}");
    assert!(
        detail["deal"]["lineItems"]
            .as_array()
            .is_some_and(|l| l.len() == 2),
        "{detail}"
    );
    assert!(detail["deal"].get("shippingAddress").is_none(), "{detail}");
    assert!(
        detail["crm_record_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(&deal.deal_id))
    );
    assert!(
        detail["envelope"]["data"]["deadLetter"]["attempts"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    let path = format!("/api/v1/dead-letters/{id}/requeue");
    let address = json!({"line1": "Hafenstrasse 1", "city": "Hamburg", "postalCode": "20457", "countryCode": "DE"});
    // A viewer may not requeue; an incomplete correction is refused before anything is published.
    let (status, _) = viewer.post(&path, &json!({})).await?;
    assert_eq!(status, 403);
    let (status, problem) = operator
        .post(&path, &json!({"patch": [{"op": "add", "path": "/shippingAddress", "value": {"city": "Hamburg"}}]}))
        .await?;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("street"),
        "{problem}"
    );
    let (status, _) = operator
        .post(
            &path,
            &json!({"patch": [{"op": "add", "path": "/shipping_address", "value": address}]}),
        )
        .await?;
    assert_eq!(status, 422, "unknown field names are refused");

    let (status, requeued) = operator
        .post(
            &path,
            &json!({"patch": [{"op": "add", "path": "/shippingAddress", "value": address}]}),
        )
        .await?;
    assert_eq!(status, 202, "{requeued}");
    assert!(
        requeued["requeued_event_id"]
            .as_str()
            .unwrap_or_default()
            .ends_with(":requeue:1")
    );

    // The order is created with the corrected address, and the dead letter resolves.
    let orders = eventually("the order", WAIT, || async {
        let orders = stack
            .netsuite
            .sales_orders_with_external_id(&format!("hubspot-deal-{}", deal.deal_id))
            .await
            .ok()?;
        (!orders.is_empty()).then_some(orders)
    })
    .await?;
    assert_eq!(
        orders[0]["shippingAddress"]["city"].as_str(),
        Some("Hamburg")
    );
    eventually("the dead letter resolved", WAIT, || async {
        let (_, detail) = viewer
            .get(&format!("/api/v1/dead-letters/{id}"))
            .await
            .ok()?;
        (detail["status"] == "resolved" && detail["resolved_at"].is_string()).then_some(())
    })
    .await?;
    let (status, _) = operator.post(&path, &json!({})).await?;
    assert_eq!(status, 409, "a resolved dead letter is not requeued again");

    // The timeline shows failure, the audited requeue, success and resolution, in order.
    let (_, timeline) = viewer
        .get(&format!("/api/v1/timeline?crm_record_id={}", deal.deal_id))
        .await?;
    let outcomes: Vec<String> = timeline["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| e["outcome"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let position = |label: &str| outcomes.iter().position(|o| o == label);
    let (failed, requeue, success, resolved) = (
        position("validation_failure"),
        position("requeued"),
        position("success"),
        position("resolved"),
    );
    assert!(
        failed.is_some() && requeue > failed && success > requeue && resolved.is_some(),
        "{outcomes:?}"
    );
    let audit = timeline["items"]
        .as_array()
        .and_then(|items| items.iter().find(|e| e["outcome"] == "requeued").cloned())
        .unwrap_or_default();
    assert_eq!(audit["actor"], "dev-operator");
    assert_eq!(audit["payload"]["patch"][0]["path"], "/shippingAddress");

    // The other one is discarded with a reason (and a reason is required).
    let other_id = listed
        .iter()
        .find(|d| d["crm_record_id"].as_str() == Some(other.deal_id.as_str()))
        .and_then(|d| d["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let discard = format!("/api/v1/dead-letters/{other_id}/discard");
    let (status, _) = operator.post(&discard, &json!({"reason": "  "})).await?;
    assert_eq!(status, 400);
    let (status, _) = viewer.post(&discard, &json!({"reason": "test"})).await?;
    assert_eq!(status, 403);
    let (status, body) = operator
        .post(
            &discard,
            &json!({"reason": "Duplicate deal, closed by sales."}),
        )
        .await?;
    assert_eq!((status, body["status"].as_str()), (200, Some("discarded")));
    let (_, detail) = viewer
        .get(&format!("/api/v1/dead-letters/{other_id}"))
        .await?;
    assert_eq!(detail["discard_reason"], "Duplicate deal, closed by sales.");
    let (status, _) = operator
        .post(
            &format!("/api/v1/dead-letters/{other_id}/requeue"),
            &json!({}),
        )
        .await?;
    assert_eq!(status, 409);
    let (_, timeline) = viewer
        .get(&format!("/api/v1/timeline?crm_record_id={}", other.deal_id))
        .await?;
    assert!(timeline["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|e| e["outcome"] == "discarded" && e["actor"] == "dev-operator")
    }));
    let (status, _) = viewer.get("/api/v1/dead-letters/dlq:nope").await?;
    assert_eq!(status, 404);

    // Health: one success and two validation failures; both dead letters are in JetStream.
    let (status, health) = viewer.get("/api/v1/health?hours=1").await?;
    assert_eq!(status, 200, "{health}");
    let flow = health["flows"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["flow"] == "deal-to-order").cloned())
        .unwrap_or_default();
    assert_eq!(
        (flow["successes"].as_i64(), flow["failures"].as_i64()),
        (Some(1), Some(2)),
        "{flow}"
    );
    assert!(
        (flow["success_rate"].as_f64().unwrap_or_default() - 1.0 / 3.0).abs() < 1e-9,
        "{flow}"
    );
    assert_eq!(flow["dlq_depth"], 2, "{flow}");
    assert_eq!(flow["consumer_pending"], 0, "{flow}");
    assert!(flow["p95_latency_ms"].as_f64().is_some() && flow["avg_latency_ms"].as_f64().is_some());
    assert!(
        health["endpoints"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["system"] == "netsuite")),
        "{health}"
    );
    assert_eq!(
        health["event_log_consumers"].as_array().map(Vec::len),
        Some(3)
    );
    let (status, series) = viewer.get("/api/v1/health/series?hours=3").await?;
    assert_eq!(status, 200);
    let buckets = series["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(buckets.len(), 3, "{series}");
    assert_eq!(buckets[2]["events"], 3, "{series}");
    assert_eq!(
        buckets[2]["dlq_depth"], 0,
        "resolved and discarded: {series}"
    );

    // The weekly SLA report, as JSON and CSV.
    let (status, report) = viewer.get("/api/v1/reports/sla").await?;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["flows"][0]["successes"], 1, "{report}");
    assert_eq!(report["dead_letters"][0]["category"], "missing_data");
    assert_eq!(report["dead_letters"][0]["dead_letters"], 2);
    assert_eq!(report["resolution"][0]["resolved"], 1);
    let week = report["week"].as_str().unwrap_or_default().to_owned();
    let (status, csv) = viewer
        .get(&format!("/api/v1/reports/sla?week={week}&format=csv"))
        .await?;
    assert_eq!(status, 200);
    let csv = csv.as_str().unwrap_or_default().to_owned();
    assert!(csv.starts_with("week,section,flow,key,value\n"), "{csv}");
    assert!(
        csv.contains(&format!("{week},resolution,deal-to-order,resolved,1")),
        "{csv}"
    );
    assert!(
        csv.contains(&format!("{week},dead_letters,deal-to-order,missing_data,2")),
        "{csv}"
    );
    let (status, _) = viewer.get("/api/v1/reports/sla?week=soon").await?;
    assert_eq!(status, 400);
    Ok(())
}
