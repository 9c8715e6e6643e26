//! The whole product on loopback: nats-server, sandbox, ingress, deal-to-order
//! and, when asked, fulfilment-sync.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::hubspot::HubSpotApi;
use crate::nats_server::NatsServer;
use crate::netsuite::NetSuiteApi;
use crate::paths::binary;
use crate::process::{Process, Spawn};
use crate::tryton::TrytonServer;
use crate::vendors::{self, CrmDriver, ErpInspector};

/// Knobs a test can turn.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Extra TOML appended to the generated config (later keys win per section
    /// only when written as full sections; prefer `env`).
    pub env: Vec<(String, String)>,
    /// Retry schedule, fast by default so tests run the real schedule in milliseconds.
    pub retry_schedule: Vec<&'static str>,
    /// Deliveries before dead-lettering.
    pub max_deliver: u32,
    /// JetStream ack wait.
    pub ack_wait: &'static str,
    /// Which signatures the sandbox puts on webhooks: v1, v3 or both.
    pub webhook_signature: &'static str,
    /// Start deal-to-order (off for ingress-only tests).
    pub with_worker: bool,
    /// Also start fulfilment-sync (see [`Stack::fulfilment`]).
    pub with_fulfilment: bool,
    /// Also start Postgres and the monitoring service (see [`Stack::monitoring`]).
    pub with_monitoring: bool,
    /// The CRM of this deployment (see [`crate::vendors::CRMS`]).
    pub crm: &'static str,
    /// The ERP of this deployment (see [`crate::vendors::ERPS`]).
    pub erp: &'static str,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            retry_schedule: vec!["100ms", "200ms", "400ms", "800ms", "1600ms"],
            max_deliver: 6,
            ack_wait: "5s",
            webhook_signature: "both",
            with_worker: true,
            with_fulfilment: false,
            with_monitoring: false,
            crm: "hubspot",
            erp: "netsuite",
        }
    }
}

/// A running stack. Every process dies with it.
pub struct Stack {
    /// Logs, stores and config live here.
    pub dir: tempfile::TempDir,
    /// The JetStream server.
    pub nats: NatsServer,
    /// The vendor simulator.
    pub sandbox: Process,
    /// The webhook ingress.
    pub ingress: Process,
    /// The deal-to-order worker, when started.
    pub worker: Option<Process>,
    /// More deal-to-order replicas sharing the worker's durable consumer.
    pub replicas: Vec<Process>,
    /// The fulfilment-sync service, when `with_fulfilment` is set or
    /// [`Stack::start_fulfilment`] was called.
    pub fulfilment: Option<Process>,
    /// More fulfilment-sync replicas sharing its durable consumer.
    pub fulfilment_replicas: Vec<Process>,
    /// Postgres and the monitoring service, when `with_monitoring` is set.
    pub monitoring: Option<crate::monitoring::Monitoring>,
    /// HubSpot API client pointed at the sandbox.
    pub hubspot: HubSpotApi,
    /// NetSuite API client pointed at the sandbox.
    pub netsuite: NetSuiteApi,
    /// Drives the selected CRM through its own API.
    pub crm: Box<dyn CrmDriver>,
    /// Reads the selected ERP through its own API.
    pub erp: Box<dyn ErpInspector>,
    /// The real Tryton server when the ERP is `tryton` (not a sandbox simulator).
    pub tryton: Option<TrytonServer>,
    config_path: PathBuf,
    options: StackOptions,
}

impl Stack {
    /// Creates a complete deal named `name` in the stack's CRM, wins it and
    /// waits (up to `wait`) for the ERP order number written back on it.
    /// Returns the deal and that number.
    pub async fn win_new_deal(
        &self,
        name: &str,
        wait: Duration,
    ) -> anyhow::Result<(crate::hubspot::CreatedDeal, String)> {
        let deal = self
            .crm
            .create_deal(&crate::hubspot::DealSpec::complete(name))
            .await?;
        self.crm.win(&deal.deal_id).await?;
        let number = crate::eventually("the order number on the deal", wait, || async {
            self.crm
                .erp_order_number(&deal.deal_id)
                .await
                .ok()
                .flatten()
        })
        .await?;
        Ok((deal, number))
    }

