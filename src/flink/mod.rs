//! Typed async client of the Flink JobManager REST API (Flink 1.18–1.20 and 2.x).
//!
//! Every call is bounded by [`FlinkClientOptions::timeout`] (retries included); only idempotent
//! GETs are retried. Errors ([`FlinkError`]) carry the endpoint, the HTTP status and Flink's own
//! error text. Responses are parsed tolerantly: unknown fields are ignored, missing fields and
//! `"NaN"` are data. Flink's traps are modelled as types: a failed savepoint is
//! [`SavepointStatus::Failed`] (Flink says "COMPLETED" with a failure cause), an unknown metric
//! is `None` (Flink answers `[]`).

pub mod api;
pub mod checkpoints;
pub mod client;
pub mod cluster;
pub mod error;
pub mod exceptions;
pub mod jars;
pub mod job;
pub mod metrics;
pub mod retry;
pub mod savepoint;
mod wire;

pub use api::{FlinkApi, await_savepoint};
pub use checkpoints::{CheckpointEntry, CheckpointStatistics, LatestSnapshot, RestoredCheckpoint};
pub use client::{CancelOutcome, FlinkClientOptions, FlinkRestClient};
pub use cluster::{ClusterOverview, DashboardConfig};
pub use error::{FlinkError, UnreachableKind};
pub use exceptions::{ExceptionEntry, JobExceptions};
pub use jars::{ClaimMode, JarId, JarRunRequest, JarRunResponse};
pub use job::{JobDetails, JobOverview, JobState, JobsOverview};
pub use metrics::{JobHealthMetrics, MetricValues};
pub use retry::RetryPolicy;
pub use savepoint::{OperationStatus, SavepointRequest, SavepointStatus, StopRequest, TriggerId};
