//! The Kubernetes ConfigMaps (the shared `deploy/base/shared/crmerp.toml`
//! under each `deploy/base/<service>/<service>.toml`, layered as the
//! Deployments' `CRMERP_CONFIG` says) start the real binaries: with the
//! Secret-backed variables the Deployments set and only the listen addresses,
//! NATS URL and database moved to loopback, each service becomes ready. A
//! renamed setting or a missing secret variable fails here, not in a cluster.

use std::time::Duration;

use crmerp_testkit::paths::{binary, workspace_root};
use crmerp_testkit::postgres::Postgres;
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
    let root = workspace_root().join("deploy/base");
    let base = root.join(service);
    let deployment = std::fs::read_to_string(base.join("deployment.yaml"))?;
    // The Deployment layers the shared ConfigMap under the service's own.
    anyhow::ensure!(
        deployment.contains("/etc/crmerp-shared/crmerp.toml,/etc/crmerp/crmerp.toml"),
        "{service}/deployment.yaml layers the shared settings first"
    );
    let files = format!(
        "{},{}",
        root.join("shared/crmerp.toml").display(),
        base.join(format!("{service}.toml")).display()
    );
    let mut all_env = vec![
        ("CRMERP_CONFIG".to_owned(), files),
        ("CRMERP__NATS__URL".to_owned(), nats.url()),
    ];
    for (name, value) in env {
        // Secret variables must be the ones the Deployment really sets.
        if name.starts_with("CRMERP__CRM__")
            || name.starts_with("CRMERP__ERP__")
            || name == &"CRMERP__MONITORING__DATABASE_URL"
        {
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
    // Monitoring reads a dead letter's deal from the CRM, so it gets the CRM
    // connection (shared) and token (Secret), and deal-to-order's rules.
    let postgres = Postgres::start(&dir.path().join("postgres")).await?;
    postgres.create_database("crmerp").await?;
    let database_url = postgres.url("crmerp");
    starts_ready(
        &nats,
        dir.path(),
        "monitoring",
        "http",
        &[
            ("CRMERP__MONITORING__ADDR", "127.0.0.1:0"),
            ("CRMERP__MONITORING__DATABASE_URL", &database_url),
            ("CRMERP__CRM__HUBSPOT__ACCESS_TOKEN", "pat-na1-k8s"),
        ],
    )
    .await?;
    Ok(())
}

/// One source for settings several services need: the CRM and deal-to-order's
/// rules sit in the shared ConfigMap only, so they cannot drift apart.
#[test]
fn settings_shared_by_services_have_one_source() -> anyhow::Result<()> {
    let root = workspace_root().join("deploy/base");
    let shared = std::fs::read_to_string(root.join("shared/crmerp.toml"))?;
    for key in [
        "[crm]",
        "[crm.hubspot]",
        "min_order_value",
        "[deal_to_order.crm.hubspot]",
    ] {
        anyhow::ensure!(shared.contains(key), "shared settings hold {key}");
        for service in ["ingress", "deal-to-order", "monitoring"] {
            let own = std::fs::read_to_string(root.join(service).join(format!("{service}.toml")))?;
            anyhow::ensure!(
                !own.contains(key),
                "{service}.toml repeats {key}, which the shared settings own"
            );
        }
    }
    Ok(())
}
