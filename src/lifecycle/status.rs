//! The status the planner works on (the fields both kinds share), the lifecycle state derived
//! from it (reference §1), the reference's error JSON, and the conditions.

use super::plan::ResourceStatus;
use crate::api::{
    CheckpointInfo, FlinkDeploymentStatus, FlinkJobState, FlinkSessionJobStatus, JobManagerDeploymentStatus,
    JobState, JobStatus, ReconciliationState, ReconciliationStatus, ResourceLifecycleState, SavepointInfo,
    TaskManagerInfo,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use std::collections::BTreeMap;

/// Working copy of a status, kind-independent.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Core {
    pub job: JobStatus,
    pub error: Option<String>,
    pub observed_generation: Option<i64>,
    pub recon: ReconciliationStatus,
    pub jm: Option<JobManagerDeploymentStatus>,
    pub cluster_info: Option<BTreeMap<String, String>>,
    pub task_manager: Option<TaskManagerInfo>,
    pub conditions: Vec<Condition>,
    pub lifecycle: Option<ResourceLifecycleState>,
}

impl Core {
    pub fn from_deployment(s: Option<&FlinkDeploymentStatus>) -> Self {
        let s = s.cloned().unwrap_or_default();
        Self {
            job: s.job_status.unwrap_or_default(),
            error: s.error,
            observed_generation: s.observed_generation,
            recon: s.reconciliation_status.unwrap_or_default(),
            jm: s.job_manager_deployment_status,
            cluster_info: s.cluster_info,
            task_manager: s.task_manager,
            conditions: s.conditions.unwrap_or_default(),
            lifecycle: s.lifecycle_state,
        }
    }

    pub fn from_session_job(s: Option<&FlinkSessionJobStatus>) -> Self {
        let s = s.cloned().unwrap_or_default();
        Self {
            job: s.job_status.unwrap_or_default(),
            error: s.error,
            observed_generation: s.observed_generation,
            recon: s.reconciliation_status.unwrap_or_default(),
            conditions: s.conditions.unwrap_or_default(),
            lifecycle: s.lifecycle_state,
            ..Self::default()
        }
    }

    pub fn into_status(self, session_job: bool) -> ResourceStatus {
        let conditions = (!self.conditions.is_empty()).then_some(self.conditions);
        if session_job {
            ResourceStatus::SessionJob(FlinkSessionJobStatus {
                job_status: Some(self.job),
                error: self.error,
                observed_generation: self.observed_generation,
                lifecycle_state: self.lifecycle,
                reconciliation_status: Some(self.recon),
                conditions,
            })
        } else {
            ResourceStatus::Deployment(FlinkDeploymentStatus {
                job_status: Some(self.job),
                error: self.error,
                observed_generation: self.observed_generation,
                lifecycle_state: self.lifecycle,
                cluster_info: self.cluster_info.filter(|m| !m.is_empty()),
                job_manager_deployment_status: Some(self.jm.unwrap_or_default()),
                reconciliation_status: Some(self.recon),
                task_manager: self.task_manager,
                conditions,
            })
        }
    }

    pub fn savepoint_info(&mut self) -> &mut SavepointInfo {
        self.job.savepoint_info.get_or_insert_with(SavepointInfo::default)
    }

    pub fn checkpoint_info(&mut self) -> &mut CheckpointInfo {
        self.job
            .checkpoint_info
            .get_or_insert_with(CheckpointInfo::default)
    }

    pub fn clear_checkpoint_trigger(&mut self) {
        if let Some(info) = self.job.checkpoint_info.as_mut() {
            info.trigger_id = None;
            info.trigger_timestamp = None;
            info.trigger_type = None;
        }
    }

    pub fn clear_trigger(&mut self) {
        if let Some(info) = self.job.savepoint_info.as_mut() {
            info.trigger_id = None;
            info.trigger_timestamp = None;
            info.trigger_type = None;
        }
    }
}

