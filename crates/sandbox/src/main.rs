//! `crmerp-sandbox`: runs every simulator of [`crmerp_sandbox::SIMULATORS`] on its own
//! listener until SIGTERM or SIGINT. Each gets a `--<name>-addr` flag (and
//! `SANDBOX_<NAME>_ADDR`) from the table.
//!
//! On start it logs one JSON line per listener to stdout,
//! `{"timestamp":..,"level":"INFO","message":"Listening.","listener":"hubspot","addr":"127.0.0.1:PORT",..}`,
//! which test harnesses parse to find the bound ports (useful with port 0).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser};
use crmerp_sandbox::{
    DEV_HUBSPOT_APP_ID, DEV_HUBSPOT_CLIENT_SECRET, DEV_HUBSPOT_PORTAL_ID, DEV_HUBSPOT_TOKEN,
    DEV_NETSUITE_ACCOUNT, DEV_NETSUITE_CONSUMER_KEY, DEV_NETSUITE_CONSUMER_SECRET,
    DEV_NETSUITE_TOKEN_ID, DEV_NETSUITE_TOKEN_SECRET, EventConfig, HubSpotConfig, NetSuiteConfig,
    RetryPolicy, SIMULATORS, SandboxConfig, SignatureMode, WebhookConfig,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Log target of the "Listening." lines; always enabled whatever `RUST_LOG` says.
const LISTEN_TARGET: &str = "crmerp_sandbox::listen";

/// Simulators of the CRM and ERP vendor APIs (one listener each).
#[derive(Debug, Parser)]
#[command(name = "crmerp-sandbox", version, about)]
struct Args {
    /// URL receiving Salesforce Outbound Messages of won opportunities (e.g. ingress's
    /// /webhooks/salesforce/outbound-message); none are sent without it.
    #[arg(long, env = "SANDBOX_SALESFORCE_NOTIFY_URL")]
    salesforce_notify_url: Option<String>,
    /// URL receiving the NetSuite User Event script's signed record-change POSTs.
    #[arg(long, env = "SANDBOX_NETSUITE_EVENTS_URL")]
    netsuite_events_url: Option<String>,
    /// URL receiving S/4HANA's business events (Event Mesh CloudEvents, structured mode).
    #[arg(long, env = "SANDBOX_S4HANA_EVENTS_URL")]
    s4hana_events_url: Option<String>,
    /// URL receiving Oracle Fusion's Order Management business-event callbacks.
    #[arg(long, env = "SANDBOX_ORACLEFUSION_EVENTS_URL")]
    oraclefusion_events_url: Option<String>,
    /// URL receiving Pipedrive webhooks v2 (e.g. ingress's /webhooks/pipedrive).
    #[arg(long, env = "SANDBOX_PIPEDRIVE_WEBHOOK_URL")]
    pipedrive_webhook_url: Option<String>,
    /// URL of the Dataverse service endpoint (e.g. ingress's /webhooks/dynamics365).
    #[arg(long, env = "SANDBOX_DYNAMICS365_WEBHOOK_URL")]
    dynamics365_webhook_url: Option<String>,
    /// Bind every simulator not given an address on 127.0.0.1:0 (a free port) instead of
    /// its default port, so that several sandboxes run side by side.
    #[arg(long, env = "SANDBOX_FREE_PORTS")]
    free_ports: bool,
    /// Directory for `<simulator>.json` state files; state is memory-only without it.
    #[arg(long, env = "SANDBOX_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// URL receiving HubSpot webhooks, e.g. http://127.0.0.1:8080/webhooks/hubspot.
    #[arg(long, env = "SANDBOX_WEBHOOK_TARGET")]
    webhook_target: Option<String>,
    /// Webhook signature headers to send: v1, v3 or both.
    #[arg(long, env = "SANDBOX_WEBHOOK_SIGNATURE", default_value_t = SignatureMode::Both)]
    webhook_signature: SignatureMode,
    /// Webhook delivery attempts, the first included.
    #[arg(long, env = "SANDBOX_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    webhook_max_attempts: u32,
    /// Delay before the first webhook retry, in milliseconds; doubles per retry.
    #[arg(long, env = "SANDBOX_WEBHOOK_INITIAL_DELAY_MS", default_value_t = 1000)]
    webhook_initial_delay_ms: u64,
    /// Upper bound of one webhook retry delay, in milliseconds.
    #[arg(long, env = "SANDBOX_WEBHOOK_MAX_DELAY_MS", default_value_t = 300_000)]
    webhook_max_delay_ms: u64,
    /// Timeout of one webhook delivery attempt, in milliseconds.
    #[arg(long, env = "SANDBOX_WEBHOOK_TIMEOUT_MS", default_value_t = 5000)]
    webhook_timeout_ms: u64,
    /// HubSpot private-app token that API requests must carry.
    #[arg(long, env = "SANDBOX_HUBSPOT_TOKEN", default_value = DEV_HUBSPOT_TOKEN, hide_env_values = true)]
    hubspot_token: String,
    /// HubSpot app client secret that signs webhooks.
    #[arg(long, env = "SANDBOX_HUBSPOT_CLIENT_SECRET", default_value = DEV_HUBSPOT_CLIENT_SECRET, hide_env_values = true)]
    hubspot_client_secret: String,
    /// HubSpot portal id reported in webhook events.
    #[arg(long, env = "SANDBOX_HUBSPOT_PORTAL_ID", default_value_t = DEV_HUBSPOT_PORTAL_ID)]
    hubspot_portal_id: u64,
    /// HubSpot app id reported in webhook events.
    #[arg(long, env = "SANDBOX_HUBSPOT_APP_ID", default_value_t = DEV_HUBSPOT_APP_ID)]
    hubspot_app_id: u64,
    /// HubSpot requests allowed per 10 seconds before 429.
    #[arg(long, env = "SANDBOX_HUBSPOT_RATE_LIMIT", default_value_t = 1_000_000)]
    hubspot_rate_limit: u32,
    /// HubSpot requests allowed per day before 429.
    #[arg(
        long,
        env = "SANDBOX_HUBSPOT_DAILY_LIMIT",
        default_value_t = 1_000_000_000
    )]
    hubspot_daily_limit: u64,
    /// NetSuite account id (the OAuth realm).
    #[arg(long, env = "SANDBOX_NETSUITE_ACCOUNT", default_value = DEV_NETSUITE_ACCOUNT)]
    netsuite_account: String,
    /// NetSuite consumer key.
    #[arg(long, env = "SANDBOX_NETSUITE_CONSUMER_KEY", default_value = DEV_NETSUITE_CONSUMER_KEY)]
    netsuite_consumer_key: String,
    /// NetSuite consumer secret.
    #[arg(long, env = "SANDBOX_NETSUITE_CONSUMER_SECRET", default_value = DEV_NETSUITE_CONSUMER_SECRET, hide_env_values = true)]
    netsuite_consumer_secret: String,
    /// NetSuite token id.
    #[arg(long, env = "SANDBOX_NETSUITE_TOKEN_ID", default_value = DEV_NETSUITE_TOKEN_ID)]
    netsuite_token_id: String,
    /// NetSuite token secret.
    #[arg(long, env = "SANDBOX_NETSUITE_TOKEN_SECRET", default_value = DEV_NETSUITE_TOKEN_SECRET, hide_env_values = true)]
    netsuite_token_secret: String,
    /// NetSuite requests served at once before 429 CONCURRENCY_LIMIT_EXCEEDED (unlimited if unset).
    #[arg(long, env = "SANDBOX_NETSUITE_CONCURRENCY_LIMIT")]
    netsuite_concurrency_limit: Option<usize>,
}

