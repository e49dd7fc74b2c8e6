//! The FlinkDeployment reconcile: validate → observe → plan → write status → events → one step.

use super::context::Context;
use super::error::{Error, Result};
use super::events::publish;
use super::execute::{delete_cluster, deploy_cluster, stop_with_savepoint, trigger_savepoint};
use super::observe::observe_deployment;
use super::status::{DEPLOYMENT_FINALIZER, StatusLog, add_finalizer, deleting_undeployed, remove_finalizer};
use crate::api::{
    FlinkDeployment, FlinkDeploymentSpec, FlinkDeploymentStatus, ReconciledSpec, ResourceLifecycleState,
};
use crate::config::effective_flink_config;
use crate::lifecycle::{self, PlanInput, Resource, ResourceStatus, Step};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// One reconcile of a FlinkDeployment (its log lines carry the object in a span).
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        kind = "FlinkDeployment",
        namespace = %cached.namespace().unwrap_or_default(),
        name = %cached.name_any(),
        generation = cached.metadata.generation.unwrap_or_default(),
    )
)]
pub async fn reconcile(cached: Arc<FlinkDeployment>, ctx: Arc<Context>) -> Result<Action> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<FlinkDeployment> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(dep) = ctx.known_versions.current(&api, cached).await? else {
        return Ok(Action::await_change());
    };
    if crate::api::is_canary(&dep.metadata) {
        return super::leave_canary(&api, &ctx.known_versions, dep.as_ref(), DEPLOYMENT_FINALIZER).await;
    }
    if dep.metadata.deletion_timestamp.is_none()
        && !dep.finalizers().iter().any(|f| f == DEPLOYMENT_FINALIZER)
    {
        add_finalizer(&api, &ctx.known_versions, &dep, DEPLOYMENT_FINALIZER).await?;
        return Ok(Action::requeue(std::time::Duration::ZERO));
    }
    let operator = ctx.operator.for_resource(&dep.spec.flat_configuration())?;

    let (planned, validation_error) = match crate::validation::validate_deployment(&dep, &ctx.operator) {
        Ok(()) => (dep.as_ref().clone(), None),
        Err(e) => match last_valid(&dep) {
            Some(previous) => (previous, Some(e.to_string())),
            None if deleting_undeployed(
                &dep.metadata,
                dep.status.as_ref().and_then(|s| s.reconciliation_status.as_ref()),
            ) =>
            {
                remove_finalizer(&api, &ctx.known_versions, &dep, DEPLOYMENT_FINALIZER).await?;
                return Ok(Action::await_change());
            }
            None => return reject_unreconciled(&ctx, &api, &dep, &e.to_string()).await,
        },
    };
    let flink_config = effective_flink_config(
        &ctx.operator,
        Some(&ns),
        planned.spec.flink_version,
        &planned.spec.flat_configuration(),
    );
    let mut observation = observe_deployment(&ctx, &planned).await?;
    observation.cluster_refused = super::preflight::cluster_refusal(&ctx, &planned).await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let new_job_id = uuid::Uuid::new_v4().simple().to_string();
    let plan = lifecycle::plan(&PlanInput {
        resource: Resource::Deployment(&planned),
        operator: &operator,
        flink_config: &flink_config,
        observation: &observation,
        now_ms,
        new_job_id: &new_job_id,
    });
    super::trace_plan(&dep.name_any(), &ns, &plan);
    let ResourceStatus::Deployment(mut status) = plan.status else {
        return Err(Error::WrongKind(
            "the planner returned a session job status for a FlinkDeployment",
        ));
    };
    if let Some(message) = &validation_error {
        status.error = Some(error_json("ValidationError", message));
    }
    let mut log = StatusLog::new(&api, &ctx.known_versions, dep.as_ref());
    log.write(dep.status.as_ref(), &status).await?;
    for ev in &plan.events {
        publish(&ctx, dep.as_ref(), ev).await;
    }
    super::snapshot_records::sync_if_enabled(
        &ctx,
        &operator,
        &dep.metadata,
        crate::api::JobKind::FlinkDeployment,
        status.job_status.as_ref(),
    )
    .await;
    if let Some(message) = &validation_error {
        let ev = lifecycle::Event {
            type_: lifecycle::EventType::Warning,
            reason: "ValidationError".into(),
            message: message.clone(),
        };
        publish(&ctx, dep.as_ref(), &ev).await;
    }
    ctx.metrics
        .steps
        .get_or_create(&super::metrics::StepLabel {
            step: plan.step.name(),
        })
        .inc();
    execute(&ctx, &mut log, &dep, &planned, status, &plan.step).await?;
    Ok(Action::requeue(plan.requeue))
}

