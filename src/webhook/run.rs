//! `flink-lifecycle webhook`: the HTTPS admission server, the certificate reloader, the session
//! lookup and the admin port, under one shutdown signal. The pieces are public so `run` can host
//! the webhook next to the controllers.

use super::http::{WebhookDns, WebhookState, router};
use super::sessions::{NamespacedStores, NoSessions, SessionLookup};
use crate::admin::{METRICS_PREFIX, Readiness, WebhookMetrics};
use crate::api::FlinkDeployment;
use crate::config::OperatorConfig;
use crate::tls::{CertStore, Reloader, ServerTimeouts, serve_tls, server_config};
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Flags of the HTTPS webhook listener.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookArgs {
    /// Address of the HTTPS admission endpoint.
    #[arg(
        id = "webhook_addr",
        long = "webhook-addr",
        env = "FLINK_LIFECYCLE_WEBHOOK_ADDR",
        default_value = "0.0.0.0:9443"
    )]
    pub addr: SocketAddr,
    /// Directory with `tls.crt` and `tls.key` (a mounted Kubernetes TLS Secret); reloaded on change.
    #[arg(long, env = "FLINK_LIFECYCLE_TLS_DIR", default_value = "/certs")]
    pub tls_dir: PathBuf,
    /// Look up the FlinkDeployments of session jobs and of snapshots in the cluster (needs
    /// list/watch on flinkdeployments).
    #[arg(long, env = "FLINK_LIFECYCLE_SESSION_LOOKUP", default_value_t = true, action = clap::ArgAction::Set)]
    pub session_lookup: bool,
    /// Bytes of admission request bodies over 64 KiB held at once across all connections;
    /// beyond it a request is answered 429 (the API server retries).
    #[arg(long, env = "FLINK_LIFECYCLE_MAX_BODY_BYTES_IN_FLIGHT", default_value_t = crate::webhook::budget::MAX_BODY_BYTES_IN_FLIGHT)]
    pub max_body_bytes_in_flight: usize,
    /// Open connections the HTTPS listener serves at once; beyond it a new one is closed.
    #[arg(long, env = "FLINK_LIFECYCLE_MAX_CONNECTIONS", default_value_t = crate::tls::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Bodies up to this many bytes are read without counting against the body budget.
    #[arg(long, env = "FLINK_LIFECYCLE_SMALL_BODY_BYTES", default_value_t = crate::webhook::budget::SMALL_BODY_BYTES)]
    pub small_body_bytes: usize,
    /// Time for a TLS handshake (Flink duration syntax: `10 s`, `500 ms`, `1 min`).
    #[arg(long, env = "FLINK_LIFECYCLE_HANDSHAKE_TIMEOUT", default_value = "10 s", value_parser = duration_arg)]
    pub handshake_timeout: std::time::Duration,
    /// Time for a request's headers, and between requests on a kept-alive connection.
    #[arg(long, env = "FLINK_LIFECYCLE_HEADER_READ_TIMEOUT", default_value = "30 s", value_parser = duration_arg)]
    pub header_read_timeout: std::time::Duration,
    /// Time to receive a whole body once the headers arrived.
    #[arg(long, env = "FLINK_LIFECYCLE_BODY_READ_TIMEOUT", default_value = "10 s", value_parser = duration_arg)]
    pub body_read_timeout: std::time::Duration,
    /// How long requests in flight may finish after SIGTERM.
    #[arg(long, env = "FLINK_LIFECYCLE_DRAIN_TIMEOUT", default_value = "10 s", value_parser = duration_arg)]
    pub drain_timeout: std::time::Duration,
}

impl WebhookArgs {
    /// The flags' defaults for a listener on `addr` with the certificate in `tls_dir`.
    pub fn new(addr: SocketAddr, tls_dir: PathBuf, session_lookup: bool) -> Self {
        let d = ServerTimeouts::default();
        Self {
            addr,
            tls_dir,
            session_lookup,
            max_body_bytes_in_flight: crate::webhook::budget::MAX_BODY_BYTES_IN_FLIGHT,
            max_connections: crate::tls::MAX_CONNECTIONS,
            small_body_bytes: crate::webhook::budget::SMALL_BODY_BYTES,
            handshake_timeout: d.handshake,
            header_read_timeout: d.header_read,
            body_read_timeout: crate::webhook::budget::BODY_READ_TIMEOUT,
            drain_timeout: d.drain,
        }
    }
}

/// A duration flag in Flink's syntax, as the operator configuration takes them.
pub fn duration_arg(text: &str) -> Result<std::time::Duration, String> {
    crate::config::parse_flink_duration(text)
        .ok_or_else(|| format!("'{text}' is not a duration; {}", crate::config::DURATION_FORMS))
}

