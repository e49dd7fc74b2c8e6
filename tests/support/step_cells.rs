//! What the suspend / `restartNonce` / resume fault cells share in either environment (the
//! in-memory API with ZooKeeper HA, the real control plane with Kubernetes HA): the cells, when a
//! step is recorded, and which jobs a JobManager lists.
#![allow(dead_code)]

use super::status_of::{lifecycle, reconciliation_state};
use flink_lifecycle::api::{FlinkDeployment, ReconciliationState};
use flink_lifecycle::flink::{FlinkClientOptions, FlinkRestClient};
use std::time::Duration;

/// A step and the fault injected into it.
#[derive(Clone, Copy, Debug)]
pub enum StepCell {
    /// `job.state: suspended`; the JobManager SIGKILLed (restarted by the node) as soon as the
    /// suspend's savepoint trigger is recorded (savepoint mode), or as the suspend is asked for
    /// (last-state: the suspend is one status write, and the JobManager is deleted right after
    /// it, so the fault strikes while the operator plans it). Then the job is resumed.
    JobManagerKilledSuspending,
    /// A new `restartNonce`; in last-state mode the restart's new JobManager SIGKILLed as soon
    /// as it starts (the restart recorded, the old JobManager deleted), in savepoint mode the
    /// JobManager SIGKILLed as soon as the restart's savepoint trigger is recorded.
    JobManagerKilledRestarting,
    /// An undisturbed suspend, then the resume; the new JobManager SIGKILLed as soon as its
    /// REST API lists the resumed job (initializing, or just running).
    JobManagerKilledResuming,
    /// An undisturbed suspend, then the resume; the operator killed as soon as the resume is
    /// recorded (`UPGRADING`), started again 3 s later.
    OperatorKilledResuming,
}

/// A savepoint trigger id is recorded in status.
pub fn trigger_recorded(d: &FlinkDeployment) -> bool {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.savepoint_info.as_ref())
        .is_some_and(|i| i.trigger_id.is_some())
}

/// The step is recorded: `UPGRADING`, the stop's savepoint trigger, or (a last-state suspend
/// with HA is one write: the JobManager is deleted after it, keeping the HA metadata) the
/// suspend itself.
pub fn step_recorded(d: &FlinkDeployment) -> bool {
    reconciliation_state(d) == Some(ReconciliationState::Upgrading)
        || trigger_recorded(d)
        || lifecycle(d) == "Suspended"
}

/// The redeploy a person makes after a savepoint-mode stop that completed just before the
/// JobManager was killed (the job FINISHED in HA's job result store; Flink forgot the trigger
/// and the savepoint path): the operator's message `error` must name the savepoint directory
/// `dir`, and the spec patch restores the newest savepoint there.
pub fn savepoint_redeploy_a_person_makes(name: &str, error: &str, dir: &str) -> serde_json::Value {
    assert!(
        error.contains(dir),
        "{name}: the message names the savepoint directory: {error}"
    );
    eprintln!("step-cells: {name}: stopped for a person: {error}");
    let savepoint = super::flink::newest_savepoint(dir).expect("the savepoint is on disk");
    serde_json::json!({"job": {"initialSavepointPath": savepoint, "savepointRedeployNonce": 1}})
}

/// The jobs the JobManager at `url` lists that are not over, if it answers within 2 s.
pub async fn live_jobs_at(url: Option<String>) -> Vec<String> {
    let Some(url) = url else {
        return Vec::new();
    };
    let Ok(client) = FlinkRestClient::new(&url, FlinkClientOptions::default()) else {
        return Vec::new();
    };
    match tokio::time::timeout(Duration::from_secs(2), client.jobs_overview()).await {
        Ok(Ok(jobs)) => jobs
            .jobs
            .iter()
            .filter(|j| matches!(j.state.as_str(), "INITIALIZING" | "CREATED" | "RUNNING"))
            .map(|j| format!("{} {}", j.jid, j.state.as_str()))
            .collect(),
        _ => Vec::new(),
    }
}
