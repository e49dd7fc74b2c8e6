//! What reconciling a FlinkDeployment adds to the shared flow (`reconcile.rs`): its own cluster,
//! validated, observed, deployed and deleted here.

use super::context::Context;
use super::error::Result;
use super::execute::{delete_cluster, deploy_cluster};
use super::observe::observe_deployment;
use super::reconcile::{Inputs, Reconciled};
use super::status::DEPLOYMENT_FINALIZER;
use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, JobKind, JobStatus, ReconciliationStatus,
    ResourceLifecycleState,
};
use crate::config::effective_flink_config;
use crate::lifecycle::{Deploy, Resource, ResourceStatus};
use kube::ResourceExt;

impl Reconciled for FlinkDeployment {
    const KIND: JobKind = JobKind::FlinkDeployment;
    const FINALIZER: &'static str = DEPLOYMENT_FINALIZER;
    type Spec = FlinkDeploymentSpec;
    type Status = FlinkDeploymentStatus;
    type Context = ();

    fn status(&self) -> Option<&FlinkDeploymentStatus> {
        self.status.as_ref()
    }

    fn reconciliation(status: &FlinkDeploymentStatus) -> Option<&ReconciliationStatus> {
        status.reconciliation_status.as_ref()
    }

    fn observed_generation(status: &FlinkDeploymentStatus) -> Option<i64> {
        status.observed_generation
    }

    fn job_status(status: &FlinkDeploymentStatus) -> Option<&JobStatus> {
        status.job_status.as_ref()
    }

    fn set_spec(&mut self, spec: FlinkDeploymentSpec) {
        self.spec = spec;
    }

    fn set_error(status: &mut FlinkDeploymentStatus, json: String) {
        status.error = Some(json);
    }

    fn reject(status: &mut FlinkDeploymentStatus) {
        status.lifecycle_state = Some(ResourceLifecycleState::Failed);
    }

    fn as_lifecycle(&self) -> Resource<'_> {
        Resource::Deployment(self)
    }

    fn from_lifecycle(status: ResourceStatus) -> Option<FlinkDeploymentStatus> {
        match status {
            ResourceStatus::Deployment(s) => Some(s),
            ResourceStatus::SessionJob(_) => None,
        }
    }

    fn to_lifecycle(status: FlinkDeploymentStatus) -> ResourceStatus {
        ResourceStatus::Deployment(status)
    }

    fn rest_cluster(&self) -> String {
        self.name_any()
    }

    async fn lookup(&self, _ctx: &Context) -> Result<()> {
        Ok(())
    }

    async fn validate(&self, _lookup: &(), ctx: &Context) -> Result<Result<(), String>> {
        Ok(crate::validation::validate_deployment(self, &ctx.operator).map_err(|e| e.to_string()))
    }

    async fn inputs(stored: &Self, planned: &Self, _lookup: &(), ctx: &Context) -> Result<Inputs> {
        // The stored spec's own operator settings apply, also while its last valid spec is planned.
        let operator = ctx.operator.for_resource(&stored.spec.flat_configuration())?;
        let flink_config = effective_flink_config(
            &ctx.operator,
            planned.namespace().as_deref(),
            planned.spec.flink_version,
            &planned.spec.flat_configuration(),
        );
        let mut observation = observe_deployment(ctx, planned).await?;
        observation.cluster_refused = super::preflight::cluster_refusal(ctx, planned).await?;
        Ok(Inputs {
            operator,
            flink_config,
            observation,
        })
    }

    async fn deploy(ctx: &Context, planned: &Self, deploy: &Deploy) -> Result<()> {
        deploy_cluster(ctx, planned, deploy).await
    }

    async fn delete_cluster(
        ctx: &Context,
        stored: &Self,
        delete_ha_data: bool,
        cancel_job_first: Option<&str>,
    ) -> Result<()> {
        if let Some(job_id) = cancel_job_first
            && let Ok(flink) = super::reconcile::rest(ctx, stored)
        {
            // Best effort: the job's state is being discarded anyway.
            let _ = flink.cancel_job(job_id).await;
        }
        delete_cluster(ctx, stored, delete_ha_data).await
    }
}
