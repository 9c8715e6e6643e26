//! Dynamics 365 / Dataverse end to end: `WinOpportunity` runs the registered
//! service-endpoint step, the webhook becomes one ERP order, and its number is
//! written back; ingress rejects missing or wrong keys and malformed bodies and
//! publishes nothing.

use std::time::Duration;

use crmerp_testkit::dynamics365::{DEV_WEBHOOK_HEADER, DEV_WEBHOOK_SECRET};
use crmerp_testkit::{Stack, StackOptions};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn options(with_worker: bool) -> StackOptions {
    StackOptions {
        crm: "dynamics365",
        erp: "netsuite",
        with_worker,
        ..StackOptions::default()
    }
}

fn win_context(opportunity: &str, request: &str) -> String {
    json!({
        "MessageName": "Win", "PrimaryEntityName": "opportunity", "PrimaryEntityId": opportunity,
        "OrganizationId": "0d365000-0000-4000-8000-00000000c0de", "RequestId": request,
        "CorrelationId": "c-1", "OperationCreatedOn": "/Date(1763630000000)/", "InputParameters": [], "PostEntityImages": []
    })
    .to_string()
}

#[tokio::test]
async fn won_opportunity_becomes_one_order_with_the_number_written_back() -> anyhow::Result<()> {
    let stack = Stack::start(options(true)).await?;
    let (deal, number) = stack.win_new_deal("Dataverse Happy", WAIT).await?;
    let orders = stack
        .erp
        .orders_for(&stack.crm.external_ref(&deal.deal_id))
        .await?;
    assert_eq!(orders.len(), 1, "one order for {number}");
    assert_eq!(
        stack.erp.order_number(&orders[0]).as_deref(),
        Some(number.as_str()),
        "the number written back is the ERP's"
    );
    Ok(())
}

#[tokio::test]
async fn wrong_keys_and_malformed_bodies_publish_nothing() -> anyhow::Result<()> {
    let stack = Stack::start(options(false)).await?;
    let url = format!("{}/webhooks/dynamics365", stack.ingress_url()?);
    let http = reqwest::Client::new();
    let body = win_context("9e9d8b6c-0000-0000-0000-000000000004", "r-1");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "no key",
            http.post(&url).body(body.clone()),
            401,
            "invalid_credentials",
        ),
        (
            "wrong header key",
            http.post(&url)
                .header(DEV_WEBHOOK_HEADER, "nope")
                .body(body.clone()),
            401,
            "invalid_credentials",
        ),
        (
            "unconfigured code",
            http.post(format!("{url}?code={DEV_WEBHOOK_SECRET}"))
                .body(body.clone()),
            401,
            "invalid_credentials",
        ),
        (
            "malformed body",
            http.post(&url)
                .header(DEV_WEBHOOK_HEADER, DEV_WEBHOOK_SECRET)
                .body("{not json"),
            400,
            "malformed_body",
        ),
    ];
    crmerp_testkit::problems::expect_problems(cases).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        0,
        "nothing published"
    );
    for expected in [
        json!({"accepted": 1, "duplicates": 0, "ignored": 0}),
        json!({"accepted": 0, "duplicates": 1, "ignored": 0}),
    ] {
        let response = http
            .post(&url)
            .header(DEV_WEBHOOK_HEADER, DEV_WEBHOOK_SECRET)
            .body(body.clone())
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.json::<Value>().await?, expected);
    }
    assert_eq!(stack.stream_messages("INBOUND").await?, 1);
    Ok(())
}