impl ResourceStatus {
    /// The savepoint bookkeeping of either kind.
    fn job_status_mut(&mut self) -> &mut JobStatus {
        match self {
            Self::Deployment(s) => s.job_status.get_or_insert_with(JobStatus::default),
            Self::SessionJob(s) => s.job_status.get_or_insert_with(JobStatus::default),
        }
    }

    /// `status.error`.
    pub fn error(&self) -> Option<&str> {
        match self {
            Self::Deployment(s) => s.error.as_deref(),
            Self::SessionJob(s) => s.error.as_deref(),
        }
    }

    /// `status.lifecycleState`.
    pub fn lifecycle_state(&self) -> Option<ResourceLifecycleState> {
        match self {
            Self::Deployment(s) => s.lifecycle_state,
            Self::SessionJob(s) => s.lifecycle_state,
        }
    }

    /// `status.jobStatus`.
    pub fn job_status(&self) -> Option<&JobStatus> {
        match self {
            Self::Deployment(s) => s.job_status.as_ref(),
            Self::SessionJob(s) => s.job_status.as_ref(),
        }
    }

    /// `status.reconciliationStatus`.
    pub fn reconciliation_status(&self) -> Option<&ReconciliationStatus> {
        match self {
            Self::Deployment(s) => s.reconciliation_status.as_ref(),
            Self::SessionJob(s) => s.reconciliation_status.as_ref(),
        }
    }
}

/// Records the trigger id Flink returned for a `TriggerSavepoint` / `StopWithSavepoint` step
/// (the executor writes the status again afterwards).
pub fn record_savepoint_trigger(status: &mut ResourceStatus, trigger_id: &str) {
    let js = status.job_status_mut();
    js.savepoint_info
        .get_or_insert_with(SavepointInfo::default)
        .trigger_id = Some(trigger_id.to_string());
}

/// Records a checkpoint trigger id right after Flink returned it.
pub fn record_checkpoint_trigger(status: &mut ResourceStatus, trigger_id: &str) {
    let js = status.job_status_mut();
    js.checkpoint_info
        .get_or_insert_with(CheckpointInfo::default)
        .trigger_id = Some(trigger_id.to_string());
}

/// Removes a disposed savepoint from the history, after Flink disposed of it.
pub fn forget_disposed_savepoint(status: &mut ResourceStatus, path: &str) {
    let js = status.job_status_mut();
    if let Some(history) = js
        .savepoint_info
        .as_mut()
        .and_then(|i| i.savepoint_history.as_mut())
    {
        history.retain(|s| s.location.as_deref() != Some(path));
    }
}

/// Lifecycle state, first match wins (reference §1).
pub(crate) fn lifecycle(
    core: &Core,
    deployed_job_state: Option<JobState>,
    is_deployment: bool,
    deleting: bool,
) -> ResourceLifecycleState {
    use ResourceLifecycleState as L;
    if deleting {
        return L::Deleting;
    }
    if core.recon.last_reconciled_spec.is_none() {
        return if core.error.is_some() {
            L::Failed
        } else {
            L::Created
        };
    }
    // Not the reference (which shows UPGRADING): a stop that waits for a person is no upgrade
    // in progress, and Argo CD and `kubectl get` should say so.
    if core
        .error
        .as_deref()
        .is_some_and(|e| e.contains("Manual restore required"))
    {
        return L::Failed;
    }
    match core.recon.state {
        Some(ReconciliationState::Upgrading) => return L::Upgrading,
        Some(ReconciliationState::RollingBack) => return L::RollingBack,
        _ => {}
    }
    if deployed_job_state == Some(JobState::Suspended) {
        return L::Suspended;
    }
    if core.job.state == Some(FlinkJobState::Failed) {
        return L::Failed;
    }
    if is_deployment
        && matches!(
            core.jm,
            Some(JobManagerDeploymentStatus::Missing | JobManagerDeploymentStatus::Error)
        )
        && core.error.as_deref().is_some_and(|e| {
            e.contains("It is possible that the job has finished or terminally failed, or the configmaps have been deleted.")
                || e.contains("HA metadata is not available")
        })
    {
        return L::Failed;
    }
    if core.recon.state == Some(ReconciliationState::RolledBack) {
        return L::RolledBack;
    }
    if core.recon.is_stable() {
        L::Stable
    } else {
        L::Deployed
    }
}

