//! The planner's input and output types. The executor's loop is:
//! observe → `plan()` → write `plan.status` (if it differs from the stored one; stop here if the
//! write fails) → emit `plan.events` → execute `plan.step` → requeue after `plan.requeue`.
//! Because the status is written *before* the step, and every step is safe to repeat, a crash
//! anywhere in that loop is repaired by the next loop.

use super::observation::Observation;
use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, FlinkSessionJob, FlinkSessionJobSpec,
    FlinkSessionJobStatus, SnapshotTriggerType,
};
use crate::config::OperatorConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The resource to plan for, as stored (spec, status, metadata.generation, deletionTimestamp).
#[derive(Clone, Copy, Debug)]
pub enum Resource<'a> {
    /// Application cluster (`spec.job` set) or session cluster.
    Deployment(&'a FlinkDeployment),
    SessionJob(&'a FlinkSessionJob),
}

/// Everything `plan()` needs; no I/O happens inside.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    pub resource: Resource<'a>,
    /// `OperatorConfig::for_resource` of the resource.
    pub operator: &'a OperatorConfig,
    /// The effective flat Flink configuration (`config::effective_flink_config`); for a session
    /// job: the session cluster's merged with the job's.
    pub flink_config: &'a BTreeMap<String, String>,
    pub observation: &'a Observation,
    /// Epoch millis.
    pub now_ms: i64,
    /// A fresh random Flink JobID (32 hex chars), used only if a new job id is needed.
    pub new_job_id: &'a str,
}

/// The status to write, of the resource's kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ResourceStatus {
    Deployment(FlinkDeploymentStatus),
    SessionJob(FlinkSessionJobStatus),
}

/// The spec a deploy step starts, of the resource's kind.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DeploySpec {
    Deployment(Box<FlinkDeploymentSpec>),
    SessionJob(Box<FlinkSessionJobSpec>),
}

/// Where a started job takes its state from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "camelCase", tag = "from")]
pub enum RestoreSource {
    /// Session cluster: no job.
    NoJob,
    /// Empty state (stateless, or a first deployment without `initialSavepointPath`).
    Empty,
    /// `execution.savepoint.path` / `execution.state-recovery.path` = `path`.
    Savepoint {
        path: String,
        allow_non_restored_state: bool,
    },
    /// From the HA metadata, same job id. When `guard_path` is set, also pass it as the restore
    /// path (the HA checkpoint always wins when present): the last-state marker, which Flink
    /// refuses, when HA held a checkpoint at planning time (a start that finds none fails
    /// instead of starting empty), or the job's recorded checkpoint when HA held none.
    HaMetadata { guard_path: Option<String> },
}

/// Why a deploy happens (for events, logs and `explain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployPurpose {
    FirstDeployment,
    Upgrade,
    Resume,
    SavepointRedeploy,
    RecoverDeployment,
    RestartFailedJob,
    RestartUnhealthyJob,
    Rollback,
}

/// Start the cluster (FlinkDeployment) or submit the job (FlinkSessionJob).
///
/// Preconditions the planner guarantees: no JobManager Deployment exists (FlinkDeployment), or
/// no job with `job_id` runs yet (session job). Idempotence: the executor creates-or-replaces
/// the JobManager Deployment annotated with `flinkdeployment.flink.apache.org/generation =
/// generation`; for a session job, a "job id already exists" answer is success.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deploy {
    pub spec: DeploySpec,
    /// Resource generation to annotate the JobManager Deployment with.
    pub generation: i64,
    /// `$internal.pipeline.job-id` / session job `jobId`; `None` for a session cluster.
    pub job_id: Option<String>,
    pub restore: RestoreSource,
    /// Delete the cluster's HA metadata first (never set for an HA restore). The executor also
    /// always removes stale JobGraph / ExecutionPlan entries from HA, as the reference does.
    pub delete_ha_data_first: bool,
    pub purpose: DeployPurpose,
}

