//! The plain-HTTP admin port: `/livez` (the process answers), `/readyz` (every registered
//! readiness check passes) and `/metrics` (Prometheus text). The port is plain HTTP/1.1 with a
//! header read timeout, a connection lifetime and a connection cap ([`ADMIN_MAX_CONNECTIONS`]).

mod metrics;
mod readiness;

pub use metrics::{
    METRICS_PREFIX, ReasonLabel, RequestLabels, ResultLabel, WebhookLabel, WebhookMetrics, encode,
};
pub use readiness::{Check, Readiness, ReadinessHandle};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct AdminState {
    readiness: Readiness,
    registry: Arc<Registry>,
}

/// The admin routes.
pub fn router(readiness: Readiness, registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState { readiness, registry })
}

async fn readyz(State(s): State<AdminState>) -> impl IntoResponse {
    let checks = s.readiness.details();
    let body: String = checks
        .iter()
        .map(|(name, c)| {
            let state = if c.ready { "ready" } else { "not ready" };
            match &c.detail {
                Some(d) => format!("{name}: {state} ({d})\n"),
                None => format!("{name}: {state}\n"),
            }
        })
        .collect();
    if s.readiness.is_ready() {
        (StatusCode::OK, body)
    } else if checks.is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "no component registered yet\n".to_string(),
        )
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body)
    }
}

async fn metrics(State(s): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        encode(&s.registry),
    )
}

/// Most admin connections open at once; further ones are closed as soon as they are accepted,
/// so idle or slow clients cannot use up the process's file descriptors.
pub const ADMIN_MAX_CONNECTIONS: usize = 64;
/// Time allowed for a request's headers (and between requests on a kept-alive connection).
pub const ADMIN_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest an admin connection stays open (bounds bodies trickling in after the headers).
pub const ADMIN_CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// Limits of the admin port (flags of `run` and `webhook`).
#[derive(Clone, Copy, Debug)]
pub struct AdminLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub connection_lifetime: Duration,
}

impl Default for AdminLimits {
    fn default() -> Self {
        Self {
            max_connections: ADMIN_MAX_CONNECTIONS,
            header_read_timeout: ADMIN_HEADER_READ_TIMEOUT,
            connection_lifetime: ADMIN_CONNECTION_LIFETIME,
        }
    }
}

/// Serves the admin routes on `listener` until `shutdown` is cancelled: HTTP/1.1 with a header
/// read timeout, a connection lifetime and a cap on open connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: AdminLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let tracker = tokio_util::task::TaskTracker::new();
    loop {
        let tcp = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // At the cap: close at once rather than hold the descriptor.
            drop(tcp);
            continue;
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(limits.connection_lifetime) => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.as_mut()).await;
        });
    }
    drop(listener);
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), tracker.wait()).await;
    Ok(())
}
