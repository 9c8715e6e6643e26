//! A real Tryton server (trytond 8.2 from PyPI, SQLite) on a loopback port.
//!
//! `make venv` installs `trytond`, `trytond-sale` and `trytond-account_invoice`
//! into `.venv`. Initialising a database takes ~20-30 s, so it is done once per
//! machine and Tryton version: a template database (modules activated plus the
//! one-time ERP setup over JSON-RPC: company, currencies, chart of accounts,
//! fiscal years, the products `SKU-100` and `SKU-200`) is cached under
//! `$XDG_CACHE_HOME/crmerp-tryton/` (else `~/.cache/…`), guarded by a lock file
//! so concurrent tests build it once. Each test copies it and starts its own
//! server in ~1-2 s.
//!
//! Tryton cannot report a port it chose, so a free port is found by binding
//! 127.0.0.1:0 and closing it before trytond binds it. Another process may take
//! it in between; that race is accepted, detected (our server exits, or the
//! probe request that answered is not in our server's own request log) and
//! retried on another port.

mod api;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

pub use api::{ADMIN, ADMIN_PASSWORD, TrytonApi};

use crate::paths::workspace_root;
use crate::process::{Process, Spawn};

/// The listener name under which the server's address is recorded.
pub const LISTENER: &str = "tryton";
/// The database name of every test server.
pub const DATABASE: &str = "tryton";
/// Bump when the template setup changes, so cached templates are rebuilt.
const SETUP_VERSION: u32 = 1;
/// Tryton modules the template activates (with their dependencies).
const MODULES: &[&str] = &["sale", "account_invoice"];
/// Products every template has: `(sku, name, list price)`.
pub const PRODUCTS: &[(&str, &str, &str)] = &[
    ("SKU-100", "Widget", "100.00"),
    ("SKU-200", "Gadget", "49.50"),
];

/// A running Tryton server on its own copy of the template. Killed when dropped.
pub struct TrytonServer {
    process: Process,
    database: String,
    url: String,
}

impl TrytonServer {
    /// Copies the template into `dir` and starts a server on it.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let template = template().await?;
        let db_dir = dir.join("tryton-db");
        std::fs::create_dir_all(&db_dir)?;
        std::fs::copy(&template, db_dir.join(format!("{DATABASE}.sqlite")))
            .with_context(|| format!("copying the Tryton template {}", template.display()))?;
        Self::serve(dir, &db_dir, DATABASE).await
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name (the URL's first path segment).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// The server process; its listener [`LISTENER`] is the server's address.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// An admin client of this server's database.
    pub fn api(&self) -> TrytonApi {
        TrytonApi::new(&self.url, &self.database)
    }

    /// TOML for `[erp]` and `[erp.tryton]` pointing the connector at `url`/`database`.
    pub fn erp_config(url: &str, database: &str) -> String {
        format!(
            "[erp]\nkind = \"tryton\"\n\n[erp.tryton]\nbase_url = \"{url}\"\ndatabase = \"{database}\"\nusername = \"{ADMIN}\"\npassword = \"{ADMIN_PASSWORD}\"\n"
        )
    }

    async fn serve(dir: &Path, db_dir: &Path, database: &str) -> anyhow::Result<Self> {
        let program = venv_bin("trytond")?;
        let mut last_error = None;
        for attempt in 0..3 {
            let port = free_port()?;
            let config = write_config(dir, db_dir, port)?;
            let mut process = Process::spawn(Spawn {
                name: &format!("trytond-{attempt}"),
                program: &program,
                args: vec![
                    "-c".into(),
                    config.display().to_string(),
                    "-d".into(),
                    database.to_owned(),
                ],
                env: vec![],
                log_dir: dir,
                listeners: &[],
                ready_marker: None,
            })
            .await?;
            let url = format!("http://127.0.0.1:{port}");
            match wait_ready(&mut process, &url).await {
                Ok(()) => {
                    process.add_listener(LISTENER, SocketAddr::from(([127, 0, 0, 1], port)));
                    return Ok(Self {
                        process,
                        database: database.to_owned(),
                        url,
                    });
                }
                Err(err) => {
                    last_error = Some(err.context(format!(
                        "trytond on port {port} (log: {})",
                        process.log_path().display()
                    )))
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("trytond did not start")))
    }
}

/// Waits until our server answers on `url`. Fails fast if it exited (typically:
/// the port was taken after we chose it), and refuses an answer from another
/// server: each probe carries a unique query string, which must then appear in
/// our server's request log.
async fn wait_ready(process: &mut Process, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        anyhow::ensure!(!process.has_exited(), "trytond exited during start-up");
        let probe = unique_suffix();
        let answer = http
            .post(format!("{url}/rpc/?probe={probe}"))
            .json(&serde_json::json!({ "id": 1, "method": "common.server.version", "params": [] }))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            // The log is written by another task: give it a moment.
            for _ in 0..20 {
                let log = std::fs::read_to_string(process.log_path()).unwrap_or_default();
                if log.contains(&probe) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            anyhow::bail!("another server answers on {url}");
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "trytond did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port that was free a moment ago (see the module docs for the accepted race).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A string no other probe of this machine uses.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}-{nanos}", std::process::id())
}

/// `trytond.conf`: SQLite under `db_dir` (the path must be absolute), loopback `port`.
fn write_config(dir: &Path, db_dir: &Path, port: u16) -> anyhow::Result<PathBuf> {
    let db_dir = std::path::absolute(db_dir)?;
    let path = dir.join("trytond.conf");
    std::fs::write(
        &path,
        format!(
            "[database]\nuri = sqlite://\npath = {}\nlist = True\n\n[web]\nlisten = 127.0.0.1:{port}\n",
            db_dir.display()
        ),
    )?;
    Ok(path)
}

/// A program of the project virtualenv (`$TRYTON_BIN_DIR` overrides the directory).
fn venv_bin(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("TRYTON_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin"));
    let path = dir.join(name);
    anyhow::ensure!(
        path.exists(),
        "{} not found: run `make venv` (installs the pinned trytond wheels) or set TRYTON_BIN_DIR",
        path.display()
    );
    Ok(path)
}

mod template;
use template::template;
