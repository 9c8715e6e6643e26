//! `crmerp-bench`: the load harness behind `make bench` and `make bench-smoke`.
//!
//! For each JetStream durability mode it starts the product (nats-server, the
//! vendor sandbox at zero added latency, ingress, deal-to-order) from the
//! binaries next to this one (or `$CRMERP_BIN_DIR`), measures idle CPU and RSS,
//! then runs a closed-loop maximum-throughput phase and open-loop fixed-rate
//! phases, stopping after the first rate the product cannot keep up with. The
//! figures come from the product's own records (INBOUND and OUTCOMES messages,
//! stream positions, `/proc`), joined with the generator's send schedule. It
//! writes `result-<mode>.json` and prints a table; `--check` validates files.

mod analyze;
mod collect;
mod load;
mod machine;
mod phase;
mod procstat;
mod report;
mod seed;
mod stack;
mod table;
mod targets;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

use crate::machine::Machine;
use crate::phase::{Bench, Load, PhaseSpec};
use crate::report::{BenchResult, RunConfig, SCHEMA};
use crate::stack::{BenchStack, Durability};

/// Name of this process in the CPU/RSS figures.
pub const LOAD_GENERATOR: &str = "load-generator";
/// The services' log level is passed through this variable by the harness.
const SERVICE_LOG_ENV: &str = "TEST_RUST_LOG";

/// How long and how hard to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Profile {
    /// A few seconds: proves the harness produces a complete result.
    Smoke,
    /// Every phase long enough for steady state.
    Full,
}

/// Which durability modes to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Modes {
    /// `sync_interval: always`.
    Shipped,
    /// Interval flush.
    Throughput,
    /// Both, shipped first.
    Both,
}

/// Throughput, per-stage latency, CPU/RSS and JetStream writes of the whole product.
#[derive(Debug, Parser)]
#[command(name = "crmerp-bench", version, about)]
struct Args {
    /// `smoke` (seconds) or `full` (steady state per phase).
    #[arg(long, value_enum, default_value_t = Profile::Full)]
    profile: Profile,
    /// Durability modes to measure.
    #[arg(long, value_enum, default_value_t = Modes::Both)]
    modes: Modes,
    /// Where result files go (default: `<workspace>/var/bench`).
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Fixed rates in deals/s, run in order until one is not kept up
    /// (default: full 250,500,1000,2000,5000; smoke 50).
    #[arg(long, value_delimiter = ',')]
    rates: Option<Vec<f64>>,
    /// Measured seconds per phase (default: full 30, smoke 3).
    #[arg(long)]
    phase_secs: Option<f64>,
    /// Warm-up seconds per phase, left out of the statistics (default: full 5, smoke 0).
    #[arg(long)]
    warmup_secs: Option<f64>,
    /// Closed loop: deals in flight end to end.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Closed loop: deals to pre-create (the phase ends early when they run out;
    /// default: full 60000, smoke 400).
    #[arg(long)]
    closed_loop_deals: Option<usize>,
    /// Log filter of the services (`RUST_LOG` syntax). Their per-event info
    /// lines would otherwise cost the harness CPU to collect; `info` measures
    /// them as logged in production. The "Listening." line must stay enabled.
    #[arg(long, default_value = "warn,crmerp_service_kit::admin=info")]
    service_log_level: String,
    /// Extra `KEY=VALUE` environment for both services, e.g. `CRMERP__FLOW__CONCURRENCY=64`.
    #[arg(long = "service-env", value_parser = parse_key_value)]
    service_env: Vec<(String, String)>,
    /// Only validate these result files (exit 1 when one is incomplete).
    #[arg(long, num_args = 1..)]
    check: Vec<PathBuf>,
}

fn parse_key_value(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {raw:?}"))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.check.is_empty() {
        return check_files(&args.check);
    }
    // The harness's `Process` hands `$TEST_RUST_LOG` to every child as `RUST_LOG`;
    // setting our own environment needs `unsafe`, so re-run with it set instead.
    if std::env::var_os(SERVICE_LOG_ENV).is_none() {
        let exe = std::env::current_exe().context("locating this binary")?;
        let status = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env(SERVICE_LOG_ENV, &args.service_log_level)
            .status()
            .context("re-running with the service log level")?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn check_files(files: &[PathBuf]) -> anyhow::Result<()> {
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let result: BenchResult =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        report::check(&result)
            .map_err(|problem| anyhow::anyhow!("{}: {problem}", file.display()))?;
        println!(
            "{}: complete ({} phases, {} errors)",
            file.display(),
            result.phases.len(),
            result.errors_total
        );
    }
    Ok(())
}

/// Settings derived from the profile and the flags.
struct Plan {
    config: RunConfig,
    closed_loop_deals: usize,
    idle_window: Duration,
    drain_limit: Duration,
}

