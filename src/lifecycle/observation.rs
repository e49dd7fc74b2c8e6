//! What the executor observed of the cluster just before planning. Everything is optional or
//! defaulted so a partial observation (REST down, JobManager missing) is still meaningful.

use crate::api::FlinkJobState;
use serde::{Deserialize, Serialize};

/// The JobManager Deployment (`<name>` in the resource's namespace). `generation` is the value of
/// its annotation `flinkdeployment.flink.apache.org/generation` (the resource generation it was
/// deployed for); `None` when the annotation is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "camelCase", tag = "state")]
pub enum JobManagerObservation {
    /// No Deployment (or it is being deleted and has no pods left).
    #[default]
    Missing,
    /// Deployment exists, JobManager not yet serving REST (incl. being deleted).
    Deploying { generation: Option<i64> },
    /// JobManager up and its REST API reachable.
    Ready { generation: Option<i64> },
    /// Deployment cannot start (CrashLoopBackOff, ImagePullBackOff, FailedCreate, ...).
    Error {
        generation: Option<i64>,
        message: String,
    },
}

impl JobManagerObservation {
    pub fn is_missing(&self) -> bool {
        matches!(self, Self::Missing)
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }

    /// The generation annotation of an existing Deployment.
    pub fn generation(&self) -> Option<i64> {
        match self {
            Self::Missing => None,
            Self::Deploying { generation } | Self::Ready { generation } | Self::Error { generation, .. } => {
                *generation
            }
        }
    }

    /// The status value the reference records for this observation.
    pub fn status(&self) -> crate::api::JobManagerDeploymentStatus {
        use crate::api::JobManagerDeploymentStatus as S;
        match self {
            Self::Missing => S::Missing,
            Self::Deploying { .. } => S::Deploying,
            Self::Ready { .. } => S::Ready,
            Self::Error { .. } => S::Error,
        }
    }
}

/// The job, as `GET /jobs/overview` reports it: the entry whose id is the recorded
/// `status.jobStatus.jobId` (for an application cluster without a recorded id: its only job).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedJob {
    pub id: String,
    pub state: FlinkJobState,
    #[serde(default)]
    pub name: Option<String>,
    /// Epoch millis.
    #[serde(default)]
    pub start_time_ms: Option<i64>,
    /// Epoch millis when the job reached a terminal state.
    #[serde(default)]
    pub end_time_ms: Option<i64>,
    /// Failure cause of a FAILED job (`/jobs/:id/execution-result`), if fetched.
    #[serde(default)]
    pub failure: Option<String>,
    /// Whether every task of the job runs (`tasks.running == tasks.total` in the overview);
    /// `None`: not known. A RUNNING job whose tasks still deploy is not stable, and Flink refuses
    /// a savepoint until they all run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_tasks_running: Option<bool>,
}

/// A completed checkpoint or savepoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// External path (`external_path`).
    pub path: String,
    /// Epoch millis it was triggered (`trigger_timestamp`; a restored snapshot: its restore time).
    pub time_ms: i64,
    /// Flink's checkpoint id. Ids grow along a job's history (a job restored from checkpoint `n`
    /// continues at `n + 1`), unlike times, which a restore resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
}

/// Result of polling the savepoint whose trigger id is recorded in
/// `status.jobStatus.savepointInfo.triggerId` (`GET /jobs/:id/savepoints/:trigger`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum SavepointTriggerStatus {
    InProgress,
    Completed { location: String },
    Failed { cause: String },
}

/// A triggered checkpoint's state (`GET /jobs/:id/checkpoints/:trigger`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum CheckpointTriggerStatus {
    InProgress,
    Completed,
    Failed { cause: String },
}

/// Counters sampled for the cluster health check (`/jobs/:id/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCounters {
    pub num_restarts: i64,
    pub completed_checkpoints: i64,
}

/// Everything the planner may look at besides spec and status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Observation {
    /// FlinkDeployment only: the JobManager Deployment.
    pub jobmanager: JobManagerObservation,
    /// The REST API answered (the cluster's, or the session cluster's for a session job).
    pub rest_reachable: bool,
    /// Kubernetes says the JobManager is up (its Deployment available, or the session cluster
    /// ready), yet its REST API did not answer: what status shows of the job is as last observed.
    pub rest_unanswered: bool,
    /// The job (None: not found, or REST not reachable).
    pub job: Option<ObservedJob>,
    /// HA metadata (ConfigMaps / ZooKeeper nodes) of the cluster exist.
    pub ha_metadata_present: bool,
    /// The HA metadata references at least one completed checkpoint.
    pub ha_has_checkpoint: bool,
    /// The jobs whose HA metadata references a completed checkpoint, by job id.
    pub ha_checkpoint_job_ids: Vec<String>,
    /// Newest completed checkpoint or savepoint of the job (highest id among latest
    /// completed / savepoint / restored in `/jobs/:id/checkpoints`).
    pub latest_checkpoint: Option<Snapshot>,
    /// `/jobs/:id/checkpoints` answered for the observed job: an empty `latest_checkpoint` then
    /// means the job completed no checkpoint and restored none (it holds no durable state),
    /// not that the statistics could not be read.
    pub checkpoint_statistics_read: bool,
    /// How long the running JobManager caches checkpoint statistics, in millis, from its own
    /// configuration (`/jobmanager/config`); read in the first minute after the job ended. `None`: not
    /// read, and the planner assumes what the deployed spec's configuration says.
    pub checkpoint_statistics_cache_ms: Option<u64>,
    /// The snapshot the job's current execution started from (`latest.restored`), if any.
    pub restored_checkpoint: Option<Snapshot>,
    /// Newest completed savepoint of the job (`latest.savepoint`).
    pub latest_savepoint: Option<Snapshot>,
    /// Trigger time (epoch millis) of a checkpoint in progress.
    pub checkpoint_in_progress_since: Option<i64>,
    /// Poll result of the recorded savepoint trigger id.
    pub savepoint_trigger: Option<SavepointTriggerStatus>,
    /// Poll result of the manual or periodic checkpoint recorded in `checkpointInfo.triggerId`.
    pub checkpoint_trigger: Option<CheckpointTriggerStatus>,
    /// Health counters (only sampled when the health check is enabled).
    pub counters: Option<HealthCounters>,
    /// FlinkSessionJob only: the target session cluster exists and its JobManager is READY.
    pub session_cluster_ready: bool,
    /// Session cluster only: FlinkSessionJobs that target it (blocks deletion).
    pub session_jobs_on_cluster: u32,
    /// Session cluster only: running jobs not managed by a FlinkSessionJob (blocks deletion).
    pub unmanaged_jobs_running: u32,
    /// Session cluster only: those jobs, as `<job id> (<name>)`, for the message that names them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmanaged_jobs: Vec<String>,
    /// FlinkDeployment only: the API server refused a dry run (`dryRun=All`) of the cluster the
    /// spec renders to; its message. Asked only while a spec change waits to be applied to a
    /// deployed cluster, so that admission policies (Kyverno, Gatekeeper, quotas on the
    /// Deployment) stop an upgrade before it stops the job.
    pub cluster_refused: Option<String>,
}
