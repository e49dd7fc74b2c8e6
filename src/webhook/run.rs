//! `flink-lifecycle webhook`: the wiring of the admission server. The certificate reloader, the
//! session stores and the HTTPS server are started here; signals, listeners and the admin port
//! are the process's ([`crate::process`]). The pieces are public so `run` can host the webhook
//! next to the controllers.

use super::args::{WebhookArgs, WebhookCommand};
use super::budget::BodyBudget;
use super::http::{WebhookDns, WebhookState, router};
// Also at this path for the callers that started the store from here.
pub use super::session_store::session_store;
use super::sessions::{NoSessions, SessionLookup};
use crate::admin::{METRICS_PREFIX, Readiness, WebhookMetrics};
use crate::config::OperatorConfig;
use crate::process::{AdminPort, bind, install_crypto_provider, print_addresses, shutdown_on_signal};
use crate::tls::{CertStore, Reloader, ServerTimeouts, serve_tls, server_config};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Starts the certificate reloader and the HTTPS server; returns the server task. The listener
/// is bound before this returns, so a bind error is reported here.
pub async fn start_webhook(
    args: &WebhookArgs,
    operator: Arc<OperatorConfig>,
    sessions: Arc<dyn SessionLookup>,
    readiness: &Readiness,
    registry: &mut Registry,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    crate::validation::warm_up().map_err(|e| format!("schema validators: {e}"))?;
    // Not ready from the moment shutdown starts: /readyz says so while the requests in flight
    // drain (the admin port outlives the webhook listener).
    let serving = readiness.register("serving");
    serving.set_ready(true);
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        serving.set_ready(false);
    });
    let metrics = WebhookMetrics::register(registry);
    let store = Arc::new(CertStore::new());
    Reloader::new(
        args.tls_dir.clone(),
        store.clone(),
        metrics.clone(),
        readiness.register("tls-certificate"),
    )
    .start(shutdown.clone())
    .map_err(|e| format!("unusable serving certificate: {e}"))?;
    let tls = server_config(store).map_err(|e| e.to_string())?;
    let (listener, local) = bind(args.addr).await?;
    let mut budget = BodyBudget::new(args.max_body_bytes_in_flight);
    budget.small = args.small_body_bytes;
    budget.read_timeout = args.body_read_timeout;
    let app = router(WebhookState {
        operator,
        sessions,
        metrics,
        dns: WebhookDns::default(),
        budget,
    });
    let task = tokio::spawn(serve_tls(
        listener,
        Arc::new(tls),
        app,
        ServerTimeouts {
            max_connections: args.max_connections,
            handshake: args.handshake_timeout,
            header_read: args.header_read_timeout,
            drain: args.drain_timeout,
        },
        shutdown,
    ));
    Ok((local, task))
}

/// Runs `flink-lifecycle webhook` until SIGTERM/SIGINT.
pub async fn run(cmd: WebhookCommand) -> Result<(), String> {
    install_crypto_provider();
    let operator = Arc::new(cmd.operator_config.load()?);
    let shutdown = shutdown_on_signal();
    let readiness = Readiness::new();
    let mut registry = Registry::with_prefix(METRICS_PREFIX);
    let sessions: Arc<dyn SessionLookup> = if cmd.webhook.session_lookup {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("no Kubernetes client for session lookups: {e}"))?;
        session_store(client, &operator.watched_namespaces, &readiness, shutdown.clone())
    } else {
        Arc::new(NoSessions)
    };
    let (addr, server) = start_webhook(
        &cmd.webhook,
        operator,
        sessions,
        &readiness,
        &mut registry,
        shutdown,
    )
    .await?;
    // The admin port stops after the webhook has drained, so /readyz answers "not ready" meanwhile.
    let admin = AdminPort::start(cmd.admin.addr, cmd.admin.limits(), readiness, registry).await?;
    print_addresses(addr, &cmd.webhook.tls_dir, admin.addr);
    let _ = server.await;
    admin.stop().await;
    Ok(())
}
