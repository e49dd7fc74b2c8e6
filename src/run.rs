//! `flink-lifecycle run`: the controllers and the admission webhook in one process, with one
//! shutdown signal. Without a reachable cluster it says so and serves the webhook alone.

use crate::admin::{METRICS_PREFIX, Readiness};
use crate::api::FlinkDeployment;
use crate::controller::leader::LeaderElector;
use crate::controller::{Context, RestUrlResolver, ServiceDns};
use crate::process::{AdminPort, install_crypto_provider, print_addresses, shutdown_on_signal};
use crate::webhook::{
    AdminArgs, NoSessions, OperatorConfigArgs, SessionLookup, WebhookArgs, session_store, start_webhook,
};
use futures::FutureExt;
use kube::api::{Api, ListParams};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Flags of the controllers.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ControllerArgs {
    /// Namespaces to watch (comma separated); all when empty. Overrides
    /// `kubernetes.operator.watched.namespaces`.
    #[arg(long, env = "FLINK_LIFECYCLE_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// REST URL of each Flink cluster, with `{name}` and `{namespace}` placeholders, for running
    /// the operator outside the cluster (default: the REST Service's DNS name).
    #[arg(long, env = "FLINK_LIFECYCLE_REST_URL_TEMPLATE")]
    pub rest_url_template: Option<String>,
    /// Act only while holding the leader-election Lease (several replicas, one active).
    /// Default: the operator configuration's `kubernetes.operator.leader-election.enabled`.
    #[arg(long, env = "FLINK_LIFECYCLE_LEADER_ELECTION", action = clap::ArgAction::Set)]
    pub leader_election: Option<bool>,
    /// The operator's own namespace (leader-election Lease, self-signed certificate Secret);
    /// default: the kubeconfig's default namespace.
    #[arg(long = "namespace", env = "FLINK_LIFECYCLE_NAMESPACE")]
    pub own_namespace: Option<String>,
}

/// Everything `flink-lifecycle run` takes.
#[derive(clap::Args, Debug, Clone)]
pub struct RunCommand {
    #[command(flatten)]
    pub webhook: WebhookArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
    #[command(flatten)]
    pub operator_config: OperatorConfigArgs,
    #[command(flatten)]
    pub controller: ControllerArgs,
    #[command(flatten)]
    pub self_signed: crate::selfsigned::SelfSignedArgs,
}

/// Resolves REST URLs from a template such as `http://{name}-rest.{namespace}.example:8081`.
pub struct TemplateResolver(pub String);

impl RestUrlResolver for TemplateResolver {
    fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        Some(
            self.0
                .replace("{name}", cluster)
                .replace("{namespace}", namespace),
        )
    }
}

/// Connects to the cluster of the current kubeconfig (or the in-cluster service account) and
/// checks that the CRDs are served.
pub async fn connect(namespaces: &[String]) -> Result<kube::Client, String> {
    use crate::controller::access::{api_code, forbidden_message};
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes cluster reachable ({e})"))?;
    // Asked where the operator may list: an install for a namespace list has no cluster-wide
    // grant. Every watched namespace is asked, so a missing Role is named at start.
    let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    let mut forbidden = Vec::new();
    for scope in &scopes {
        let api: Api<FlinkDeployment> = match scope {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        match api.list(&ListParams::default().limit(1)).await {
            Ok(_) => {}
            Err(e) if api_code(&e) == Some(403) => {
                let message = forbidden_message("FlinkDeployments", *scope, &e.to_string());
                tracing::error!("{message}");
                forbidden.push(message);
            }
            Err(e) => {
                return Err(format!(
                    "the cluster does not serve the FlinkDeployment CRD ({e}); install it with `kubectl apply -k manifests/base`"
                ));
            }
        }
    }
    // Watching goes on where it is allowed (and where a Role granted later allows it).
    if forbidden.len() == scopes.len() {
        return Err(forbidden.join(" "));
    }
    Ok(client)
}

fn own_namespace(cmd: &RunCommand, client: &kube::Client) -> String {
    cmd.controller
        .own_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string())
}

