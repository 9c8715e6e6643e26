//! Ingress as a hostile client and an operator would try it, over real
//! processes: slow clients are cut off and connections capped, a NATS outage
//! shows in readiness and in fast 503s, each source has a rate limit, HubSpot
//! signature versions are not guessed, content types are checked, a re-used
//! webhook id with another payload is a conflict, and notices of unknown types
//! are stored as unroutable instead of dropped. And a flow service stopped
//! with a message in flight hands it back so it is redelivered at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use crmerp_connector::standard_webhooks;
use crmerp_testkit::hubspot::{DEV_CLIENT_SECRET, deal_stage_webhook, sign_v1, sign_v3};
use crmerp_testkit::salesforce::{DEV_CALLOUT_SECRET, DEV_ORG_ID};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const PROBLEM_JSON: &str = "application/problem+json";

/// Ingress, the sandbox and NATS, no worker, with `env` for ingress.
async fn ingress_only(crm: &'static str, env: &[(&str, &str)]) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        crm,
        with_worker: false,
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..StackOptions::default()
    })
    .await
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// A v3-signed HubSpot delivery of `body` to `url`, with `content_type`.
fn hubspot_request(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    content_type: &str,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let now = Utc::now().timestamp_millis();
    Ok(http
        .post(url)
        .header("content-type", content_type)
        .header(
            "X-HubSpot-Signature-v3",
            sign_v3(DEV_CLIENT_SECRET, url, body, now)?,
        )
        .header("X-HubSpot-Request-Timestamp", now.to_string())
        .body(body.to_owned()))
}

/// A Standard Webhooks-signed Salesforce callout, signed now.
fn callout_request(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    body: &str,
    content_type: &str,
) -> anyhow::Result<reqwest::RequestBuilder> {
    let now = Utc::now().timestamp();
    let signature = standard_webhooks::sign(&DEV_CALLOUT_SECRET.into(), id, now, body.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(http
        .post(url)
        .header("content-type", content_type)
        .header("webhook-id", id)
        .header("webhook-timestamp", now.to_string())
        .header("webhook-signature", signature)
        .body(body.to_owned()))
}

fn callout(opportunity: &str) -> String {
    json!({ "organizationId": DEV_ORG_ID, "opportunityId": opportunity, "stageName": "Closed Won" })
        .to_string()
}

/// Sends `bytes` one a second (a slowloris), checking after each whether the
/// server answered or closed. Returns what it answered and after how long, or
/// `None` when it kept listening to every byte.
async fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
) -> anyhow::Result<Option<(String, Duration)>> {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            return Ok(Some((String::new(), started.elapsed())));
        }
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => {
                return Ok(Some((
                    String::from_utf8_lossy(&answer).into_owned(),
                    started.elapsed(),
                )));
            }
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                // Whatever else arrives within a moment completes the answer.
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await
                {
                    answer.extend_from_slice(&buf[..n]);
                }
                return Ok(Some((
                    String::from_utf8_lossy(&answer).into_owned(),
                    started.elapsed(),
                )));
            }
        }
    }
    Ok(None)
}

/// Reads until the server closes the connection (or `limit` passes).
async fn read_to_close(stream: &mut TcpStream, limit: Duration) -> anyhow::Result<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .context("the server kept the connection open")??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

