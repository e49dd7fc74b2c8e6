//! The lifecycle core: a pure planner that decides the one next step for a Flink resource from
//! its spec, its status (a write-ahead log) and an observation of the cluster. No I/O, no clock
//! reads, no randomness: `now` and fresh job ids come in as inputs.

pub mod decide;
pub mod diff;
pub mod explain;

pub use decide::{RestoreMode, SpecChange, SuspendMechanism, UpgradeChoice};
pub use diff::{DiffType, FieldChange, SpecDiff, deployment_diff, session_job_diff};
pub use explain::{describe_deployment_change, describe_session_job_change};
