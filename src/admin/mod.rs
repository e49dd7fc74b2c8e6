//! The plain-HTTP admin port: `/livez` (the process answers), `/readyz` (every registered
//! readiness check passes) and `/metrics` (Prometheus text).

mod metrics;
mod readiness;

pub use metrics::{METRICS_PREFIX, RequestLabels, ResultLabel, WebhookLabel, WebhookMetrics, encode};
pub use readiness::{Readiness, ReadinessHandle};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::sync::Arc;
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
    let checks = s.readiness.snapshot();
    let body: String = checks
        .iter()
        .map(|(name, ok)| format!("{name}: {}\n", if *ok { "ready" } else { "not ready" }))
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

/// Serves the admin routes on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
