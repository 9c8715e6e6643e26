//! Every vendor call of an attempt is in the event log, over real processes:
//! a successful deal's row shows the ERP order call (not the CRM write-back
//! that ran last), and the record's timeline lists every call with its
//! status, duration and (truncated) response body, successful ERP bodies too.

use std::time::Duration;

use crmerp_testkit::monitoring::{Monitoring, OPERATOR_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const CREATE_ORDER: &str = "POST /services/rest/record/v1/salesOrder";
const READ_ORDER: &str = "GET /services/rest/record/v1/salesOrder/{id}";
const WRITE_BACK: &str = "PATCH /crm/v3/objects/deals/{id}";

#[tokio::test]
async fn a_successful_deal_shows_its_erp_order_call_and_every_call() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let monitoring = Monitoring::start(&stack).await?;
    let api = monitoring.api(Some(OPERATOR_TOKEN))?;
    let (deal, order_number) = stack.win_new_deal("Logged calls", WAIT).await?;

    let timeline = eventually("the success in the timeline", WAIT, || async {
        let (_, body) = api
            .get(&format!("/api/v1/timeline?crm_record_id={}", deal.deal_id))
            .await
            .ok()?;
        (body["state"] == "success").then_some(body)
    })
    .await?;
    let items = timeline["items"].as_array().cloned().unwrap_or_default();
    let success = items
        .iter()
        .find(|e| e["kind"] == "outcome" && e["outcome"] == "success")
        .ok_or_else(|| anyhow::anyhow!("no success row: {timeline}"))?;
    // The row is the ERP order's create, not the HubSpot write-back that ran last.
    assert_eq!(success["endpoint"], CREATE_ORDER, "{success}");
    let status = success["http_status"].as_i64().unwrap_or_default();
    assert!((200..300).contains(&status), "{success}");

    let calls: Vec<&Value> = timeline["calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .filter(|c| c["event_row_id"] == success["id"])
                .collect()
        })
        .unwrap_or_default();
    let endpoints: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["endpoint"].as_str())
        .collect();
    // Every call of the attempt, in order: the deal read, the ERP's order
    // look-up, create and read-back, and the write-back last.
    assert_eq!(
        endpoints.first().copied(),
        Some("GET /crm/v3/objects/deals/{id}"),
        "{endpoints:?}"
    );
    assert_eq!(endpoints.last().copied(), Some(WRITE_BACK), "{endpoints:?}");
    for expected in [
        "GET /services/rest/record/v1/salesOrder/eid:{externalId}",
        CREATE_ORDER,
        READ_ORDER,
    ] {
        assert!(endpoints.contains(&expected), "{expected} in {endpoints:?}");
    }
    let mut seqs = Vec::new();
    for call in &calls {
        let status = call["http_status"].as_i64().unwrap_or_default();
        // Look-ups of what does not exist yet answer 404; everything else succeeded.
        let look_up = call["endpoint"]
            .as_str()
            .is_some_and(|e| e.contains("/eid:"));
        assert!(
            (200..300).contains(&status) || (look_up && status == 404),
            "{call}"
        );
        assert!(
            call["duration_ms"].as_i64().is_some_and(|ms| ms >= 0),
            "{call}"
        );
        assert!(
            call["system"] == "hubspot" || call["system"] == "netsuite",
            "{call}"
        );
        seqs.push(call["seq"].as_i64().unwrap_or(-1));
    }
    assert_eq!(seqs, (0..calls.len() as i64).collect::<Vec<_>>());
    let results: Vec<&&Value> = calls.iter().filter(|c| c["result"] == true).collect();
    assert_eq!(results.len(), 1, "one result call: {calls:?}");
    assert_eq!(results[0]["endpoint"], CREATE_ORDER);
    assert_eq!(results[0]["http_status"], success["http_status"]);
    // A successful ERP answer is kept: the read-back names the order.
    let read_back = calls
        .iter()
        .find(|c| c["endpoint"] == READ_ORDER)
        .ok_or_else(|| anyhow::anyhow!("no read-back: {calls:?}"))?;
    assert!(
        read_back["response_body"]
            .as_str()
            .is_some_and(|body| body.contains(&order_number)),
        "{read_back}"
    );
    // The stored payload keeps the calls without their bodies (they are stored once).
    let payload_calls = success["payload"]["data"]["outcome"]["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(payload_calls.len(), calls.len());
    assert!(
        payload_calls
            .iter()
            .all(|c| c.get("responseBody").is_none())
    );
    Ok(())
}