impl Args {
    fn into_config(self) -> SandboxConfig {
        SandboxConfig {
            hubspot: HubSpotConfig {
                access_token: self.hubspot_token,
                client_secret: self.hubspot_client_secret,
                portal_id: self.hubspot_portal_id,
                app_id: self.hubspot_app_id,
                rate_limit_per_interval: self.hubspot_rate_limit,
                daily_limit: self.hubspot_daily_limit,
                webhooks: WebhookConfig {
                    target_url: self.webhook_target,
                    signature: self.webhook_signature,
                    retry: RetryPolicy {
                        max_attempts: self.webhook_max_attempts,
                        initial_delay: Duration::from_millis(self.webhook_initial_delay_ms),
                        max_delay: Duration::from_millis(self.webhook_max_delay_ms),
                    },
                    request_timeout: Duration::from_millis(self.webhook_timeout_ms),
                    ..WebhookConfig::default()
                },
                ..HubSpotConfig::default()
            },
            netsuite: NetSuiteConfig {
                account: self.netsuite_account,
                consumer_key: self.netsuite_consumer_key,
                consumer_secret: self.netsuite_consumer_secret,
                token_id: self.netsuite_token_id,
                token_secret: self.netsuite_token_secret,
                concurrency_limit: self.netsuite_concurrency_limit,
                events: events(self.netsuite_events_url),
                ..NetSuiteConfig::default()
            },
            salesforce: crmerp_sandbox::SalesforceConfig {
                notify_url: self.salesforce_notify_url,
                ..crmerp_sandbox::SalesforceConfig::default()
            },
            pipedrive: crmerp_sandbox::PipedriveConfig {
                webhook_url: self.pipedrive_webhook_url,
                ..crmerp_sandbox::PipedriveConfig::default()
            },
            dynamics365: crmerp_sandbox::Dynamics365Config {
                webhook_url: self.dynamics365_webhook_url,
                ..crmerp_sandbox::Dynamics365Config::default()
            },
            businesscentral: crmerp_sandbox::BusinessCentralConfig::default(),
            s4hana: crmerp_sandbox::S4HanaSandboxConfig {
                events: events(self.s4hana_events_url),
                ..crmerp_sandbox::S4HanaSandboxConfig::default()
            },
            oraclefusion: crmerp_sandbox::OracleFusionSandboxConfig {
                events: events(self.oraclefusion_events_url),
                ..crmerp_sandbox::OracleFusionSandboxConfig::default()
            },
            state_dir: self.state_dir,
        }
    }
}