async fn healthz_on_new_connection(addr: SocketAddr) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\nConnection: close\r\n\r\n")
        .await?;
    read_to_close(&mut stream, Duration::from_secs(5)).await
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_connections_are_capped() -> anyhow::Result<()> {
    let stack = ingress_only(
        "hubspot",
        &[
            ("CRMERP__INGRESS__HEADER_READ_TIMEOUT", "2s"),
            ("CRMERP__INGRESS__BODY_READ_TIMEOUT", "3s"),
            ("CRMERP__INGRESS__MAX_CONNECTIONS", "4"),
        ],
    )
    .await?;
    let addr = stack.ingress.listener("http")?;

    // Headers at a byte a second: 408 problem+json at the header timeout, then closed.
    let mut slow = TcpStream::connect(addr).await?;
    let headers = b"POST /webhooks/hubspot HTTP/1.1\r\nHost: ingress\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let (answer, after) = trickle(&mut slow, headers)
        .await?
        .context("a client trickling its headers was never cut off")?;
    assert!(after < Duration::from_secs(6), "cut off after {after:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains(PROBLEM_JSON), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    drop(slow);

    // Complete headers, then a body at a byte a second: 408 problem+json at the body timeout.
    let mut slow = TcpStream::connect(addr).await?;
    slow.write_all(
        b"POST /webhooks/hubspot HTTP/1.1\r\nHost: ingress\r\nContent-Type: application/json\r\nContent-Length: 64\r\n\r\n",
    )
    .await?;
    let (answer, after) = trickle(&mut slow, &[b' '; 64])
        .await?
        .context("a client trickling its body was never cut off")?;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(PROBLEM_JSON), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(after < Duration::from_secs(7), "answered after {after:?}");
    drop(slow);

    // A keep-alive connection left idle after its answer is closed too.
    let mut idle = TcpStream::connect(addr).await?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: ingress\r\n\r\n")
        .await?;
    let answer = read_to_close(&mut idle, Duration::from_secs(6)).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Silently: no request was in progress, so there is nothing to answer 408.
    assert!(!answer.contains("HTTP/1.1 408"), "{answer}");
    drop(idle);

    // Four silent connections fill the cap; the fifth is answered 503 and closed.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(addr).await?);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fifth = TcpStream::connect(addr).await?;
    let answer = read_to_close(&mut fifth, Duration::from_secs(1)).await?;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    // The silent ones are closed at the header timeout, which frees the slots.
    for stream in &mut silent {
        read_to_close(stream, Duration::from_secs(5)).await?;
    }
    let answer = eventually("a free connection slot", Duration::from_secs(5), || async {
        healthz_on_new_connection(addr)
            .await
            .ok()
            .filter(|a| a.starts_with("HTTP/1.1 200"))
    })
    .await?;
    assert!(answer.ends_with("ok"), "{answer}");
    Ok(())
}

#[tokio::test]
async fn a_nats_outage_shows_in_readiness_and_webhooks_get_503_at_once() -> anyhow::Result<()> {
    let mut stack = ingress_only("hubspot", &[]).await?;
    let base = stack.ingress_url()?;
    let readyz = format!("{base}/readyz");
    let url = format!("{base}/webhooks/hubspot");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    let ready: Value = http.get(&readyz).send().await?.json().await?;
    assert_eq!(ready["dependencies"]["nats"], "connected", "{ready}");

    stack.nats.kill().await?;
    let stopped = Instant::now();
    let problem = eventually("readyz to answer 503", Duration::from_secs(5), || async {
        let response = http.get(&readyz).send().await.ok()?;
        (response.status().as_u16() == 503 && content_type(&response) == PROBLEM_JSON)
            .then_some(response)
    })
    .await?
    .json::<Value>()
    .await?;
    assert!(
        stopped.elapsed() < Duration::from_secs(3),
        "{:?}",
        stopped.elapsed()
    );
    assert_ne!(problem["dependencies"]["nats"], "connected", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("NATS"),
        "{problem}"
    );

    let body = deal_stage_webhook(1, "501", "closedwon", Utc::now().timestamp_millis());
    let sent = Instant::now();
    let response = hubspot_request(&http, &url, &body, "application/json")?
        .send()
        .await?;
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "answered after {:?}",
        sent.elapsed()
    );
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(content_type(&response), PROBLEM_JSON);
    assert!(response.headers().contains_key("retry-after"));
    let problem: Value = response.json().await?;
    assert_eq!(problem["code"], "event_store_unavailable", "{problem}");

    stack.nats.restart().await?;
    eventually(
        "readyz to answer 200 again",
        Duration::from_secs(30),
        || async {
            let response = http.get(&readyz).send().await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await?;
    let response = hubspot_request(&http, &url, &body, "application/json")?
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await?["accepted"], 1);
    Ok(())
}

#[tokio::test]
async fn a_source_over_its_rate_limit_gets_429_and_every_accepted_event_is_stored()
-> anyhow::Result<()> {
    let stack = ingress_only(
        "salesforce",
        &[(
            "CRMERP__INGRESS__RATE_LIMITS",
            r#"{"salesforce": {"per_second": 1, "burst": 3}}"#,
        )],
    )
    .await?;
    let base = stack.ingress_url()?;
    let url = format!("{base}/webhooks/salesforce");
    let http = reqwest::Client::new();
    const EVENTS: usize = 8;
    let send = |n: usize| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = callout(&format!("0065g00000000R{n}AAA"));
            callout_request(
                &http,
                &url,
                &format!("msg_rate_{n}"),
                &body,
                "application/json",
            )?
            .send()
            .await
            .map_err(anyhow::Error::from)
        }
    };
    let first = futures::future::join_all((0..EVENTS).map(send)).await;
    let mut pending = Vec::new();
    for (n, response) in first.into_iter().enumerate() {
        let response = response?;
        match response.status().as_u16() {
            200 => {}
            429 => {
                assert_eq!(content_type(&response), PROBLEM_JSON);
                let retry_after: u64 = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .context("429 without a Retry-After in seconds")?;
                assert!((1..=2).contains(&retry_after), "{retry_after}");
                let problem: Value = response.json().await?;
                assert_eq!(problem["code"], "rate_limited", "{problem}");
                pending.push(n);
            }
            other => anyhow::bail!("event {n}: status {other}"),
        }
    }
    assert!(
        pending.len() >= EVENTS - 4,
        "a burst of 3 at 1/s lets at most 4 of {EVENTS} through at once; refused {pending:?}"
    );
    // Readiness is not the sources' budget.
    assert!(
        http.get(format!("{base}/readyz"))
            .send()
            .await?
            .status()
            .is_success()
    );

    // Re-sent as a vendor does after Retry-After, each is accepted in the end.
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(n) = pending.first().copied() {
        anyhow::ensure!(Instant::now() < deadline, "still refused: {pending:?}");
        let response = send(n).await?;
        if response.status().as_u16() == 429 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        assert_eq!(response.status().as_u16(), 200);
        pending.remove(0);
    }
    assert_eq!(stack.stream_messages("INBOUND").await?, EVENTS as u64);
    Ok(())
}

