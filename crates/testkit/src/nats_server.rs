//! A real nats-server with JetStream on a free loopback port.

use std::path::{Path, PathBuf};

use crate::process::{Process, Spawn};

/// JetStream's file-store limit of test servers. The product's streams
/// reserve their `max_bytes` (about 13 GiB together) when declared, and a
/// server's default limit is a share of the disk's free space, so on a
/// machine with less free disk every declaration failed with "insufficient
/// storage resources". Tests write a few megabytes; the limit only has to
/// admit the reservations.
pub(crate) const MAX_FILE_STORE: &str = "1T";

/// A nats-server that can be killed and restarted on the same port and store.
pub struct NatsServer {
    dir: PathBuf,
    port: u16,
    process: Option<Process>,
    sync_always: bool,
}

impl NatsServer {
    /// Starts a fresh server with its store under `dir`.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, true).await
    }

    /// Starts a server with JetStream's default interval flush instead of
    /// `sync_interval: always` (only for measuring what durability costs).
    pub async fn start_with_interval_flush(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, false).await
    }

    async fn start_with(dir: &Path, sync_always: bool) -> anyhow::Result<Self> {
        let mut server = Self {
            dir: dir.to_owned(),
            port: 0,
            process: None,
            sync_always,
        };
        server.launch().await?;
        Ok(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL the server (the store stays on disk).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut process) = self.process.take() {
            process.kill().await?;
        }
        Ok(())
    }

    /// Starts it again on the same port and store.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await?;
        self.launch().await
    }

    /// A connected client.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        Ok(async_nats::connect(self.url()).await?)
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let store = self.dir.join("jetstream");
        std::fs::create_dir_all(&store)?;
        // Port -1 asks nats-server for a free port; restarts reuse the one it chose.
        let port = if self.port == 0 {
            "-1".to_owned()
        } else {
            self.port.to_string()
        };
        let sync = if self.sync_always {
            "\n  sync_interval: always"
        } else {
            ""
        };
        let config = format!(
            "listen: \"127.0.0.1:{port}\"\nserver_name: test\njetstream {{\n  store_dir: \"{}\"\n  max_file_store: {MAX_FILE_STORE}{sync}\n}}\n",
            store.display()
        );
        let config_path = self.dir.join("nats.conf");
        std::fs::write(&config_path, config)?;
        let program = crate::paths::nats_server()?;
        let process = Process::spawn(Spawn {
            name: "nats-server",
            program: &program,
            args: vec!["-c".into(), config_path.display().to_string()],
            env: vec![],
            log_dir: &self.dir,
            listeners: &[],
            ready_marker: Some("Server is ready"),
        })
        .await?;
        if self.port == 0 {
            self.port = read_port(process.log_path())?;
        }
        self.process = Some(process);
        Ok(())
    }
}

/// Reads the client port from "Listening for client connections on 127.0.0.1:PORT"
/// (the last one in `log`, which restarts append to).
pub(crate) fn read_port(log: &Path) -> anyhow::Result<u16> {
    crate::process::logged_port(log, "Listening for client connections on ", "nats-server")
}