    /// Starts everything and seeds the NetSuite items `SKU-100` and `SKU-200`.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("crmerp-stack-").tempdir()?;
        let nats = NatsServer::start(&dir.path().join("nats")).await?;
        let sandbox_bin = binary("crmerp-sandbox")?;
        let listeners = sandbox_listeners(&options);
        let sandbox = Process::spawn(Spawn {
            name: "sandbox",
            program: &sandbox_bin,
            args: sandbox_args(&listeners, options.webhook_signature),
            env: vec![],
            log_dir: dir.path(),
            listeners: &listeners,
            ready_marker: None,
        })
        .await?;
        let hubspot_url = format!("http://{}", sandbox.listener("hubspot")?);
        let netsuite_url = format!("http://{}", sandbox.listener("netsuite")?);
        let tryton = if options.erp == crate::tryton::LISTENER {
            Some(TrytonServer::start(dir.path()).await?)
        } else {
            None
        };
        // The process serving the ERP's API: the sandbox, or the real Tryton.
        let erp_host = tryton.as_ref().map_or(&sandbox, TrytonServer::process);

        let config_path = dir.path().join("crmerp.toml");
        let config = render_config(&nats.url(), &options)
            + &vendors::crm_config(options.crm, &sandbox)?
            + "\n"
            + &vendors::erp_config(options.erp, erp_host)?
            + &format!(
                "\n[erp.{kind}.timeouts]\nrequest_timeout_ms = {timeout}\n",
                kind = options.erp,
                timeout = erp_request_timeout_ms(options.erp)
            );
        std::fs::write(&config_path, config)?;

        let ingress =
            spawn_service(dir.path(), "ingress", &config_path, &options.env, &["http"]).await?;
        let ingress_url = format!("http://{}", ingress.listener("http")?);
        // Vendors sign over the exact URL they call, so they must call ingress's real address.
        vendors::point_webhooks(
            options.crm,
            &sandbox,
            &ingress_url,
            options.webhook_signature,
        )
        .await?;

