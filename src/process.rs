//! Process plumbing of the serving commands (`webhook`, `run`): the crypto provider, the one
//! shutdown signal, listeners, and the admin port, which outlives what it reports on.

use crate::admin::{AdminLimits, Readiness};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Installs ring as the process-wide rustls provider (ignored when one is installed already).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process's one shutdown signal: cancelled on the first SIGTERM or SIGINT.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = tokio::signal::ctrl_c() => {}
                    }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received; draining");
        cancel.cancel();
    });
    token
}

/// A TCP listener on `addr`, bound now so that a taken port is reported at start.
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, local))
}

/// The admin port (/livez, /readyz, /metrics), serving until [`AdminPort::stop`].
pub struct AdminPort {
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl AdminPort {
    /// Binds and serves the admin port. It has its own stop rather than the shutdown signal: it
    /// must keep answering /readyz "not ready" while the webhook drains.
    pub async fn start(
        addr: SocketAddr,
        limits: AdminLimits,
        readiness: Readiness,
        registry: Registry,
    ) -> Result<Self, String> {
        let (listener, addr) = bind(addr).await?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(crate::admin::serve(
            listener,
            crate::admin::router(readiness, Arc::new(registry)),
            limits,
            stop.clone(),
        ));
        Ok(Self { addr, stop, task })
    }

    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Where the serving command listens, on standard output: this is the command's output, not a
/// log line (with port 0 the addresses are only known here, and scripts and tests read them).
pub fn print_addresses(webhook: SocketAddr, tls_dir: &std::path::Path, admin: SocketAddr) {
    println!(
        "webhook: https://{webhook}/validate and https://{webhook}/mutate (certificate from {})",
        tls_dir.display()
    );
    println!("admin:   http://{admin}/livez  http://{admin}/readyz  http://{admin}/metrics");
}
