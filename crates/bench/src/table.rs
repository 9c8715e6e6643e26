//! The table `crmerp-bench` prints after each mode.

use std::fmt::Write as _;

use crate::procstat::Usage;
use crate::report::{BenchResult, STAGES};

/// The printed table of one result.
pub fn table(result: &BenchResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== mode {} (sync_interval: {}), {} build, {} profile; {} cores, load {:?} at start ==",
        result.mode,
        result.sync_interval,
        result.config.build,
        result.config.profile,
        result.machine.nproc,
        result.machine.load_avg_at_start
    );
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>9} {:>9} {:>7} {:>6} {:>8} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6} {:>6}",
        "phase",
        "offered",
        "accepted",
        "completed",
        "drain",
        "kept",
        "e2e p50",
        "e2e p95",
        "e2e p99",
        "e2e max",
        "writes",
        "B/deal",
        "errors",
        "load1"
    );
    for phase in &result.phases {
        let e2e = phase
            .latency_ms
            .get("end_to_end")
            .cloned()
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12} {:>8.0} {:>9.0} {:>9.0} {:>6.1}s {:>6} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>7.2} {:>7.0} {:>6} {:>6.2}",
            phase.name,
            phase.offered_per_sec,
            phase.accepted_per_sec,
            phase.completed_per_sec,
            phase.drain_secs,
            if phase.kept_up { "yes" } else { "NO" },
            e2e.p50_ms,
            e2e.p95_ms,
            e2e.p99_ms,
            e2e.max_ms,
            phase.jetstream.writes_per_deal,
            phase.jetstream.bytes_per_deal,
            phase.errors.total(),
            phase.load_avg_end[0],
        );
    }
    let _ = writeln!(out, "\nper stage p50 / p99 ms:");
    let _ = write!(out, "{:<12}", "phase");
    for (stage, _) in STAGES {
        let _ = write!(out, " {:>19}", stage);
    }
    let _ = writeln!(out);
    for phase in &result.phases {
        let _ = write!(out, "{:<12}", phase.name);
        for (stage, _) in STAGES {
            let l = phase.latency_ms.get(*stage).cloned().unwrap_or_default();
            let _ = write!(out, " {:>9.1} / {:>7.1}", l.p50_ms, l.p99_ms);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "\nCPU % of one core / max RSS MiB (idle first):");
    let mut names: Vec<String> = result.idle.keys().cloned().collect();
    if !names.iter().any(|n| n == crate::LOAD_GENERATOR) {
        names.push(crate::LOAD_GENERATOR.to_owned());
    }
    let _ = write!(out, "{:<12}", "phase");
    for name in &names {
        let _ = write!(out, " {:>17}", name);
    }
    let _ = writeln!(out);
    let _ = write!(out, "{:<12}", "idle");
    for name in &names {
        match result.idle.get(name) {
            Some(u) => {
                let _ = write!(out, " {:>7.1} / {:>7.1}", u.cpu_pct, u.rss_mib_max);
            }
            None => {
                let _ = write!(out, " {:>17}", "-");
            }
        }
    }
    let _ = writeln!(out);
    for phase in &result.phases {
        let _ = write!(out, "{:<12}", phase.name);
        for name in &names {
            let u = phase.processes.get(name).cloned().unwrap_or(Usage {
                cpu_pct: 0.0,
                rss_mib_start: 0.0,
                rss_mib_max: 0.0,
                rss_mib_end: 0.0,
                rss_mib_series: Vec::new(),
            });
            let _ = write!(out, " {:>7.1} / {:>7.1}", u.cpu_pct, u.rss_mib_max);
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "\ntargets:");
    for target in &result.targets {
        let met = match target.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let value = target
            .value
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        let _ = writeln!(
            out,
            "  {:<44} goal {:<16} measured {:>10}  {met}",
            target.name, target.goal, value
        );
    }
    out
}
