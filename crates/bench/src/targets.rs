//! The targets of issue 7, evaluated against one result.

use crate::report::{BenchResult, SERVICES, Target};
use crate::stack::Durability;

/// Idle RSS every service must stay under, MiB.
const IDLE_RSS_MIB: f64 = 30.0;
/// Writes per deal the durable mode may cost.
const MAX_WRITES_PER_DEAL: f64 = 3.0;

/// Fills `max_sustained_per_sec` and `targets`.
pub fn evaluate(result: &mut BenchResult, mode: Durability) {
    let sustained = result
        .phases
        .iter()
        .filter(|p| p.errors.total() == 0 && (p.target_rate.is_none() || p.kept_up))
        .map(|p| p.completed_per_sec)
        .fold(0.0, f64::max);
    result.max_sustained_per_sec = sustained;
    let (throughput_goal, latency_rate, latency_goal_ms) = match mode {
        Durability::Shipped => (1000.0, 500.0, 250.0),
        Durability::Throughput => (5000.0, 2000.0, 50.0),
    };
    let mut targets = vec![Target {
        name: "sustained end-to-end throughput (deals/s)".into(),
        goal: format!(">= {throughput_goal:.0}"),
        value: Some(sustained),
        met: Some(sustained >= throughput_goal),
    }];
    let at_rate = result
        .phases
        .iter()
        .find(|p| p.target_rate == Some(latency_rate));
    let p99 = at_rate.and_then(|p| p.latency_ms.get("end_to_end").map(|l| l.p99_ms));
    targets.push(Target {
        name: format!("p99 end to end at {latency_rate:.0} deals/s (ms)"),
        goal: format!("< {latency_goal_ms:.0}"),
        value: p99,
        met: at_rate.map(|p| p.kept_up && p99.is_some_and(|v| v < latency_goal_ms)),
    });
    if mode == Durability::Shipped {
        let writes = result
            .phases
            .iter()
            .map(|p| p.jetstream.writes_per_deal)
            .fold(0.0, f64::max);
        targets.push(Target {
            name: "JetStream writes per deal (worst phase)".into(),
            goal: format!("<= {MAX_WRITES_PER_DEAL:.0}"),
            value: Some(writes),
            met: Some(writes <= MAX_WRITES_PER_DEAL),
        });
    }
    for service in SERVICES {
        let rss = result.idle.get(*service).map(|u| u.rss_mib_max);
        targets.push(Target {
            name: format!("{service} idle RSS (MiB)"),
            goal: format!("< {IDLE_RSS_MIB:.0}"),
            value: rss,
            met: rss.map(|v| v < IDLE_RSS_MIB),
        });
    }
    targets.push(Target {
        name: "errors (non-2xx, dead letters, failed attempts, lost)".into(),
        goal: "= 0".into(),
        value: Some(result.errors_total as f64),
        met: Some(result.errors_total == 0),
    });
    result.targets = targets;
}
