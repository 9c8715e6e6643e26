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
