//! The HTTPS accept loop: TLS handshake with a timeout, HTTP/1.1 with keep-alive and a header
//! read timeout (which also bounds idle keep-alive connections), graceful drain on shutdown.
//! hyper answers requests it cannot parse (400, 414 URI too long, 431 headers too large) by
//! itself with an empty body; [`ErrorBodies`] gives those answers a short text saying what was
//! wrong.

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Default cap on open connections of one HTTPS listener; beyond it a new connection is closed
/// at once (the API server retries) instead of holding a descriptor and a TLS session.
pub const MAX_CONNECTIONS: usize = 1024;

/// Timeouts and the connection cap of the HTTPS server.
#[derive(Clone, Copy, Debug)]
pub struct ServerTimeouts {
    /// Open connections served at once.
    pub max_connections: usize,
    /// TLS handshake.
    pub handshake: Duration,
    /// Request headers, counted from the end of the previous response on keep-alive.
    pub header_read: Duration,
    /// How long in-flight requests may finish after shutdown starts.
    pub drain: Duration,
}

impl Default for ServerTimeouts {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            handshake: Duration::from_secs(10),
            header_read: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `router` over TLS on `listener` until `shutdown`, then drains open connections.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    timeouts: ServerTimeouts,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let tracker = TaskTracker::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(timeouts.max_connections.max(1)));
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "at the connection cap: closed");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _slot = slot;
            let stream = match tokio::time::timeout(timeouts.handshake, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeouts.header_read)
                .keep_alive(true)
                .serve_connection(TokioIo::new(ErrorBodies::new(stream)), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                }
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(timeouts.drain, conn.as_mut()).await;
                }
            }
        });
    }
    // Closing the listener first makes a connection attempted during the drain fail at once
    // (refused) instead of waiting in the backlog until the process exits.
    drop(listener);
    tracker.close();
    let _ = tokio::time::timeout(timeouts.drain, tracker.wait()).await;
}

/// Wraps a connection so a body-less 4xx answer (hyper's own answer to a request it cannot
/// parse) goes out with a short `text/plain` body saying what was wrong.
pub struct ErrorBodies<T> {
    inner: T,
    pending: Vec<u8>,
    written: usize,
}

impl<T> ErrorBodies<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// What a body-less 4xx answer of status `code` says.
fn error_text(code: &str) -> &'static str {
    match code {
        "400" => "bad request: the request line or a header cannot be parsed as HTTP/1.1\n",
        "413" => "payload too large\n",
        "414" => "URI too long: this webhook serves POST /validate and POST /mutate\n",
        "431" => "request header fields too large: too many headers, or headers too long\n",
        _ => "the request was rejected\n",
    }
}

/// `head` with a text body when it is exactly one whole 4xx response head with
/// `content-length: 0`; `None` for everything else.
pub fn with_error_body(head: &[u8]) -> Option<Vec<u8>> {
    if !head.starts_with(b"HTTP/1.1 4") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let body_start = text.find("\r\n\r\n")?;
    if body_start + 4 != text.len() {
        return None;
    }
    let code = text.get(9..12)?;
    let mut lines: Vec<&str> = text[..body_start].split("\r\n").collect();
    let length = lines
        .iter()
        .position(|l| l.to_ascii_lowercase().replace(' ', "") == "content-length:0")?;
    if lines
        .iter()
        .any(|l| l.to_ascii_lowercase().starts_with("content-type:"))
    {
        return None;
    }
    let body = error_text(code);
    let length_line = format!("content-length: {}", body.len());
    lines[length] = &length_line;
    let mut out = lines.join("\r\n");
    out.push_str("\r\ncontent-type: text/plain; charset=utf-8\r\n\r\n");
    out.push_str(body);
    Some(out.into_bytes())
}

impl<T: AsyncWrite + Unpin> ErrorBodies<T> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ErrorBodies<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(rewritten) = with_error_body(buf) {
            self.pending = rewritten;
            self.written = 0;
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::with_error_body;

    #[test]
    fn body_less_client_errors_get_a_text() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let out = String::from_utf8(with_error_body(head).unwrap_or_default()).unwrap_or_default();
        assert!(out.starts_with("HTTP/1.1 431 "), "{out}");
        assert!(out.contains("too many headers"), "{out}");
        let (_, body) = out.split_once("\r\n\r\n").unwrap_or_default();
        assert!(
            out.contains(&format!("content-length: {}\r\n", body.len())),
            "{out}"
        );
        // Anything else passes unchanged.
        assert!(with_error_body(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(with_error_body(b"HTTP/1.1 404 Not Found\r\ncontent-length: 5\r\n\r\nnope\n").is_none());
    }
}
