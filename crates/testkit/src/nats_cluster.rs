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
        let mut last_error = None;
        // Route ports are chosen before any node runs (see `free_port`); a port
        // taken in between makes a node exit, and the whole start is retried.
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(dir, size).await {
                Ok(cluster) => return Ok(cluster),
                Err(error) if error.downcast_ref::<AddressInUse>().is_some() => {
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the cluster did not start")))
    }

    async fn try_start(dir: &Path, size: usize) -> anyhow::Result<Self> {
        let mut nodes = Vec::with_capacity(size);
        for index in 0..size {
            // A failed earlier try may have left a half-formed store behind.
            let store = dir.join(format!("n{index}")).join("jetstream");
            if store.exists() {
                std::fs::remove_dir_all(&store)?;
            }
            nodes.push(Node {
                // Chosen by nats-server itself at first start (see `spawn_node`).
                client_port: 0,
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
        let mut failure = None;
        for (index, (node, process)) in cluster.nodes.iter_mut().zip(processes).enumerate() {
            match process {
                Ok((process, client_port)) => {
                    node.client_port = client_port;
                    node.process = Some(process);
                }
                Err(error) => {
                    let log = dir.join(format!("n{index}")).join("nats-server.log");
                    let in_use = std::fs::read_to_string(&log)
                        .is_ok_and(|text| text.contains("address already in use"));
                    failure.get_or_insert(if in_use {
                        error.context(AddressInUse)
                    } else {
                        error
                    });
                }
            }
        }
        // Dropping the cluster kills the nodes that did start.
        if let Some(error) = failure {
            return Err(error);
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
        let (process, _) = self.spawn_node(index).await?;
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

    /// Starts node `index`; answers the process and its client port. A node
    /// that never ran listens on port -1 (nats-server picks a free one, read
    /// back from its log); a restart reuses that port, as clients know it.
    fn spawn_node(
        &self,
        index: usize,
    ) -> impl Future<Output = anyhow::Result<(Process, u16)>> + use<> {
        let dir = self.dir.join(format!("n{index}"));
        let node = &self.nodes[index];
        let known_port = node.client_port;
        let client = if known_port == 0 {
            "-1".to_owned()
        } else {
            known_port.to_string()
        };
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
             jetstream {{\n  store_dir: \"{store}\"\n  max_file_store: {max}\n  sync_interval: always\n}}\n\
             cluster {{\n  name: crmerp-test\n  listen: \"127.0.0.1:{cluster}\"\n  routes: [{routes}]\n}}\n",
            cluster = node.cluster_port,
            store = dir.join("jetstream").display(),
            max = crate::nats_server::MAX_FILE_STORE,
        );
        async move {
            std::fs::create_dir_all(&dir)?;
            let config_path = dir.join("nats.conf");
            std::fs::write(&config_path, config)?;
            let program = crate::paths::nats_server()?;
            let process = Process::spawn(Spawn {
                name: "nats-server",
                program: &program,
                args: vec!["-c".into(), config_path.display().to_string()],
                env: vec![],
                log_dir: &dir,
                listeners: &[],
                ready_marker: Some("Server is ready"),
            })
            .await?;
            let port = if known_port == 0 {
                crate::nats_server::read_port(process.log_path())?
            } else {
                known_port
            };
            Ok((process, port))
        }
    }
}

/// Tries of a whole cluster start when a chosen route port was taken meanwhile.
const START_ATTEMPTS: usize = 3;

/// Marks a start that failed because a port was taken after we chose it.
#[derive(Debug)]
struct AddressInUse;

impl std::fmt::Display for AddressInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a chosen port was taken before nats-server bound it")
    }
}

// Route ports are chosen first (`free_port`): every node's config must name
// its peers' route ports before any node runs, so nats-server cannot pick them
// itself. Another process could take the port in between; `start` detects
// that and starts over.
use crate::process::free_port;
