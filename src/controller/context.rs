//! What every reconcile shares: the Kubernetes client, the operator configuration, where each
//! cluster's REST API is, metrics and the event recorder.

use super::backoff::Backoff;
use super::metrics::ControllerMetrics;
use crate::config::OperatorConfig;
use std::sync::Arc;

/// Where the REST API of a Flink cluster is reachable.
pub trait RestUrlResolver: Send + Sync {
    fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String>;
}

/// In a cluster: the REST Service's DNS name.
pub struct ServiceDns;

impl RestUrlResolver for ServiceDns {
    fn rest_url(&self, namespace: &str, cluster: &str) -> Option<String> {
        Some(format!(
            "http://{}.{namespace}:{}",
            crate::render::rest_service_name(cluster),
            crate::render::REST_PORT
        ))
    }
}

/// Shared state of the controllers.
pub struct Context {
    pub client: kube::Client,
    pub operator: OperatorConfig,
    pub rest: Arc<dyn RestUrlResolver>,
    pub metrics: ControllerMetrics,
    pub backoff: Backoff,
    pub reporter: kube::runtime::events::Reporter,
    /// The HTTP client every Flink REST call shares (connection reuse, one timeout policy);
    /// `None` only if it could not be built, and then each call builds its own.
    flink_http: Option<reqwest::Client>,
    /// The process's one event recorder (it aggregates repeated events into a series).
    pub recorder: kube::runtime::events::Recorder,
    /// The resourceVersion of each resource after the operator's last status write (read-your-writes).
    pub known_versions: super::fresh::KnownVersions,
    /// Which resources' snapshot records this process has synced ([`super::snapshot_records`]).
    pub snapshot_records: super::snapshot_records::SyncedRecords,
}

impl Context {
    pub fn new(client: kube::Client, operator: OperatorConfig, rest: Arc<dyn RestUrlResolver>) -> Self {
        let reporter = kube::runtime::events::Reporter {
            controller: "flink-lifecycle".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        let flink_http = crate::flink::FlinkRestClient::http_client(
            &crate::flink::FlinkClientOptions::from_operator_config(&operator),
        )
        .ok();
        Self {
            flink_http,
            recorder: kube::runtime::events::Recorder::new(client.clone(), reporter.clone()),
            client,
            operator,
            rest,
            metrics: ControllerMetrics::default(),
            backoff: Backoff::default(),
            known_versions: Default::default(),
            snapshot_records: Default::default(),
            reporter,
        }
    }

    /// A REST client for one cluster, on the process's one connection pool.
    pub fn flink(&self, namespace: &str, cluster: &str) -> Option<crate::flink::FlinkRestClient> {
        let url = self.rest.rest_url(namespace, cluster)?;
        let options = crate::flink::FlinkClientOptions::from_operator_config(&self.operator);
        match &self.flink_http {
            Some(http) => crate::flink::FlinkRestClient::with_http(http.clone(), &url, options),
            None => crate::flink::FlinkRestClient::new(&url, options),
        }
        .ok()
    }
}
