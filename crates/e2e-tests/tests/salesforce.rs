//! Salesforce end to end: an opportunity won in the sandbox org is announced by
//! an Outbound Message, becomes one ERP order, and gets its number written back;
//! ingress rejects what Salesforce (or our Flow callout) would not send.

use std::time::Duration;

use chrono::Utc;
use crmerp_connector::standard_webhooks;
use crmerp_testkit::salesforce::{DEV_CALLOUT_SECRET, DEV_ORG_ID};
use crmerp_testkit::{Stack, StackOptions};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn options(with_worker: bool) -> StackOptions {
    StackOptions {
        crm: "salesforce",
        erp: "netsuite",
        with_worker,
        ..StackOptions::default()
    }
}

fn outbound_message(org: &str, notification: &str, opportunity: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5g000000ErpWAAS</ActionId>
   <Notification>
    <Id>{notification}</Id>
    <sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>{opportunity}</sf:Id>
     <sf:StageName>Closed Won</sf:StageName>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>"#
    )
}

fn signed(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    timestamp: i64,
    body: &str,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let signature =
        standard_webhooks::sign(&DEV_CALLOUT_SECRET.into(), id, timestamp, body.as_bytes())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(http
        .post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned()))
}

#[tokio::test]
async fn won_opportunity_becomes_one_order_through_an_acknowledged_outbound_message()
-> anyhow::Result<()> {
    let stack = Stack::start(options(true)).await?;
    let (deal, number) = stack.win_new_deal("Salesforce Happy", WAIT).await?;
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
    let sandbox = format!("http://{}", stack.sandbox.listener("salesforce")?);
    let log: Value = reqwest::get(format!("{sandbox}/__sandbox/webhooks/deliveries"))
        .await?
        .json()
        .await?;
    let deliveries = log["deliveries"].as_array().cloned().unwrap_or_default();
    assert!(
        deliveries
            .iter()
            .any(|d| d["delivered"] == true && d["opportunity_id"] == deal.deal_id.as_str()),
        "the Outbound Message was acknowledged: {log}"
    );
    Ok(())
}

#[tokio::test]
async fn rejected_notifications_publish_nothing_and_callouts_are_deduplicated() -> anyhow::Result<()>
{
    let stack = Stack::start(options(false)).await?;
    let base = stack.ingress_url()?;
    let om_url = format!("{base}/webhooks/salesforce/outbound-message");
    let callout_url = format!("{base}/webhooks/salesforce");
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp();
    let callout = json!({ "organizationId": DEV_ORG_ID, "opportunityId": "0065g0000000001AAA", "stageName": "Closed Won" }).to_string();

    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "outbound message from another org",
            http.post(&om_url).body(outbound_message(
                "00D5g000000OtherAAA",
                "04l5g0000000001AAA",
                "0065g0000000001AAA",
            )),
            401,
            "invalid_credentials",
        ),
        (
            "outbound message that is not SOAP",
            http.post(&om_url).body("{\"not\":\"xml\"}"),
            400,
            "malformed_body",
        ),
        (
            "callout without signature",
            http.post(&callout_url).body(callout.clone()),
            401,
            "missing_signature",
        ),
        (
            "callout with a wrong signature",
            http.post(&callout_url)
                .header("webhook-id", "msg_1")
                .header("webhook-timestamp", now.to_string())
                .header("webhook-signature", "v1,AAAA")
                .body(callout.clone()),
            401,
            "invalid_signature",
        ),
        (
            "callout with a tampered body",
            {
                let sig = standard_webhooks::sign(
                    &DEV_CALLOUT_SECRET.into(),
                    "msg_1",
                    now,
                    callout.as_bytes(),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
                http.post(&callout_url)
                    .header("webhook-id", "msg_1")
                    .header("webhook-timestamp", now.to_string())
                    .header("webhook-signature", sig)
                    .body(callout.replace("Closed Won", "Closed Lost"))
            },
            401,
            "invalid_signature",
        ),
        (
            "stale callout",
            signed(&http, &callout_url, "msg_1", now - 600, &callout)?,
            401,
            "stale_timestamp",
        ),
        (
            "malformed callout",
            signed(&http, &callout_url, "msg_1", now, "{not json")?,
            400,
            "malformed_body",
        ),
        (
            "callout from another org",
            signed(
                &http,
                &callout_url,
                "msg_1",
                now,
                &callout.replace(DEV_ORG_ID, "00D5g000000OtherAAA"),
            )?,
            401,
            "invalid_credentials",
        ),
    ];
    crmerp_testkit::problems::expect_problems(cases).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        0,
        "nothing published"
    );

    // A valid callout, re-sent: stored once.
    for expected in [
        json!({"accepted": 1, "duplicates": 0, "ignored": 0}),
        json!({"accepted": 0, "duplicates": 1, "ignored": 0}),
    ] {
        let response = signed(
            &http,
            &callout_url,
            "msg_2",
            Utc::now().timestamp(),
            &callout,
        )?
        .send()
        .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.json::<Value>().await?, expected);
    }
    // A valid Outbound Message, re-sent with the same notification id: acknowledged twice, stored once.
    for _ in 0..2 {
        let response = http
            .post(&om_url)
            .header("SOAPAction", "\"\"")
            .body(outbound_message(
                DEV_ORG_ID,
                "04l5g0000000002AAA",
                "0065g0000000002AAA",
            ))
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.text().await?.contains("<Ack>true</Ack>"));
    }
    assert_eq!(stack.stream_messages("INBOUND").await?, 2);
    Ok(())
}