/// Default event delivery to `target_url`.
fn events(target_url: Option<String>) -> EventConfig {
    EventConfig {
        target_url,
        ..EventConfig::default()
    }
}

/// JSON lines on stdout, filtered by `RUST_LOG` (default `info`).
fn init_tracing() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .add_directive(
            format!("{LISTEN_TARGET}=info")
                .parse()
                .context("Invalid listen log directive.")?,
        );
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .try_init()
        .map_err(|error| anyhow::anyhow!(error))
        .context("Failed to initialise logging.")
}

/// Adds `--<name>-addr` for every simulator of the table.
fn command() -> clap::Command {
    SIMULATORS.iter().fold(Args::command(), |command, spec| {
        command.arg(
            clap::Arg::new(spec.addr_flag)
                .long(spec.addr_flag)
                .env(spec.addr_env)
                .value_name("ADDR")
                .value_parser(clap::value_parser!(SocketAddr))
                .help(format!(
                    "Address of the {} listener [default: {}] (port 0 picks a free port).",
                    spec.name, spec.default_addr
                )),
        )
    })
}

/// Each simulator's address: the flag's, else the default (or a free port with `--free-ports`).
fn addresses(
    matches: &clap::ArgMatches,
    free_ports: bool,
) -> anyhow::Result<Vec<(&'static str, SocketAddr)>> {
    SIMULATORS
        .iter()
        .map(|spec| {
            let addr = match matches.get_one::<SocketAddr>(spec.addr_flag) {
                Some(addr) => *addr,
                None if free_ports => SocketAddr::from(([127, 0, 0, 1], 0)),
                None => spec
                    .default_addr
                    .parse()
                    .with_context(|| format!("Bad default address of {}.", spec.name))?,
            };
            Ok((spec.name, addr))
        })
        .collect()
}

async fn bind(addr: SocketAddr, listener: &'static str) -> anyhow::Result<TcpListener> {
    let bound = TcpListener::bind(addr)
        .await
        .with_context(|| format!("Failed to bind the {listener} listener to {addr}."))?;
    let local = bound
        .local_addr()
        .context("Failed to read a bound address.")?;
    tracing::info!(target: LISTEN_TARGET, listener, addr = %local, "Listening.");
    Ok(bound)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "Failed to listen for SIGINT.");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "Failed to listen for SIGTERM.");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = command().get_matches();
    let args = Args::from_arg_matches(&matches)?;
    init_tracing()?;
    let mut listeners = Vec::with_capacity(SIMULATORS.len());
    for (name, addr) in addresses(&matches, args.free_ports)? {
        listeners.push((name, bind(addr, name).await?));
    }
    let config = args.into_config();

    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("Shutting down.");
        trigger.cancel();
    });

    crmerp_sandbox::serve(config, listeners, shutdown)
        .await
        .context("Sandbox failed.")?;
    tracing::info!("Stopped.");
    Ok(())
}
