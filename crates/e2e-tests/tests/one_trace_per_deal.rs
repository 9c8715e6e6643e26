//! One won deal is one trace across processes: ingress publishes with W3C
//! trace context in the NATS headers, deal-to-order continues it and its
//! vendor calls are spans of the same trace. A local OTLP sink collects what
//! both processes export; the log lines carry the same trace id.

use std::collections::HashSet;
use std::time::Duration;

use crmerp_testkit::hubspot::DealSpec;
use crmerp_testkit::{OtlpSink, Stack, StackOptions, eventually};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_won_deal_is_one_trace_from_ingress_through_deal_to_order() -> anyhow::Result<()> {
    let sink = OtlpSink::start().await?;
    let stack = Stack::start(StackOptions {
        env: vec![
            ("CRMERP__TELEMETRY__OTLP_ENDPOINT".into(), sink.endpoint()),
            // Export every 100 ms instead of every 5 s, so the test is quick.
            ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ],
        ..StackOptions::default()
    })
    .await?;
    let deal = stack
        .hubspot
        .create_deal(&DealSpec::complete("Traced"))
        .await?;
    stack
        .hubspot
        .move_to_stage(&deal.deal_id, "closedwon")
        .await?;

    // The trace that ingress started for this deal's event.
    let deal_marker = format!(":deal:{}:", deal.deal_id);
    let trace_id = eventually("the ingress span of the deal", WAIT, || async {
        sink.spans()
            .into_iter()
            .find(|s| {
                s.service == "ingress"
                    && s.name == "ingress.publish"
                    && s.attributes
                        .get("event_id")
                        .is_some_and(|id| id.contains(&deal_marker))
            })
            .map(|s| s.trace_id)
    })
    .await?;

    // deal-to-order's processing span and its HubSpot and NetSuite calls join that trace.
    let worker_spans = eventually("deal-to-order spans in the ingress trace", WAIT, || async {
        let spans: Vec<_> = sink
            .spans()
            .into_iter()
            .filter(|s| s.service == "deal-to-order" && s.trace_id == trace_id)
            .collect();
        let names: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        let systems: HashSet<&str> = spans
            .iter()
            .filter_map(|s| s.attributes.get("system").map(String::as_str))
            .collect();
        (names.contains("flow.process")
            && names.contains("vendor.call")
            && systems.contains("hubspot")
            && systems.contains("netsuite"))
        .then_some(spans)
    })
    .await
    .map_err(|e| {
        let seen: Vec<_> = sink
            .spans()
            .into_iter()
            .map(|s| format!("{}:{}:{}", s.service, s.name, s.trace_id))
            .collect();
        e.context(format!("trace {trace_id}; spans seen: {seen:?}"))
    })?;
    let process = worker_spans
        .iter()
        .find(|s| s.name == "flow.process")
        .ok_or_else(|| anyhow::anyhow!("no flow.process span"))?;
    assert!(
        !process.parent_span_id.is_empty(),
        "flow.process continues the ingress span rather than starting a trace"
    );

    // Log lines carry the trace id: the worker's "Event processed." line names this trace.
    let worker_log = stack
        .worker
        .as_ref()
        .map(|w| w.log_path().to_path_buf())
        .ok_or_else(|| anyhow::anyhow!("no worker"))?;
    let logged = eventually("the trace id in the worker log", WAIT, || async {
        let text = std::fs::read_to_string(&worker_log).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["message"] == "Event processed." && l["trace_id"] == trace_id.as_str())
    })
    .await?;
    assert_eq!(logged["span_id"].as_str().map(str::len), Some(16));
    Ok(())
}
