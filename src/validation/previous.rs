//! The previously deployed spec, as the reference reads it: the JSON string in
//! `status.reconciliationStatus.lastReconciledSpec`.

use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkSessionJob, FlinkSessionJobSpec, ReconciledSpec,
};

/// The last reconciled spec of a FlinkDeployment; `None` before the first deployment or when
/// the recorded string cannot be read (see [`super::warnings`]).
pub fn last_reconciled_deployment_spec(dep: &FlinkDeployment) -> Option<FlinkDeploymentSpec> {
    let text = dep
        .status
        .as_ref()?
        .reconciliation_status
        .as_ref()?
        .last_reconciled_spec
        .as_deref()?;
    ReconciledSpec::<FlinkDeploymentSpec>::decode(text)
        .ok()
        .map(|r| r.spec)
}

/// The last reconciled spec of a FlinkSessionJob.
pub fn last_reconciled_session_job_spec(job: &FlinkSessionJob) -> Option<FlinkSessionJobSpec> {
    let text = job
        .status
        .as_ref()?
        .reconciliation_status
        .as_ref()?
        .last_reconciled_spec
        .as_deref()?;
    ReconciledSpec::<FlinkSessionJobSpec>::decode(text)
        .ok()
        .map(|r| r.spec)
}
