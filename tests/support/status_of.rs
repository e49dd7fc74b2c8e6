//! What a FlinkDeployment's status says, as plain strings for assertions, how many JobManager
//! Deployments a resource has, and the first moment a step shows: shared by the in-memory
//! (`e2e.rs`) and real-cluster (`real_env.rs`) environments.
#![allow(dead_code)]

use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The recorded job id, or "".
pub fn job_id(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.job_id.clone())
        .unwrap_or_default()
}

/// `status.error`, or "" without one.
pub fn error(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.error.clone())
        .unwrap_or_default()
}

/// `status.lifecycleState` as its Rust variant name (`Stable`, `Upgrading`, ...), or "".
pub fn lifecycle(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.lifecycle_state)
        .map(|l| format!("{l:?}"))
        .unwrap_or_default()
}

/// The job state recorded in status (`RUNNING`, `CANCELED`, ...), or "".
pub fn job_state(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.state)
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// The recorded start time of the job (epoch millis as a string), or "".
pub fn start_time(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.start_time.clone())
        .unwrap_or_default()
}

/// `status.reconciliationStatus.state` (`UPGRADING` while a step is recorded and under way).
pub fn reconciliation_state(d: &FlinkDeployment) -> Option<ReconciliationState> {
    d.status.as_ref()?.reconciliation_status.as_ref()?.state
}

/// Samples, every 100 ms until dropped, how many JobManager Deployments (`app=<name>`,
/// `component=jobmanager`) exist for one resource; `max()` is the most seen at once. Each
/// environment says where to look (`watch`).
pub struct JobManagerDeployments {
    max: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JobManagerDeployments {
    /// Samples the Deployments `api` lists.
    pub fn watch_in(api: Api<Deployment>, name: &str) -> Self {
        let name = name.to_string();
        let max = Arc::new(AtomicUsize::new(0));
        let seen = max.clone();
        let task = tokio::spawn(async move {
            let lp = kube::api::ListParams::default();
            loop {
                if let Ok(list) = api.list(&lp).await {
                    let jobmanagers = list
                        .items
                        .iter()
                        .filter(|d| {
                            let labels = d.metadata.labels.clone().unwrap_or_default();
                            labels.get("app") == Some(&name)
                                && labels.get("component").map(String::as_str) == Some("jobmanager")
                        })
                        .count();
                    seen.fetch_max(jobmanagers, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self { max, task }
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

impl Drop for JobManagerDeployments {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `api` every 20 ms (faster than the environments' 250 ms `wait_for`) until `pred` holds
/// of resource `name`, for at most `within`: a fault is injected at the first moment a step is
/// seen.
pub async fn as_soon_as_in(
    api: &Api<FlinkDeployment>,
    name: &str,
    what: &str,
    within: Duration,
    pred: impl Fn(&FlinkDeployment) -> bool,
) -> FlinkDeployment {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let d = api.get(name).await.expect("the resource");
        if pred(&d) {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: not {what}: {:?}",
            d.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
