//! The public listener: HTTP/1.1 with a header-read timeout, an idle timeout
//! on every pending read and write, a cap on concurrent connections, and
//! graceful shutdown.
//!
//! `axum::serve` sets none of these (hyper's header-read timeout needs a timer
//! it does not install), so a client trickling its headers held a connection
//! for as long as it liked. Body-read deadlines are per request and live with
//! the routes (`sources::guards`), where they can answer 408.
//!
//! hyper closes a connection at its header-read timeout without a word. When
//! part of a request had arrived, the client is owed an answer (RFC 9110
//! §15.5.9), so the listener writes the 408 itself on a second handle of the
//! socket; a keep-alive connection that was merely idle is closed silently,
//! as a 408 there would answer a request nobody sent.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
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
        // A second handle on the socket, to answer 408 after hyper gave up on it.
        let (stream, twin) = match twin(stream) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::warn!(%remote, %error, "Cannot set up a connection.");
                continue;
            }
        };
        let pending = Arc::new(AtomicBool::new(false));
        let mut io = TimeoutStream::new(Tracked {
            inner: stream,
            pending: Arc::clone(&pending),
        });
        io.set_read_timeout(Some(limits.idle_timeout));
        io.set_write_timeout(Some(limits.idle_timeout));
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(Box::pin(io)), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%remote, %error, "Connection closed with an error.");
                if error.is_timeout() && pending.load(Ordering::Acquire) {
                    metrics::counter!("crmerp_ingress_header_timeouts_total").increment(1);
                    answer_request_timeout(twin).await;
                }
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

/// The stream and a second handle on the same socket.
fn twin(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let stream = stream.into_std()?;
    let twin = stream.try_clone()?;
    Ok((TcpStream::from_std(stream)?, twin))
}

/// A connection's stream that notes whether request bytes arrived since the
/// last answer was written (so a header timeout interrupted a request).
struct Tracked {
    inner: TcpStream,
    pending: Arc<AtomicBool>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.pending.store(true, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.pending.store(false, Ordering::Release);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Answers 408 problem+json on the socket hyper closed at its header
/// timeout, and closes it.
async fn answer_request_timeout(twin: std::net::TcpStream) {
    let body = r#"{"type":"urn:crmerp:problem:request_timeout","title":"Request timeout","status":408,"detail":"The request headers did not arrive within the header-read timeout.","code":"request_timeout"}"#;
    let response = format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut stream) = TcpStream::from_std(twin) else {
        return;
    };
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    // A client that does not read gets nothing more than this second.
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
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