async fn execute(
    ctx: &Context,
    log: &mut StatusLog<'_, FlinkDeployment>,
    stored: &FlinkDeployment,
    planned: &FlinkDeployment,
    status: FlinkDeploymentStatus,
    step: &Step,
) -> Result<()> {
    let ns = stored.namespace().unwrap_or_default();
    let name = stored.name_any();
    let in_flight = ctx
        .metrics
        .operations_in_flight
        .get_or_create(&super::metrics::StepLabel { step: step.name() })
        .clone();
    in_flight.inc();
    let result = async {
        match step {
            Step::NoOp | Step::Wait { .. } | Step::MarkStable | Step::ReportError { .. } => Ok(()),
            Step::Deploy(deploy) => deploy_cluster(ctx, planned, deploy).await,
            Step::SubmitSessionJob(_) => {
                Err(Error::WrongKind("a FlinkDeployment cannot submit a session job"))
            }
            Step::TriggerSavepoint {
                job_id,
                target_dir,
                format,
                ..
            } => {
                let flink = rest(ctx, &ns, &name)?;
                let trigger = trigger_savepoint(&flink, job_id, target_dir.clone(), format).await?;
                amend(log, status, |s| {
                    lifecycle::record_savepoint_trigger(s, &trigger.0)
                })
                .await
            }
            Step::StopWithSavepoint {
                job_id,
                target_dir,
                drain,
                format,
            } => {
                let flink = rest(ctx, &ns, &name)?;
                let trigger = stop_with_savepoint(&flink, job_id, target_dir.clone(), *drain, format).await?;
                amend(log, status, |s| {
                    lifecycle::record_savepoint_trigger(s, &trigger.0)
                })
                .await
            }
            Step::CancelJob { job_id } => {
                rest(ctx, &ns, &name)?.cancel_job(job_id).await?;
                Ok(())
            }
            Step::DeleteCluster {
                delete_ha_data,
                cancel_job_first,
            } => {
                if let (Some(job_id), Some(flink)) = (cancel_job_first, ctx.flink(&ns, &name)) {
                    // Best effort: the job's state is being discarded anyway.
                    let _ = flink.cancel_job(job_id).await;
                }
                delete_cluster(ctx, stored, *delete_ha_data).await
            }
            Step::ReleaseFinalizer => {
                let api: Api<FlinkDeployment> = Api::namespaced(ctx.client.clone(), &ns);
                remove_finalizer(&api, &ctx.known_versions, stored, DEPLOYMENT_FINALIZER).await
            }
            Step::TriggerCheckpoint {
                job_id,
                checkpoint_type,
                ..
            } => {
                let trigger = rest(ctx, &ns, &name)?
                    .trigger_checkpoint(job_id, checkpoint_type)
                    .await?;
                amend(log, status, |s| {
                    lifecycle::record_checkpoint_trigger(s, &trigger.0)
                })
                .await?;
                Ok(())
            }
            Step::DisposeSavepoint { path } => {
                super::dispose::dispose(&rest(ctx, &ns, &name)?, path).await?;
                amend(log, status, |s| lifecycle::forget_disposed_savepoint(s, path)).await?;
                Ok(())
            }
        }
    }
    .await;
    in_flight.dec();
    result
}

fn rest(ctx: &Context, ns: &str, name: &str) -> Result<crate::flink::FlinkRestClient> {
    ctx.flink(ns, name).ok_or_else(|| Error::NoRestEndpoint {
        namespace: ns.to_string(),
        name: name.to_string(),
    })
}

/// Records what a step learned right after it ran (a trigger id Flink returned, a disposal it
/// confirmed): the status just written, changed by `change`, written again.
async fn amend(
    log: &mut StatusLog<'_, FlinkDeployment>,
    written: FlinkDeploymentStatus,
    change: impl FnOnce(&mut ResourceStatus),
) -> Result<()> {
    let mut status = ResourceStatus::Deployment(written.clone());
    change(&mut status);
    if let ResourceStatus::Deployment(updated) = status {
        log.write(Some(&written), &updated).await?;
    }
    Ok(())
}

/// The resource with its last reconciled (valid) spec, planned while the new spec is invalid.
fn last_valid(dep: &FlinkDeployment) -> Option<FlinkDeployment> {
    let status = dep.status.as_ref()?;
    let text = status
        .reconciliation_status
        .as_ref()?
        .last_reconciled_spec
        .as_deref()?;
    let recorded = ReconciledSpec::<FlinkDeploymentSpec>::decode(text).ok()?;
    let mut previous = dep.clone();
    previous.spec = recorded.spec;
    previous.metadata.generation = status.observed_generation.or(dep.metadata.generation);
    Some(previous)
}

/// An invalid spec that was never deployed: record why, deploy nothing.
async fn reject_unreconciled(
    ctx: &Context,
    api: &Api<FlinkDeployment>,
    dep: &FlinkDeployment,
    message: &str,
) -> Result<Action> {
    let mut status = dep.status.clone().unwrap_or_default();
    status.error = Some(error_json("ValidationError", message));
    status.lifecycle_state = Some(ResourceLifecycleState::Failed);
    StatusLog::new(api, &ctx.known_versions, dep)
        .write(dep.status.as_ref(), &status)
        .await?;
    let ev = lifecycle::Event {
        type_: lifecycle::EventType::Warning,
        reason: "ValidationError".into(),
        message: message.to_string(),
    };
    publish(ctx, dep, &ev).await;
    Ok(Action::requeue(ctx.operator.reconcile_interval))
}

/// `status.error` in the reference's JSON shape.
pub fn error_json(kind: &str, message: &str) -> String {
    serde_json::json!({"type": kind, "message": message, "additionalMetadata": {}, "throwableList": []})
        .to_string()
}