#[tokio::test]
async fn hubspot_signature_versions_are_never_guessed_and_content_types_are_checked()
-> anyhow::Result<()> {
    let stack = ingress_only("hubspot", &[]).await?;
    let url = format!("{}/webhooks/hubspot", stack.ingress_url()?);
    let http = reqwest::Client::new();
    let body = deal_stage_webhook(7, "701", "closedwon", Utc::now().timestamp_millis());
    let v1 = sign_v1(DEV_CLIENT_SECRET, &body);
    let v1_request = |version: Option<&str>| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .header("X-HubSpot-Signature", v1.clone())
            .body(body.clone());
        match version {
            Some(version) => request.header("X-HubSpot-Signature-Version", version),
            None => request,
        }
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "a valid v1 signature under an unknown version",
            v1_request(Some("v9")),
            401,
            "unsupported_signature_version",
        ),
        (
            "a valid v1 signature without a version",
            v1_request(None),
            401,
            "unsupported_signature_version",
        ),
        (
            "signed, sent as text",
            hubspot_request(&http, &url, &body, "text/plain")?,
            415,
            "unsupported_media_type",
        ),
        (
            "signed, sent as a form",
            hubspot_request(&http, &url, &body, "application/x-www-form-urlencoded")?,
            415,
            "unsupported_media_type",
        ),
        (
            "unsigned, sent as text: authentication comes first",
            http.post(&url)
                .header("content-type", "text/plain")
                .body(body.clone()),
            401,
            "missing_signature",
        ),
    ];
    crmerp_testkit::problems::expect_problems(cases).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        0,
        "nothing published"
    );
    // v1 named as such is still accepted (HubSpot's legacy apps), as is v3 with a charset.
    let response = v1_request(Some("v1")).send().await?;
    assert_eq!(response.status().as_u16(), 200);
    let response = hubspot_request(&http, &url, &body, "application/json; charset=utf-8")?
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await?["duplicates"], 1);
    Ok(())
}

