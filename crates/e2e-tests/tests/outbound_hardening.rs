//! Outbound calls are SSRF-safe and bounded, over the real processes:
//! deal-to-order refuses a vendor URL on a non-public address (a literal at
//! start-up, a name when it resolves), never follows a vendor's redirect, cuts
//! off an oversized or malformed answer with a clear error, and a create whose
//! answer comes after the client's timeout is found again, not repeated.
//!
//! No test here sends a packet to a non-loopback address: the refusals happen
//! before any connection is made.

use std::time::Duration;

use crmerp_proto::{DeadLetter, event_envelope::Data};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);
const ORDERS_PATH: &str = "/services/rest/record/v1/salesOrder";

fn no_worker() -> StackOptions {
    StackOptions {
        with_worker: false,
        ..StackOptions::default()
    }
}

/// Creates and wins one HubSpot deal; returns its id.
async fn win_one(stack: &Stack, name: &str) -> anyhow::Result<String> {
    let deal_id = stack
        .hubspot
        .create_deals_for_one_company(name, 1)
        .await?
        .remove(0);
    stack.crm.win(&deal_id).await?;
    Ok(deal_id)
}

/// Waits for the dead letter of `deal_id`.
async fn dead_letter_of(stack: &Stack, deal_id: &str) -> anyhow::Result<DeadLetter> {
    eventually("the deal's dead letter", WAIT, || async {
        stack.dead_letters().await.ok()?.into_iter().find(|dl| {
            dl.original
                .as_ref()
                .is_some_and(|o| format!("{o:?}").contains(deal_id))
        })
    })
    .await
}

/// Every API request the NetSuite simulator has received so far.
async fn netsuite_requests(stack: &Stack) -> anyhow::Result<u64> {
    Ok(stack
        .vendor_requests("netsuite", "GET", "/services")
        .await?
        + stack
            .vendor_requests("netsuite", "POST", "/services")
            .await?)
}

fn text_of(dead_letter: &DeadLetter) -> String {
    format!("{} | {}", dead_letter.reason, dead_letter.error_detail)
}

#[tokio::test]
async fn a_literal_non_public_vendor_address_stops_start_up_naming_the_setting()
-> anyhow::Result<()> {
    let mut stack = Stack::start(no_worker()).await?;
    for (url, class) in [
        // The cloud metadata service: never reachable, whatever the settings.
        ("http://169.254.169.254/", "link-local"),
        ("http://10.20.30.40:8443", "private"),
        ("http://[::ffff:172.16.0.9]", "private"),
    ] {
        let started = stack
            .start_worker_with(&[("CRMERP__ERP__NETSUITE__BASE_URL".into(), url.into())])
            .await;
        anyhow::ensure!(started.is_err(), "deal-to-order started with {url}");
        let log = std::fs::read_to_string(stack.dir.path().join("deal-to-order.log"))?;
        let line = log
            .lines()
            .rev()
            .find(|line| line.contains("outbound address refused"))
            .ok_or_else(|| anyhow::anyhow!("no refusal in the log for {url}:\n{log}"))?;
        anyhow::ensure!(
            line.contains("erp.netsuite.base_url") && line.contains(class),
            "{url}: {line}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_vendor_name_resolving_to_a_refused_address_is_never_connected() -> anyhow::Result<()> {
    let mut stack = Stack::start(no_worker()).await?;
    // localhost resolves to loopback, which this ERP section no longer allows;
    // names are checked when the client connects, not at start-up.
    let port = stack.sandbox.listener("netsuite")?.port();
    stack
        .start_worker_with(&[
            (
                "CRMERP__ERP__NETSUITE__BASE_URL".into(),
                format!("http://localhost:{port}"),
            ),
            (
                "CRMERP__ERP__NETSUITE__NETWORK__ALLOW_LOOPBACK".into(),
                "false".into(),
            ),
        ])
        .await?;
    // The harness itself seeded NetSuite's items; count from here on.
    let before = netsuite_requests(&stack).await?;
    let deal_id = win_one(&stack, "Refused host").await?;
    let dead_letter = dead_letter_of(&stack, &deal_id).await?;
    let text = text_of(&dead_letter);
    anyhow::ensure!(
        text.contains("outbound address refused")
            && text.contains("localhost")
            && text.contains("loopback")
            && text.contains("allow_loopback"),
        "{text}"
    );
    // A refusal is final: one attempt, not the retry schedule.
    anyhow::ensure!(
        dead_letter.attempts.len() == 1,
        "{:?}",
        dead_letter.attempts
    );
    let reached = netsuite_requests(&stack).await? - before;
    anyhow::ensure!(reached == 0, "NetSuite received {reached} requests");
    Ok(())
}

#[tokio::test]
async fn a_vendor_redirect_is_not_followed() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    // The create is redirected to another origin (the HubSpot simulator), as
    // a hijacked or misrouted host might; following it would replay the
    // signed request, Authorization included, to that host.
    let elsewhere = format!("http://{}{ORDERS_PATH}", stack.sandbox.listener("hubspot")?);
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 307, "body": "redirect", "location": elsewhere,
                   "method": "POST", "path_prefix": ORDERS_PATH}),
        )
        .await?;
    let deal_id = win_one(&stack, "Redirected").await?;
    let dead_letter = dead_letter_of(&stack, &deal_id).await?;
    anyhow::ensure!(
        dead_letter.error_category == "protocol" && text_of(&dead_letter).contains("redirect"),
        "{dead_letter:?}"
    );
    // A 307 keeps the method: a followed redirect would arrive as this POST.
    let followed = stack
        .vendor_requests("hubspot", "POST", ORDERS_PATH)
        .await?;
    anyhow::ensure!(followed == 0, "the redirect was followed {followed} times");
    anyhow::ensure!(
        stack
            .erp
            .orders_for(&stack.crm.external_ref(&deal_id))
            .await?
            .is_empty(),
        "an order exists"
    );
    Ok(())
}

