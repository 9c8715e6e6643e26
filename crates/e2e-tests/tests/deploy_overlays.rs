//! Each Kubernetes overlay, rendered as `kubectl kustomize` renders it, starts
//! the real binaries with exactly the configuration its Deployments would get:
//! the ConfigMaps in `CRMERP_CONFIG` order, every literal variable, and every
//! Secret reference filled (from the overlay's own Secrets in dev; in prod with
//! realistic values: a numeric NetSuite account, all-digit token id and
//! secret, a token list as JSON, a `verify-full` Postgres URL with the CA file
//! at the mounted path). Then `/readyz` of every service, an authenticated ops
//! API call, one deal end to end and one dead-letter correction, in both.
//!
//! What the test changes, and only this, because a laptop is not a cluster:
//! in-cluster names become loopback addresses (listen addresses, NATS, the
//! Postgres host, the dev sandbox, the OTLP collector, the public ingress URL
//! (dev's `http://ingress:8080`, prod's `https://hooks.example.com`), and
//! prod's vendor hosts point at the simulators, which are started with prod's
//! credentials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use crmerp_testkit::hubspot::{DealSpec, HubSpotApi};
use crmerp_testkit::monitoring::{MonitoringApi, token_hash};
use crmerp_testkit::netsuite::NetSuiteApi;
use crmerp_testkit::paths::{binary, venv_bin, workspace_root};
use crmerp_testkit::postgres::Postgres;
use crmerp_testkit::postgres_tls::PostgresTls;
use crmerp_testkit::process::{Process, Spawn, free_port};
use crmerp_testkit::{NatsCluster, NatsServer, OtlpSink, eventually};
use serde::Deserialize;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

/// Production-like NetSuite credentials: the numeric account id the prod
/// overlay sets (the OAuth realm) and all-digit token ids and secrets, which
/// must stay strings all the way from the Secret to the signature.
const PROD_NETSUITE: (&str, &str, &str, &str, &str) = (
    "1234567",
    "5829104736281937",
    "0093817265510042",
    "1234567890",
    "0042",
);

