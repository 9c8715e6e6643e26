//! The product under test: nats-server, the vendor sandbox, ingress and
//! deal-to-order as real processes on free loopback ports, configured as
//! shipped (flow defaults) except for the JetStream durability mode.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use crmerp_testkit::Process;
use crmerp_testkit::netsuite::NetSuiteApi;
use crmerp_testkit::paths;
use crmerp_testkit::process::Spawn;
use serde::{Deserialize, Serialize};

/// How JetStream makes acknowledged writes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// `sync_interval: always`: every acknowledged event is fsynced (what we ship).
    Shipped,
    /// JetStream's default interval flush: an acknowledged event may sit in the
    /// page cache for up to two minutes (power loss can lose it).
    Throughput,
}

impl Durability {
    /// Name used in file names and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shipped => "shipped",
            Self::Throughput => "throughput",
        }
    }

    /// The nats-server `sync_interval` setting.
    pub fn sync_interval(self) -> &'static str {
        match self {
            Self::Shipped => "always",
            Self::Throughput => "default (2m interval flush)",
        }
    }
}

/// A running stack; every process is killed when it is dropped.
pub struct BenchStack {
    /// Stores, config and logs; removed on drop.
    pub dir: tempfile::TempDir,
    /// nats-server.
    pub nats: Process,
    /// The vendor simulator (HubSpot and NetSuite).
    pub sandbox: Process,
    /// Webhook ingress.
    pub ingress: Process,
    /// The deal-to-order worker.
    pub worker: Process,
    /// `nats://127.0.0.1:<port>`.
    pub nats_url: String,
    /// `http://<ingress>`.
    pub ingress_url: String,
    /// `http://<sandbox hubspot>`.
    pub hubspot_url: String,
}

impl BenchStack {
    /// Starts everything, seeds the NetSuite items and waits until both services are ready.
    /// `extra_env` goes to both services (e.g. `CRMERP__FLOW__CONCURRENCY`).
    pub async fn start(
        durability: Durability,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("crmerp-bench-").tempdir()?;
        let (nats, nats_url) = start_nats(dir.path(), durability).await?;

        let sandbox_bin = paths::binary("crmerp-sandbox")?;
        let mut args: Vec<String> = crmerp_sandbox_vendors()
            .iter()
            .flat_map(|name| [format!("--{name}-addr"), "127.0.0.1:0".to_owned()])
            .collect();
        args.extend(["--webhook-signature".to_owned(), "v3".to_owned()]);
        let sandbox = Process::spawn(Spawn {
            name: "sandbox",
            program: &sandbox_bin,
            args,
            env: vec![],
            log_dir: dir.path(),
            listeners: &["hubspot", "netsuite"],
            ready_marker: None,
        })
        .await
        .context("starting the sandbox")?;
        let hubspot_url = format!("http://{}", sandbox.listener("hubspot")?);
        let netsuite_url = format!("http://{}", sandbox.listener("netsuite")?);

        let config_path = dir.path().join("crmerp.toml");
        let config = format!(
            "[nats]\nurl = \"{nats_url}\"\n\n[telemetry]\nlog_format = \"json\"\n\n[ingress]\naddr = \"127.0.0.1:0\"\n\n[deal_to_order]\nadmin_addr = \"127.0.0.1:0\"\n\n{}\n{}",
            crmerp_testkit::vendors::crm_config("hubspot", &sandbox)?,
            crmerp_testkit::vendors::erp_config("netsuite", &sandbox)?,
        );
        std::fs::write(&config_path, config)?;
        let ingress = spawn_service(dir.path(), "ingress", &config_path, extra_env, "http").await?;
        let worker = spawn_service(
            dir.path(),
            "deal-to-order",
            &config_path,
            extra_env,
            "admin",
        )
        .await?;
        let ingress_url = format!("http://{}", ingress.listener("http")?);
        let worker_url = format!("http://{}", worker.listener("admin")?);

        let netsuite = NetSuiteApi::new(&netsuite_url);
        netsuite.ensure_item("SKU-100", "Widget", "100.00").await?;
        netsuite.ensure_item("SKU-200", "Gadget", "49.50").await?;

        let http = reqwest::Client::new();
        for url in [
            format!("{ingress_url}/readyz"),
            format!("{worker_url}/readyz"),
        ] {
            crmerp_testkit::eventually(&url, Duration::from_secs(30), || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let response = http.get(&url).send().await.ok()?;
                    response.status().is_success().then_some(())
                }
            })
            .await?;
        }
        Ok(Self {
            dir,
            nats,
            sandbox,
            ingress,
            worker,
            nats_url,
            ingress_url,
            hubspot_url,
        })
    }

    /// `(name, pid)` of every process, product services first.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        [
            ("ingress", &self.ingress),
            ("deal-to-order", &self.worker),
            ("nats-server", &self.nats),
            ("sandbox", &self.sandbox),
        ]
        .into_iter()
        .filter_map(|(name, process)| process.pid().map(|pid| (name, pid)))
        .collect()
    }

    /// A JetStream context on the stack's server.
    pub async fn jetstream(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        let client = async_nats::connect(&self.nats_url).await?;
        Ok(async_nats::jetstream::new(client))
    }
}

/// Every simulator the sandbox binds; each gets a free port so nothing collides.
fn crmerp_sandbox_vendors() -> &'static [&'static str] {
    crmerp_sandbox::VENDORS
}

async fn start_nats(dir: &Path, durability: Durability) -> anyhow::Result<(Process, String)> {
    let store = dir.join("jetstream");
    std::fs::create_dir_all(&store)?;
    let sync = match durability {
        Durability::Shipped => "\n  sync_interval: always",
        Durability::Throughput => "",
    };
    let config = format!(
        // The streams reserve ~13 GiB when declared; the run writes far less,
        // so the limit only has to admit the reservations on a smaller disk.
        "listen: \"127.0.0.1:-1\"\nserver_name: bench\njetstream {{\n  store_dir: \"{}\"\n  max_file_store: 1T{sync}\n}}\n",
        store.display()
    );
    let config_path = dir.join("nats.conf");
    std::fs::write(&config_path, config)?;
    let program = paths::nats_server()?;
    let process = Process::spawn(Spawn {
        name: "nats-server",
        program: &program,
        args: vec!["-c".into(), config_path.display().to_string()],
        env: vec![],
        log_dir: dir,
        listeners: &[],
        ready_marker: Some("Server is ready"),
    })
    .await
    .context("starting nats-server")?;
    let log = std::fs::read_to_string(process.log_path())?;
    let marker = "Listening for client connections on ";
    let port = log
        .lines()
        .rev()
        .find_map(|line| line.split(marker).nth(1))
        .and_then(|addr| addr.trim().rsplit(':').next())
        .and_then(|port| port.parse::<u16>().ok())
        .context("nats-server did not log its client port")?;
    Ok((process, format!("nats://127.0.0.1:{port}")))
}

async fn spawn_service(
    dir: &Path,
    name: &str,
    config: &Path,
    extra_env: &[(String, String)],
    listener: &str,
) -> anyhow::Result<Process> {
    let program = paths::binary(name)?;
    let mut env = vec![("CRMERP_CONFIG".to_owned(), config.display().to_string())];
    env.extend(extra_env.iter().cloned());
    Process::spawn(Spawn {
        name,
        program: &program,
        args: vec![],
        env,
        log_dir: dir,
        listeners: &[listener],
        ready_marker: None,
    })
    .await
    .with_context(|| format!("starting {name}"))
}
