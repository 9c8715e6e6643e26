//! A three-node nats-server JetStream cluster on loopback.
//!
//! Every node has its own store (`sync_interval: always`) and routes to the
//! other two, so R3 streams survive the loss of any one node. Nodes can be
//! killed (SIGKILL, store kept) and restarted on the same ports.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::process::{Process, Spawn};

/// One member of the cluster.
struct Node {
    client_port: u16,
    cluster_port: u16,
    process: Option<Process>,
}

/// A running JetStream cluster; every node dies with it.
pub struct NatsCluster {
    dir: PathBuf,
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Starts `size` nodes with stores under `dir` and waits until JetStream
    /// has a meta leader (the cluster accepts stream declarations).
    pub async fn start(dir: &Path, size: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(size >= 1, "a cluster needs at least one node");
        let mut nodes = Vec::with_capacity(size);
        for _ in 0..size {
            nodes.push(Node {
                client_port: free_port()?,
                cluster_port: free_port()?,
                process: None,
            });
        }
        let mut cluster = Self {
            dir: dir.to_owned(),
            nodes,
        };
        // Launch every node before waiting on any: a node is ready only once
        // its routes are up, which needs the others running.
        let launches: Vec<_> = (0..size).map(|i| cluster.spawn_node(i)).collect();
        let processes = futures::future::join_all(launches).await;
        for (node, process) in cluster.nodes.iter_mut().zip(processes) {
            node.process = Some(process?);
        }
        cluster.wait_for_jetstream(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        self.nodes.len()
    }

    /// `nats://127.0.0.1:<port>` of node `index`.
    pub fn url(&self, index: usize) -> String {
        format!(
            "nats://127.0.0.1:{}",
            self.nodes.get(index).map_or(0, |n| n.client_port)
        )
    }

    /// Client URLs of every node, e.g. for a client's server list.
    pub fn urls(&self) -> Vec<String> {
        (0..self.nodes.len()).map(|i| self.url(i)).collect()
    }

    /// A client that knows every node and fails over between them.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        let addrs = self
            .urls()
            .iter()
            .map(|u| u.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(async_nats::ConnectOptions::new()
            .max_reconnects(None)
            .connect(addrs)
            .await?)
    }

    /// SIGKILL node `index` (its store stays on disk).
    pub async fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        let node = self.nodes.get_mut(index).context("no such node")?;
        if let Some(mut process) = node.process.take() {
            process.kill().await?;
        }
        Ok(())
    }

    /// Starts node `index` again on its ports and store; it catches up from its peers.
    pub async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.kill(index).await?;
        let process = self.spawn_node(index).await?;
        if let Some(node) = self.nodes.get_mut(index) {
            node.process = Some(process);
        }
        Ok(())
    }

    /// Waits until JetStream answers account info through any node.
    pub async fn wait_for_jetstream(&self, timeout: Duration) -> anyhow::Result<()> {
        let client = self.client().await?;
        let js = async_nats::jetstream::new(client);
        crate::eventually("a JetStream meta leader", timeout, || {
            let js = js.clone();
            async move { js.query_account().await.ok().map(drop) }
        })
        .await
    }

    fn spawn_node(&self, index: usize) -> impl Future<Output = anyhow::Result<Process>> + use<> {
        let dir = self.dir.join(format!("n{index}"));
        let node = &self.nodes[index];
        let routes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, n)| format!("\"nats://127.0.0.1:{}\"", n.cluster_port))
            .collect::<Vec<_>>()
            .join(", ");
        let config = format!(
            "server_name: n{index}\nlisten: \"127.0.0.1:{client}\"\n\
             jetstream {{\n  store_dir: \"{store}\"\n  sync_interval: always\n}}\n\
             cluster {{\n  name: crmerp-test\n  listen: \"127.0.0.1:{cluster}\"\n  routes: [{routes}]\n}}\n",
            client = node.client_port,
            cluster = node.cluster_port,
            store = dir.join("jetstream").display(),
        );
        async move {
            std::fs::create_dir_all(&dir)?;
            let config_path = dir.join("nats.conf");
            std::fs::write(&config_path, config)?;
            let program = crate::paths::nats_server()?;
            Process::spawn(Spawn {
                name: "nats-server",
                program: &program,
                args: vec!["-c".into(), config_path.display().to_string()],
                env: vec![],
                log_dir: &dir,
                listeners: &[],
                ready_marker: Some("Server is ready"),
            })
            .await
        }
    }
}

/// A port the OS just handed out on loopback. Another process could take it
/// before nats-server binds it; on loopback in a test run that is rare enough.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