fn plan(args: &Args) -> Plan {
    let full = args.profile == Profile::Full;
    let bin_dir = crmerp_testkit::paths::bin_dir();
    let build = bin_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let phase_secs = args.phase_secs.unwrap_or(if full { 30.0 } else { 3.0 });
    Plan {
        config: RunConfig {
            profile: if full { "full" } else { "smoke" }.to_owned(),
            bin_dir: bin_dir.display().to_string(),
            build,
            service_log_level: std::env::var(SERVICE_LOG_ENV)
                .unwrap_or_else(|_| args.service_log_level.clone()),
            service_env: args.service_env.iter().cloned().collect::<BTreeMap<_, _>>(),
            rates: args.rates.clone().unwrap_or_else(|| {
                if full {
                    vec![250.0, 500.0, 1000.0, 2000.0, 5000.0]
                } else {
                    vec![50.0]
                }
            }),
            warmup_secs: args.warmup_secs.unwrap_or(if full { 5.0 } else { 0.0 }),
            phase_secs,
            closed_loop_window: args.window,
        },
        closed_loop_deals: args
            .closed_loop_deals
            .unwrap_or(if full { 60_000 } else { 400 }),
        idle_window: Duration::from_secs(if full { 5 } else { 1 }),
        drain_limit: Duration::from_secs_f64(if full { phase_secs.max(30.0) } else { 30.0 }),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let plan = plan(&args);
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| crmerp_testkit::paths::workspace_root().join("var/bench"));
    std::fs::create_dir_all(&out_dir)?;
    let modes: &[Durability] = match args.modes {
        Modes::Shipped => &[Durability::Shipped],
        Modes::Throughput => &[Durability::Throughput],
        Modes::Both => &[Durability::Shipped, Durability::Throughput],
    };
    let mut files = Vec::new();
    for &mode in modes {
        let result = run_mode(mode, &plan)
            .await
            .with_context(|| format!("mode {}", mode.as_str()))?;
        print!("{}", table::table(&result));
        let file = out_dir.join(format!("result-{}.json", mode.as_str()));
        std::fs::write(&file, serde_json::to_string_pretty(&result)?)?;
        println!("wrote {}", file.display());
        files.push(file);
    }
    check_files(&files)
}

async fn run_mode(mode: Durability, plan: &Plan) -> anyhow::Result<BenchResult> {
    let started_at = chrono::Utc::now();
    let machine = Machine::detect();
    let stack = BenchStack::start(
        mode,
        &plan
            .config
            .service_env
            .clone()
            .into_iter()
            .collect::<Vec<_>>(),
    )
    .await?;
    eprintln!(
        "mode {}: stack up in {}",
        mode.as_str(),
        stack.dir.path().display()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = phase::idle(&stack, plan.idle_window).await;

    let js = stack.jetstream().await?;
    let nats = async_nats::connect(&stack.nats_url).await?;
    let mut bench = Bench {
        stack: &stack,
        js,
        nats,
        seeder: seed::Seeder::new(&stack.hubspot_url).await?,
        webhooks: load::Webhooks::new(&stack.ingress_url)?,
    };
    let config = &plan.config;
    let timing = |load| PhaseSpec {
        load,
        warmup: Duration::from_secs_f64(config.warmup_secs),
        duration: Duration::from_secs_f64(config.phase_secs),
        drain_limit: plan.drain_limit,
    };
    let mut phases = vec![
        bench
            .run(
                "closed_loop",
                timing(Load::ClosedLoop {
                    window: config.closed_loop_window,
                    deals: plan.closed_loop_deals,
                }),
            )
            .await?,
    ];
    let mut skipped_rates = Vec::new();
    for &rate in &config.rates {
        if phases
            .last()
            .is_some_and(|p| p.target_rate.is_some() && !p.kept_up)
        {
            skipped_rates.push(rate);
            continue;
        }
        phases.push(
            bench
                .run(&format!("rate_{rate:.0}"), timing(Load::OpenLoop(rate)))
                .await?,
        );
    }
    drop(bench);
    drop(stack);

    let errors_total = phases.iter().map(|p| p.errors.total()).sum();
    let mut result = BenchResult {
        schema: SCHEMA.to_owned(),
        mode: mode.as_str().to_owned(),
        sync_interval: mode.sync_interval().to_owned(),
        started_at: started_at.to_rfc3339(),
        finished_at: chrono::Utc::now().to_rfc3339(),
        machine,
        config: plan.config.clone(),
        idle,
        phases,
        skipped_rates,
        max_sustained_per_sec: 0.0,
        errors_total,
        targets: Vec::new(),
    };
    targets::evaluate(&mut result, mode);
    Ok(result)
}
