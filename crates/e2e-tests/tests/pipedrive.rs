//! Pipedrive end to end: a deal marked won is delivered by a webhooks v2 call
//! with Basic auth, becomes one ERP order, and gets its number written back;
//! ingress rejects wrong credentials and malformed bodies and publishes nothing.

use std::time::Duration;

use crmerp_testkit::pipedrive::{DEV_WEBHOOK_PASSWORD, DEV_WEBHOOK_USER};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn options(with_worker: bool) -> StackOptions {
    StackOptions {
        crm: "pipedrive",
        erp: "netsuite",
        with_worker,
        ..StackOptions::default()
    }
}

fn won_webhook(deal_id: u64, won_time: &str) -> String {
    json!({
        "data": {"id": deal_id, "title": "Acme", "status": "won", "won_time": won_time, "custom_fields": {}},
        "previous": {"status": "open"},
        "meta": {"action": "change", "entity": "deal", "entity_id": deal_id.to_string(), "id": "e-1", "company_id": "7734",
                 "timestamp": "2026-11-20T10:00:01.000Z", "version": "2.0", "webhook_id": "55", "attempt": 1}
    })
    .to_string()
}

#[tokio::test]
async fn won_deal_becomes_one_order_with_the_number_written_back() -> anyhow::Result<()> {
    let stack = Stack::start(options(true)).await?;
    let (deal, number) = stack.win_new_deal("Pipedrive Happy", WAIT).await?;
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
    // The write-back is itself a deal change Pipedrive announces; it must not
    // start a second run. Wait until ingress has answered that announcement
    // (the win and the write-back: two delivered changes), then count.
    let sandbox = format!("http://{}", stack.sandbox.listener("pipedrive")?);
    eventually("the write-back announced to ingress", WAIT, || async {
        let log: Value = reqwest::get(format!("{sandbox}/__sandbox/webhooks/deliveries"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let changes = log["deliveries"]
            .as_array()?
            .iter()
            .filter(|d| {
                d["entity_id"].as_str() == Some(deal.deal_id.as_str())
                    && d["action"] == "change"
                    && d["delivered"] == true
            })
            .count();
        (changes >= 2).then_some(())
    })
    .await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        1,
        "only the win was published"
    );
    Ok(())
}

#[tokio::test]
async fn wrong_credentials_and_malformed_bodies_publish_nothing() -> anyhow::Result<()> {
    let stack = Stack::start(options(false)).await?;
    let url = format!("{}/webhooks/pipedrive", stack.ingress_url()?);
    let http = reqwest::Client::new();
    let body = won_webhook(42, "2026-11-20T10:00:00Z");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "no credentials",
            http.post(&url).body(body.clone()),
            401,
            "invalid_credentials",
        ),
        (
            "wrong password",
            http.post(&url)
                .basic_auth(DEV_WEBHOOK_USER, Some("nope"))
                .body(body.clone()),
            401,
            "invalid_credentials",
        ),
        (
            "wrong user",
            http.post(&url)
                .basic_auth("someone", Some(DEV_WEBHOOK_PASSWORD))
                .body(body.clone()),
            401,
            "invalid_credentials",
        ),
        (
            "malformed body",
            http.post(&url)
                .basic_auth(DEV_WEBHOOK_USER, Some(DEV_WEBHOOK_PASSWORD))
                .body("{not json"),
            400,
            "malformed_body",
        ),
        (
            "a v1 webhook",
            http.post(&url)
                .basic_auth(DEV_WEBHOOK_USER, Some(DEV_WEBHOOK_PASSWORD))
                .body(body.replace("\"2.0\"", "\"1.0\"")),
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
            .basic_auth(DEV_WEBHOOK_USER, Some(DEV_WEBHOOK_PASSWORD))
            .body(body.clone())
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.json::<Value>().await?, expected);
    }
    assert_eq!(stack.stream_messages("INBOUND").await?, 1);
    Ok(())
}

#[tokio::test]
async fn a_rotated_refresh_token_survives_a_restart() -> anyhow::Result<()> {
    // Pipedrive may hand out a new refresh token on every refresh and revoke
    // the one used: after one refresh the configured token is dead.
    let mut stack = Stack::start(options(false)).await?;
    let sandbox = format!("http://{}", stack.sandbox.listener("pipedrive")?);
    let http = reqwest::Client::new();
    let rotation = http
        .put(format!("{sandbox}/__sandbox/oauth"))
        .json(&json!({"rotate_refresh_tokens": true}))
        .send()
        .await?;
    assert!(rotation.status().is_success(), "{}", rotation.status());
    for (key, value) in [
        ("CRMERP__CRM__PIPEDRIVE__API_TOKEN", ""),
        (
            "CRMERP__CRM__PIPEDRIVE__OAUTH__TOKEN_URL",
            &format!("{sandbox}/oauth/token"),
        ),
        (
            "CRMERP__CRM__PIPEDRIVE__OAUTH__CLIENT_ID",
            "dev-pipedrive-client-id",
        ),
        (
            "CRMERP__CRM__PIPEDRIVE__OAUTH__CLIENT_SECRET",
            "dev-pipedrive-client-secret",
        ),
        (
            "CRMERP__CRM__PIPEDRIVE__OAUTH__REFRESH_TOKEN",
            "dev-pipedrive-refresh-token",
        ),
    ] {
        stack.add_env(key, value);
    }
    stack.start_worker().await?;
    stack.win_new_deal("Before the restart", WAIT).await?;

    // The rotated token is stored where every replica and a restart find it.
    let state: Value = http
        .get(format!("{sandbox}/__sandbox/oauth"))
        .send()
        .await?
        .json()
        .await?;
    let current = state["refresh_token"].as_str().unwrap_or_default();
    assert_ne!(current, "dev-pipedrive-refresh-token", "rotated: {state}");
    let js = stack.jetstream().await?;
    let store = js.get_key_value("CONNECTOR_CREDENTIALS").await?;
    let stored = store
        .get("pipedrive=2Erefresh_token=2Edev-pipedrive-client-id")
        .await?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    assert_eq!(stored.as_deref(), Some(current));

    // A restarted worker, configured with the now revoked token, still works.
    if let Some(worker) = stack.worker.as_mut() {
        worker.kill().await?;
    }
    stack.start_worker().await?;
    let (deal, number) = stack.win_new_deal("After the restart", WAIT).await?;
    let orders = stack
        .erp
        .orders_for(&stack.crm.external_ref(&deal.deal_id))
        .await?;
    assert_eq!(orders.len(), 1, "one order for {number}");
    Ok(())
}