#[tokio::test]
async fn a_webhook_id_reused_with_another_payload_is_a_conflict_and_the_original_is_kept()
-> anyhow::Result<()> {
    let stack = ingress_only("salesforce", &[]).await?;
    let url = format!("{}/webhooks/salesforce", stack.ingress_url()?);
    let http = reqwest::Client::new();
    let original = callout("0065g0000000C01AAA");
    let other = callout("0065g0000000C02AAA");

    for expected in [
        json!({"accepted": 1, "duplicates": 0, "ignored": 0}),
        json!({"accepted": 0, "duplicates": 1, "ignored": 0}),
    ] {
        let response = callout_request(&http, &url, "msg_reused", &original, "application/json")?
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.json::<Value>().await?, expected);
    }
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "the same id with another opportunity",
            callout_request(&http, &url, "msg_reused", &other, "application/json")?,
            409,
            "webhook_id_conflict",
        ),
        (
            "and again",
            callout_request(&http, &url, "msg_reused", &other, "application/json")?,
            409,
            "webhook_id_conflict",
        ),
        (
            "a new id sent as XML",
            callout_request(&http, &url, "msg_xml", &other, "text/xml")?,
            415,
            "unsupported_media_type",
        ),
    ];
    crmerp_testkit::problems::expect_problems(cases).await?;
    assert_eq!(
        stack.stream_messages("INBOUND").await?,
        1,
        "the original only"
    );
    // The original still answers as a re-send.
    let response = callout_request(&http, &url, "msg_reused", &original, "application/json")?
        .send()
        .await?;
    assert_eq!(response.json::<Value>().await?["duplicates"], 1);

    let log = stack.ingress.log_path().to_owned();
    let warnings = eventually("the conflict warning", Duration::from_secs(5), || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).ok()?;
            let count = text.matches("re-used with a different payload").count();
            (count > 0).then_some(count)
        }
    })
    .await?;
    assert_eq!(warnings, 1, "warned once for two conflicting requests");
    Ok(())
}

#[tokio::test]
async fn notices_of_unknown_types_are_stored_as_unroutable_not_dropped() -> anyhow::Result<()> {
    let stack = ingress_only("hubspot", &[]).await?;
    let url = format!("{}/webhooks/hubspot", stack.ingress_url()?);
    let http = reqwest::Client::new();
    let now = Utc::now().timestamp_millis();
    let notice = |event_id: u64, kind: &str| {
        json!({
            "eventId": event_id, "subscriptionId": 77, "portalId": 62515, "appId": 1160452,
            "occurredAt": now, "subscriptionType": kind, "attemptNumber": 0,
            "objectId": 9001, "changeSource": "CRM_UI",
        })
    };
    let mut batch: Value = serde_json::from_str(&deal_stage_webhook(11, "801", "closedwon", now))?;
    let events = batch.as_array_mut().context("a batch is an array")?;
    events.push(notice(12, "contact.creation"));
    events.push(notice(13, "contact.creation"));
    let body = batch.to_string();

    let response = hubspot_request(&http, &url, &body, "application/json")?
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let answer: Value = response.json().await?;
    assert_eq!(answer["accepted"], 1, "{answer}");
    assert_eq!(answer["unroutable"], 2, "{answer}");
    // Re-sent (a HubSpot retry): nothing stored twice.
    let response = hubspot_request(&http, &url, &body, "application/json")?
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    let other = json!([notice(14, "company.creation")]).to_string();
    let response = hubspot_request(&http, &url, &other, "application/json")?
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(stack.stream_messages("UNROUTABLE").await?, 3);
    assert_eq!(stack.stream_messages("INBOUND").await?, 1);

    let js = stack.jetstream().await?;
    let stream = js.get_stream("UNROUTABLE").await?;
    let first = stream.get_raw_message(1).await?;
    assert_eq!(first.subject.as_str(), "crmerp.unroutable.hubspot");
    let message: Value = serde_json::from_slice(&first.payload)?;
    assert_eq!(message["source"], "hubspot", "{message}");
    assert_eq!(message["type"], "contact.creation", "{message}");
    assert_eq!(message["notice"]["eventId"], 12, "{message}");
    assert_eq!(message["notice"]["changeSource"], "CRM_UI", "{message}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(message["received_at"].as_str().unwrap_or_default())
            .is_ok(),
        "{message}"
    );

    let log = stack.ingress.log_path().to_owned();
    let warned = eventually("one warning per type", Duration::from_secs(5), || {
        let log = log.clone();
        async move {
            let text = std::fs::read_to_string(&log).ok()?;
            let lines: Vec<_> = text
                .lines()
                .filter(|l| l.contains("a type no flow takes"))
                .map(str::to_owned)
                .collect();
            (lines.len() >= 2).then_some(lines)
        }
    })
    .await?;
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned.iter().any(|l| l.contains("contact.creation")));
    assert!(warned.iter().any(|l| l.contains("company.creation")));
    Ok(())
}

