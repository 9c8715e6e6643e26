//! The monitoring ops API as a hostile client and an operator in an outage see
//! it, over real processes (nats-server, Postgres, the sandbox, ingress,
//! deal-to-order and monitoring): every parameter is checked at the edge,
//! every error is problem+json, dependency outages answer 503 quickly and show
//! in `/readyz`, and viewers do not see customers' personal data.

use std::time::{Duration, Instant};

use crmerp_testkit::monitoring::{Monitoring, OPERATOR_TOKEN, VIEWER_TOKEN};
use crmerp_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// A raw answer: status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// Asserts a problem+json answer with `status` whose detail names `parameter`.
fn assert_problem(what: &str, answer: &Answer, status: u16, parameter: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(
        answer.content_type, "application/problem+json",
        "{what}: {}",
        answer.body
    );
    assert_eq!(answer.body["status"], status, "{what}: {}", answer.body);
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(parameter),
        "{what}: the detail should name {parameter}: {}",
        answer.body
    );
}

async fn monitoring_stack(with_worker: bool) -> anyhow::Result<Stack> {
    Stack::start(StackOptions {
        with_worker,
        with_monitoring: true,
        ..StackOptions::default()
    })
    .await
}

fn monitoring(stack: &Stack) -> anyhow::Result<&Monitoring> {
    stack
        .monitoring
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("monitoring not started"))
}

