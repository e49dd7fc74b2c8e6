//! The lifecycle core: a pure planner that decides the one next step for a Flink resource from
//! its spec, its status (a write-ahead log) and an observation of the cluster. No I/O, no clock
//! reads, no randomness: `now` and fresh job ids come in as inputs.
//!
//! Entry points: [`plan`] (the next step), [`describe_deployment_change`] /
//! [`describe_session_job_change`] (one line for admission warnings).

pub mod decide;
pub mod diff;
pub mod explain;
mod health;
pub mod observation;
pub mod plan;
mod planner;
pub mod report;
pub mod snapshot;
mod spec;
pub mod status;

pub use decide::{LAST_STATE_MARKER, RestoreMode, SpecChange, SuspendMechanism, UpgradeChoice};
pub use diff::{DiffType, FieldChange, SpecDiff, deployment_diff, session_job_diff};
pub use explain::{
    HasJob, StoredSpec, deployed_deployment_spec, describe_deployment_change,
    describe_deployment_change_from, describe_session_job_change, describe_session_job_change_from,
};
pub use health::HEALTH_INFO_KEY;
pub use observation::{
    CheckpointTriggerStatus, HealthCounters, JobManagerObservation, Observation, ObservedJob,
    SavepointTriggerStatus, Snapshot,
};
pub use plan::{
    Deploy, DeployPurpose, DeploySpec, Event, EventType, Plan, PlanInput, Resource, ResourceStatus,
    RestoreSource, Step,
};
pub use planner::phase::{Phase, TRANSITIONS, Transition};
pub use planner::plan;
pub use report::{PlanCommandError, PlanReport, PlanRequest, describe_step, plan_change};
pub use status::{
    error_message, forget_disposed_savepoint, record_checkpoint_trigger, record_savepoint_trigger,
};
