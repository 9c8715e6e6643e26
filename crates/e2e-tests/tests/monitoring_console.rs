//! The web console in a real headless Chromium: sign in, find the dead letter
//! the sandbox produced (a deal without a shipping address), correct the deal,
//! requeue it, and see the order created; a record waiting for its first
//! outcome shows as `received`, and "alerting is off" is a banner.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them).
//! Set `CRMERP_SCREENSHOT_DIR` to keep screenshots (the README's `docs/console.png`).

use std::time::Duration;

use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::monitoring::{Monitoring, OPERATOR_TOKEN, VIEWER_TOKEN};
use crmerp_testkit::webdriver::Browser;
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

async fn save(browser: &Browser, name: &str) -> anyhow::Result<()> {
    let png = browser.screenshot().await?;
    anyhow::ensure!(png.starts_with(b"\x89PNG"), "not a PNG");
    if let Ok(dir) = std::env::var("CRMERP_SCREENSHOT_DIR") {
        std::fs::write(std::path::Path::new(&dir).join(name), png)?;
    }
    Ok(())
}

#[tokio::test]
async fn an_operator_corrects_and_requeues_a_dead_letter_in_the_console() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    let monitoring = Monitoring::start(&stack).await?;
    // One deal that goes through, one that is dead-lettered for its missing address.
    let ok = stack
        .hubspot
        .create_deal(&DealSpec::complete("Console OK"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&ok.deal_id, "closedwon")
        .await?;
    let deal = stack
        .hubspot
        .win_deal_without_address("Console Fix", json!({}))
        .await?;
    let api = monitoring.api(Some(OPERATOR_TOKEN))?;
    eventually("the dead letter in the log", WAIT, || async {
        let (_, body) = api.get("/api/v1/dead-letters?status=open").await.ok()?;
        (body["items"].as_array()?.len() == 1).then_some(())
    })
    .await?;

    let browser = Browser::start(stack.dir.path()).await?;
    let result = drive(&browser, &monitoring, &stack, &deal.deal_id).await;
    browser.close().await?;
    result
}

