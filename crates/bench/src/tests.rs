//! Unit tests of the pure parts: joining records into stages, and the result check.

use std::collections::BTreeMap;

use bytes::Bytes;
use crmerp_proto::Timestamp;
use crmerp_proto::{
    DealWon, EventEnvelope, Message as _, Outcome, OutcomeStatus, RecordRef, VendorCall,
    event_envelope::Data,
};

use crate::analyze::analyze;
use crate::collect::{Mark, Stored};
use crate::load::{LoadRun, Sent};
use crate::machine::Machine;
use crate::procstat::Usage;
use crate::report::{self, BenchResult, JetStreamUse, Phase, RunConfig, SCHEMA, STAGES};

fn ts(us: i64) -> Timestamp {
    Timestamp {
        seconds: us / 1_000_000,
        nanos: i32::try_from((us % 1_000_000) * 1000).expect("nanos fit"),
    }
}

fn inbound(deal: &str, accepted_us: i64, stored_us: i64) -> Stored {
    let envelope = EventEnvelope {
        subject: format!("hubspot/deal/{deal}"),
        data: Some(Data::DealWon(DealWon {
            accepted_at: Some(ts(accepted_us)),
            ..Default::default()
        })),
        ..Default::default()
    };
    Stored {
        stored_us,
        payload: Bytes::from(envelope.encode_to_vec()),
    }
}

fn outcome(
    deal: &str,
    status: OutcomeStatus,
    started_us: i64,
    finished_us: i64,
    stored_us: i64,
) -> Stored {
    let call = |system: &str, endpoint: &str, ms| VendorCall {
        system: system.into(),
        endpoint: endpoint.into(),
        http_status: 200,
        duration_ms: ms,
        ..Default::default()
    };
    let envelope = EventEnvelope {
        subject: format!("hubspot/deal/{deal}"),
        data: Some(Data::Outcome(Outcome {
            status: status as i32,
            crm_record: Some(RecordRef {
                id: deal.into(),
                ..Default::default()
            }),
            duration_ms: 10,
            started_at: Some(ts(started_us)),
            finished_at: Some(ts(finished_us)),
            calls: vec![
                call("hubspot", "GET /crm/v3/objects/deals/{id}", 2),
                call("hubspot", "POST /crm/v3/objects/line_items/batch/read", 1),
                call("netsuite", "POST /services/rest/record/v1/salesOrder", 4),
                call("hubspot", "PATCH /crm/v3/objects/deals/{id}", 3),
            ],
            ..Default::default()
        })),
        ..Default::default()
    };
    Stored {
        stored_us,
        payload: Bytes::from(envelope.encode_to_vec()),
    }
}

fn sent(deal: &str, scheduled_us: i64, status: u16) -> Sent {
    Sent {
        deal_id: deal.into(),
        scheduled_us,
        status,
        response_us: 2_000,
        warmup: false,
    }
}

#[test]
fn joins_generator_and_records_into_stages() {
    let base = 1_764_000_000_000_000;
    let run = LoadRun {
        sent: vec![
            sent("1", base, 200),
            sent("2", base + 1_000, 200),
            sent("3", base + 2_000, 503),
        ],
        measure_start_us: base,
        measure_end_us: base + 1_000_000,
        ..LoadRun::default()
    };
    let inbound = vec![
        inbound("1", base + 1_000, base + 2_000),
        inbound("2", base + 2_000, base + 3_000),
    ];
    let outcomes = vec![
        outcome(
            "1",
            OutcomeStatus::Succeeded,
            base + 5_000,
            base + 15_000,
            base + 16_000,
        ),
        outcome(
            "2",
            OutcomeStatus::RetryScheduled,
            base + 6_000,
            base + 8_000,
            base + 9_000,
        ),
    ];
    let analysis = analyze(&run, &inbound, &outcomes).expect("analysed");
    assert_eq!(analysis.sent, 3);
    assert_eq!(analysis.accepted, 2);
    assert_eq!(analysis.completed, 1);
    assert_eq!(analysis.succeeded_total, 1);
    assert_eq!(analysis.completed_in_window, 1);
    assert_eq!(analysis.errors.non_2xx, 1);
    assert_eq!(analysis.errors.failed_attempts, 1);
    assert_eq!(analysis.errors.not_completed, 1);
    let stage = |name: &str| {
        analysis
            .latency_ms
            .get(name)
            .cloned()
            .expect("stage present")
    };
    assert_eq!(stage("ingress_response").count, 2);
    assert!((stage("end_to_end").p50_ms - 16.0).abs() < 0.05);
    assert!((stage("end_to_end_product").p50_ms - 15.0).abs() < 0.05);
    assert!((stage("queue_wait").p50_ms - 4.0).abs() < 0.05);
    assert!((stage("ingress_publish").p50_ms - 1.0).abs() < 0.05);
    assert!((stage("crm_hydrate").p50_ms - 3.0).abs() < 0.05);
    assert!((stage("erp_create").p50_ms - 4.0).abs() < 0.05);
    assert!((stage("write_back").p50_ms - 3.0).abs() < 0.05);
    assert!((stage("outcome_logged").p50_ms - 1.0).abs() < 0.05);
}

