//! HTTP-level simulators of the CRM and ERP vendor APIs: HubSpot, Salesforce,
//! Pipedrive and Dataverse (Dynamics 365) on the CRM side; NetSuite, Business
//! Central, SAP S/4HANA and Oracle Fusion on the ERP side. See
//! `docs/simulators.md`.
//!
//! The sandbox stands in for the real vendors in `make run`, in end-to-end tests and in
//! benchmarks. Each simulator of the table [`SIMULATORS`] gets its own listener and behaves
//! like the real service at the HTTP level: the same paths, authentication checks, payload
//! shapes, status codes and error bodies. Each is built from the same kit (`kit/`): state kept
//! in memory and optionally persisted to a directory, the `/__sandbox/` control plane (faults,
//! request log, state, reset), token endpoints, and one webhook emitter with retries and a
//! delivery log. CRMs send their webhooks; ERPs send their own change events (Business Central
//! subscription notifications, NetSuite User Event script POSTs, S/4HANA Event Mesh
//! CloudEvents, Oracle Fusion business-event callbacks) and can be driven through
//! fulfilment with `POST /__sandbox/orders/{order}/fulfilment`.
//!
//! Start it in-process with [`serve`] (passing already-bound listeners) or [`spawn`] (which binds
//! the HubSpot and NetSuite simulators on `127.0.0.1:0`), or run the `crmerp-sandbox` binary.
//!
//! # Control endpoints
//!
//! On each listener, outside the vendor paths and without authentication:
//!
//! | Endpoint | Effect |
//! |---|---|
//! | `POST /__sandbox/faults` | set the fault ([`FaultSpec`]): `status` 0 drops the connection unanswered, a 2xx status only adds `latency_ms`, any other answers the vendor's own error body |
//! | `GET` / `DELETE /__sandbox/faults` | show (`{"fault","injected","remaining"}`) / clear the fault |
//! | `GET /__sandbox/requests?path_prefix=&method=` | request log `{"count","requests":[{"seq","method","path","query","status","fault","time","duration_ms"}]}` (last 100,000; status 0 = dropped) |
//! | `DELETE /__sandbox/requests` | clear the request log |
//! | `GET /__sandbox/state` | the vendor's state as JSON |
//! | `POST /__sandbox/reset` | clear the state (HubSpot keeps its seeded properties), tokens, faults, the request log and the delivery log |
//! | `GET` / `PUT /__sandbox/webhooks` | where webhooks or events go, `{"target_url"}` plus `signature` (HubSpot, `v1\|v3\|both`), `format` (Salesforce, `outbound_message\|callout`), `http_auth_user`/`http_auth_password` (Pipedrive); not Business Central, whose targets are its API subscriptions |
//! | `GET` / `DELETE /__sandbox/webhooks/deliveries` | one entry per delivery attempt |
//! | `POST /__sandbox/orders/{order}/fulfilment` | the ERP simulators: `{"status":"picking\|packed\|dispatched\|delivered\|invoiced\|paid","carrier","tracking_number"}` |

mod businesscentral;
mod config;
mod conn;
mod control;
mod dynamics365;
pub mod edmx;
mod error;
mod hubspot;
mod kit;
mod netsuite;
mod odata;
mod oraclefusion;
mod pipedrive;
mod s4hana;
mod salesforce;
mod util;
mod vendors;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use businesscentral::config::{
    BusinessCentralConfig, DEV_BC_CLIENT_ID, DEV_BC_CLIENT_SECRET, DEV_BC_COMPANY_ID,
    DEV_BC_ENVIRONMENT, DEV_BC_TENANT_ID,
};
pub use config::{
    DEV_HUBSPOT_APP_ID, DEV_HUBSPOT_CLIENT_SECRET, DEV_HUBSPOT_PORTAL_ID, DEV_HUBSPOT_TOKEN,
    DEV_NETSUITE_ACCOUNT, DEV_NETSUITE_CONSUMER_KEY, DEV_NETSUITE_CONSUMER_SECRET,
    DEV_NETSUITE_EVENTS_SECRET, DEV_NETSUITE_TOKEN_ID, DEV_NETSUITE_TOKEN_SECRET, EventConfig,
    HubSpotConfig, NetSuiteConfig, RetryPolicy, SandboxConfig, SignatureMode, WebhookConfig,
};
pub use control::{FaultBody, FaultSpec, OVERSIZED_BODY_BYTES};
pub use dynamics365::config::{
    DEV_DYNAMICS_CLIENT_ID, DEV_DYNAMICS_CLIENT_SECRET, DEV_DYNAMICS_ORG_ID,
    DEV_DYNAMICS_TENANT_ID, DEV_DYNAMICS_WEBHOOK_HEADER, DEV_DYNAMICS_WEBHOOK_SECRET,
    Dynamics365Config,
};
pub use error::SandboxError;
pub use oraclefusion::config::{
    DEV_ORACLE_BUSINESS_UNIT, DEV_ORACLE_CLIENT_ID, DEV_ORACLE_CLIENT_SECRET, DEV_ORACLE_PASSWORD,
    DEV_ORACLE_SOURCE_SYSTEM, DEV_ORACLE_USER, OracleFusionConfig as OracleFusionSandboxConfig,
};
pub use pipedrive::config::{
    DEV_PIPEDRIVE_API_TOKEN, DEV_PIPEDRIVE_CARRIER_FIELD, DEV_PIPEDRIVE_CLIENT_ID,
    DEV_PIPEDRIVE_CLIENT_SECRET, DEV_PIPEDRIVE_DELIVERED_AT_FIELD,
    DEV_PIPEDRIVE_FULFILMENT_STATUS_FIELD, DEV_PIPEDRIVE_ORDER_FIELD, DEV_PIPEDRIVE_REFRESH_TOKEN,
    DEV_PIPEDRIVE_STATUS_FIELD, DEV_PIPEDRIVE_TRACKING_NUMBER_FIELD,
    DEV_PIPEDRIVE_TRACKING_URL_FIELD, DEV_PIPEDRIVE_WEBHOOK_PASSWORD, DEV_PIPEDRIVE_WEBHOOK_USER,
    PipedriveConfig,
};
pub use s4hana::config::{
    CloudEventsMode as S4CloudEventsMode, DEV_S4_CLIENT_ID, DEV_S4_CLIENT_SECRET, DEV_S4_PASSWORD,
    DEV_S4_USER, S4HanaConfig as S4HanaSandboxConfig,
};
pub use salesforce::config::{
    DEV_SALESFORCE_CALLOUT_SECRET, DEV_SALESFORCE_CLIENT_ID, DEV_SALESFORCE_CLIENT_SECRET,
    DEV_SALESFORCE_JWT_PUBLIC_KEY, DEV_SALESFORCE_ORG_ID, DEV_SALESFORCE_USERNAME, NotifyFormat,
    SalesforceConfig,
};
pub use vendors::{SIMULATORS, SimulatorSpec, VENDORS};