        let worker = if options.with_worker {
            Some(
                spawn_service(
                    dir.path(),
                    "deal-to-order",
                    &config_path,
                    &options.env,
                    &["admin"],
                )
                .await?,
            )
        } else {
            None
        };
        let erp = vendors::erp_inspector(options.erp, erp_host)?;
        let mut stack = Self {
            hubspot: HubSpotApi::new(&hubspot_url),
            netsuite: NetSuiteApi::new(&netsuite_url),
            crm: vendors::crm_driver(options.crm, &sandbox)?,
            erp,
            tryton,
            dir,
            nats,
            sandbox,
            ingress,
            worker,
            replicas: Vec::new(),
            fulfilment: None,
            fulfilment_replicas: Vec::new(),
            monitoring: None,
            config_path,
            options,
        };
        stack
            .netsuite
            .ensure_item("SKU-100", "Widget", "100.00")
            .await?;
        stack
            .netsuite
            .ensure_item("SKU-200", "Gadget", "49.50")
            .await?;
        // The selected ERP's catalogue holds the same items, created through its own API.
        stack
            .erp
            .ensure_items(&[
                ("SKU-100", "Widget", "100.00"),
                ("SKU-200", "Gadget", "49.50"),
            ])
            .await?;
        stack.wait_ready().await?;
        if stack.options.with_fulfilment {
            stack.start_fulfilment().await?;
        }
        if stack.options.with_monitoring {
            stack.monitoring = Some(crate::monitoring::Monitoring::start(&stack).await?);
        }
        Ok(stack)
    }

    /// Base URL of ingress.
    pub fn ingress_url(&self) -> anyhow::Result<String> {
        Ok(format!("http://{}", self.ingress.listener("http")?))
    }

    /// Kills ingress (SIGKILL) and starts it again on the same port, so the
    /// vendors' webhook URL stays valid.
    pub async fn restart_ingress(&mut self) -> anyhow::Result<()> {
        let addr = self.ingress.listener("http")?;
        self.ingress.kill().await?;
        let mut env = self.options.env.clone();
        env.push(("CRMERP__INGRESS__ADDR".to_owned(), addr.to_string()));
        // The old socket may linger for a moment after the kill.
        let mut last_error = None;
        for _ in 0..50 {
            match spawn_service(
                self.dir.path(),
                "ingress",
                &self.config_path,
                &env,
                &["http"],
            )
            .await
            {
                Ok(process) => {
                    self.ingress = process;
                    return Ok(());
                }
                Err(error) => {
                    last_error = Some(error);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("ingress did not restart")))
    }

    /// Adds `key=value` to the environment of every service started from now
    /// on (e.g. settings that name a listener only known once the stack runs).
    pub fn add_env(&mut self, key: &str, value: &str) {
        self.options.env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts (or restarts after a kill) the deal-to-order worker.
    pub async fn start_worker(&mut self) -> anyhow::Result<()> {
        self.worker = Some(self.spawn_worker().await?);
        Ok(())
    }

    async fn spawn_worker(&self) -> anyhow::Result<Process> {
        spawn_service(
            self.dir.path(),
            "deal-to-order",
            &self.config_path,
            &self.options.env,
            &["admin"],
        )
        .await
    }

    /// Starts deal-to-order with `env` on top of the stack's own variables, for
    /// settings known only once the stack runs (e.g. a vendor URL on the
    /// sandbox's port). Fails, naming its log, when it exits before it is ready.
    pub async fn start_worker_with(&mut self, env: &[(String, String)]) -> anyhow::Result<()> {
        let mut all = self.options.env.clone();
        all.extend(env.iter().cloned());
        let worker = spawn_service(
            self.dir.path(),
            "deal-to-order",
            &self.config_path,
            &all,
            &["admin"],
        )
        .await?;
        self.worker = Some(worker);
        Ok(())
    }

    /// Starts one more deal-to-order replica on the same configuration (its own
    /// admin port), sharing the durable consumer as a scaled deployment does.
    pub async fn start_replica(&mut self) -> anyhow::Result<()> {
        let replica = self.spawn_worker().await?;
        wait_until_ready(&format!("http://{}/readyz", replica.listener("admin")?)).await?;
        self.replicas.push(replica);
        Ok(())
    }

    /// Starts (or restarts after a kill) fulfilment-sync on the stack's
    /// configuration and waits until it is ready.
    pub async fn start_fulfilment(&mut self) -> anyhow::Result<()> {
        self.fulfilment = Some(self.spawn_fulfilment().await?);
        Ok(())
    }

    /// Starts one more fulfilment-sync replica (its own admin port) on the
    /// same durable consumer, as a scaled deployment runs it.
    pub async fn start_fulfilment_replica(&mut self) -> anyhow::Result<()> {
        let replica = self.spawn_fulfilment().await?;
        self.fulfilment_replicas.push(replica);
        Ok(())
    }

    async fn spawn_fulfilment(&self) -> anyhow::Result<Process> {
        let process = spawn_service(
            self.dir.path(),
            "fulfilment-sync",
            &self.config_path,
            &self.options.env,
            &["admin"],
        )
        .await?;
        wait_until_ready(&format!("http://{}/readyz", process.listener("admin")?)).await?;
        Ok(process)
    }

    /// The ERP this stack runs against (a name from [`crate::vendors::ERPS`]).
    pub fn erp_kind(&self) -> &'static str {
        self.options.erp
    }

    /// A JetStream context on the stack's server.
    pub async fn jetstream(&self) -> anyhow::Result<async_nats::jetstream::Context> {
        Ok(async_nats::jetstream::new(self.nats.client().await?))
    }

    /// Number of messages currently in `stream`.
    pub async fn stream_messages(&self, stream: &str) -> anyhow::Result<u64> {
        let js = self.jetstream().await?;
        let mut stream = js.get_stream(stream).await?;
        Ok(stream.info().await?.state.messages)
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let ingress = self.ingress_url()?;
        let mut urls = vec![format!("{ingress}/readyz")];
        if let Some(worker) = &self.worker {
            urls.push(format!("http://{}/readyz", worker.listener("admin")?));
        }
        for url in urls {
            wait_until_ready(&url).await?;
        }
        Ok(())
    }
}