fn usage() -> Usage {
    Usage {
        cpu_pct: 1.0,
        rss_mib_start: 8.0,
        rss_mib_max: 10.0,
        rss_mib_end: 9.0,
        rss_mib_series: vec![8.0, 9.0],
    }
}

fn phase(name: &str, rate: Option<f64>) -> Phase {
    let latency = report::Latency {
        count: 5,
        p50_ms: 1.0,
        p95_ms: 2.0,
        p99_ms: 3.0,
        max_ms: 4.0,
        mean_ms: 1.5,
    };
    Phase {
        name: name.into(),
        target_rate: rate,
        window: rate.is_none().then_some(8),
        warmup_secs: 0.0,
        duration_secs: 3.0,
        sent: 5,
        accepted: 5,
        completed: 5,
        offered_per_sec: 5.0,
        accepted_per_sec: 5.0,
        completed_per_sec: 5.0,
        drain_secs: 0.1,
        kept_up: true,
        backlog_at_end: 0,
        errors: report::Errors::default(),
        latency_ms: STAGES
            .iter()
            .map(|(s, _)| ((*s).to_owned(), latency.clone()))
            .collect(),
        jetstream: JetStreamUse {
            writes: 10,
            bytes: 1000,
            writes_per_deal: 2.0,
            bytes_per_deal: 200.0,
            per_stream: BTreeMap::from([(
                "INBOUND".to_owned(),
                Mark {
                    last_seq: 5,
                    bytes: 500,
                },
            )]),
        },
        processes: [
            "ingress",
            "deal-to-order",
            "nats-server",
            "sandbox",
            crate::LOAD_GENERATOR,
        ]
        .into_iter()
        .map(|n| (n.to_owned(), usage()))
        .collect(),
        load_avg_start: [0.1, 0.2, 0.3],
        load_avg_end: [0.1, 0.2, 0.3],
    }
}

fn result() -> BenchResult {
    let mut result = BenchResult {
        schema: SCHEMA.into(),
        mode: "shipped".into(),
        sync_interval: "always".into(),
        started_at: "2026-11-26T19:00:00Z".into(),
        finished_at: "2026-11-26T19:01:00Z".into(),
        machine: Machine::detect(),
        config: RunConfig {
            profile: "smoke".into(),
            bin_dir: "/work/target/debug".into(),
            build: "debug".into(),
            service_log_level: "warn".into(),
            service_env: BTreeMap::new(),
            rates: vec![50.0],
            warmup_secs: 0.0,
            phase_secs: 3.0,
            closed_loop_window: 8,
        },
        idle: ["ingress", "deal-to-order", "nats-server", "sandbox"]
            .into_iter()
            .map(|n| (n.to_owned(), usage()))
            .collect(),
        phases: vec![phase("closed_loop", None), phase("rate_50", Some(50.0))],
        skipped_rates: vec![],
        max_sustained_per_sec: 0.0,
        errors_total: 0,
        targets: vec![],
    };
    crate::targets::evaluate(&mut result, crate::stack::Durability::Shipped);
    result
}

#[test]
fn a_complete_result_passes_the_check_and_survives_json() {
    let result = result();
    report::check(&result).expect("complete");
    let json = serde_json::to_string(&result).expect("serialised");
    let back: BenchResult = serde_json::from_str(&json).expect("parsed");
    assert_eq!(back, result);
    assert!(crate::table::table(&back).contains("rate_50"));
}

#[test]
fn incomplete_results_fail_the_check() {
    let mut missing_stage = result();
    missing_stage.phases[1].latency_ms.remove("queue_wait");
    assert!(report::check(&missing_stage).is_err());

    let mut no_rate = result();
    no_rate.phases.truncate(1);
    assert!(report::check(&no_rate).is_err());

    let mut disordered = result();
    if let Some(latency) = disordered.phases[0].latency_ms.get_mut("end_to_end") {
        latency.p99_ms = 0.5;
    }
    assert!(report::check(&disordered).is_err());

    let mut no_idle = result();
    no_idle.idle.remove("ingress");
    assert!(report::check(&no_idle).is_err());
}

#[test]
fn targets_name_each_goal_with_its_number() {
    let result = result();
    let names: Vec<&str> = result.targets.iter().map(|t| t.name.as_str()).collect();
    assert!(names.iter().any(|n| n.contains("sustained")));
    assert!(names.iter().any(|n| n.contains("writes per deal")));
    assert!(names.iter().any(|n| n.contains("idle RSS")));
    // No 500 deals/s phase ran: not measured rather than failed.
    let p99 = result
        .targets
        .iter()
        .find(|t| t.name.contains("p99"))
        .expect("p99 target");
    assert_eq!(p99.met, None);
}