#[tokio::test]
async fn an_oversized_or_malformed_answer_is_cut_off_with_a_clear_error() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    // The look-ups before the create answer 200 with a 4 MiB body: the client
    // reads 1 MiB and stops.
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 200, "body": "oversized", "method": "GET",
                   "path_prefix": "/services/rest/record/v1/"}),
        )
        .await?;
    let deal_id = win_one(&stack, "Oversized").await?;
    let dead_letter = dead_letter_of(&stack, &deal_id).await?;
    let text = text_of(&dead_letter);
    anyhow::ensure!(
        dead_letter.error_category == "protocol"
            && text.contains("response body larger than 1048576 bytes"),
        "{text}"
    );

    stack
        .inject_fault(
            "netsuite",
            json!({"status": 200, "body": "malformed", "method": "GET",
                   "path_prefix": "/services/rest/record/v1/"}),
        )
        .await?;
    let deal_id = win_one(&stack, "Malformed").await?;
    let dead_letter = dead_letter_of(&stack, &deal_id).await?;
    let text = text_of(&dead_letter);
    anyhow::ensure!(
        dead_letter.error_category == "protocol" && text.contains("unparsable response body"),
        "{text}"
    );
    // Neither fault let a create through.
    let creates = stack
        .vendor_requests("netsuite", "POST", ORDERS_PATH)
        .await?;
    anyhow::ensure!(creates == 0, "{creates} creates were sent");
    Ok(())
}

#[tokio::test]
async fn a_create_answered_after_the_timeout_is_found_again_not_repeated() -> anyhow::Result<()> {
    let stack = Stack::start(StackOptions::default()).await?;
    // NetSuite applies the create but answers after the client's 2.5 s
    // request timeout; the look-up before it (GET by external id) is untouched.
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 200, "method": "POST", "path_prefix": ORDERS_PATH,
                   "respond_after_ms": 4000, "count": 1}),
        )
        .await?;
    let deal_id = win_one(&stack, "Late answer").await?;
    eventually("the order number on the deal", WAIT, || async {
        stack.crm.erp_order_number(&deal_id).await.ok().flatten()
    })
    .await?;
    let fault: serde_json::Value = reqwest::get(format!(
        "http://{}/__sandbox/faults",
        stack.sandbox.listener("netsuite")?
    ))
    .await?
    .json()
    .await?;
    anyhow::ensure!(
        fault["injected"] == 1,
        "the late answer never fired: {fault}"
    );
    // The first attempt really timed out on the create.
    let timed_out = stack
        .stream_envelopes("OUTCOMES")
        .await?
        .into_iter()
        .filter_map(|e| match e.data {
            Some(Data::Outcome(o)) => Some(o),
            _ => None,
        })
        .any(|o| {
            o.crm_record.as_ref().is_some_and(|r| r.id == deal_id)
                && o.error_category == "timeout"
                && o.endpoint.contains(ORDERS_PATH)
        });
    anyhow::ensure!(timed_out, "no attempt timed out on the create");
    // One order for the deal, and NetSuite answered exactly one create.
    stack.assert_one_order_per_deal(&[deal_id]).await
}
