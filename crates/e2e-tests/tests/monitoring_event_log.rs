//! The event log over real processes: every accepted inbound event is
//! logged as `received` (findable by its CRM record before any flow reports
//! on it), open dead letters are counted apart from the DLQ stream's size,
//! and requeues of corrected dead letters keep their chain.

use std::time::Duration;

use crmerp_proto::event_envelope::Data;
use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::monitoring::{Monitoring, MonitoringApi, OPERATOR_TOKEN, VIEWER_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const ORDERS_PATH: &str = "/services/rest/record/v1/salesOrder";

#[tokio::test]
async fn an_accepted_deal_is_found_as_received_before_any_outcome() -> anyhow::Result<()> {
    // No worker: nothing processes the deal, as behind an open breaker.
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let monitoring = Monitoring::start(&stack).await?;
    let viewer = monitoring.api(Some(VIEWER_TOKEN))?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Waiting deal"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    let received = eventually("the received event", WAIT, || async {
        let (_, body) = viewer
            .get(&format!("/api/v1/events?crm_record_id={}", deal.deal_id))
            .await
            .ok()?;
        body["items"].as_array()?.first().cloned()
    })
    .await?;
    assert_eq!(received["outcome"], "received", "{received}");
    assert_eq!(received["kind"], "inbound", "{received}");
    assert_eq!(received["crm_system"], "hubspot", "{received}");
    assert_eq!(received["event_type"], "crm.deal.won", "{received}");
    assert!(
        received["payload"]["source"]
            .as_str()
            .is_some_and(|s| s.contains("hubspot")),
        "{received}"
    );
    assert!(received["occurred_at"].is_string(), "{received}");
    // Waiting events are listed by their state too.
    let (_, waiting) = viewer.get("/api/v1/events?outcome=received").await?;
    assert_eq!(
        waiting["items"].as_array().map(Vec::len),
        Some(1),
        "{waiting}"
    );

    let (status, timeline) = viewer
        .get(&format!("/api/v1/timeline?crm_record_id={}", deal.deal_id))
        .await?;
    assert_eq!(status, 200, "{timeline}");
    assert_eq!(timeline["state"], "received", "{timeline}");
    assert_eq!(timeline["items"][0]["outcome"], "received", "{timeline}");
    Ok(())
}

/// The open dead letter of `deal_id` other than `except`.
async fn open_dead_letter(
    api: &MonitoringApi,
    deal_id: &str,
    except: &str,
) -> anyhow::Result<String> {
    eventually("an open dead letter", WAIT, || async {
        let (_, body) = api
            .get(&format!(
                "/api/v1/dead-letters?status=open&crm_record_id={deal_id}"
            ))
            .await
            .ok()?;
        body["items"]
            .as_array()?
            .iter()
            .filter_map(|d| d["id"].as_str())
            .find(|id| *id != except)
            .map(str::to_owned)
    })
    .await
}

/// deal-to-order's health figures.
async fn flow_health(api: &MonitoringApi) -> anyhow::Result<Value> {
    let (status, health) = api.get("/api/v1/health?hours=1").await?;
    anyhow::ensure!(status == 200, "health answered {status}: {health}");
    health["flows"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["flow"] == "deal-to-order").cloned())
        .ok_or_else(|| anyhow::anyhow!("no deal-to-order health: {health}"))
}

async fn detail(api: &MonitoringApi, id: &str) -> anyhow::Result<Value> {
    let (status, body) = api.get(&format!("/api/v1/dead-letters/{id}")).await?;
    anyhow::ensure!(status == 200, "detail answered {status}: {body}");
    Ok(body)
}

/// The corrected deal carried by the requeued event `event_id` on INBOUND, as proto3 JSON.
async fn carried_deal(stack: &Stack, event_id: &str) -> anyhow::Result<Value> {
    let event = eventually("the requeued event", WAIT, || async {
        stack
            .stream_envelopes("INBOUND")
            .await
            .ok()?
            .into_iter()
            .find(|e| e.id == event_id)
    })
    .await?;
    match event.data {
        Some(Data::DealWon(won)) => Ok(serde_json::to_value(won.corrected_deal)?),
        other => anyhow::bail!("not a deal-won event: {other:?}"),
    }
}

