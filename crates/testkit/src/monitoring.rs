//! The monitoring service on a [`Stack`]: its own Postgres, one or more
//! replicas, and a small client of its ops API.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::paths::binary;
use crate::postgres::Postgres;
use crate::postgres_tls::PostgresTls;
use crate::process::{Process, Spawn};
use crate::stack::Stack;

/// Dev token with the viewer role (also in `config/dev.toml`).
pub const VIEWER_TOKEN: &str = "dev-viewer-token";
/// Dev token with the operator role.
pub const OPERATOR_TOKEN: &str = "dev-operator-token";
/// Dev token with the admin role.
pub const ADMIN_TOKEN: &str = "dev-admin-token";

/// Monitoring replicas sharing one Postgres and the stack's NATS.
pub struct Monitoring {
    /// Replicas, first one first.
    pub replicas: Vec<Process>,
    /// The event-log database server.
    pub postgres: Postgres,
    config_path: PathBuf,
    log_dir: PathBuf,
}

/// Lower-case hex SHA-256, as the configuration stores tokens.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Monitoring {
    /// Starts Postgres and one monitoring replica against `stack`.
    pub async fn start(stack: &Stack) -> anyhow::Result<Self> {
        Self::start_with(stack, "").await
    }

    /// Like [`Monitoring::start`], with `extra_toml` appended to the config
    /// (e.g. a `[monitoring.alerts]` table).
    pub async fn start_with(stack: &Stack, extra_toml: &str) -> anyhow::Result<Self> {
        let dir = stack.dir.path().join("monitoring");
        std::fs::create_dir_all(&dir)?;
        let postgres = Postgres::start(&dir).await.context("starting postgres")?;
        let url = postgres.url("crmerp");
        Self::start_on(stack, dir, postgres, &url, extra_toml).await
    }

    /// Like [`Monitoring::start`], with monitoring reaching Postgres only
    /// through a TLS front ([`PostgresTls`]) with `sslmode=verify-full` and
    /// the test CA; the front is returned so a test can check what it saw.
    pub async fn start_over_tls(stack: &Stack) -> anyhow::Result<(Self, PostgresTls)> {
        let dir = stack.dir.path().join("monitoring");
        std::fs::create_dir_all(&dir)?;
        let postgres = Postgres::start(&dir).await.context("starting postgres")?;
        let tls = PostgresTls::start(&dir, postgres.port()).await?;
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/crmerp?sslmode=verify-full&sslrootcert={}",
            tls.port(),
            tls.ca_cert().display()
        );
        let monitoring = Self::start_on(stack, dir, postgres, &url, "").await?;
        Ok((monitoring, tls))
    }

    async fn start_on(
        stack: &Stack,
        dir: PathBuf,
        postgres: Postgres,
        database_url: &str,
        extra_toml: &str,
    ) -> anyhow::Result<Self> {
        postgres.create_database("crmerp").await?;
        let config_path = dir.join("monitoring.toml");
        std::fs::write(
            &config_path,
            render_config(&stack.nats.url(), database_url, stack.hubspot.base()) + extra_toml,
        )?;
        let mut monitoring = Self {
            replicas: Vec::new(),
            postgres,
            config_path,
            log_dir: dir,
        };
        monitoring.add_replica().await?;
        Ok(monitoring)
    }

    /// Starts one more replica on the same database and NATS.
    pub async fn add_replica(&mut self) -> anyhow::Result<()> {
        let program = binary("monitoring")?;
        let name = format!("monitoring-{}", self.replicas.len() + 1);
        let process = Process::spawn(Spawn {
            name: &name,
            program: &program,
            args: vec![],
            env: vec![(
                "CRMERP_CONFIG".to_owned(),
                self.config_path.display().to_string(),
            )],
            log_dir: &self.log_dir,
            listeners: &["http"],
            ready_marker: None,
        })
        .await
        .with_context(|| format!("starting {name}"))?;
        let url = format!("http://{}", process.listener("http")?);
        self.replicas.push(process);
        let http = reqwest::Client::new();
        crate::eventually("monitoring ready", Duration::from_secs(20), || {
            let (http, url) = (http.clone(), format!("{url}/readyz"));
            async move {
                let response = http.get(&url).send().await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await
    }

    /// Base URL of replica `index`.
    pub fn url(&self, index: usize) -> anyhow::Result<String> {
        let replica = self
            .replicas
            .get(index)
            .ok_or_else(|| anyhow::anyhow!("no replica {index}"))?;
        Ok(format!("http://{}", replica.listener("http")?))
    }

    /// A client of the first replica with `token` (`None`: no Authorization header).
    pub fn api(&self, token: Option<&str>) -> anyhow::Result<MonitoringApi> {
        Ok(MonitoringApi::new(&self.url(0)?, token))
    }
}

/// A client of the ops API.
#[derive(Clone)]
pub struct MonitoringApi {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl MonitoringApi {
    /// A client of the ops API at `base` with `token` (`None`: no Authorization header).
    pub fn new(base: &str, token: Option<&str>) -> Self {
        Self {
            base: base.to_owned(),
            token: token.map(str::to_owned),
            http: reqwest::Client::new(),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `GET path` (with query); returns the status and the JSON body (`Null` if none).
    pub async fn get(&self, path: &str) -> anyhow::Result<(u16, Value)> {
        let request = self.auth(self.http.get(format!("{}{path}", self.base)));
        read(request.send().await?).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let request = self.auth(self.http.post(format!("{}{path}", self.base)).json(body));
        read(request.send().await?).await
    }
}

async fn read(response: reqwest::Response) -> anyhow::Result<(u16, Value)> {
    let status = response.status().as_u16();
    let text = response.text().await?;
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Ok((status, value))
}

fn render_config(nats: &str, database_url: &str, hubspot: &str) -> String {
    format!(
        r#"[nats]
url = "{nats}"
duplicate_window = "2m"

[telemetry]
log_format = "json"
log_filter = "info"

[monitoring]
addr = "127.0.0.1:0"
database_url = "{database_url}"
db_max_connections = 4
batch_size = 100
batch_wait = "100ms"
crm_record_url = "{hubspot}/contacts/0/record/{{object_type}}/{{id}}"
tokens = [
  {{ name = "dev-viewer", role = "viewer", sha256 = "{viewer}" }},
  {{ name = "dev-operator", role = "operator", sha256 = "{operator}" }},
  {{ name = "dev-admin", role = "admin", sha256 = "{admin}" }},
]

[deal_to_order]
min_order_value = "0"

[crm]
kind = "hubspot"

[crm.hubspot]
base_url = "{hubspot}"
access_token = "pat-na1-dev-token"
client_secret = "dev-hubspot-client-secret"
won_stages = ["closedwon"]

[crm.hubspot.network]
allow_loopback = true
"#,
        viewer = token_hash(VIEWER_TOKEN),
        operator = token_hash(OPERATOR_TOKEN),
        admin = token_hash(ADMIN_TOKEN),
    )
}