async fn drive(
    browser: &Browser,
    monitoring: &Monitoring,
    stack: &Stack,
    deal_id: &str,
) -> anyhow::Result<()> {
    browser.goto(&format!("{}/", monitoring.url(0)?)).await?;
    // A wrong token is refused.
    let token = browser.wait_for("#token", WAIT).await?;
    browser.type_text(&token, "wrong-token").await?;
    browser.click(&browser.find("#login-button").await?).await?;
    eventually("the sign-in error", WAIT, || async {
        let text = browser.text_of("#login-error").await.ok()?;
        text.contains("Sign-in failed").then_some(())
    })
    .await?;
    browser.clear(&token).await?;
    browser.type_text(&token, OPERATOR_TOKEN).await?;
    browser.click(&browser.find("#login-button").await?).await?;
    eventually("the health dashboard", WAIT, || async {
        let text = browser.text_of("#flow-cards").await.ok()?;
        text.contains("deal-to-order").then_some(())
    })
    .await?;
    assert!(browser.text_of("#who").await?.contains("dev-operator"));

    // The dead letter, its plain-words resolution and the deal to correct.
    browser
        .click(&browser.find("nav button[data-tab='dead-letters']").await?)
        .await?;
    browser
        .click_css(
            &format!("#dl-table tbody tr[data-record='{deal_id}']"),
            WAIT,
        )
        .await?;
    let deal_json = eventually("the deal JSON", WAIT, || async {
        let text = browser.text_of("#deal-json").await.ok()?;
        serde_json::from_str::<Value>(&text).ok()
    })
    .await?;
    assert!(
        browser
            .text_of("#dl-resolution")
            .await?
            .contains("no shipping address")
    );
    assert!(deal_json.get("shippingAddress").is_none());

    // Correct it by typing the deal with an address, then requeue.
    let mut corrected = deal_json.clone();
    corrected["shippingAddress"] = json!({"line1": "Hafenstrasse 1", "city": "Hamburg", "postalCode": "20457", "countryCode": "DE"});
    let textarea = browser.find("#deal-json").await?;
    browser.clear(&textarea).await?;
    browser
        .type_text(&textarea, &serde_json::to_string_pretty(&corrected)?)
        .await?;
    save(browser, "console-dead-letter.png").await?;
    browser.click(&browser.find("#requeue").await?).await?;
    eventually("the requeue confirmation", WAIT, || async {
        let text = browser.text_of("#message").await.ok()?;
        text.contains("Requeued as").then_some(())
    })
    .await?;

    // The order is created in the ERP, and the console shows the success with its number.
    let orders = eventually("the order", WAIT, || async {
        let orders = stack
            .netsuite
            .sales_orders_with_external_id(&format!("hubspot-deal-{deal_id}"))
            .await
            .ok()?;
        (!orders.is_empty()).then_some(orders)
    })
    .await?;
    let order_number = orders[0]["tranId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        orders[0]["shippingAddress"]["city"].as_str(),
        Some("Hamburg")
    );
    browser
        .click(&browser.find("nav button[data-tab='events']").await?)
        .await?;
    let search = browser
        .wait_for("#event-search input[name='crm_record_id']", WAIT)
        .await?;
    browser.type_text(&search, deal_id).await?;
    browser
        .click(&browser.find("#event-search button[type='submit']").await?)
        .await?;
    eventually("the success in the event log", WAIT, || async {
        let text = browser.text_of("#event-table tbody").await.ok()?;
        if text.contains(&order_number) && text.contains("success") {
            return Some(());
        }
        // The outcome may still be on its way: search again.
        let button = browser
            .find("#event-search button[type='submit']")
            .await
            .ok()?;
        browser.click(&button).await.ok()?;
        None
    })
    .await?;
    // Its timeline shows the audited requeue and the resolution.
    browser.click_css("#event-table tbody tr", WAIT).await?;
    eventually("the timeline", WAIT, || async {
        let text = browser.text_of("#timeline-items").await.ok()?;
        (text.contains("requeued") && text.contains("by dev-operator") && text.contains("resolved"))
            .then_some(())
    })
    .await?;
    save(browser, "console-events.png").await?;
    browser
        .click(&browser.find("nav button[data-tab='health']").await?)
        .await?;
    browser.wait_for("#chart-events svg", WAIT).await?;
    save(browser, "console.png").await?;
    browser
        .click(&browser.find("nav button[data-tab='sla']").await?)
        .await?;
    eventually("the SLA report", WAIT, || async {
        let text = browser.text_of("#sla-resolution tbody").await.ok()?;
        text.contains("deal-to-order").then_some(())
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_console_shows_a_waiting_record_as_received_and_alerting_off() -> anyhow::Result<()> {
    // No worker: the won deal is accepted and waits, as behind an open
    // breaker; no alert channel is configured, so alerting is off.
    let stack = Stack::start(StackOptions {
        with_worker: false,
        ..StackOptions::default()
    })
    .await?;
    let monitoring = Monitoring::start(&stack).await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Console waiting"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;
    let api = monitoring.api(Some(VIEWER_TOKEN))?;
    eventually("the received event in the log", WAIT, || async {
        let (_, body) = api
            .get(&format!("/api/v1/events?crm_record_id={}", deal.deal_id))
            .await
            .ok()?;
        (!body["items"].as_array()?.is_empty()).then_some(())
    })
    .await?;

    let browser = Browser::start(stack.dir.path()).await?;
    let result = drive_waiting(&browser, &monitoring, &deal.deal_id).await;
    browser.close().await?;
    result
}

async fn drive_waiting(
    browser: &Browser,
    monitoring: &Monitoring,
    deal_id: &str,
) -> anyhow::Result<()> {
    browser.goto(&format!("{}/", monitoring.url(0)?)).await?;
    let token = browser.wait_for("#token", WAIT).await?;
    // Before sign-in nothing is shown, the banner included.
    let hidden = browser
        .execute(
            "return document.querySelector('#alerting-banner').hidden;",
            json!([]),
        )
        .await?;
    assert_eq!(hidden, json!(true));
    browser.type_text(&token, VIEWER_TOKEN).await?;
    browser.click(&browser.find("#login-button").await?).await?;
    let banner = eventually("the alerting-off banner", WAIT, || async {
        let visible = browser
            .execute(
                "return !document.querySelector('#alerting-banner').hidden;",
                json!([]),
            )
            .await
            .ok()?;
        let text = browser.text_of("#alerting-banner").await.ok()?;
        (visible == json!(true) && !text.is_empty()).then_some(text)
    })
    .await?;
    assert!(banner.starts_with("Alerting is off"), "{banner}");
    assert!(banner.contains("no alert channel"), "{banner}");

    browser
        .click(&browser.find("nav button[data-tab='events']").await?)
        .await?;
    let search = browser
        .wait_for("#event-search input[name='crm_record_id']", WAIT)
        .await?;
    browser.type_text(&search, deal_id).await?;
    browser
        .click(&browser.find("#event-search button[type='submit']").await?)
        .await?;
    eventually("the received row", WAIT, || async {
        let text = browser.text_of("#event-table tbody").await.ok()?;
        (text.contains(deal_id) && text.contains("received")).then_some(())
    })
    .await?;
    browser.click_css("#event-table tbody tr", WAIT).await?;
    eventually("the received state in the timeline", WAIT, || async {
        let state = browser.text_of("#timeline-state").await.ok()?;
        let items = browser.text_of("#timeline-items").await.ok()?;
        (state.contains("received: waiting for its first outcome") && items.contains("received"))
            .then_some(())
    })
    .await?;
    save(browser, "console-received.png").await?;
    Ok(())
}