/// The one next side effect.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "camelCase", tag = "step")]
pub enum Step {
    /// Nothing to do; re-check after `requeue`.
    NoOp,
    /// Something is in progress or not possible yet; re-check after `requeue`.
    Wait { reason: String },
    /// Create the JobManager Deployment (application / session cluster).
    Deploy(Deploy),
    /// Upload the jar and run the job on the session cluster.
    SubmitSessionJob(Deploy),
    /// `POST /jobs/:job_id/savepoints` (`cancel-job: false`). After success the executor records
    /// the returned trigger id with [`super::record_savepoint_trigger`] and writes status again;
    /// if that write is lost the planner finds the savepoint by its time or triggers again.
    TriggerSavepoint {
        job_id: String,
        target_dir: Option<String>,
        format: String,
        trigger_type: SnapshotTriggerType,
        nonce: Option<i64>,
    },
    /// `POST /jobs/:job_id/stop` (stop-with-savepoint). Record the trigger id as for
    /// `TriggerSavepoint`. Repeating it for a job that already stopped is harmless.
    StopWithSavepoint {
        job_id: String,
        target_dir: Option<String>,
        drain: bool,
        format: String,
    },
    /// `PATCH /jobs/:job_id?mode=cancel`; 404/409 (missing / already terminal) is success.
    CancelJob { job_id: String },
    /// Delete the JobManager Deployment (and TaskManagers, Services, Ingress); when
    /// `delete_ha_data`, also the HA metadata. `cancel_job_first`: best-effort cancel before
    /// deleting (errors ignored); only set when the job's state is being discarded anyway.
    DeleteCluster {
        delete_ha_data: bool,
        cancel_job_first: Option<String>,
    },
    /// Status only: the deployed spec was recorded as stable.
    MarkStable,
    /// Status only: a person must act; `status.error` holds the same message.
    ReportError { reason: String, message: String },
    /// Deletion finished: remove the finalizer.
    ReleaseFinalizer,
    /// `POST /jobs/:job_id/checkpoints` (Flink 1.17+): a manual or periodic checkpoint while the
    /// job runs; the trigger id is recorded in `checkpointInfo` right after.
    TriggerCheckpoint {
        job_id: String,
        checkpoint_type: String,
        trigger_type: crate::api::SnapshotTriggerType,
        nonce: Option<i64>,
    },
    /// `POST /savepoint-disposal` of a savepoint retired from the history, awaited; the entry
    /// leaves `savepointHistory` only once Flink has disposed of it (or it is already gone), so
    /// a failed disposal leaves no orphaned files unrecorded.
    DisposeSavepoint { path: String },
}

impl Step {
    /// Whether the step changes anything outside the resource's status.
    pub fn is_side_effect(&self) -> bool {
        !matches!(
            self,
            Self::NoOp | Self::Wait { .. } | Self::MarkStable | Self::ReportError { .. }
        )
    }

    /// Short name, e.g. `deploy`, `stop-with-savepoint`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::NoOp => "no-op",
            Self::Wait { .. } => "wait",
            Self::Deploy(_) => "deploy",
            Self::SubmitSessionJob(_) => "submit-session-job",
            Self::TriggerSavepoint { .. } => "trigger-savepoint",
            Self::StopWithSavepoint { .. } => "stop-with-savepoint",
            Self::CancelJob { .. } => "cancel-job",
            Self::DeleteCluster { .. } => "delete-cluster",
            Self::MarkStable => "mark-stable",
            Self::ReportError { .. } => "report-error",
            Self::ReleaseFinalizer => "release-finalizer",
            Self::DisposeSavepoint { .. } => "dispose-savepoint",
            Self::TriggerCheckpoint { .. } => "trigger-checkpoint",
        }
    }
}

/// Kubernetes event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum EventType {
    Normal,
    Warning,
}

/// An event to emit on the resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: String,
    pub message: String,
}

/// The planner's decision.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// The complete status to write before executing `step`.
    pub status: ResourceStatus,
    pub step: Step,
    pub events: Vec<Event>,
    /// Re-check after this delay.
    #[serde(serialize_with = "as_millis", rename = "requeueMillis")]
    pub requeue: Duration,
    /// Why, in words (one line per decision taken).
    pub reasons: Vec<String>,
    /// The lifecycle phases this plan went through, in order (`planner::phase::TRANSITIONS`):
    /// the first is the phase the stored status reads as, the last the one that chose `step`.
    pub phases: Vec<crate::lifecycle::Phase>,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
