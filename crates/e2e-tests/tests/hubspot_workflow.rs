//! HubSpot's workflow "Send a webhook" action as a deal-to-order trigger: one
//! JSON object (the enrolled deal), authenticated by an API key in a header or
//! the query, or by the app's v3 signature. The app subscription is switched
//! off in the sandbox, so only the workflow action announces the win.

use std::time::Duration;

use crmerp_testkit::eventually;
use crmerp_testkit::hubspot::{DealSpec, sign_v3};
use crmerp_testkit::stack::{Stack, StackOptions};
use serde_json::{Value, json};

const WORKFLOW_KEY: &str = "wf-7f3a91c2d4";
const KEY_NAME: &str = "X-Crmerp-Workflow-Key";
const WAIT: Duration = Duration::from_secs(30);

async fn stack() -> anyhow::Result<Stack> {
    let stack = Stack::start(StackOptions {
        env: vec![(
            "CRMERP__CRM__HUBSPOT__WORKFLOW_KEY".into(),
            WORKFLOW_KEY.into(),
        )],
        ..StackOptions::default()
    })
    .await?;
    let response = reqwest::Client::new()
        .put(format!("{}/__sandbox/webhooks", stack.hubspot.base()))
        .json(&json!({"target_url": null}))
        .send()
        .await?;
    anyhow::ensure!(response.status().is_success(), "{}", response.status());
    Ok(stack)
}

/// A deal created and moved to `stage` in the sandbox CRM (no webhook is sent).
async fn deal_in_stage(stack: &Stack, name: &str, stage: &str) -> anyhow::Result<String> {
    let deal = stack.hubspot.create_deal(&DealSpec::complete(name)).await?;
    stack.hubspot.move_to_stage(&deal.deal_id, stage).await?;
    Ok(deal.deal_id)
}

/// What the action sends for an enrolled deal (the object form).
fn workflow_body(deal_id: &str, stage: &str) -> String {
    let id: u64 = deal_id.parse().unwrap_or_default();
    json!({
        "objectId": id, "portalId": 62515, "objectType": "DEAL",
        "properties": {
            "dealname": {"value": "Workflow deal"},
            "dealstage": {"value": stage, "timestamp": 1_764_921_600_000_i64},
        }
    })
    .to_string()
}

async fn post(url: &str, headers: &[(&str, String)], body: &str) -> anyhow::Result<(u16, Value)> {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

async fn order_number(stack: &Stack, deal_id: &str) -> anyhow::Result<String> {
    eventually("the order number on the deal", WAIT, || async {
        stack.crm.erp_order_number(deal_id).await.ok().flatten()
    })
    .await
}

#[tokio::test]
async fn a_workflow_webhook_with_the_api_key_creates_one_order() -> anyhow::Result<()> {
    let stack = stack().await?;
    let url = format!("{}/webhooks/hubspot/workflow", stack.ingress_url()?);
    let deal_id = deal_in_stage(&stack, "Workflow deal", "closedwon").await?;
    let body = workflow_body(&deal_id, "closedwon");

    // No key, a wrong key: refused, nothing stored.
    let (status, problem) = post(&url, &[], &body).await?;
    assert_eq!(status, 401, "{problem}");
    let (status, _) = post(&url, &[(KEY_NAME, "wrong".into())], &body).await?;
    assert_eq!(status, 401);

    let (status, accepted) = post(&url, &[(KEY_NAME, WORKFLOW_KEY.into())], &body).await?;
    assert_eq!(status, 200, "{accepted}");
    // HubSpot retries the action with the same body; the key may sit in the query.
    let (status, _) = post(&format!("{url}?{KEY_NAME}={WORKFLOW_KEY}"), &[], &body).await?;
    assert_eq!(status, 200);

    let number = order_number(&stack, &deal_id).await?;
    let orders = stack
        .erp
        .orders_for(&stack.crm.external_ref(&deal_id))
        .await?;
    assert_eq!(orders.len(), 1, "one order for the deal: {orders:?}");
    assert_eq!(
        stack.erp.order_number(&orders[0]).as_deref(),
        Some(number.as_str())
    );
    Ok(())
}

#[tokio::test]
async fn a_signed_workflow_webhook_is_accepted_and_other_stages_route_nothing() -> anyhow::Result<()>
{
    let stack = stack().await?;
    let url = format!("{}/webhooks/hubspot/workflow", stack.ingress_url()?);

    // "Include request signature in header": the app's v3 signature, flat form.
    let deal_id = deal_in_stage(&stack, "Signed workflow deal", "closedwon").await?;
    let body = json!({"hs_object_id": deal_id, "dealstage": "closedwon"}).to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let signature = sign_v3("dev-hubspot-client-secret", &url, &body, now)?;
    let (status, accepted) = post(
        &url,
        &[
            ("X-HubSpot-Signature-v3", signature),
            ("X-HubSpot-Request-Timestamp", now.to_string()),
        ],
        &body,
    )
    .await?;
    assert_eq!(status, 200, "{accepted}");
    order_number(&stack, &deal_id).await?;

    // A deal the workflow sent in a stage that is not won: acknowledged, no order.
    let open = deal_in_stage(&stack, "Open workflow deal", "appointmentscheduled").await?;
    let (status, accepted) = post(
        &url,
        &[(KEY_NAME, WORKFLOW_KEY.into())],
        &workflow_body(&open, "appointmentscheduled"),
    )
    .await?;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["ignored"], 1, "{accepted}");
    // A body that names no deal is malformed.
    let (status, _) = post(&url, &[(KEY_NAME, WORKFLOW_KEY.into())], "[]").await?;
    assert_eq!(status, 400);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stack.crm.erp_order_number(&open).await?, None);
    Ok(())
}

#[tokio::test]
async fn rejected_workflow_webhooks_get_their_status_and_publish_nothing() -> anyhow::Result<()> {
    let stack = stack().await?;
    let url = format!("{}/webhooks/hubspot/workflow", stack.ingress_url()?);
    let deal_id = deal_in_stage(&stack, "Rejected workflow deal", "closedwon").await?;
    let body = workflow_body(&deal_id, "closedwon");
    let now = chrono::Utc::now().timestamp_millis();

    // A v3 signature over another body, and a correct one too old to replay.
    let wrong = sign_v3("dev-hubspot-client-secret", &url, "{}", now)?;
    let stale_at = now - 10 * 60 * 1000;
    let stale = sign_v3("dev-hubspot-client-secret", &url, &body, stale_at)?;
    for (signature, timestamp) in [(wrong, now), (stale, stale_at)] {
        let (status, problem) = post(
            &url,
            &[
                ("X-HubSpot-Signature-v3", signature),
                ("X-HubSpot-Request-Timestamp", timestamp.to_string()),
            ],
            &body,
        )
        .await?;
        assert_eq!(status, 401, "{problem}");
    }
    // Authenticated, but not JSON, malformed, or larger than the body limit.
    let key = [(KEY_NAME, WORKFLOW_KEY.to_owned())];
    let response = reqwest::Client::new()
        .post(&url)
        .header(KEY_NAME, WORKFLOW_KEY)
        .header("content-type", "text/plain")
        .body(body.clone())
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 415);
    let (status, _) = post(&url, &key, "{\"objectId\": ").await?;
    assert_eq!(status, 400);
    let oversized = format!(
        "{{\"objectId\": {deal_id}, \"padding\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let (status, _) = post(&url, &key, &oversized).await?;
    assert_eq!(status, 413);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        0,
        "no rejected webhook was published"
    );
    assert_eq!(stack.crm.erp_order_number(&deal_id).await?, None);
    Ok(())
}
