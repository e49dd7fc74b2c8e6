//! `flink-lifecycle run`: the controllers (and the admission webhook) in one process, with one
//! shutdown signal.

use crate::api::FlinkDeployment;
use crate::config::OperatorConfig;
use crate::controller::{Context, RestUrlResolver, ServiceDns};
use futures::FutureExt;
use kube::api::{Api, ListParams};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Flags of the controllers.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ControllerArgs {
    /// Operator configuration file (YAML of flat `kubernetes.operator.*` keys).
    #[arg(long = "operator-config", env = "FLINK_LIFECYCLE_OPERATOR_CONFIG")]
    pub operator_config: Option<PathBuf>,
    /// Namespaces to watch (comma separated); all when empty. Overrides
    /// `kubernetes.operator.watched.namespaces`.
    #[arg(long, env = "FLINK_LIFECYCLE_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// REST URL of each Flink cluster, with `{name}` and `{namespace}` placeholders, for running
    /// the operator outside the cluster (default: the REST Service's DNS name).
    #[arg(long, env = "FLINK_LIFECYCLE_REST_URL_TEMPLATE")]
    pub rest_url_template: Option<String>,
}

/// Resolves REST URLs from a template such as `http://127.0.0.1:8081` or
/// `http://{name}-rest.{namespace}.example:8081`.
pub struct TemplateResolver(pub String);

impl RestUrlResolver for TemplateResolver {
    fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        Some(self.0.replace("{name}", cluster).replace("{namespace}", namespace))
    }
}

/// Loads the operator configuration named by the flags.
pub fn load_operator_config(args: &ControllerArgs) -> Result<OperatorConfig, String> {
    let mut config = match &args.operator_config {
        Some(path) => OperatorConfig::from_file(path).map_err(|e| e.to_string())?,
        None => OperatorConfig::default(),
    };
    if !args.namespaces.is_empty() {
        config.watched_namespaces = args.namespaces.clone();
    }
    Ok(config)
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = term => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("shutdown signal received");
        token.cancel();
    });
}

/// Connects to the cluster of the current kubeconfig (or the in-cluster service account) and
/// checks that the CRDs are served.
pub async fn connect() -> Result<kube::Client, String> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| format!("no Kubernetes cluster reachable ({e})"))?;
    let api: Api<FlinkDeployment> = Api::all(client.clone());
    api.list(&ListParams::default().limit(1)).await.map_err(|e| {
        format!("the FlinkDeployment CRD is not served by the cluster ({e}); install it with `kubectl apply -k manifests/base`")
    })?;
    Ok(client)
}

/// Runs the controllers until `shutdown` is cancelled.
pub async fn run_controllers(client: kube::Client, args: &ControllerArgs, shutdown: CancellationToken) -> Result<(), String> {
    let operator = load_operator_config(args)?;
    let resolver: Arc<dyn RestUrlResolver> = match &args.rest_url_template {
        Some(t) => Arc::new(TemplateResolver(t.clone())),
        None => Arc::new(ServiceDns),
    };
    let ctx = Arc::new(Context::new(client, operator, resolver));
    let stop = shutdown.cancelled_owned().shared();
    crate::controller::run(ctx, stop).await;
    Ok(())
}