/// Waits until `url` (a `/readyz`) answers 2xx.
pub(crate) async fn wait_until_ready(url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    crate::eventually(url, Duration::from_secs(30), || {
        let http = http.clone();
        async move {
            let response = http.get(url).send().await.ok()?;
            response.status().is_success().then_some(())
        }
    })
    .await
}

async fn spawn_service(
    dir: &Path,
    name: &str,
    config: &Path,
    env: &[(String, String)],
    listeners: &[&str],
) -> anyhow::Result<Process> {
    let program = binary(name)?;
    let mut all_env = vec![("CRMERP_CONFIG".to_owned(), config.display().to_string())];
    all_env.extend(env.iter().cloned());
    Process::spawn(Spawn {
        name,
        program: &program,
        args: vec![],
        env: all_env,
        log_dir: dir,
        listeners,
        ready_marker: None,
    })
    .await
    .with_context(|| format!("starting {name}"))
}

/// Sandbox flags: `--free-ports` binds every simulator on a free port, so stacks
/// run in parallel, not only the awaited `listeners` (a simulator left on its
/// default port would collide with the next stack's). The binary knows its own
/// table of simulators, so the harness needs no list of them and does not link
/// the sandbox crate; the awaited listeners are still named explicitly.
pub(crate) fn sandbox_args(listeners: &[&str], signature: &str) -> Vec<String> {
    let mut args = vec!["--free-ports".to_owned()];
    for name in listeners {
        args.extend([format!("--{name}-addr"), "127.0.0.1:0".to_owned()]);
    }
    args.extend(["--webhook-signature".to_owned(), signature.to_owned()]);
    args
}

/// Listener names the sandbox must announce before the stack goes on.
fn sandbox_listeners(options: &StackOptions) -> Vec<&'static str> {
    let mut names = vec![
        "hubspot",
        "netsuite",
        vendors::listener(options.crm),
        vendors::listener(options.erp),
    ];
    // Tryton is a real ERP started by the stack, not a sandbox simulator.
    names.retain(|name| *name != crate::tryton::LISTENER);
    names.sort_unstable();
    names.dedup();
    names
}

/// The ERP request timeout of test stacks: short, so a claim (four times as
/// long) expires within seconds after a crash; the real Tryton server gets more.
pub(crate) fn erp_request_timeout_ms(erp: &str) -> u64 {
    if erp == crate::tryton::LISTENER {
        5_000
    } else {
        2_500
    }
}

fn render_config(nats: &str, options: &StackOptions) -> String {
    let schedule = options
        .retry_schedule
        .iter()
        .map(|d| format!("\"{d}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"[nats]
url = "{nats}"
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

[fulfilment_sync]
admin_addr = "127.0.0.1:0"

[flow]
ack_wait = "{ack_wait}"
max_deliver = {max_deliver}
retry_schedule = [{schedule}]
max_ack_pending = 1000
concurrency = 16
shutdown_grace = "5s"
publish_retry_delay = "200ms"
claim_ttl = "{claim_ttl}ms"
claim_wait = "60s"

"#,
        ack_wait = options.ack_wait,
        max_deliver = options.max_deliver,
        claim_ttl = 4 * erp_request_timeout_ms(options.erp),
    )
}