/// Serves one simulator per `(vendor name, listener)` until `shutdown` is
/// cancelled, then flushes state to the state directory (when one is configured).
///
/// State is loaded from the state directory before the listeners start answering.
/// Vendor names are those of [`VENDORS`].
///
/// # Errors
///
/// Fails for an unknown vendor name, when the persisted state cannot be read or
/// parsed, when a server fails, or when the final state flush fails.
pub async fn serve(
    config: SandboxConfig,
    listeners: Vec<(&'static str, TcpListener)>,
    shutdown: CancellationToken,
) -> Result<(), SandboxError> {
    let ctx = kit::Context {
        config: &config,
        state_dir: config.state_dir.as_deref(),
        shutdown: &shutdown,
    };
    let mut simulators = Vec::with_capacity(listeners.len());
    for (name, listener) in listeners {
        simulators.push((name, vendors::build(name, &ctx)?, listener));
    }
    let persisters: Vec<kit::Persister> = simulators
        .iter()
        .filter_map(|(_, s, _)| s.persister.clone())
        .collect();
    let persist_tasks = persisters
        .iter()
        .cloned()
        .map(|persister| tokio::spawn(persister.run(shutdown.clone())))
        .collect::<Vec<_>>();

    let servers = simulators.into_iter().map(|(name, simulator, listener)| {
        let shutdown = shutdown.clone();
        async move {
            let result = conn::run_http(listener, simulator.router, shutdown).await;
            (name, result)
        }
    });
    let results = futures::future::join_all(servers).await;

    // A server can only stop early on an I/O error; make sure everything else stops too.
    shutdown.cancel();
    for task in persist_tasks {
        if let Err(error) = task.await {
            tracing::error!(%error, "State persister task failed.");
        }
    }
    for persister in persisters {
        persister.flush().await?;
    }
    for (listener, result) in results {
        result.map_err(|source| SandboxError::Serve { listener, source })?;
    }
    Ok(())
}

/// A sandbox started in the background by [`spawn`].
#[derive(Debug)]
pub struct RunningSandbox {
    hubspot_addr: SocketAddr,
    netsuite_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), SandboxError>>,
}

impl RunningSandbox {
    /// Address the HubSpot simulator listens on.
    #[must_use]
    pub fn hubspot_addr(&self) -> SocketAddr {
        self.hubspot_addr
    }

    /// Address the NetSuite simulator listens on.
    #[must_use]
    pub fn netsuite_addr(&self) -> SocketAddr {
        self.netsuite_addr
    }

    /// Base URL of the HubSpot simulator, e.g. `http://127.0.0.1:40123`.
    #[must_use]
    pub fn hubspot_url(&self) -> String {
        format!("http://{}", self.hubspot_addr)
    }

    /// Base URL of the NetSuite simulator, e.g. `http://127.0.0.1:40124`.
    #[must_use]
    pub fn netsuite_url(&self) -> String {
        format!("http://{}", self.netsuite_addr)
    }

    /// Stops the simulators, waits for the state flush and returns the outcome of [`serve`].
    ///
    /// # Errors
    ///
    /// Returns the error [`serve`] ended with, or [`SandboxError::Task`] when its task panicked.
    pub async fn shutdown(self) -> Result<(), SandboxError> {
        self.shutdown.cancel();
        self.task.await.map_err(SandboxError::Task)?
    }
}

/// Binds the HubSpot and NetSuite simulators on `127.0.0.1:0` and serves them in a
/// background task (other simulators: [`serve`] with listeners of your own).
///
/// # Errors
///
/// Fails when a listener cannot be bound.
pub async fn spawn(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
    let bind = |listener: &'static str| async move {
        TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| SandboxError::Bind { listener, source })
    };
    let hubspot_listener = bind("hubspot").await?;
    let netsuite_listener = bind("netsuite").await?;
    let local_addr = |listener: &TcpListener, name: &'static str| {
        listener.local_addr().map_err(|source| SandboxError::Bind {
            listener: name,
            source,
        })
    };
    let hubspot_addr = local_addr(&hubspot_listener, "hubspot")?;
    let netsuite_addr = local_addr(&netsuite_listener, "netsuite")?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        config,
        vec![
            ("hubspot", hubspot_listener),
            ("netsuite", netsuite_listener),
        ],
        shutdown.clone(),
    ));
    Ok(RunningSandbox {
        hubspot_addr,
        netsuite_addr,
        shutdown,
        task,
    })
}
