//! The spec of either kind, as the planner handles it: diff, record (lastReconciledSpec), deploy.

use super::diff::{SpecDiff, deployment_diff, session_job_diff};
use super::plan::DeploySpec;
use crate::api::{
    FlinkDeploymentSpec, FlinkSessionJobSpec, FlinkVersion, JobSpec, JobState, ReconciledSpec,
    ResourceMetadata,
};

/// Which kind of resource, and for FlinkDeployments which kind of cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Application,
    SessionCluster,
    SessionJob,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AnySpec {
    Deployment(Box<FlinkDeploymentSpec>),
    SessionJob(Box<FlinkSessionJobSpec>),
}

impl AnySpec {
    pub fn job(&self) -> Option<&JobSpec> {
        match self {
            Self::Deployment(s) => s.job.as_ref(),
            Self::SessionJob(s) => s.job.as_ref(),
        }
    }

    pub fn job_mut(&mut self) -> Option<&mut JobSpec> {
        match self {
            Self::Deployment(s) => s.job.as_mut(),
            Self::SessionJob(s) => s.job.as_mut(),
        }
    }

    pub fn normalized(&self) -> Self {
        match self {
            Self::Deployment(s) => Self::Deployment(Box::new(s.normalized())),
            Self::SessionJob(s) => Self::SessionJob(Box::new(s.normalized())),
        }
    }

    /// Diff from `self` (deployed) to `after` (desired).
    pub fn diff(&self, after: &Self) -> SpecDiff {
        match (self, after) {
            (Self::Deployment(b), Self::Deployment(a)) => deployment_diff(b, a),
            (Self::SessionJob(b), Self::SessionJob(a)) => session_job_diff(b, a),
            _ => SpecDiff::default(),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Deployment(_) => "FlinkDeploymentSpec",
            Self::SessionJob(_) => "FlinkSessionJobSpec",
        }
    }

    pub fn flink_version(&self) -> Option<FlinkVersion> {
        match self {
            Self::Deployment(s) => s.flink_version,
            Self::SessionJob(_) => None,
        }
    }

    pub fn desired_state(&self) -> Option<JobState> {
        self.job().map(JobSpec::desired_state)
    }

    /// A copy with the job's state and recorded upgrade mode set.
    pub fn with_job(&self, state: Option<JobState>, mode: Option<crate::api::UpgradeMode>) -> Self {
        let mut out = self.normalized();
        if let Some(job) = out.job_mut() {
            if let Some(s) = state {
                job.state = Some(s);
            }
            if let Some(m) = mode {
                job.upgrade_mode = Some(m);
            }
        }
        out
    }

    pub fn encode(&self, first_deployment: bool) -> String {
        match self {
            Self::Deployment(s) => ReconciledSpec::new((**s).clone(), first_deployment).encode(),
            Self::SessionJob(s) => ReconciledSpec::new((**s).clone(), first_deployment).encode(),
        }
    }

    pub fn decode(kind: Kind, text: &str) -> Result<(Self, ResourceMetadata), String> {
        match kind {
            Kind::SessionJob => ReconciledSpec::<FlinkSessionJobSpec>::decode(text)
                .map(|r| (Self::SessionJob(Box::new(r.spec)), r.meta))
                .map_err(|e| e.to_string()),
            _ => ReconciledSpec::<FlinkDeploymentSpec>::decode(text)
                .map(|r| (Self::Deployment(Box::new(r.spec)), r.meta))
                .map_err(|e| e.to_string()),
        }
    }

    pub fn to_deploy(&self) -> DeploySpec {
        match self {
            Self::Deployment(s) => DeploySpec::Deployment(s.clone()),
            Self::SessionJob(s) => DeploySpec::SessionJob(s.clone()),
        }
    }
}