#[derive(Debug, Deserialize)]
struct Rendered {
    workloads: HashMap<String, Workload>,
    secrets: HashMap<String, HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct Workload {
    config: Vec<ConfigFile>,
    env: Vec<EnvVar>,
    secret_mounts: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct ConfigFile {
    content: String,
}

#[derive(Debug, Deserialize)]
struct EnvVar {
    name: String,
    value: Option<String>,
    secret: Option<String>,
    key: Option<String>,
    #[serde(default)]
    optional: bool,
}

/// `deploy/render_workloads.py` over `deploy/overlays/<overlay>`.
fn render(overlay: &str) -> anyhow::Result<Rendered> {
    let root = workspace_root();
    let output = std::process::Command::new(venv_bin("python")?)
        .arg(root.join("deploy/render_workloads.py"))
        .arg(root.join("deploy/overlays").join(overlay))
        .output()
        .context("running deploy/render_workloads.py (needs kubectl)")?;
    anyhow::ensure!(
        output.status.success(),
        "rendering {overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// How one overlay's configuration meets loopback.
struct Loopback {
    /// Text replaced in config files and variable values, in order.
    replace: Vec<(String, String)>,
    /// Values for Secrets the overlay does not render, by (Secret, key).
    fill: HashMap<(&'static str, &'static str), String>,
    /// Mounted Secret folders, by mount path: where the test keeps their files.
    mounts: HashMap<&'static str, PathBuf>,
    /// Variables the test adds (a fixed ingress port; prod's derived NetSuite host).
    extra: Vec<(String, String)>,
}

impl Loopback {
    fn apply(&self, text: &str) -> String {
        let mut text = listen_on_loopback(text);
        for (from, to) in &self.replace {
            text = text.replace(from.as_str(), to);
        }
        for (mount, dir) in &self.mounts {
            text = text.replace(mount, &dir.display().to_string());
        }
        text
    }
}

/// `0.0.0.0:<port>` listen addresses become `127.0.0.1:0` (a free port).
fn listen_on_loopback(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0.0.0.0:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "0.0.0.0:".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str("127.0.0.1:0");
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Starts `service` as its Deployment would run, on loopback.
async fn start(
    rendered: &Rendered,
    loopback: &Loopback,
    dir: &Path,
    service: &str,
    listener: &str,
) -> anyhow::Result<Process> {
    let workload = rendered
        .workloads
        .get(service)
        .with_context(|| format!("no Deployment {service}"))?;
    let folder = dir.join(service);
    std::fs::create_dir_all(&folder)?;
    let mut files = Vec::new();
    for (index, file) in workload.config.iter().enumerate() {
        let path = folder.join(format!("{index}.toml"));
        std::fs::write(&path, loopback.apply(&file.content))?;
        files.push(path.display().to_string());
    }
    let mut env = vec![("CRMERP_CONFIG".to_owned(), files.join(","))];
    for var in &workload.env {
        if var.name == "CRMERP_CONFIG" {
            continue;
        }
        let value = match (&var.value, &var.secret, &var.key) {
            (Some(value), _, _) => Some(value.clone()),
            (None, Some(secret), Some(key)) => rendered
                .secrets
                .get(secret)
                .and_then(|values| values.get(key))
                .cloned()
                .or_else(|| {
                    loopback
                        .fill
                        .iter()
                        .find(|((name, k), _)| name == secret && k == key)
                        .map(|(_, value)| value.clone())
                }),
            _ => anyhow::bail!("{service}: {} has no value", var.name),
        };
        match value {
            Some(value) => env.push((var.name.clone(), loopback.apply(&value))),
            None if var.optional => {}
            None => anyhow::bail!(
                "{service}: {} needs Secret {:?} key {:?}, which neither the overlay nor deploy/README.md's Secret list provides",
                var.name,
                var.secret,
                var.key
            ),
        }
    }
    for mount in workload.secret_mounts.keys() {
        anyhow::ensure!(
            loopback.mounts.contains_key(mount.as_str()),
            "{service} mounts a Secret at {mount} the test does not provide"
        );
    }
    env.extend(loopback.extra.iter().cloned());
    let process = Process::spawn(Spawn {
        name: service,
        program: &binary(service)?,
        args: vec![],
        env,
        log_dir: dir,
        listeners: &[listener],
        ready_marker: None,
    })
    .await
    .with_context(|| format!("starting {service}"))?;
    let url = format!("http://{}/readyz", process.listener(listener)?);
    let http = reqwest::Client::new();
    eventually(
        &format!("{service} ready"),
        Duration::from_secs(30),
        || async {
            let response = http.get(&url).send().await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await?;
    Ok(process)
}

async fn start_sandbox(
    dir: &Path,
    env: Vec<(String, String)>,
) -> anyhow::Result<(Process, String, String)> {
    let sandbox = Process::spawn(Spawn {
        name: "sandbox",
        program: &binary("crmerp-sandbox")?,
        args: vec![
            "--free-ports".into(),
            "--hubspot-addr".into(),
            "127.0.0.1:0".into(),
            "--netsuite-addr".into(),
            "127.0.0.1:0".into(),
        ],
        env,
        log_dir: dir,
        listeners: &["hubspot", "netsuite"],
        ready_marker: None,
    })
    .await?;
    let hubspot = format!("http://{}", sandbox.listener("hubspot")?);
    let netsuite = format!("http://{}", sandbox.listener("netsuite")?);
    Ok((sandbox, hubspot, netsuite))
}

async fn point_hubspot_webhooks(hubspot: &str, ingress: &str) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .put(format!("{hubspot}/__sandbox/webhooks"))
        .json(&json!({"target_url": format!("{ingress}/webhooks/hubspot"), "signature": "v3"}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "pointing webhooks: {}",
        response.status()
    );
    Ok(())
}

async fn order_number(hubspot: &HubSpotApi, deal_id: &str) -> anyhow::Result<String> {
    let found = wait_for_order_number(hubspot, deal_id).await;
    if found.is_err() {
        // What the simulator's webhook deliveries to ingress got, to tell a
        // refused webhook from a stuck worker.
        let deliveries = reqwest::get(format!("{}/__sandbox/webhooks/deliveries", hubspot.base()))
            .await?
            .text()
            .await?;
        return found.with_context(|| format!("webhook deliveries: {deliveries}"));
    }
    found
}

async fn wait_for_order_number(hubspot: &HubSpotApi, deal_id: &str) -> anyhow::Result<String> {
    eventually("the order number on the deal", WAIT, || async {
        let props = hubspot
            .deal_properties(deal_id, &["erp_order_number"])
            .await
            .ok()?;
        props["erp_order_number"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    })
    .await
}

/// One deal end to end (the sandbox CRM calls ingress, the order number comes
/// back), the ops API refusing no token and taking `token`, and one dead
/// letter (a deal without any address) corrected and requeued by the operator
/// until its order is created.
async fn deal_and_correction(
    hubspot_url: &str,
    monitoring: &str,
    token: &str,
) -> anyhow::Result<()> {
    // One deal end to end: the sandbox CRM calls ingress, the order number comes back.
    let hubspot = HubSpotApi::new(hubspot_url);
    let deal = hubspot
        .create_deal(&DealSpec::complete("Overlay dev deal"))
        .await?;
    hubspot.move_to_stage(&deal.deal_id, "closedwon").await?;
    let number = order_number(&hubspot, &deal.deal_id).await?;
    assert!(!number.is_empty());

    // The overlay's token authenticates; no token is refused.
    let (status, _) = MonitoringApi::new(monitoring, None)
        .get("/api/v1/events")
        .await?;
    assert_eq!(status, 401);
    let operator = MonitoringApi::new(monitoring, Some(token));
    let (status, events) = operator
        .get(&format!("/api/v1/events?crm_record_id={}", deal.deal_id))
        .await?;
    assert_eq!(status, 200, "{events}");

    // A deal without any address is dead-lettered; the operator corrects and
    // requeues it, and the order is created with the corrected address.
    let mut spec = DealSpec::complete("Overlay dev correction");
    spec.shipping_address = false;
    let stuck = hubspot.create_deal(&spec).await?;
    if let Some(company) = &stuck.company_id {
        hubspot
            .update_object(
                "companies",
                company,
                json!({"address": "", "city": "", "zip": "", "country": ""}),
            )
            .await?;
    }
    hubspot.move_to_stage(&stuck.deal_id, "closedwon").await?;
    let id = eventually("the dead letter", WAIT, || async {
        let (_, body) = operator
            .get(&format!(
                "/api/v1/dead-letters?status=open&crm_record_id={}",
                stuck.deal_id
            ))
            .await
            .ok()?;
        body["items"][0]["id"].as_str().map(str::to_owned)
    })
    .await?;
    let address = json!({"line1": "Hafenstrasse 1", "city": "Hamburg", "postalCode": "20457", "countryCode": "DE"});
    let (status, requeued) = operator
        .post(
            &format!("/api/v1/dead-letters/{id}/requeue"),
            &json!({"patch": [{"op": "add", "path": "/shippingAddress", "value": address}]}),
        )
        .await?;
    assert_eq!(status, 202, "{requeued}");
    order_number(&hubspot, &stuck.deal_id).await?;
    Ok(())
}

#[tokio::test]
async fn the_dev_overlay_runs_a_deal_and_a_dead_letter_correction() -> anyhow::Result<()> {
    let rendered = render("dev")?;
    let dir = tempfile::tempdir()?;
    let nats = NatsServer::start(&dir.path().join("nats")).await?;
    let postgres = Postgres::start(&dir.path().join("postgres")).await?;
    postgres.create_database("crmerp").await?;
    let otlp = OtlpSink::start().await?;
    let (_sandbox, hubspot_url, netsuite_url) = start_sandbox(dir.path(), vec![]).await?;
    // HubSpot signs over the URL it calls, so ingress's public URL must be
    // known before it starts: a chosen port instead of the Service name.
    let ingress_url = format!("http://127.0.0.1:{}", free_port()?);
    let loopback = Loopback {
        replace: vec![
            ("nats://nats:4222".into(), nats.url()),
            ("http://ingress:8080".into(), ingress_url.clone()),
            ("http://sandbox:9101".into(), hubspot_url.clone()),
            ("http://sandbox:9201".into(), netsuite_url.clone()),
            (
                "crmerp:crmerp@crmerp-postgres-rw:5432".into(),
                format!("postgres@127.0.0.1:{}", postgres.port()),
            ),
            (
                "http://otel-collector.observability:4318/v1/traces".into(),
                otlp.endpoint(),
            ),
        ],
        fill: HashMap::new(),
        mounts: HashMap::new(),
        extra: vec![
            (
                "CRMERP__INGRESS__ADDR".into(),
                ingress_url.trim_start_matches("http://").to_owned(),
            ),
            // The overlay's sandbox is on the cluster network; here it is on loopback.
            (
                "CRMERP__CRM__HUBSPOT__NETWORK__ALLOW_LOOPBACK".into(),
                "true".into(),
            ),
            (
                "CRMERP__ERP__NETSUITE__NETWORK__ALLOW_LOOPBACK".into(),
                "true".into(),
            ),
        ],
    };
    let ingress = start(&rendered, &loopback, dir.path(), "ingress", "http").await?;
    let _worker = start(&rendered, &loopback, dir.path(), "deal-to-order", "admin").await?;
    let monitoring = start(&rendered, &loopback, dir.path(), "monitoring", "http").await?;
    anyhow::ensure!(ingress_url.ends_with(&ingress.listener("http")?.to_string()));
    point_hubspot_webhooks(&hubspot_url, &ingress_url).await?;
    let netsuite = NetSuiteApi::new(&netsuite_url);
    netsuite.ensure_item("SKU-100", "Widget", "100.00").await?;
    netsuite.ensure_item("SKU-200", "Gadget", "49.50").await?;

    let base = format!("http://{}", monitoring.listener("http")?);
    deal_and_correction(&hubspot_url, &base, "dev-operator-token").await
}

#[tokio::test]
async fn the_prod_overlay_runs_a_deal_and_a_correction_on_a_nats_cluster_and_postgres_over_tls()
-> anyhow::Result<()> {
    let rendered = render("prod")?;
    let dir = tempfile::tempdir()?;
    let dir = Box::leak(Box::new(dir));
    eprintln!("DEBUGDIR {}", dir.path().display());
    // The prod overlay asks for three stream replicas: a three-node cluster.
    let cluster = NatsCluster::start(&dir.path().join("nats"), 3).await?;
    let postgres = Postgres::start(&dir.path().join("postgres")).await?;
    postgres.create_database("crmerp").await?;
    let tls = PostgresTls::start(dir.path(), postgres.port()).await?;
    // The Secret crmerp-postgres-ca mounted at /etc/crmerp/postgres-ca.
    let ca_dir = dir.path().join("postgres-ca");
    std::fs::create_dir_all(&ca_dir)?;
    std::fs::copy(tls.ca_cert(), ca_dir.join("ca.crt"))?;
    let otlp = OtlpSink::start().await?;
    // The simulator takes the production-like credentials the Secrets carry:
    // a numeric account (the OAuth realm) and all-digit token ids and secrets.
    let (_sandbox, hubspot_url, netsuite_url) = start_sandbox(
        dir.path(),
        [
            ("SANDBOX_NETSUITE_ACCOUNT", PROD_NETSUITE.0),
            ("SANDBOX_NETSUITE_CONSUMER_KEY", PROD_NETSUITE.1),
            ("SANDBOX_NETSUITE_CONSUMER_SECRET", PROD_NETSUITE.2),
            ("SANDBOX_NETSUITE_TOKEN_ID", PROD_NETSUITE.3),
            ("SANDBOX_NETSUITE_TOKEN_SECRET", PROD_NETSUITE.4),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    )
    .await?;
    let operator_token = "prod-operator-7c1f9e20";
    let fill = HashMap::from([
        (
            ("crmerp-hubspot", "access-token"),
            "pat-na1-dev-token".to_owned(),
        ),
        (
            ("crmerp-hubspot", "client-secret"),
            "dev-hubspot-client-secret".to_owned(),
        ),
        (
            ("crmerp-netsuite", "consumer-key"),
            PROD_NETSUITE.1.to_owned(),
        ),
        (
            ("crmerp-netsuite", "consumer-secret"),
            PROD_NETSUITE.2.to_owned(),
        ),
        (("crmerp-netsuite", "token-id"), PROD_NETSUITE.3.to_owned()),
        (
            ("crmerp-netsuite", "token-secret"),
            PROD_NETSUITE.4.to_owned(),
        ),
        (
            ("crmerp-monitoring-postgres", "database-url"),
            format!(
                "postgres://postgres@127.0.0.1:{}/crmerp?sslmode=verify-full&sslrootcert=/etc/crmerp/postgres-ca/ca.crt",
                tls.port()
            ),
        ),
        (
            ("crmerp-monitoring-tokens", "tokens"),
            json!([{"name": "ops", "role": "operator", "sha256": token_hash(operator_token)}])
                .to_string(),
        ),
    ]);
    // As in dev: HubSpot signs over the URL it calls, so the public URL is a chosen port.
    let ingress_url = format!("http://127.0.0.1:{}", free_port()?);
    let loopback = Loopback {
        replace: vec![
            ("nats://nats:4222".into(), cluster.urls().join(",")),
            ("https://hooks.example.com".into(), ingress_url.clone()),
            ("https://api.hubapi.com".into(), hubspot_url.clone()),
            (
                "http://otel-collector.observability:4318/v1/traces".into(),
                otlp.endpoint(),
            ),
        ],
        fill,
        mounts: HashMap::from([("/etc/crmerp/postgres-ca", ca_dir.clone())]),
        // NetSuite's host is derived from the (numeric) account id.
        extra: vec![
            (
                "CRMERP__ERP__NETSUITE__BASE_URL".into(),
                netsuite_url.clone(),
            ),
            (
                "CRMERP__INGRESS__ADDR".into(),
                ingress_url.trim_start_matches("http://").to_owned(),
            ),
            // Production vendors are public; the test's stand-ins are on loopback.
            (
                "CRMERP__CRM__HUBSPOT__NETWORK__ALLOW_LOOPBACK".into(),
                "true".into(),
            ),
            (
                "CRMERP__ERP__NETSUITE__NETWORK__ALLOW_LOOPBACK".into(),
                "true".into(),
            ),
        ],
    };
    // Held to the end: a dropped process is stopped.
    let _ingress = start(&rendered, &loopback, dir.path(), "ingress", "http").await?;
    let _worker = start(&rendered, &loopback, dir.path(), "deal-to-order", "admin").await?;
    let monitoring = start(&rendered, &loopback, dir.path(), "monitoring", "http").await?;
    point_hubspot_webhooks(&hubspot_url, &ingress_url).await?;
    let netsuite = NetSuiteApi::with_credentials(
        &netsuite_url,
        PROD_NETSUITE.0,
        PROD_NETSUITE.1,
        PROD_NETSUITE.2,
        PROD_NETSUITE.3,
        PROD_NETSUITE.4,
    );
    netsuite.ensure_item("SKU-100", "Widget", "100.00").await?;
    netsuite.ensure_item("SKU-200", "Gadget", "49.50").await?;

    let base = format!("http://{}", monitoring.listener("http")?);
    deal_and_correction(&hubspot_url, &base, operator_token).await?;
    assert_eq!(
        tls.refused_plaintext(),
        0,
        "monitoring reached Postgres over TLS only"
    );
    Ok(())
}