/// The reference's `status.error` JSON: `{"type": ..., "message": ..., "additionalMetadata": {},
/// "throwableList": []}`.
pub(crate) fn error_json(reason: &str, message: &str) -> String {
    let type_ = match reason {
        "DeploymentFailed" | "Missing" => {
            "org.apache.flink.kubernetes.operator.exception.DeploymentFailedException"
        }
        "ValidationError" => "org.apache.flink.kubernetes.operator.exception.ValidationException",
        "RecoverDeployment" => "org.apache.flink.kubernetes.operator.exception.RecoveryFailureException",
        "InvalidStatus" => "java.lang.IllegalStateException",
        _ => "org.apache.flink.kubernetes.operator.exception.UpgradeFailureException",
    };
    serde_json::json!({
        "type": type_,
        "message": message,
        "additionalMetadata": {},
        "throwableList": [],
    })
    .to_string()
}

/// The human message inside an error JSON (or the plain string).
pub fn error_message(error: &str) -> String {
    serde_json::from_str::<serde_json::Value>(error)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| error.to_string())
}

/// Inputs of the condition set.
pub(crate) struct ConditionFacts {
    pub lifecycle: ResourceLifecycleState,
    pub session_cluster: bool,
    pub session_job: bool,
    pub desired_suspended: bool,
    pub generation: Option<i64>,
    pub now_ms: i64,
    pub in_progress: Option<String>,
    /// Whether the JobManager's REST API answers (`None`: nothing deployed to ask).
    pub rest_answers: Option<bool>,
}

/// How long the REST API of a JobManager that Kubernetes reports up may stay silent before the
/// resource is Degraded (a JobManager busy with a long garbage collection answers again sooner).
pub(crate) const REST_SILENCE_DEGRADES_AFTER_MS: i64 = 30_000;