/// Flags of the plain-HTTP admin listener.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Address of /livez, /readyz and /metrics.
    #[arg(
        id = "admin_addr",
        long = "admin-addr",
        env = "FLINK_LIFECYCLE_ADMIN_ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub addr: SocketAddr,
    /// Open admin connections at once; beyond it a new one is closed.
    #[arg(long, env = "FLINK_LIFECYCLE_ADMIN_MAX_CONNECTIONS", default_value_t = crate::admin::ADMIN_MAX_CONNECTIONS)]
    pub admin_max_connections: usize,
    /// Time for an admin request's headers.
    #[arg(long, env = "FLINK_LIFECYCLE_ADMIN_HEADER_READ_TIMEOUT", default_value = "5 s", value_parser = duration_arg)]
    pub admin_header_read_timeout: std::time::Duration,
    /// Longest an admin connection stays open.
    #[arg(long, env = "FLINK_LIFECYCLE_ADMIN_CONNECTION_LIFETIME", default_value = "30 s", value_parser = duration_arg)]
    pub admin_connection_lifetime: std::time::Duration,
}

impl AdminArgs {
    pub fn limits(&self) -> crate::admin::AdminLimits {
        crate::admin::AdminLimits {
            max_connections: self.admin_max_connections,
            header_read_timeout: self.admin_header_read_timeout,
            connection_lifetime: self.admin_connection_lifetime,
        }
    }
}

/// The operator configuration file flag.
#[derive(clap::Args, Debug, Clone)]
pub struct OperatorConfigArgs {
    /// Operator configuration (flat or nested YAML of kubernetes.operator.* and default Flink keys).
    #[arg(
        id = "operator_config",
        long = "operator-config",
        env = "FLINK_LIFECYCLE_OPERATOR_CONFIG"
    )]
    pub file: Option<PathBuf>,
}

impl OperatorConfigArgs {
    pub fn load(&self) -> Result<OperatorConfig, String> {
        match &self.file {
            None => Ok(OperatorConfig::default()),
            Some(path) => OperatorConfig::from_file(path).map_err(|e| e.to_string()),
        }
    }
}

/// Everything `flink-lifecycle webhook` takes.
#[derive(clap::Args, Debug, Clone)]
pub struct WebhookCommand {
    #[command(flatten)]
    pub webhook: WebhookArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub operator_config: OperatorConfigArgs,
}

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
    let mut reloader = Reloader::new(
        args.tls_dir.clone(),
        store.clone(),
        metrics.clone(),
        readiness.register("tls-certificate"),
    );
    reloader
        .load_at_startup()
        .map_err(|e| format!("unusable serving certificate: {e}"))?;
    tokio::spawn(reloader.run(shutdown.clone()));
    let tls = server_config(store).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let app = router(WebhookState {
        operator,
        sessions,
        metrics,
        dns: WebhookDns::default(),
        budget: {
            let mut budget = crate::webhook::budget::BodyBudget::new(args.max_body_bytes_in_flight);
            budget.small = args.small_body_bytes;
            budget.read_timeout = args.body_read_timeout;
            budget
        },
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

/// Reflector stores of the FlinkDeployments the webhook may be asked about: one cluster-wide, or
/// one per watched namespace (an install with namespaced Roles may not list cluster-wide). Ready
/// (in `readiness`) once each first list is in.
pub fn session_store(
    client: kube::Client,
    namespaces: &[String],
    readiness: &Readiness,
    shutdown: CancellationToken,
) -> Arc<dyn SessionLookup> {
    if namespaces.is_empty() {
        return Arc::new(watched_store(
            kube::Api::all(client),
            readiness.register("flinkdeployment-store"),
            shutdown,
        ));
    }
    let stores = namespaces
        .iter()
        .map(|ns| {
            let store = watched_store(
                kube::Api::namespaced(client.clone(), ns),
                readiness.register(format!("flinkdeployment-store/{ns}")),
                shutdown.clone(),
            );
            (ns.clone(), store)
        })
        .collect();
    Arc::new(NamespacedStores(stores))
}

fn watched_store(
    api: kube::Api<FlinkDeployment>,
    ready: crate::admin::ReadinessHandle,
    shutdown: CancellationToken,
) -> reflector::Store<FlinkDeployment> {
    let (reader, writer) = reflector::store();
    let events = watcher(api, watcher::Config::default()).modify(slim_for_session_lookups);
    let stream = reflector(writer, events)
        .default_backoff()
        .touched_objects()
        .for_each(|event| async move {
            if let Err(e) = event {
                tracing::warn!(error = %e, "FlinkDeployment watch error");
            }
        });
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = stream => {}
        }
    });
    let waiting = reader.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            synced = waiting.wait_until_ready() => ready.set_ready(synced.is_ok()),
        }
    });
    reader
}