fn elector(ctx: &Context, namespace: &str) -> LeaderElector {
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("flink-lifecycle-{}", uuid::Uuid::new_v4().simple()));
    LeaderElector {
        api: Api::namespaced(ctx.client.clone(), namespace),
        name: ctx
            .operator
            .leader_election_lease_name
            .clone()
            .unwrap_or_else(|| crate::rbac::LEADER_LEASE_NAME.to_string()),
        identity,
        lease_duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(5),
    }
}

/// Runs webhook and controllers until SIGTERM/SIGINT.
pub async fn run(cmd: RunCommand) -> Result<(), String> {
    install_crypto_provider();
    let mut operator = cmd.operator_config.load()?;
    if !cmd.controller.namespaces.is_empty() {
        operator.watched_namespaces = cmd.controller.namespaces.clone();
    }
    let shutdown = shutdown_on_signal();
    let readiness = Readiness::new();
    let mut registry = Registry::with_prefix(METRICS_PREFIX);

    let cluster = connect(&operator.watched_namespaces).await;
    if let Ok(client) = &cluster
        && let Some(cfg) = cmd
            .self_signed
            .config(&own_namespace(&cmd, client), Some(cmd.webhook.tls_dir.clone()))
    {
        // The certificate must exist before the webhook loads it.
        let stop = shutdown.clone().cancelled_owned();
        crate::selfsigned::start(client.clone(), cfg, stop)
            .await
            .map_err(|e| format!("self-signed webhook certificate: {e}"))?;
    }
    let sessions: Arc<dyn SessionLookup> = match &cluster {
        Ok(client) => session_store(
            client.clone(),
            &operator.watched_namespaces,
            &readiness,
            shutdown.clone(),
        ),
        Err(_) => Arc::new(NoSessions),
    };
    let controllers = match cluster {
        Ok(client) => {
            let resolver: Arc<dyn RestUrlResolver> = match &cmd.controller.rest_url_template {
                Some(t) => Arc::new(TemplateResolver(t.clone())),
                None => Arc::new(ServiceDns),
            };
            let ctx = Arc::new(Context::new(client, operator.clone(), resolver));
            ctx.metrics.register(&mut registry);
            let ready = readiness.register("controllers");
            let elect = cmd
                .controller
                .leader_election
                .unwrap_or(operator.leader_election_enabled);
            let leadership = elect.then(|| {
                let namespace = own_namespace(&cmd, &ctx.client);
                elector(&ctx, &namespace).run(shutdown.clone())
            });
            let stop = shutdown.clone();
            Some(tokio::spawn(async move {
                // Controllers are ready (the pod serves) even while following: the webhook works.
                ready.set_ready(true);
                if let Some(mut leading) = leadership {
                    tracing::info!("controllers: waiting for the leader-election Lease");
                    if leading.wait_for(|l| *l).await.is_err() {
                        return;
                    }
                    tracing::info!("controllers: leading");
                    // Losing the Lease ends this process's turn: stop acting at once.
                    let lost = stop.clone();
                    tokio::spawn(async move {
                        if leading.wait_for(|l| !*l).await.is_ok() && !lost.is_cancelled() {
                            tracing::error!("leader-election Lease lost; shutting down");
                            lost.cancel();
                        }
                    });
                }
                crate::controller::run(ctx, stop.cancelled_owned().shared()).await;
            }))
        }
        Err(reason) => {
            tracing::warn!("controllers: not started: {reason}. Serving the admission webhook alone.");
            None
        }
    };
    let (addr, server) = start_webhook(
        &cmd.webhook,
        Arc::new(operator),
        sessions,
        &readiness,
        &mut registry,
        shutdown.clone(),
    )
    .await?;
    // The admin port stops after the webhook has drained, so /readyz answers "not ready" meanwhile.
    let admin = AdminPort::start(cmd.admin.addr, cmd.admin.limits(), readiness, registry).await?;
    if controllers.is_some() {
        tracing::info!("controllers: watching FlinkDeployments and FlinkSessionJobs");
    }
    print_addresses(addr, &cmd.webhook.tls_dir, admin.addr);
    let _ = server.await;
    if let Some(c) = controllers {
        let _ = c.await;
    }
    admin.stop().await;
    Ok(())
}
