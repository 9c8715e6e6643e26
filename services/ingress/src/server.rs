//! The public listener: HTTP/1.1 with a header-read timeout, an idle timeout
//! on every pending read and write, a cap on concurrent connections, and
//! graceful shutdown.
//!
//! `axum::serve` sets none of these (hyper's header-read timeout needs a timer
//! it does not install), so a client trickling its headers held a connection
//! for as long as it liked. Body-read deadlines are per request and live with
//! the routes (`sources::guards`), where they can answer 408.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;

/// Connection-level limits of the public listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Longest wait for a request's headers (also between keep-alive requests).
    pub(crate) header_read_timeout: Duration,
    /// Longest a pending read or write may make no progress.
    pub(crate) idle_timeout: Duration,
    /// Most connections served at once.
    pub(crate) max_connections: usize,
    /// How long shutdown waits for open connections to finish their requests.
    pub(crate) drain: Duration,
}

/// Serves `router` on `listener` until `shutdown`, then lets in-flight
/// requests finish (up to `limits.drain`).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "Cannot accept a connection.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            metrics::counter!("crmerp_ingress_connections_refused_total").increment(1);
            tracing::debug!(%remote, "Connection limit reached; refusing a connection.");
            tokio::spawn(refuse(stream));
            continue;
        };
        let mut io = TimeoutStream::new(stream);
        io.set_read_timeout(Some(limits.idle_timeout));
        io.set_write_timeout(Some(limits.idle_timeout));
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(Box::pin(io)), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%remote, %error, "Connection closed with an error.");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain) => {
            tracing::warn!("Connections still open at the drain deadline; closing them.");
        }
    }
}

/// Answers a connection over the limit with 503 before reading anything, and closes it.
async fn refuse(mut stream: TcpStream) {
    let body = r#"{"type":"urn:crmerp:problem:too_many_connections","title":"Too many connections","status":503,"detail":"The server is at its connection limit. Retry later.","code":"too_many_connections"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read gets nothing more than this second.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
