//! The `flink.apache.org/v1beta1` API: `FlinkDeployment`, `FlinkSessionJob` and
//! `FlinkStateSnapshot`, wire-compatible with the Apache Flink Kubernetes Operator so existing
//! YAML works unchanged.

mod absent_spec;
mod deployment;
mod enums;
mod flink_configuration;
mod job_spec;
mod reconciled_spec;
mod resources;
mod schema;
mod session_job;
mod state_snapshot;
mod status;

pub use absent_spec::{CANARY_LABEL, is_canary, spec_optional};
pub use deployment::{FlinkDeployment, FlinkDeploymentSpec};
pub use enums::{
    CheckpointType, FlinkVersion, JobManagerDeploymentStatus, JobState, KubernetesDeploymentMode,
    ReconciliationState, ResourceLifecycleState, SavepointFormatType, SnapshotTriggerType, UpgradeMode,
};
pub use flink_configuration::FlinkConfiguration;
pub use job_spec::JobSpec;
pub use reconciled_spec::{ReconciledSpec, ReconciledSpecError, ResourceMetadata};
pub use resources::{IngressSpec, IngressTls, JobManagerSpec, Resource, TaskManagerSpec};
pub use session_job::{FlinkSessionJob, FlinkSessionJobSpec};
pub use state_snapshot::{
    CheckpointSpec, FlinkStateSnapshot, FlinkStateSnapshotSpec, FlinkStateSnapshotStatus, JobKind,
    JobReference, SavepointSpec, SnapshotState,
};
pub use status::{
    Checkpoint, CheckpointInfo, CompletedCheckpoint, FlinkDeploymentStatus, FlinkJobState,
    FlinkSessionJobStatus, JobStatus, ReconciliationStatus, Savepoint, SavepointInfo, TaskManagerInfo,
};

/// API group of both kinds.
pub const GROUP: &str = "flink.apache.org";
/// The one served and stored version.
pub const VERSION: &str = "v1beta1";
/// `apiVersion` as written in manifests.
pub const API_VERSION: &str = "flink.apache.org/v1beta1";