#[tokio::test]
async fn hostile_parameters_answer_400_problems_naming_the_parameter() -> anyhow::Result<()> {
    let stack = monitoring_stack(false).await?;
    let base = monitoring(&stack)?.url(0)?;
    let http = reqwest::Client::new();
    // A cursor in the API's own encoding (base64url of `micros:id`) whose
    // time Postgres cannot hold: `-8000000000000000000:1`, about 253,000 BC.
    let far_cursor = "LTgwMDAwMDAwMDAwMDAwMDAwMDA6MQ";
    let long = "x".repeat(300);
    let cases: Vec<(String, &str)> = vec![
        (format!("/api/v1/events?cursor={far_cursor}"), "cursor"),
        ("/api/v1/events?crm_record_id=a%00b".into(), "crm_record_id"),
        (
            "/api/v1/events?erp_order_number=%00".into(),
            "erp_order_number",
        ),
        ("/api/v1/events?effect_id=%00".into(), "effect_id"),
        ("/api/v1/events?flow=a%00".into(), "flow"),
        ("/api/v1/events?outcome=%00".into(), "outcome"),
        ("/api/v1/events?event_type=%00".into(), "event_type"),
        (
            format!("/api/v1/events?crm_record_id={long}"),
            "crm_record_id",
        ),
        (
            "/api/v1/events?from=0000-01-01T00:00:00%2B01:00".into(),
            "from",
        ),
        ("/api/v1/events?limit=0".into(), "limit"),
        ("/api/v1/timeline?crm_record_id=%00".into(), "crm_record_id"),
        (
            "/api/v1/timeline?erp_order_number=%00".into(),
            "erp_order_number",
        ),
        ("/api/v1/dead-letters?flow=%00".into(), "flow"),
        ("/api/v1/dead-letters?category=%00".into(), "category"),
        (format!("/api/v1/dead-letters?category={long}"), "category"),
        ("/api/v1/dead-letters/a%00b".into(), "id"),
        (format!("/api/v1/dead-letters/{long}"), "id"),
        ("/api/v1/reports/sla?week=262143-W52".into(), "week"),
        ("/api/v1/reports/sla?week=-262143-W01".into(), "week"),
        ("/api/v1/reports/sla?week=0000-W01".into(), "week"),
        ("/api/v1/health?hours=100000000000".into(), "hours"),
    ];
    for (path, parameter) in &cases {
        let answer = send(http.get(format!("{base}{path}")).bearer_auth(VIEWER_TOKEN))
            .await
            .map_err(|e| anyhow::anyhow!("GET {path}: no answer ({e})"))?;
        assert_problem(&format!("GET {path}"), &answer, 400, parameter);
        assert_eq!(answer.body["code"], "bad_request", "{path}");
    }
    // Bodies too: a NUL in the discard reason or in a patch never reaches Postgres.
    let cases = [
        (
            "/api/v1/dead-letters/x/discard",
            json!({"reason": "a\u{0}b"}),
            "reason",
        ),
        (
            "/api/v1/dead-letters/x/discard",
            json!({"reason": "r".repeat(3000)}),
            "reason",
        ),
        (
            "/api/v1/dead-letters/x/requeue",
            json!({"patch": [{"op": "add", "path": "/name", "value": "a\u{0}"}]}),
            "patch",
        ),
    ];
    for (path, body, parameter) in cases {
        let answer = send(
            http.post(format!("{base}{path}"))
                .bearer_auth(OPERATOR_TOKEN)
                .json(&body),
        )
        .await?;
        assert_problem(&format!("POST {path}"), &answer, 400, parameter);
    }
    // The service is still there and answers normally.
    let answer = send(
        http.get(format!("{base}/api/v1/events"))
            .bearer_auth(VIEWER_TOKEN),
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Ok(())
}

#[tokio::test]
async fn framework_rejections_and_empty_or_unknown_parameters_are_problems() -> anyhow::Result<()> {
    let stack = monitoring_stack(false).await?;
    let base = monitoring(&stack)?.url(0)?;
    let http = reqwest::Client::new();
    let cases: &[(&str, &str)] = &[
        // Repeated and unknown parameters, named.
        ("/api/v1/events?limit=1&limit=2", "limit"),
        ("/api/v1/events?crm_record_id=1&nope=1", "nope"),
        ("/api/v1/dead-letters?stauts=open", "stauts"),
        ("/api/v1/reports/sla?weak=2026-W01", "weak"),
        ("/api/v1/health?hour=1", "hour"),
        ("/api/v1/timeline?crm_record_id=1&id=2", "id"),
        // Empty values are not "no filter".
        ("/api/v1/events?limit=", "limit"),
        ("/api/v1/events?from=", "from"),
        ("/api/v1/events?to=", "to"),
        ("/api/v1/events?flow=", "flow"),
        ("/api/v1/events?cursor=", "cursor"),
        ("/api/v1/dead-letters?min_age_minutes=", "min_age_minutes"),
        ("/api/v1/dead-letters?max_age_minutes=", "max_age_minutes"),
        ("/api/v1/dead-letters?status=", "status"),
        ("/api/v1/dead-letters?limit=", "limit"),
        ("/api/v1/health?hours=", "hours"),
        ("/api/v1/health/series?hours=", "hours"),
        ("/api/v1/reports/sla?week=", "week"),
        ("/api/v1/reports/sla?format=", "format"),
        // A path that is not UTF-8 once decoded.
        ("/api/v1/dead-letters/%FF", "UTF-8"),
    ];
    for (path, parameter) in cases {
        let answer = send(http.get(format!("{base}{path}")).bearer_auth(VIEWER_TOKEN)).await?;
        assert_problem(&format!("GET {path}"), &answer, 400, parameter);
    }
    // `{"patch": null}` is not "no patch".
    let path = "/api/v1/dead-letters/dlq:none/requeue";
    let answer = send(
        http.post(format!("{base}{path}"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"patch": null})),
    )
    .await?;
    assert_problem("a null patch", &answer, 400, "patch");
    // The framework's own answers: a wrong method, a body over the limit.
    let answer = send(
        http.delete(format!("{base}/api/v1/events"))
            .bearer_auth(VIEWER_TOKEN),
    )
    .await?;
    assert_problem("DELETE /api/v1/events", &answer, 405, "");
    assert_eq!(answer.body["code"], "method_not_allowed");
    // Its own client: the server closes the connection rather than read the rest.
    let answer = send(
        reqwest::Client::new()
            .post(format!("{base}/api/v1/dead-letters/dlq:none/discard"))
            .bearer_auth(OPERATOR_TOKEN)
            .header("content-type", "application/json")
            .body(vec![b' '; 3 * 1024 * 1024]),
    )
    .await?;
    assert_problem("a 3 MB body", &answer, 413, "");
    // Absent parameters still mean "no filter".
    let answer = send(
        http.get(format!("{base}/api/v1/events"))
            .bearer_auth(VIEWER_TOKEN),
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    Ok(())
}

/// Waits until `/readyz` answers `status`; returns its body.
async fn readyz(http: &reqwest::Client, base: &str, status: u16) -> anyhow::Result<Answer> {
    let started = Instant::now();
    loop {
        let answer = send(http.get(format!("{base}/readyz"))).await?;
        if answer.status == status {
            return Ok(answer);
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(15),
            "/readyz stayed {} (wanted {status}): {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn failing(answer: &Answer) -> Vec<String> {
    answer.body["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["ok"] == false)
        .filter_map(|c| c["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn dependency_outages_answer_503_quickly_and_show_in_readiness() -> anyhow::Result<()> {
    let mut stack = monitoring_stack(false).await?;
    let base = monitoring(&stack)?.url(0)?;
    let http = reqwest::Client::new();
    let ready = readyz(&http, &base, 200).await?;
    assert!(failing(&ready).is_empty(), "{}", ready.body);

    // Postgres frozen: connections open, nothing answers.
    monitoring(&stack)?.postgres.freeze()?;
    let result = async {
        let started = Instant::now();
        let answer = send(
            http.get(format!("{base}/api/v1/events"))
                .bearer_auth(VIEWER_TOKEN),
        )
        .await?;
        let took = started.elapsed();
        assert_problem("events with Postgres frozen", &answer, 503, "Postgres");
        assert_eq!(answer.body["code"], "unavailable");
        // The acquire timeout is 2 s by default, not the pool's 30 s nor the old 10 s.
        assert!(took < Duration::from_secs(5), "answered after {took:?}");
        let unready = readyz(&http, &base, 503).await?;
        assert_eq!(unready.content_type, "application/problem+json");
        assert_eq!(failing(&unready), ["postgres"], "{}", unready.body);
        anyhow::Ok(())
    }
    .await;
    monitoring(&stack)?.postgres.thaw()?;
    result?;
    readyz(&http, &base, 200).await?;
    let answer = send(
        http.get(format!("{base}/api/v1/events"))
            .bearer_auth(VIEWER_TOKEN),
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // NATS down: readiness names it; it recovers once NATS is back.
    stack.nats.kill().await?;
    let unready = readyz(&http, &base, 503).await?;
    assert!(
        failing(&unready).contains(&"nats".to_owned()),
        "{}",
        unready.body
    );
    stack.nats.restart().await?;
    let ready = eventually("ready again after NATS is back", WAIT, || async {
        let answer = send(http.get(format!("{base}/readyz"))).await.ok()?;
        (answer.status == 200).then_some(answer)
    })
    .await?;
    assert!(failing(&ready).is_empty(), "{}", ready.body);
    Ok(())
}

#[tokio::test]
async fn viewers_see_personal_data_masked_and_operators_see_it() -> anyhow::Result<()> {
    let stack = monitoring_stack(true).await?;
    let monitoring = monitoring(&stack)?;
    let (viewer, operator) = (
        monitoring.api(Some(VIEWER_TOKEN))?,
        monitoring.api(Some(OPERATOR_TOKEN))?,
    );
    // A won deal whose company has a phone number and no address: dead-lettered.
    let phone = "+49 40 5550123";
    let company = "Erika Mustermann";
    let deal = stack
        .hubspot
        .win_deal_without_address("Personal", json!({"name": company, "phone": phone}))
        .await?;
    let id = eventually("the dead letter", WAIT, || async {
        let (_, body) = operator
            .get("/api/v1/dead-letters?status=open")
            .await
            .ok()?;
        body["items"]
            .as_array()?
            .iter()
            .find(|d| d["crm_record_id"].as_str() == Some(deal.deal_id.as_str()))
            .and_then(|d| d["id"].as_str().map(str::to_owned))
    })
    .await?;
    let path = format!("/api/v1/dead-letters/{id}");

    let (status, full) = operator.get(&path).await?;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["deal"]["account"]["phone"], phone, "{full}");
    assert_eq!(full["deal"]["account"]["name"], company, "{full}");

    let (status, masked) = viewer.get(&path).await?;
    assert_eq!(status, 200, "{masked}");
    assert_eq!(masked["deal"]["account"]["phone"], "***", "{masked}");
    assert_eq!(masked["deal"]["account"]["name"], "***", "{masked}");
    let text = masked.to_string();
    assert!(
        !text.contains(phone) && !text.contains(company),
        "personal data reached a viewer: {masked}"
    );
    // What a viewer needs to triage is still there.
    assert_eq!(masked["id"], full["id"]);
    assert_eq!(masked["resolution_code"], full["resolution_code"]);
    assert_eq!(masked["deal"]["lineItems"], full["deal"]["lineItems"]);

    // The event log too: the viewer's search results carry no phone or name.
    let (status, page) = viewer
        .get(&format!("/api/v1/events?crm_record_id={}", deal.deal_id))
        .await?;
    assert_eq!(status, 200, "{page}");
    assert!(
        page["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{page}"
    );
    let text = page.to_string();
    assert!(!text.contains(phone) && !text.contains(company), "{page}");
    Ok(())
}

/// The property-based tester, installed by `make venv`.
fn schemathesis() -> anyhow::Result<std::path::PathBuf> {
    let path = crmerp_testkit::paths::workspace_root().join(".venv/bin/schemathesis");
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `make venv` (it installs the pinned schemathesis)",
        path.display()
    );
    Ok(path)
}

#[tokio::test]
async fn the_generated_openapi_document_holds_under_property_based_testing() -> anyhow::Result<()> {
    let program = schemathesis()?;
    let stack = monitoring_stack(true).await?;
    let monitoring = monitoring(&stack)?;
    let base = monitoring.url(0)?;
    // Some rows to search and list: an order and a dead letter.
    stack
        .hubspot
        .win_deal_without_address("Fuzzed Dead Letter", json!({}))
        .await?;
    let operator = monitoring.api(Some(OPERATOR_TOKEN))?;
    eventually("a dead letter to fuzz around", WAIT, || async {
        let (_, body) = operator.get("/api/v1/dead-letters").await.ok()?;
        body["items"].as_array().filter(|i| !i.is_empty()).map(drop)
    })
    .await?;

    // Bounded and seeded: the same cases each run, a few hundred requests per
    // role. The viewer's masked answers must fit the schemas too.
    for token in [OPERATOR_TOKEN, VIEWER_TOKEN] {
        let output = tokio::process::Command::new(&program)
            .args([
                "run",
                &format!("{base}/openapi.json"),
                "--url",
                &base,
                "--header",
                &format!("Authorization: Bearer {token}"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection",
                "--max-examples",
                "25",
                "--seed",
                "20261205",
                "--phases",
                "examples,coverage,fuzzing",
                "--request-timeout",
                "10",
                "--no-color",
                "--generation-database",
                "none",
            ])
            .current_dir(stack.dir.path())
            .output()
            .await?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // Shown with --nocapture: what was tested, and how.
        println!("{report}");
        assert!(
            output.status.success(),
            "schemathesis found problems as {token}:\n{report}"
        );
    }
    Ok(())
}
