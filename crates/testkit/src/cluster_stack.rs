//! The product scaled out on loopback: a NATS JetStream cluster with R3
//! streams, the sandbox, ingress and several deal-to-order replicas sharing
//! one durable consumer. Replicas and NATS nodes can be killed and started
//! while work flows, as a platform team's cluster loses pods and nodes.

use anyhow::Context;

use crate::hubspot::HubSpotApi;
use crate::nats_cluster::NatsCluster;
use crate::netsuite::NetSuiteApi;
use crate::paths::binary;
use crate::process::{Process, Spawn};
use crate::stack::{erp_request_timeout_ms, sandbox_args, wait_until_ready as wait_ready};
use crate::vendors::{self, ErpInspector};

/// The ERP of the scaled-out stack: Business Central stores a second order with
/// the same reference (as the real one does), so a doubled create shows.
pub const ERP: &str = "businesscentral";

/// Knobs of a [`ClusterStack`].
#[derive(Debug, Clone)]
pub struct ClusterStackOptions {
    /// NATS nodes; streams get this many replicas.
    pub nats_nodes: usize,
    /// deal-to-order replicas started with the stack (more with [`ClusterStack::start_worker`]).
    pub workers: usize,
    /// JetStream ack wait: how soon a killed replica's in-flight deals go to another.
    pub ack_wait: &'static str,
    /// Concurrent deals per replica.
    pub concurrency: u32,
    /// Extra environment for every service.
    pub env: Vec<(String, String)>,
}

impl Default for ClusterStackOptions {
    fn default() -> Self {
        Self {
            nats_nodes: 3,
            workers: 2,
            ack_wait: "3s",
            concurrency: 16,
            env: Vec::new(),
        }
    }
}

/// A running scaled-out stack. Every process dies with it.
pub struct ClusterStack {
    /// Logs, stores and config live here.
    pub dir: tempfile::TempDir,
    /// The JetStream cluster.
    pub cluster: NatsCluster,
    /// The vendor simulator.
    pub sandbox: Process,
    /// The webhook ingress.
    pub ingress: Process,
    /// deal-to-order replicas; `None` once killed.
    pub workers: Vec<Option<Process>>,
    /// HubSpot API client pointed at the sandbox.
    pub hubspot: HubSpotApi,
    /// NetSuite API client pointed at the sandbox.
    pub netsuite: NetSuiteApi,
    /// Reads the ERP ([`ERP`]) through its own API.
    pub erp: Box<dyn ErpInspector>,
    env: Vec<(String, String)>,
}

impl ClusterStack {
    /// Starts the cluster, the sandbox, ingress and the replicas; seeds the
    /// ERP items `SKU-100` and `SKU-200`.
    pub async fn start(options: ClusterStackOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("crmerp-cluster-")
            .tempdir()?;
        let cluster = NatsCluster::start(&dir.path().join("nats"), options.nats_nodes).await?;
        let sandbox_bin = binary("crmerp-sandbox")?;
        let sandbox = Process::spawn(Spawn {
            name: "sandbox",
            program: &sandbox_bin,
            args: {
                let mut args = sandbox_args(&["hubspot", "netsuite", ERP], "both");
                // Webhooks refused during a NATS fail-over come back quickly.
                args.extend(
                    [
                        "--webhook-initial-delay-ms",
                        "200",
                        "--webhook-max-delay-ms",
                        "2000",
                    ]
                    .map(str::to_owned),
                );
                args
            },
            env: vec![],
            log_dir: dir.path(),
            listeners: &["hubspot", "netsuite", ERP],
            ready_marker: None,
        })
        .await?;

        let config_path = dir.path().join("crmerp.toml");
        let config = render_config(&cluster.url(0), &options)
            + &vendors::crm_config("hubspot", &sandbox)?
            + "\n"
            + &vendors::erp_config(ERP, &sandbox)?
            + &format!(
                "\n[erp.{ERP}.timeouts]\nrequest_timeout_ms = {}\n",
                erp_request_timeout_ms(ERP)
            );
        std::fs::write(&config_path, config)?;

        let mut env = vec![(
            "CRMERP_CONFIG".to_owned(),
            config_path.display().to_string(),
        )];
        env.extend(options.env.iter().cloned());
        let ingress = Process::spawn(Spawn {
            name: "ingress",
            program: &binary("ingress")?,
            args: vec![],
            env: env.clone(),
            log_dir: dir.path(),
            listeners: &["http"],
            ready_marker: None,
        })
        .await
        .context("starting ingress")?;
        let ingress_url = format!("http://{}", ingress.listener("http")?);
        vendors::point_webhooks("hubspot", &sandbox, &ingress_url, "both").await?;

        let mut stack = Self {
            hubspot: HubSpotApi::new(&format!("http://{}", sandbox.listener("hubspot")?)),
            netsuite: NetSuiteApi::new(&format!("http://{}", sandbox.listener("netsuite")?)),
            erp: vendors::erp_inspector(ERP, &sandbox)?,
            dir,
            cluster,
            sandbox,
            ingress,
            workers: Vec::new(),
            env,
        };
        stack
            .erp
            .ensure_items(&[
                ("SKU-100", "Widget", "100.00"),
                ("SKU-200", "Gadget", "49.50"),
            ])
            .await?;
        wait_ready(&format!("{ingress_url}/readyz")).await?;
        for _ in 0..options.workers {
            stack.start_worker().await?;
        }
        Ok(stack)
    }

