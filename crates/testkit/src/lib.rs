//! The test harness: real processes on free loopback ports.
//!
//! [`NatsServer`] runs the real `nats-server` (JetStream, file store,
//! `sync_interval: always`) and can be killed and restarted on the same port and
//! store. [`Process`] runs any of our binaries and learns its bound ports from
//! the `"Listening."` log line every service prints. [`Stack`] wires NATS, the
//! sandbox, ingress and deal-to-order together. [`hubspot`] and [`netsuite`]
//! are small clients of the vendors' own APIs, used by tests and `make demo`
//! exactly as a user would drive the real systems. [`NatsCluster`] and
//! [`ClusterStack`] run the product scaled out (three JetStream nodes, R3
//! streams, several deal-to-order replicas); [`OtlpSink`] collects the spans
//! services export.

pub mod alert_sinks;
pub mod businesscentral;
pub mod chaos;
pub mod cluster_stack;
pub mod dynamics365;
pub mod faults;
pub mod fulfilment;
pub mod hubspot;
pub mod monitoring;
pub mod nats_cluster;
pub mod nats_server;
pub mod netsuite;
pub mod oraclefusion;
pub mod otlp_sink;
pub mod paths;
pub mod pipedrive;
pub mod postgres;
pub mod postgres_tls;
pub mod problems;
pub mod process;
pub mod s4hana;
pub mod salesforce;
pub mod settle;
pub mod stack;
pub mod tryton;
pub mod vendors;
pub mod webdriver;

pub use cluster_stack::{ClusterStack, ClusterStackOptions};
pub use nats_cluster::NatsCluster;
pub use nats_server::NatsServer;
pub use otlp_sink::OtlpSink;
pub use process::Process;
pub use stack::{Stack, StackOptions};

/// Errors of the harness; tests just `?` them into `anyhow`.
pub type Result<T> = anyhow::Result<T>;

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout`.
pub async fn eventually<T, F, Fut>(
    what: &str,
    timeout: std::time::Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
