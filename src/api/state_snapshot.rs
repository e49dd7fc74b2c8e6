//! The `FlinkStateSnapshot` kind: one savepoint or checkpoint of a job as its own object, so
//! GitOps can ask for a snapshot, list them, restore from one and dispose of one on delete.

use super::enums::SavepointFormatType;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A savepoint or checkpoint of a FlinkDeployment's or FlinkSessionJob's job.
// kube's printcolumn(...) attributes repeat `type_`, which clippy mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "flink.apache.org",
    version = "v1beta1",
    kind = "FlinkStateSnapshot",
    plural = "flinkstatesnapshots",
    shortname = "flinksnp",
    namespaced,
    derive = "Default",
    derive = "PartialEq",
    status = "FlinkStateSnapshotStatus",
    printcolumn(name = "Path", type_ = "string", json_path = ".status.path"),
    printcolumn(
        name = "Result Timestamp",
        type_ = "string",
        json_path = ".status.resultTimestamp"
    ),
    printcolumn(name = "Snapshot State", type_ = "string", json_path = ".status.state"),
    doc = "A savepoint or checkpoint of a Flink job, managed by flink-lifecycle (API of the Apache Flink Kubernetes Operator)."
)]
#[serde(rename_all = "camelCase")]
pub struct FlinkStateSnapshotSpec {
    /// The resource whose job is snapshotted; not needed for a savepoint that already exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_reference: Option<JobReference>,
    /// Set for a savepoint (exactly one of `savepoint` and `checkpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<SavepointSpec>,
    /// Set for a checkpoint (exactly one of `savepoint` and `checkpoint`); Flink 1.17 or later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointSpec>,
    /// Failed attempts retried before the snapshot is FAILED: -1 (the default) retries without
    /// limit, 0 never retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_limit: Option<i32>,
}

impl FlinkStateSnapshotSpec {
    /// `backoffLimit` with the reference's default (-1: unlimited).
    pub fn backoff_limit(&self) -> i32 {
        self.backoff_limit.unwrap_or(-1)
    }

    /// Whether this is a savepoint the user says exists already (nothing to trigger).
    pub fn already_exists(&self) -> bool {
        self.savepoint
            .as_ref()
            .is_some_and(|s| s.already_exists == Some(true))
    }

    /// Whether deleting this resource should dispose of the savepoint's files (default true).
    pub fn dispose_on_delete(&self) -> bool {
        self.savepoint
            .as_ref()
            .is_some_and(|s| s.dispose_on_delete.unwrap_or(true))
    }
}

/// The kind of resource a snapshot belongs to.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobKind {
    FlinkDeployment,
    FlinkSessionJob,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FlinkDeployment => "FlinkDeployment",
            Self::FlinkSessionJob => "FlinkSessionJob",
        }
    }
}

/// The FlinkDeployment or FlinkSessionJob (same namespace) whose job is snapshotted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct JobReference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<JobKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// How a savepoint is taken, or where an existing one is.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SavepointSpec {
    /// Target directory (default: the job's `execution.checkpointing.savepoint-dir`); for an
    /// existing savepoint, its path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Savepoint format (default CANONICAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format_type: Option<SavepointFormatType>,
    /// Dispose of the savepoint's files when this resource is deleted (default true; needs the
    /// job's cluster to be up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispose_on_delete: Option<bool>,
    /// The savepoint exists at `path` already: it is recorded COMPLETED without triggering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub already_exists: Option<bool>,
}

/// A checkpoint has no options: Flink takes a full checkpoint into the job's checkpoint dir.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
pub struct CheckpointSpec {}

/// Where a snapshot is in its life.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SnapshotState {
    /// Taken (or declared existing); `path` says where.
    Completed,
    /// Failed more often than `backoffLimit` allows; not retried.
    Failed,
    /// Triggered; Flink is taking it.
    InProgress,
    /// Not yet triggered.
    #[default]
    TriggerPending,
    /// The job stopped or disappeared before the snapshot could be taken; not retried.
    Abandoned,
}

impl SnapshotState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::InProgress => "IN_PROGRESS",
            Self::TriggerPending => "TRIGGER_PENDING",
            Self::Abandoned => "ABANDONED",
        }
    }

    /// COMPLETED, FAILED and ABANDONED end a snapshot's work.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Abandoned)
    }
}

/// Status of a FlinkStateSnapshot, field for field the reference's.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FlinkStateSnapshotStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SnapshotState>,
    /// Flink's trigger id of the operation in progress (chosen by the operator, recorded before
    /// the trigger is sent, so a crash in between re-sends the same idempotent trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_id: Option<String>,
    /// When the operation in progress was triggered (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_timestamp: Option<String>,
    /// When the snapshot completed or failed for good (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_timestamp: Option<String>,
    /// Where the snapshot is (`initialSavepointPath` restores from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The last error, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failed attempts so far (compared with `backoffLimit`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: i32,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

impl FlinkStateSnapshotStatus {
    /// The state, TRIGGER_PENDING when none is recorded yet (the reference's default).
    pub fn state(&self) -> SnapshotState {
        self.state.unwrap_or_default()
    }
}
