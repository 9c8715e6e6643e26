//! A child process whose output goes to a log file and whose listeners are announced on stdout.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// A running child process. Killed when dropped.
pub struct Process {
    name: String,
    child: Child,
    log_path: PathBuf,
    listeners: HashMap<String, SocketAddr>,
}

/// How to start a [`Process`].
pub struct Spawn<'a> {
    /// Name in messages and the log file name.
    pub name: &'a str,
    /// Program path.
    pub program: &'a Path,
    /// Arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// Directory for the log file.
    pub log_dir: &'a Path,
    /// Listener names to wait for in `"Listening."` lines (empty: don't wait).
    pub listeners: &'a [&'a str],
    /// A plain-text marker to wait for instead (e.g. nats-server's own log line).
    pub ready_marker: Option<&'a str>,
}

impl Process {
    /// Starts the process and waits until every named listener is announced.
    pub async fn spawn(spec: Spawn<'_>) -> anyhow::Result<Self> {
        let log_path = spec.log_dir.join(format!("{}.log", spec.name));
        let mut log = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .await
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut child = Command::new(spec.program)
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "RUST_LOG",
                std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", spec.program.display()))?;
        let (lines_tx, mut lines_rx) = mpsc::unbounded_channel::<String>();
        for reader in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = lines_tx.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(reader).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        drop(lines_tx);
        // One writer owns the log file; it also forwards lines until the process is ready.
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = lines_rx.recv().await {
                let _ = log.write_all(line.as_bytes()).await;
                let _ = log.write_all(b"\n").await;
                let _ = log.flush().await;
                let _ = ready_tx.send(line);
            }
        });

        let mut listeners = HashMap::new();
        let wait = async {
            let mut marker_seen = spec.ready_marker.is_none();
            while listeners.len() < spec.listeners.len() || !marker_seen {
                let Some(line) = ready_rx.recv().await else {
                    anyhow::bail!("exited before it was ready");
                };
                if let Some(marker) = spec.ready_marker
                    && line.contains(marker)
                {
                    marker_seen = true;
                }
                if let Some((name, addr)) = parse_listening(&line)
                    && spec.listeners.contains(&name.as_str())
                {
                    listeners.insert(name, addr);
                }
            }
            Ok(())
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .map_err(|_| anyhow::anyhow!("not ready within 30 s"))
            .and_then(|r| r)
            .with_context(|| format!("{} (log: {})", spec.name, log_path.display()))?;
        // Keep draining so the pipe never fills.
        tokio::spawn(async move { while ready_rx.recv().await.is_some() {} });
        Ok(Self {
            name: spec.name.to_owned(),
            child,
            log_path,
            listeners,
        })
    }

    /// The address of an announced listener.
    pub fn listener(&self, name: &str) -> anyhow::Result<SocketAddr> {
        self.listeners
            .get(name)
            .copied()
            .ok_or_else(|| anyhow::anyhow!("{} announced no listener {name}", self.name))
    }

    /// Records a listener the process cannot announce itself (a server told
    /// its port on the command line, such as Tryton).
    pub fn add_listener(&mut self, name: &str, addr: SocketAddr) {
        self.listeners.insert(name.to_owned(), addr);
    }

    /// True once the process has exited (it is not waited for otherwise).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The log file of this process.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGKILL, as a crash would.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit (SIGKILL after `grace`). Returns the exit status.
    pub async fn terminate(&mut self, grace: Duration) -> anyhow::Result<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let pid = nix::unistd::Pid::from_raw(i32::try_from(pid)?);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                self.child.kill().await?;
                anyhow::bail!("{} did not stop within {grace:?} after SIGTERM", self.name)
            }
        }
    }
}

/// Parses `{"message":"Listening.","listener":"http","addr":"127.0.0.1:1234"}`.
fn parse_listening(line: &str) -> Option<(String, SocketAddr)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    if value.get("message")?.as_str()? != "Listening." {
        return None;
    }
    let name = value.get("listener")?.as_str()?.to_owned();
    let addr = value.get("addr")?.as_str()?.parse().ok()?;
    Some((name, addr))
}

/// The port in the last line of `log` that contains `marker`: the text after
/// the marker, up to a trailing `.`, after its last `:` if it has one (so
/// `127.0.0.1:4222` and `50779.` both give the port). Programs that bind port 0
/// say there which port they got; a restarted program appends, hence the last.
pub(crate) fn logged_port(log: &Path, marker: &str, program: &str) -> anyhow::Result<u16> {
    let text = std::fs::read_to_string(log)?;
    let after = text
        .lines()
        .rev()
        .find_map(|line| line.split(marker).nth(1))
        .with_context(|| format!("{program} did not log its port ({marker:?})"))?;
    let address = after.trim().trim_end_matches('.');
    let port = address.rsplit(':').next().unwrap_or(address);
    port.parse()
        .with_context(|| format!("{program}: bad port in {address:?}"))
}

/// A port the OS just handed out on loopback, released again: for a server
/// whose port must be known before it starts (a config naming it, a URL a
/// peer signs over). Another process may take it in between; callers that
/// cannot retry accept that small chance.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_listening_line() {
        let line = r#"{"timestamp":"x","level":"INFO","message":"Listening.","listener":"http","addr":"127.0.0.1:4242","target":"y"}"#;
        let (name, addr) = parse_listening(line).expect("parsed");
        assert_eq!(name, "http");
        assert_eq!(addr.port(), 4242);
        assert!(parse_listening("not json").is_none());
    }
}
