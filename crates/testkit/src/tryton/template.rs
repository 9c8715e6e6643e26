//! The cached, fully set-up template database (built once per machine and
//! Tryton version, under a lock file).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use chrono::Datelike;

use sha2::{Digest, Sha256};

use super::{ADMIN_PASSWORD, MODULES, PRODUCTS, SETUP_VERSION, TrytonServer, venv_bin};
use crate::paths::workspace_root;

/// The template's database name while it is being built.
const BUILD_DB: &str = super::DATABASE;

/// The path of the template database, building it first if needed.
pub(super) async fn template() -> anyhow::Result<PathBuf> {
    let key = cache_key()?;
    let dir = cache_dir().join(&key);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let done = dir.join("template.sqlite");
    if done.exists() {
        return Ok(done);
    }
    // One builder per machine: the others wait on the lock, then find it done.
    let lock_path = dir.join("build.lock");
    let lock = tokio::task::spawn_blocking(move || -> anyhow::Result<File> {
        let file = File::create(&lock_path)?;
        file.lock()?;
        Ok(file)
    })
    .await??;
    if !done.exists() {
        let started = std::time::Instant::now();
        build(&dir, &done)
            .await
            .context("building the Tryton template database")?;
        eprintln!(
            "tryton: template {} built in {:?}",
            done.display(),
            started.elapsed()
        );
    }
    drop(lock);
    Ok(done)
}

/// `trytond-admin` on an empty SQLite file, the ERP setup over JSON-RPC, then
/// a WAL checkpoint so the template is one self-contained file.
async fn build(dir: &Path, done: &Path) -> anyhow::Result<()> {
    let work = dir.join("build");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let db_dir = work.join("db");
    std::fs::create_dir_all(&db_dir)?;
    let db_file = db_dir.join(format!("{BUILD_DB}.sqlite"));
    // The SQLite backend will not open a missing file.
    File::create(&db_file)?;
    let pass = work.join("admin.pass");
    std::fs::write(&pass, ADMIN_PASSWORD)?;
    let config = super::write_config(&work, &db_dir, 0)?;
    let log = File::create(work.join("trytond-admin.log"))?;
    let mut admin = tokio::process::Command::new(venv_bin("trytond-admin")?);
    admin
        .arg("-c")
        .arg(&config)
        .args([
            "-d",
            BUILD_DB,
            "--all",
            "--activate-dependencies",
            "--email",
            "admin@example.com",
            "-u",
        ])
        .args(MODULES)
        .env("TRYTONPASSFILE", &pass)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true);
    let status = tokio::time::timeout(Duration::from_secs(600), admin.status())
        .await
        .context("trytond-admin took over 10 minutes")??;
    anyhow::ensure!(
        status.success(),
        "trytond-admin failed ({status}); see {}",
        work.join("trytond-admin.log").display()
    );

    let mut server = TrytonServer::serve(&work, &db_dir, BUILD_DB).await?;
    let api = server.api();
    api.set_up_company().await?;
    for (sku, name, price) in PRODUCTS {
        api.ensure_product(sku, name, price).await?;
    }
    // Kill the server and wait for it to be gone (the kill reaps it) before
    // folding its write-ahead log into the file.
    server.process.kill().await?;
    checkpoint(&db_file).await?;
    let staged = dir.join("template.sqlite.tmp");
    std::fs::copy(&db_file, &staged)?;
    std::fs::rename(&staged, done)?;
    std::fs::remove_dir_all(&work).ok();
    Ok(())
}

/// Merges `<db>-wal` into `<db>` with the virtualenv's Python (its sqlite3 module).
async fn checkpoint(db_file: &Path) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(venv_bin("python")?)
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
             c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.execute('PRAGMA journal_mode=DELETE'); c.close()",
        ])
        .arg(db_file)
        .status()
        .await?;
    anyhow::ensure!(
        status.success(),
        "sqlite checkpoint of {} failed",
        db_file.display()
    );
    Ok(())
}

/// `<trytond version>-<hash of every installed trytond* distribution>-s<setup>-<year>`:
/// a new Tryton, module or setup version (or a new year, for the fiscal years)
/// builds a new template.
fn cache_key() -> anyhow::Result<String> {
    let lib = workspace_root().join(".venv/lib");
    let mut dists = Vec::new();
    for python in
        std::fs::read_dir(&lib).with_context(|| format!("{} (run `make venv`)", lib.display()))?
    {
        let site = python?.path().join("site-packages");
        for entry in std::fs::read_dir(&site).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("trytond") && name.ends_with(".dist-info") {
                dists.push(name);
            }
        }
    }
    dists.sort();
    let version = dists
        .iter()
        .find_map(|d| {
            d.strip_prefix("trytond-")?
                .strip_suffix(".dist-info")
                .map(str::to_owned)
        })
        .context("trytond is not installed in .venv: run `make venv`")?;
    let digest = Sha256::digest(dists.join("\n").as_bytes());
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{version}-{short}-s{SETUP_VERSION}-{}",
        chrono::Utc::now().year()
    ))
}

/// `$CRMERP_TRYTON_CACHE`, else `$XDG_CACHE_HOME/crmerp-tryton`, else `~/.cache/crmerp-tryton`.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CRMERP_TRYTON_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("crmerp-tryton")
}
