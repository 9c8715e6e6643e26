//! The Kubernetes ConfigMaps (`deploy/base/<service>/<service>.toml`) start
//! the real binaries: with the Secret-backed variables the Deployments set
//! and only the listen addresses and NATS URL moved to loopback, each service
//! becomes ready. A renamed setting or a missing secret variable fails here,
//! not in a cluster.

use std::time::Duration;

use crmerp_testkit::paths::{binary, workspace_root};
use crmerp_testkit::process::{Process, Spawn};
use crmerp_testkit::{NatsServer, eventually};

/// Starts `service` with its deploy ConfigMap and waits for `/readyz`.
async fn starts_ready(
    nats: &NatsServer,
    dir: &std::path::Path,
    service: &str,
    listener: &str,
    env: &[(&str, &str)],
) -> anyhow::Result<()> {
    let base = workspace_root().join("deploy/base").join(service);
    let deployment = std::fs::read_to_string(base.join("deployment.yaml"))?;
    let mut all_env = vec![
        (
            "CRMERP_CONFIG".to_owned(),
            base.join(format!("{service}.toml")).display().to_string(),
        ),
        ("CRMERP__NATS__URL".to_owned(), nats.url()),
    ];
    for (name, value) in env {
        // Secret variables must be the ones the Deployment really sets.
        if name.starts_with("CRMERP__CRM__") || name.starts_with("CRMERP__ERP__") {
            anyhow::ensure!(
                deployment.contains(&format!("name: {name}")),
                "{service}/deployment.yaml does not set {name}"
            );
        }
        all_env.push(((*name).to_owned(), (*value).to_owned()));
    }
    let process = Process::spawn(Spawn {
        name: service,
        program: &binary(service)?,
        args: vec![],
        env: all_env,
        log_dir: dir,
        listeners: &[listener],
        ready_marker: None,
    })
    .await?;
    let url = format!("http://{}/readyz", process.listener(listener)?);
    let http = reqwest::Client::new();
    eventually(&url, Duration::from_secs(20), || async {
        let response = http.get(&url).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await
}

#[tokio::test]
async fn the_kubernetes_configmaps_start_the_services() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let nats = NatsServer::start(&dir.path().join("nats")).await?;
    starts_ready(
        &nats,
        dir.path(),
        "ingress",
        "http",
        &[
            ("CRMERP__INGRESS__ADDR", "127.0.0.1:0"),
            ("CRMERP__CRM__HUBSPOT__CLIENT_SECRET", "k8s-client-secret"),
        ],
    )
    .await?;
    starts_ready(
        &nats,
        dir.path(),
        "deal-to-order",
        "admin",
        &[
            ("CRMERP__DEAL_TO_ORDER__ADMIN_ADDR", "127.0.0.1:0"),
            ("CRMERP__CRM__HUBSPOT__ACCESS_TOKEN", "pat-na1-k8s"),
            ("CRMERP__CRM__HUBSPOT__CLIENT_SECRET", "k8s-client-secret"),
            ("CRMERP__ERP__NETSUITE__CONSUMER_KEY", "k8s-consumer-key"),
            (
                "CRMERP__ERP__NETSUITE__CONSUMER_SECRET",
                "k8s-consumer-secret",
            ),
            // All-digit secrets and ids, as real ones often are: they must
            // stay strings (a numeric NetSuite value once crashed start-up).
            ("CRMERP__ERP__NETSUITE__TOKEN_ID", "1234567890"),
            ("CRMERP__ERP__NETSUITE__TOKEN_SECRET", "0042"),
        ],
    )
    .await?;
    Ok(())
}
