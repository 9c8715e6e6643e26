//! Correct-and-requeue also corrects the CRM record: the operator's fix of a
//! dead-lettered deal (here the missing shipping address) is written to the
//! HubSpot deal through deal-to-order's field maps, unless the operator keeps
//! it in the requeued event only; either way it is audited in the timeline.

use std::time::Duration;

use crmerp_testkit::hubspot::CreatedDeal;
use crmerp_testkit::monitoring::{Monitoring, MonitoringApi, OPERATOR_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A won deal whose deal and company carry no address: it is dead-lettered.
async fn win_without_address(stack: &Stack, name: &str) -> anyhow::Result<CreatedDeal> {
    stack
        .hubspot
        .win_deal_without_address(name, json!({}))
        .await
}

async fn dead_letter(operator: &MonitoringApi, deal_id: &str) -> anyhow::Result<String> {
    eventually("the dead letter", WAIT, || async {
        let (_, body) = operator
            .get(&format!(
                "/api/v1/dead-letters?status=open&crm_record_id={deal_id}"
            ))
            .await
            .ok()?;
        body["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await
}

fn address_patch() -> Value {
    json!([{"op": "add", "path": "/shippingAddress", "value":
        {"line1": "Hafenstrasse 1", "city": "Hamburg", "postalCode": "20457", "countryCode": "DE"}}])
}

async fn shipping(stack: &Stack, deal_id: &str) -> anyhow::Result<Value> {
    stack
        .hubspot
        .deal_properties(
            deal_id,
            &[
                "shipping_street",
                "shipping_city",
                "shipping_zip",
                "shipping_country",
            ],
        )
        .await
}

/// The deal's shipping street, empty when unset.
async fn street(stack: &Stack, deal_id: &str) -> anyhow::Result<String> {
    Ok(shipping(stack, deal_id).await?["shipping_street"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn a_requeued_correction_is_written_to_the_crm_deal_unless_kept_out() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let monitoring = Monitoring::start(&stack).await?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;

    // Default: the corrected address goes to the requeued event and to the deal.
    let deal = win_without_address(&stack, "Correct in CRM").await?;
    let id = dead_letter(&operator, &deal.deal_id).await?;
    // Asking for a field the CRM cannot write, with apply_to_crm = true, changes nothing.
    let mut both = address_patch();
    if let Some(ops) = both.as_array_mut() {
        ops.push(json!({"op": "replace", "path": "/name", "value": "Renamed deal"}));
    }
    let (status, problem) = operator
        .post(
            &format!("/api/v1/dead-letters/{id}/requeue"),
            &json!({"patch": both, "apply_to_crm": true}),
        )
        .await?;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("name"),
        "{problem}"
    );
    assert_eq!(street(&stack, &deal.deal_id).await?, "");

    let (status, requeued) = operator
        .post(
            &format!("/api/v1/dead-letters/{id}/requeue"),
            &json!({"patch": address_patch()}),
        )
        .await?;
    assert_eq!(status, 202, "{requeued}");
    assert_eq!(
        requeued["crm"]["applied"],
        json!(["shippingAddress"]),
        "{requeued}"
    );
    let props = shipping(&stack, &deal.deal_id).await?;
    assert_eq!(props["shipping_street"], "Hafenstrasse 1", "{props}");
    assert_eq!(props["shipping_city"], "Hamburg");
    assert_eq!(props["shipping_zip"], "20457");
    assert_eq!(props["shipping_country"], "DE");
    // The order is created from the corrected deal.
    eventually("the order number on the deal", WAIT, || async {
        stack
            .crm
            .erp_order_number(&deal.deal_id)
            .await
            .ok()
            .flatten()
    })
    .await?;
    // The write-back is audited in the deal's timeline.
    let audited = eventually("the audit of the CRM write-back", WAIT, || async {
        let (_, body) = operator
            .get(&format!("/api/v1/events?crm_record_id={}", deal.deal_id))
            .await
            .ok()?;
        body["items"]
            .as_array()?
            .iter()
            .find(|e| e["outcome"] == "crm_corrected")
            .cloned()
    })
    .await?;
    assert_eq!(
        audited["payload"]["fields"],
        json!(["shippingAddress"]),
        "{audited}"
    );

    // Kept out: the correction travels in the event only, the deal is untouched.
    let other = win_without_address(&stack, "Correct in event only").await?;
    let id = dead_letter(&operator, &other.deal_id).await?;
    let (status, requeued) = operator
        .post(
            &format!("/api/v1/dead-letters/{id}/requeue"),
            &json!({"patch": address_patch(), "apply_to_crm": false}),
        )
        .await?;
    assert_eq!(status, 202, "{requeued}");
    assert_eq!(requeued["crm"]["applied"], json!([]), "{requeued}");
    assert_eq!(requeued["crm"]["not_applied"], json!(["shippingAddress"]));
    eventually("the order number on the other deal", WAIT, || async {
        stack
            .crm
            .erp_order_number(&other.deal_id)
            .await
            .ok()
            .flatten()
    })
    .await?;
    assert_eq!(street(&stack, &other.deal_id).await?, "");
    Ok(())
}
