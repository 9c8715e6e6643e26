//! Helpers shared by the unit tests: a tiny axum server on 127.0.0.1:0.

use std::net::SocketAddr;

/// Serves `router` on an ephemeral loopback port for the rest of the test.
pub(crate) async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    addr
}

/// One vendor simulator of the sandbox on an ephemeral loopback port, stopped on drop.
pub(crate) struct Simulator {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub(crate) url: String,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the sandbox simulator `vendor` (a name of `crmerp_sandbox::VENDORS`) with dev settings.
pub(crate) async fn simulator(vendor: &'static str) -> Simulator {
    simulator_with(vendor, crmerp_sandbox::SandboxConfig::default()).await
}

/// Starts the sandbox simulator `vendor` with `config`.
pub(crate) async fn simulator_with(
    vendor: &'static str,
    config: crmerp_sandbox::SandboxConfig,
) -> Simulator {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let shutdown = tokio_util::sync::CancellationToken::new();
    tokio::spawn(crmerp_sandbox::serve(
        config,
        vec![(vendor, listener)],
        shutdown.clone(),
    ));
    Simulator { url, shutdown }
}