    /// Starts one more deal-to-order replica, waits until it consumes, and returns its index.
    pub async fn start_worker(&mut self) -> anyhow::Result<usize> {
        let index = self.workers.len();
        let name = format!("deal-to-order-{index}");
        let worker = Process::spawn(Spawn {
            name: &name,
            program: &binary("deal-to-order")?,
            args: vec![],
            env: self.env.clone(),
            log_dir: self.dir.path(),
            listeners: &["admin"],
            ready_marker: None,
        })
        .await
        .with_context(|| format!("starting {name}"))?;
        wait_ready(&format!("http://{}/readyz", worker.listener("admin")?)).await?;
        self.workers.push(Some(worker));
        Ok(index)
    }

    /// SIGKILL replica `index`, as a crashed pod: its in-flight deals come
    /// back to the others after the ack wait.
    pub async fn kill_worker(&mut self, index: usize) -> anyhow::Result<()> {
        if let Some(mut worker) = self.workers.get_mut(index).and_then(Option::take) {
            worker.kill().await?;
        }
        Ok(())
    }

    /// Makes every call to the sandbox's `vendor` listener (`hubspot`,
    /// `netsuite`, `businesscentral`) take `latency_ms` longer, as real vendor APIs do.
    pub async fn set_vendor_latency(&self, vendor: &str, latency_ms: u64) -> anyhow::Result<()> {
        let url = format!("http://{}/__sandbox/faults", self.sandbox.listener(vendor)?);
        let response = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({ "status": 200, "latency_ms": latency_ms }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "sandbox fault: {}",
            response.status()
        );
        Ok(())
    }

    /// Number of deals replica `index` worked on (finished or not): the
    /// distinct trace ids of its log lines, one trace per deal.
    pub fn deals_handled_by(&self, index: usize) -> usize {
        let path = self.dir.path().join(format!("deal-to-order-{index}.log"));
        let log = std::fs::read_to_string(path).unwrap_or_default();
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|line| line["trace_id"].as_str().map(str::to_owned))
            .collect::<std::collections::HashSet<_>>()
            .len()
    }

    /// How many order creates the ERP answered with success (every effective
    /// create, a doubled one included).
    pub async fn effective_order_creates(&self) -> anyhow::Result<usize> {
        let path = self
            .erp
            .order_create_path()
            .ok_or_else(|| anyhow::anyhow!("{ERP} has no countable create path"))?;
        let response = reqwest::Client::new()
            .get(format!(
                "http://{}/__sandbox/requests",
                self.sandbox.listener(ERP)?
            ))
            .query(&[("method", "POST"), ("path_prefix", path.as_str())])
            .send()
            .await?;
        let body: serde_json::Value = response.json().await?;
        let log = body["requests"].as_array().cloned().unwrap_or_default();
        Ok(crate::faults::successful_requests_on(&log, &path))
    }

    /// A JetStream context on a client that fails over between the nodes.
    pub async fn jetstream(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        Ok(async_nats::jetstream::new(self.cluster.client().await?))
    }
}

fn render_config(nats: &str, options: &ClusterStackOptions) -> String {
    format!(
        r#"[nats]
url = "{nats}"
replicas = {replicas}
duplicate_window = "2m"

[telemetry]
log_format = "json"
log_filter = "info"

[ingress]
addr = "127.0.0.1:0"
body_limit = 1048576

[deal_to_order]
admin_addr = "127.0.0.1:0"
min_order_value = "0"

[flow]
ack_wait = "{ack_wait}"
max_deliver = 20
retry_schedule = ["200ms", "400ms", "800ms", "1s", "1s"]
max_ack_pending = 1000
concurrency = {concurrency}
shutdown_grace = "5s"
publish_retry_delay = "200ms"
claim_ttl = "{claim_ttl}ms"
claim_wait = "60s"

"#,
        replicas = options.nats_nodes,
        ack_wait = options.ack_wait,
        concurrency = options.concurrency,
        claim_ttl = 4 * erp_request_timeout_ms(ERP),
    )
}