/// What the session store keeps of a FlinkDeployment. The webhook looks clusters up as targets
/// of session jobs and of snapshots: a session cluster is kept whole (its spec and configuration
/// are validated against), an application cluster only as "exists, has spec.job, runs this
/// flinkVersion" (enough to reject it as a session job's target, and to check that a checkpoint
/// snapshot of it needs Flink 1.17). With thousands of application clusters this keeps the store
/// a few hundred bytes per object instead of a second full copy next to the controller's.
pub fn slim_for_session_lookups(dep: &mut FlinkDeployment) {
    dep.metadata.managed_fields = None;
    if dep.spec.job.is_some() {
        dep.spec = crate::api::FlinkDeploymentSpec {
            job: Some(crate::api::JobSpec::default()),
            flink_version: dep.spec.flink_version,
            ..Default::default()
        };
        dep.status = None;
        dep.metadata.annotations = None;
        dep.metadata.labels = None;
        dep.metadata.finalizers = None;
        dep.metadata.owner_references = None;
    }
}

/// Cancels `token` on the first SIGTERM or SIGINT.
pub fn cancel_on_signal(token: CancellationToken) {
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
        token.cancel();
    });
}

/// Installs ring as the process-wide rustls provider (ignored when one is installed already).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs `flink-lifecycle webhook` until SIGTERM/SIGINT.
pub async fn run(cmd: WebhookCommand) -> Result<(), String> {
    install_crypto_provider();
    let operator = Arc::new(cmd.operator_config.load()?);
    let shutdown = CancellationToken::new();
    cancel_on_signal(shutdown.clone());
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
        shutdown.clone(),
    )
    .await?;
    let admin_listener = tokio::net::TcpListener::bind(cmd.admin.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cmd.admin.addr))?;
    let admin_addr = admin_listener.local_addr().map_err(|e| e.to_string())?;
    // The admin port stops after the webhook has drained, so /readyz answers "not ready" meanwhile.
    let admin_stop = CancellationToken::new();
    let admin = tokio::spawn(crate::admin::serve(
        admin_listener,
        crate::admin::router(readiness, Arc::new(registry)),
        cmd.admin.limits(),
        admin_stop.clone(),
    ));
    println!(
        "webhook: https://{addr}/validate and https://{addr}/mutate (certificate from {})",
        cmd.webhook.tls_dir.display()
    );
    println!("admin:   http://{admin_addr}/livez  http://{admin_addr}/readyz  http://{admin_addr}/metrics");
    let _ = server.await;
    admin_stop.cancel();
    let _ = admin.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::slim_for_session_lookups;
    use crate::api::{FlinkDeployment, FlinkSessionJob};
    use crate::config::OperatorConfig;
    use crate::validation::{NoDns, validate_session_job};
    use serde_json::json;

    fn cluster(job: bool) -> FlinkDeployment {
        let mut spec = json!({"image": "flink:1.20", "flinkVersion": "v1_20", "serviceAccount": "flink",
                              "flinkConfiguration": {"taskmanager.numberOfTaskSlots": "4"}});
        if job {
            spec["job"] = json!({"jarURI": "local:///opt/flink/job.jar", "parallelism": 2});
        }
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment",
            "metadata": {"name": "cluster", "namespace": "default", "labels": {"team": "a"}},
            "spec": spec,
            "status": {"lifecycleState": "STABLE"}
        }))
        .unwrap_or_else(|e| panic!("test cluster: {e}"))
    }

    fn session_job() -> FlinkSessionJob {
        serde_json::from_value(json!({
            "apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkSessionJob",
            "metadata": {"name": "job", "namespace": "default"},
            "spec": {"deploymentName": "cluster",
                     "job": {"jarURI": "https://repo.example/job.jar", "parallelism": 2}}
        }))
        .unwrap_or_else(|e| panic!("test session job: {e}"))
    }

    #[test]
    fn a_slimmed_store_answers_session_job_and_snapshot_validation_as_the_full_object_does() {
        let operator = OperatorConfig::default();
        for job in [true, false] {
            let full = cluster(job);
            let mut slim = full.clone();
            slim_for_session_lookups(&mut slim);
            let verdict = |target: &FlinkDeployment| {
                validate_session_job(&session_job(), Some(target), &operator, &NoDns)
                    .map_err(|e| e.to_string())
            };
            assert_eq!(verdict(&slim), verdict(&full), "application cluster: {job}");
            if job {
                assert!(
                    verdict(&slim).is_err(),
                    "an application cluster is no session target"
                );
                assert!(
                    slim.status.is_none() && slim.metadata.labels.is_none(),
                    "only the stub is kept"
                );
                // A checkpoint snapshot of it is checked against its version.
                assert_eq!(slim.spec.flink_version, full.spec.flink_version);
            } else {
                assert_eq!(
                    serde_json::to_value(&slim).ok(),
                    serde_json::to_value(&full).ok(),
                    "session clusters are kept whole"
                );
            }
        }
    }
}