#[tokio::test]
async fn a_pipedrive_notice_of_another_entity_is_stored_as_unroutable() -> anyhow::Result<()> {
    use crmerp_testkit::pipedrive::{DEV_WEBHOOK_PASSWORD, DEV_WEBHOOK_USER};
    let stack = ingress_only("pipedrive", &[]).await?;
    let url = format!("{}/webhooks/pipedrive", stack.ingress_url()?);
    let body = json!({
        "data": {"id": 31, "name": "Ada Buyer"},
        "previous": null,
        "meta": {"action": "create", "entity": "person", "entity_id": "31", "id": "e-person-31",
                 "company_id": "7734", "timestamp": "2026-11-20T10:00:01.000Z", "version": "2.0"}
    })
    .to_string();
    for _ in 0..2 {
        let response = reqwest::Client::new()
            .post(&url)
            .basic_auth(DEV_WEBHOOK_USER, Some(DEV_WEBHOOK_PASSWORD))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200);
        let answer: Value = response.json().await?;
        assert_eq!(answer["unroutable"], 1, "{answer}");
    }
    assert_eq!(stack.stream_messages("UNROUTABLE").await?, 1, "stored once");
    let stored = stack
        .jetstream()
        .await?
        .get_stream("UNROUTABLE")
        .await?
        .get_raw_message(1)
        .await?;
    assert_eq!(stored.subject.as_str(), "crmerp.unroutable.pipedrive");
    let message: Value = serde_json::from_slice(&stored.payload)?;
    assert_eq!(message["type"], "person.create", "{message}");
    assert_eq!(message["notice"]["data"]["name"], "Ada Buyer", "{message}");
    Ok(())
}

#[tokio::test]
async fn a_message_handed_back_at_shutdown_is_redelivered_at_once_after_a_restart()
-> anyhow::Result<()> {
    // An ack wait far longer than the test: a redelivery that waits for it fails.
    let mut stack = Stack::start(StackOptions {
        ack_wait: "180s",
        env: vec![("CRMERP__FLOW__SHUTDOWN_GRACE".to_owned(), "1s".to_owned())],
        ..StackOptions::default()
    })
    .await?;
    // Each NetSuite call takes 2 s (under the 2.5 s request timeout), so the
    // shutdown grace of 1 s ends with the deal in flight and it is NAKed.
    stack
        .inject_fault(
            "netsuite",
            json!({"status": 200, "rate": 1.0, "latency_ms": 2000}),
        )
        .await?;
    let deal = stack
        .hubspot
        .create_deal(&crmerp_testkit::hubspot::DealSpec::complete("Handed back"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;
    let js = stack.jetstream().await?;
    eventually("the deal in flight", Duration::from_secs(30), || async {
        let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
            .get_stream("INBOUND")
            .await
            .ok()?
            .get_consumer("deal-to-order")
            .await
            .ok()?;
        let info = consumer.info().await.ok()?;
        (info.num_ack_pending >= 1).then_some(())
    })
    .await?;
    let worker = stack.worker.as_mut().context("the stack has a worker")?;
    let status = worker.terminate(Duration::from_secs(15)).await?;
    assert!(status.success(), "worker exit: {status}");
    stack.clear_fault("netsuite").await?;
    let restarted = Instant::now();
    stack.start_worker().await?;
    // Redelivered after the NAK, it waits at most for the dead holder's claim
    // (4 x the ERP timeout = 10 s), never for the 180 s ack wait.
    eventually(
        "the order number on the deal",
        Duration::from_secs(45),
        || async {
            stack
                .crm
                .erp_order_number(&deal.deal_id)
                .await
                .ok()
                .flatten()
        },
    )
    .await?;
    assert!(
        restarted.elapsed() < Duration::from_secs(45),
        "{:?}",
        restarted.elapsed()
    );
    Ok(())
}