fn capitalised(state: FlinkJobState) -> String {
    let s = state.as_str().to_ascii_lowercase();
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// Running (reference), Ready, Progressing, Degraded; `lastTransitionTime` kept while a
/// condition's status does not change.
/// The condition that says whether the JobManager's REST API answers.
pub(crate) const REST_CONDITION: &str = "FlinkRestAnswering";

pub(crate) fn set_conditions(core: &mut Core, f: &ConditionFacts) {
    use ResourceLifecycleState as L;
    let jm = core.jm.unwrap_or_default();
    let job_state = core.job.state;
    let mut wanted: Vec<(&str, bool, String, String)> = Vec::new();
    if f.session_cluster {
        wanted.push((
            "Running",
            jm == JobManagerDeploymentStatus::Ready,
            jm.reason().into(),
            jm.message().into(),
        ));
    } else if !f.session_job {
        let state = job_state.unwrap_or(FlinkJobState::Reconciling);
        let stale = if f.rest_answers == Some(false) {
            " (as last observed: the REST API is not answering)"
        } else {
            ""
        };
        wanted.push((
            "Running",
            state == FlinkJobState::Running,
            capitalised(state),
            format!("Job status {state}{stale}"),
        ));
    }
    let now = jiff::Timestamp::from_millisecond(f.now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // Since when the REST API has not answered: the False condition's transition time.
    let silent_since = match f.rest_answers {
        Some(false) => Some(
            core.conditions
                .iter()
                .find(|c| c.type_ == REST_CONDITION && c.status == "False")
                .map_or(now, |c| c.last_transition_time.0),
        ),
        _ => None,
    };
    if let Some(answers) = f.rest_answers {
        let (reason, message) = match silent_since {
            Some(since) => (
                "Unanswered",
                format!(
                    "The JobManager is up but its REST API has not answered since {since}: the job status shown is as last observed before then"
                ),
            ),
            None => ("Answering", "The JobManager's REST API answers".to_string()),
        };
        wanted.push((REST_CONDITION, answers, reason.into(), message));
    }
    let silent_too_long = silent_since
        .filter(|since| now.as_millisecond() - since.as_millisecond() >= REST_SILENCE_DEGRADES_AFTER_MS);
    let error = core.error.as_deref().map(error_message);
    let running = if f.session_cluster {
        jm == JobManagerDeploymentStatus::Ready
    } else {
        job_state == Some(FlinkJobState::Running)
    };
    let (ready, ready_reason, ready_msg) = match f.lifecycle {
        L::Suspended if f.desired_suspended => {
            (true, "Suspended", "The job is suspended as requested".to_string())
        }
        L::Stable | L::Deployed if running => (
            true,
            if f.session_cluster {
                "ClusterReady"
            } else {
                "JobRunning"
            },
            if f.session_cluster {
                "The session cluster is ready".to_string()
            } else {
                "The job is running with the desired spec".to_string()
            },
        ),
        L::Created => (false, "NotDeployed", "Nothing has been deployed yet".to_string()),
        L::Upgrading | L::RollingBack => (
            false,
            "Upgrading",
            "The job is being stopped or started".to_string(),
        ),
        L::Deleting | L::Deleted => (false, "Deleting", "The resource is being deleted".to_string()),
        _ => (
            false,
            "NotRunning",
            format!(
                "The job is {}",
                job_state.map_or("not observed yet".to_string(), |s| s.to_string())
            ),
        ),
    };
    wanted.push(("Ready", ready, ready_reason.into(), ready_msg));
    let (progressing, p_reason, p_msg) = match (&f.in_progress, f.lifecycle) {
        (Some(what), _) => (true, "InProgress", what.clone()),
        (None, L::Upgrading) => (true, "Upgrading", "An upgrade is in progress".to_string()),
        (None, L::RollingBack) => (
            true,
            "RollingBack",
            "Rolling back to the last stable spec".to_string(),
        ),
        (None, L::Deployed) => (
            true,
            "WaitingForStable",
            "Deployed; waiting for the job to run stable".to_string(),
        ),
        _ => (false, "Idle", "No change in progress".to_string()),
    };
    wanted.push(("Progressing", progressing, p_reason.into(), p_msg));
    let (degraded, d_reason, d_msg) = if let Some(e) = error {
        (true, "Error", e)
    } else if f.lifecycle == L::Failed {
        (true, "JobFailed", "The job failed".to_string())
    } else if f.lifecycle == L::RolledBack {
        (
            true,
            "RolledBack",
            "The last upgrade was rolled back to the last stable spec".to_string(),
        )
    } else if jm == JobManagerDeploymentStatus::Error {
        (true, "JobManagerError", jm.message().to_string())
    } else if let Some(since) = silent_too_long {
        (
            true,
            "FlinkRestUnanswered",
            format!(
                "The JobManager's REST API has not answered since {since}; the job status shown may be stale"
            ),
        )
    } else {
        (false, "Healthy", "No problem detected".to_string())
    };
    wanted.push(("Degraded", degraded, d_reason.into(), d_msg));

    let mut out = Vec::with_capacity(wanted.len());
    for (type_, status, reason, message) in wanted {
        let status = if status { "True" } else { "False" }.to_string();
        let last = core
            .conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or(Time(now));
        out.push(Condition {
            type_: type_.to_string(),
            status,
            reason,
            message,
            last_transition_time: last,
            observed_generation: f.generation,
        });
    }
    core.conditions = out;
}
