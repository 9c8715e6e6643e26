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
//! trytond listens on port 0 (the OS picks a free port while trytond holds the
//! socket) and the harness reads the port back from werkzeug's
//! ` * Running on http://127.0.0.1:<port>` start-up line: no port is chosen
//! first and released, so no other process can take it in between.

mod api;

use std::net::SocketAddr;
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
        let config = write_config(dir, db_dir, 0)?;
        let mut process = Process::spawn(Spawn {
            name: "trytond",
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
            ready_marker: Some(RUNNING_ON),
        })
        .await?;
        let port = read_port(process.log_path())?;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&mut process, &url)
            .await
            .with_context(|| format!("trytond on {url} (log: {})", process.log_path().display()))?;
        process.add_listener(LISTENER, SocketAddr::from(([127, 0, 0, 1], port)));
        Ok(Self {
            process,
            database: database.to_owned(),
            url,
        })
    }
}

/// werkzeug's start-up line, logged once the socket is bound.
const RUNNING_ON: &str = " * Running on http://";

/// The port of the last ` * Running on http://127.0.0.1:<port>` line in `log`
/// (the log is appended to when a directory serves twice).
fn read_port(log: &Path) -> anyhow::Result<u16> {
    crate::process::logged_port(log, RUNNING_ON, "trytond")
}

/// Waits until the server answers JSON-RPC on `url` (it logs its address when
/// the socket is bound, a moment before it serves); fails fast if it exited.
async fn wait_ready(process: &mut Process, url: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        anyhow::ensure!(!process.has_exited(), "trytond exited during start-up");
        let answer = http
            .post(format!("{url}/rpc/"))
            .json(&serde_json::json!({ "id": 1, "method": "common.server.version", "params": [] }))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "trytond did not answer within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `trytond.conf`: SQLite under `db_dir` (the path must be absolute), loopback
/// `port` (0: trytond takes a free one).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_port_werkzeug_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("trytond.log");
        std::fs::write(
            &log,
            "1 2 [2026-12-05 01:01:37,801] INFO werkzeug WARNING: This is a development server.\n \
             * Running on http://127.0.0.1:45915\n1 2 INFO werkzeug Press CTRL+C to quit\n",
        )
        .expect("write");
        assert_eq!(read_port(&log).expect("port"), 45915);
    }
}
