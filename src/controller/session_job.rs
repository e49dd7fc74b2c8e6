//! What reconciling a FlinkSessionJob adds to the shared flow (`reconcile.rs`): the session
//! cluster named by `spec.deploymentName`, whose configuration and REST API the job uses.

use super::context::Context;
use super::error::{Error, Result};
use super::execute::submit_session_job;
use super::observe::observe_session_job;
use super::reconcile::{Inputs, Reconciled, rest};
use super::status::SESSION_JOB_FINALIZER;
use crate::api::{
    FlinkDeployment, FlinkSessionJob, FlinkSessionJobSpec, FlinkSessionJobStatus, JobKind, JobStatus,
    ReconciliationStatus,
};
use crate::config::effective_flink_config;
use crate::lifecycle::{Deploy, Resource, ResourceStatus};
use kube::ResourceExt;
use kube::api::Api;

impl Reconciled for FlinkSessionJob {
    const KIND: JobKind = JobKind::FlinkSessionJob;
    const FINALIZER: &'static str = SESSION_JOB_FINALIZER;
    type Spec = FlinkSessionJobSpec;
    type Status = FlinkSessionJobStatus;
    /// The session cluster, if it exists.
    type Context = Option<FlinkDeployment>;

    fn status(&self) -> Option<&FlinkSessionJobStatus> {
        self.status.as_ref()
    }

    fn reconciliation(status: &FlinkSessionJobStatus) -> Option<&ReconciliationStatus> {
        status.reconciliation_status.as_ref()
    }

    fn observed_generation(status: &FlinkSessionJobStatus) -> Option<i64> {
        status.observed_generation
    }

    fn job_status(status: &FlinkSessionJobStatus) -> Option<&JobStatus> {
        status.job_status.as_ref()
    }

    fn set_spec(&mut self, spec: FlinkSessionJobSpec) {
        self.spec = spec;
    }

    fn set_error(status: &mut FlinkSessionJobStatus, json: String) {
        status.error = Some(json);
    }

    /// A session job has no lifecycle state of its own to mark failed.
    fn reject(_status: &mut FlinkSessionJobStatus) {}

    fn as_lifecycle(&self) -> Resource<'_> {
        Resource::SessionJob(self)
    }

    fn from_lifecycle(status: ResourceStatus) -> Option<FlinkSessionJobStatus> {
        match status {
            ResourceStatus::SessionJob(s) => Some(s),
            ResourceStatus::Deployment(_) => None,
        }
    }

    fn to_lifecycle(status: FlinkSessionJobStatus) -> ResourceStatus {
        ResourceStatus::SessionJob(status)
    }

    fn rest_cluster(&self) -> String {
        self.spec.deployment_name.clone().unwrap_or_default()
    }

    async fn lookup(&self, ctx: &Context) -> Result<Option<FlinkDeployment>> {
        let clusters: Api<FlinkDeployment> =
            Api::namespaced(ctx.client.clone(), &self.namespace().unwrap_or_default());
        Ok(match self.spec.deployment_name.as_deref() {
            Some(name) => clusters.get_opt(name).await?,
            None => None,
        })
    }

    async fn validate(&self, session: &Option<FlinkDeployment>, ctx: &Context) -> Result<Result<(), String>> {
        // The jarURI host rule resolves DNS: keep that blocking call off the async workers.
        let (job, session, operator) = (self.clone(), session.clone(), ctx.operator.clone());
        tokio::task::spawn_blocking(move || {
            crate::validation::validate_session_job(
                &job,
                session.as_ref(),
                &operator,
                &crate::validation::SystemResolver,
            )
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(Error::ValidationTask)
    }

    async fn inputs(
        _stored: &Self,
        planned: &Self,
        session: &Option<FlinkDeployment>,
        ctx: &Context,
    ) -> Result<Inputs> {
        // The job's own configuration over its session cluster's.
        let mut merged = session
            .as_ref()
            .map(|s| s.spec.flat_configuration())
            .unwrap_or_default();
        merged.append(&mut planned.spec.flat_configuration());
        let version = session.as_ref().and_then(|s| s.spec.flink_version);
        let flink_config =
            effective_flink_config(&ctx.operator, planned.namespace().as_deref(), version, &merged);
        let operator = ctx.operator.for_resource(&merged)?;
        let observation = observe_session_job(ctx, planned, session.as_ref()).await?;
        Ok(Inputs {
            operator,
            flink_config,
            observation,
        })
    }

    async fn deploy(ctx: &Context, planned: &Self, deploy: &Deploy) -> Result<()> {
        submit_session_job(ctx, &rest(ctx, planned)?, planned, deploy).await
    }

    async fn delete_cluster(
        _ctx: &Context,
        _stored: &Self,
        _delete_ha_data: bool,
        _cancel_job_first: Option<&str>,
    ) -> Result<()> {
        Err(Error::WrongKind("a session job has no cluster to delete"))
    }
}