#[tokio::test]
async fn requeues_keep_the_correction_chain_and_open_dead_letters_count_once() -> anyhow::Result<()>
{
    // Slow retries keep a requeued event in flight long enough to be seen;
    // the breaker stays closed so the retries are used up.
    let stack = Stack::start(StackOptions {
        env: vec![("CRMERP__FLOW__BREAKER_THRESHOLD".into(), "1000".into())],
        retry_schedule: vec!["1s", "1s", "1s", "1s", "1s"],
        ..StackOptions::default()
    })
    .await?;
    let monitoring = Monitoring::start(&stack).await?;
    let viewer = monitoring.api(Some(VIEWER_TOKEN))?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;

    let deal = stack
        .hubspot
        .win_deal_without_address("Chained", json!({}))
        .await?;
    let other = stack
        .hubspot
        .win_deal_without_address("Discarded", json!({}))
        .await?;
    let first = open_dead_letter(&operator, &deal.deal_id, "").await?;
    let other_id = open_dead_letter(&operator, &other.deal_id, "").await?;
    let flow = flow_health(&viewer).await?;
    assert_eq!(flow["open_dead_letters"], 2, "{flow}");
    assert_eq!(flow["dlq_stream_messages"], 2, "{flow}");

    // Resolving one (here by discarding it) lowers the open count, not the stream's size.
    let (status, body) = operator
        .post(
            &format!("/api/v1/dead-letters/{other_id}/discard"),
            &json!({"reason": "duplicate"}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let flow = flow_health(&viewer).await?;
    assert_eq!(flow["open_dead_letters"], 1, "{flow}");
    assert_eq!(flow["dlq_stream_messages"], 2, "{flow}");

    // The ERP refuses every order attempt of the corrected requeue: it is dead-lettered again.
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 503, "rate": 1.0, "count": 6, "path_prefix": ORDERS_PATH}),
        )
        .await?;
    let address = json!({"line1": "Hafenstrasse 1", "city": "Hamburg", "postalCode": "20457", "countryCode": "DE"});
    let (status, requeued) = operator
        .post(
            &format!("/api/v1/dead-letters/{first}/requeue"),
            &json!({"patch": [{"op": "add", "path": "/shippingAddress", "value": address}]}),
        )
        .await?;
    assert_eq!(status, 202, "{requeued}");
    // Requeued and still failing, it is still waiting: counted open.
    let flow = flow_health(&viewer).await?;
    assert_eq!(
        flow["open_dead_letters"], 1,
        "requeued, not yet processed: {flow}"
    );

    let second = open_dead_letter(&operator, &deal.deal_id, &first).await?;
    // Both are linked, and the second one's base is the first correction.
    let second_detail = detail(&viewer, &second).await?;
    assert_eq!(
        second_detail["previous_dead_letter_id"],
        first.as_str(),
        "{second_detail}"
    );
    assert!(
        second_detail["next_dead_letter_id"].is_null(),
        "{second_detail}"
    );
    assert_eq!(
        second_detail["deal"]["shippingAddress"]["city"], "Hamburg",
        "{second_detail}"
    );
    let first_detail = detail(&viewer, &first).await?;
    assert_eq!(
        first_detail["next_dead_letter_id"],
        second.as_str(),
        "{first_detail}"
    );
    assert!(
        first_detail["previous_dead_letter_id"].is_null(),
        "{first_detail}"
    );
    // The chain counts once.
    let flow = flow_health(&viewer).await?;
    assert_eq!(flow["open_dead_letters"], 1, "{flow}");
    assert_eq!(flow["dlq_stream_messages"], 3, "{flow}");
    // The timeline shows the chain.
    let (_, timeline) = viewer
        .get(&format!("/api/v1/timeline?crm_record_id={}", deal.deal_id))
        .await?;
    let chain: Vec<(Value, Value, Value)> = timeline["dead_letters"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|d| {
                    (
                        d["id"].clone(),
                        d["previous_dead_letter_id"].clone(),
                        d["next_dead_letter_id"].clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        chain,
        vec![
            (json!(first), Value::Null, json!(second)),
            (json!(second), json!(first), Value::Null)
        ],
        "{timeline}"
    );

    // A correction of the second one starts from the first correction.
    let (status, requeued) = operator
        .post(
            &format!("/api/v1/dead-letters/{second}/requeue"),
            &json!({"patch": [{"op": "replace", "path": "/shippingAddress/line1", "value": "Hafenstrasse 2"}]}),
        )
        .await?;
    assert_eq!(status, 202, "{requeued}");
    let carried = carried_deal(
        &stack,
        requeued["requeued_event_id"].as_str().unwrap_or_default(),
    )
    .await?;
    assert_eq!(
        (
            &carried["shippingAddress"]["line1"],
            &carried["shippingAddress"]["city"]
        ),
        (&json!("Hafenstrasse 2"), &json!("Hamburg")),
        "{carried}"
    );
    eventually("the second dead letter resolved", WAIT, || async {
        let body = detail(&viewer, &second).await.ok()?;
        (body["status"] == "resolved").then_some(())
    })
    .await?;
    let flow = flow_health(&viewer).await?;
    assert_eq!(flow["open_dead_letters"], 0, "{flow}");
    assert_eq!(flow["dlq_stream_messages"], 3, "{flow}");

    // Requeued again as is, the first dead letter keeps its correction.
    let (status, again) = operator
        .post(&format!("/api/v1/dead-letters/{first}/requeue"), &json!({}))
        .await?;
    assert_eq!(status, 202, "{again}");
    let carried = carried_deal(
        &stack,
        again["requeued_event_id"].as_str().unwrap_or_default(),
    )
    .await?;
    assert_eq!(carried["shippingAddress"]["city"], "Hamburg", "{carried}");
    assert_eq!(
        carried["shippingAddress"]["line1"], "Hafenstrasse 1",
        "{carried}"
    );
    Ok(())
}
