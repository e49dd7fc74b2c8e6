//! Enums with the exact wire values of the reference API.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How the job's state is carried over when it is stopped and started again.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum UpgradeMode {
    /// Stop with a savepoint and restore from it.
    #[serde(rename = "savepoint")]
    Savepoint,
    /// Restore from HA metadata or the latest checkpoint.
    #[serde(rename = "last-state")]
    LastState,
    /// Start from empty state.
    #[default]
    #[serde(rename = "stateless")]
    Stateless,
}

impl UpgradeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Savepoint => "savepoint",
            Self::LastState => "last-state",
            Self::Stateless => "stateless",
        }
    }
}

impl fmt::Display for UpgradeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Desired state of the job.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// The job runs and processes data.
    #[default]
    Running,
    /// The job is stopped, keeping its state for a later resume.
    Suspended,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Suspended => "suspended",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the Flink cluster is deployed on Kubernetes.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "lowercase")]
pub enum KubernetesDeploymentMode {
    /// Flink's native Kubernetes integration: the JobManager creates its TaskManagers.
    #[default]
    Native,
    /// JobManager and TaskManager Deployments managed by the operator.
    Standalone,
}

/// Flink version of the image. Supported: `v1_15` and newer.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum FlinkVersion {
    v1_13,
    v1_14,
    v1_15,
    v1_16,
    v1_17,
    v1_18,
    v1_19,
    v1_20,
    v2_0,
    v2_1,
    v2_2,
    v2_3,
    v2_4,
}

impl FlinkVersion {
    /// Every value, oldest first.
    pub const ALL: [FlinkVersion; 13] = [
        Self::v1_13,
        Self::v1_14,
        Self::v1_15,
        Self::v1_16,
        Self::v1_17,
        Self::v1_18,
        Self::v1_19,
        Self::v1_20,
        Self::v2_0,
        Self::v2_1,
        Self::v2_2,
        Self::v2_3,
        Self::v2_4,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::v1_13 => "v1_13",
            Self::v1_14 => "v1_14",
            Self::v1_15 => "v1_15",
            Self::v1_16 => "v1_16",
            Self::v1_17 => "v1_17",
            Self::v1_18 => "v1_18",
            Self::v1_19 => "v1_19",
            Self::v1_20 => "v1_20",
            Self::v2_0 => "v2_0",
            Self::v2_1 => "v2_1",
            Self::v2_2 => "v2_2",
            Self::v2_3 => "v2_3",
            Self::v2_4 => "v2_4",
        }
    }

    /// Whether this operator manages the version (the reference supports v1_15 and newer).
    pub fn is_supported(self) -> bool {
        self >= Self::v1_15
    }

    /// Whether the version still runs but is deprecated (v1_15 to v1_18).
    pub fn is_deprecated(self) -> bool {
        self <= Self::v1_18
    }

    /// Flink >= 1.19 reads `config.yaml`; older versions read `flink-conf.yaml`.
    pub fn config_file_name(self) -> &'static str {
        if self >= Self::v1_19 {
            "config.yaml"
        } else {
            "flink-conf.yaml"
        }
    }

    /// Flink 1.15 and newer keep the cluster after a job reaches a terminal state.
    pub fn keeps_cluster_after_terminal_state(self) -> bool {
        self >= Self::v1_15
    }

    /// Flink 2.x renamed several configuration keys.
    pub fn is_2x(self) -> bool {
        self >= Self::v2_0
    }
}

impl fmt::Display for FlinkVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// State of the last spec reconciliation.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReconciliationState {
    /// The spec in `lastReconciledSpec` is deployed.
    Deployed,
    /// An upgrade is in progress (the reference's default for a fresh status).
    #[default]
    Upgrading,
    /// A rollback to `lastStableSpec` is in progress.
    RollingBack,
    /// The resource was rolled back to `lastStableSpec`.
    RolledBack,
}

/// Observed state of the JobManager Deployment. Only READY means the REST API is usable.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobManagerDeploymentStatus {
    Ready,
    DeployedNotReady,
    Deploying,
    #[default]
    Missing,
    Error,
}

impl JobManagerDeploymentStatus {
    /// Condition reason of the reference for this status.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Ready => "JobManagerReady",
            Self::DeployedNotReady => "DeployedNotReady",
            Self::Deploying => "JobManagerIsDeploying",
            Self::Missing => "JobManagerDeploymentMissing",
            Self::Error => "Error",
        }
    }

    /// Human readable message of the reference for this status.
    pub fn message(self) -> &'static str {
        match self {
            Self::Ready => "JobManager is running and ready to receive REST API calls",
            Self::DeployedNotReady => "JobManager is running but not ready yet to receive REST API calls",
            Self::Deploying => "JobManager process is starting up",
            Self::Missing => "JobManager deployment not found",
            Self::Error => {
                "Deployment in terminal error, requires spec change for reconciliation to continue"
            }
        }
    }
}

/// Overall lifecycle of the resource, derived from the rest of the status.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ResourceLifecycleState {
    Created,
    Suspended,
    Upgrading,
    Deployed,
    Stable,
    RollingBack,
    RolledBack,
    Failed,
    Deleting,
    Deleted,
}

/// What triggered a snapshot.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SnapshotTriggerType {
    Manual,
    Periodic,
    Upgrade,
    Unknown,
}

/// Savepoint format.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SavepointFormatType {
    Canonical,
    Native,
    Unknown,
}

/// Checkpoint type.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointType {
    Full,
    Incremental,
    Unknown,
}
