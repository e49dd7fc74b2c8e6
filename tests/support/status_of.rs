//! What a FlinkDeployment's status says, as plain strings for assertions: shared by the
//! in-memory (`e2e.rs`) and real-cluster (`real_env.rs`) environments.
#![allow(dead_code)]

use flink_lifecycle::api::FlinkDeployment;

/// The recorded job id, or "".
pub fn job_id(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.job_id.clone())
        .unwrap_or_default()
}

/// `status.error`, or "" without one.
pub fn error(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.error.clone())
        .unwrap_or_default()
}

/// `status.lifecycleState` as its Rust variant name (`Stable`, `Upgrading`, ...), or "".
pub fn lifecycle(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.lifecycle_state)
        .map(|l| format!("{l:?}"))
        .unwrap_or_default()
}

/// The job state recorded in status (`RUNNING`, `CANCELED`, ...), or "".
pub fn job_state(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.state)
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

/// The recorded start time of the job (epoch millis as a string), or "".
pub fn start_time(d: &FlinkDeployment) -> String {
    d.status
        .as_ref()
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.start_time.clone())
        .unwrap_or_default()
}
