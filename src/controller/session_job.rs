//! The FlinkSessionJob reconcile: the same loop as a FlinkDeployment, against the REST API of
//! the session cluster named by `spec.deploymentName`.

use super::context::Context;
use super::deployment::error_json;
use super::error::{Error, Result};
use super::events::publish;
use super::execute::{stop_with_savepoint, submit_session_job, trigger_savepoint};
use super::observe::observe_session_job;
use super::status::{SESSION_JOB_FINALIZER, StatusLog, add_finalizer, deleting_undeployed, remove_finalizer};
use crate::api::{
    FlinkDeployment, FlinkSessionJob, FlinkSessionJobSpec, FlinkSessionJobStatus, ReconciledSpec,
};
use crate::config::effective_flink_config;
use crate::lifecycle::{self, PlanInput, Resource, ResourceStatus, Step};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use std::sync::Arc;

/// One reconcile of a FlinkSessionJob (its log lines carry the object in a span).
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        kind = "FlinkSessionJob",
        namespace = %cached.namespace().unwrap_or_default(),
        name = %cached.name_any(),
        generation = cached.metadata.generation.unwrap_or_default(),
    )
)]
pub async fn reconcile(cached: Arc<FlinkSessionJob>, ctx: Arc<Context>) -> Result<Action> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<FlinkSessionJob> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(job) = ctx.known_versions.current(&api, cached).await? else {
        return Ok(Action::await_change());
    };
    if crate::api::is_canary(&job.metadata) {
        return super::leave_canary(&api, &ctx.known_versions, job.as_ref(), SESSION_JOB_FINALIZER).await;
    }
    if job.metadata.deletion_timestamp.is_none()
        && !job.finalizers().iter().any(|f| f == SESSION_JOB_FINALIZER)
    {
        add_finalizer(&api, &ctx.known_versions, &job, SESSION_JOB_FINALIZER).await?;
        return Ok(Action::requeue(std::time::Duration::ZERO));
    }
    let clusters: Api<FlinkDeployment> = Api::namespaced(ctx.client.clone(), &ns);
    let session = match job.spec.deployment_name.as_deref() {
        Some(name) => clusters.get_opt(name).await?,
        None => None,
    };
    let validation = {
        // The jarURI host rule resolves DNS: keep that blocking call off the async workers.
        let (job, session, operator) = (job.as_ref().clone(), session.clone(), ctx.operator.clone());
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
        .map_err(Error::ValidationTask)?
    };
    let (planned, validation_error) = match validation {
        Ok(()) => (job.as_ref().clone(), None),
        Err(e) => match last_valid(&job) {
            Some(previous) => (previous, Some(e.clone())),
            None if deleting_undeployed(
                &job.metadata,
                job.status.as_ref().and_then(|s| s.reconciliation_status.as_ref()),
            ) =>
            {
                remove_finalizer(&api, &ctx.known_versions, &job, SESSION_JOB_FINALIZER).await?;
                return Ok(Action::await_change());
            }
            None => {
                let mut status = job.status.clone().unwrap_or_default();
                status.error = Some(error_json("ValidationError", &e));
                StatusLog::new(&api, &ctx.known_versions, job.as_ref())
                    .write(job.status.as_ref(), &status)
                    .await?;
                return Ok(Action::requeue(ctx.operator.reconcile_interval));
            }
        },
    };
    let mut own = planned.spec.flat_configuration();
    let session_conf = session
        .as_ref()
        .map(|s| s.spec.flat_configuration())
        .unwrap_or_default();
    let mut merged = session_conf;
    merged.append(&mut own);
    let version = session.as_ref().and_then(|s| s.spec.flink_version);
    let flink_config = effective_flink_config(&ctx.operator, Some(&ns), version, &merged);
    let operator = ctx.operator.for_resource(&merged)?;
    let observation = observe_session_job(&ctx, &planned, session.as_ref()).await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let new_job_id = uuid::Uuid::new_v4().simple().to_string();
    let plan = lifecycle::plan(&PlanInput {
        resource: Resource::SessionJob(&planned),
        operator: &operator,
        flink_config: &flink_config,
        observation: &observation,
        now_ms,
        new_job_id: &new_job_id,
    });
    super::trace_plan(&job.name_any(), &ns, &plan);
    let ResourceStatus::SessionJob(mut status) = plan.status else {
        return Err(Error::WrongKind(
            "the planner returned a FlinkDeployment status for a session job",
        ));
    };
    if let Some(message) = &validation_error {
        status.error = Some(error_json("ValidationError", message));
    }
    let mut log = StatusLog::new(&api, &ctx.known_versions, job.as_ref());
    log.write(job.status.as_ref(), &status).await?;
    for ev in &plan.events {
        publish(&ctx, job.as_ref(), ev).await;
    }
    super::snapshot_records::sync_if_enabled(
        &ctx,
        &operator,
        &job.metadata,
        crate::api::JobKind::FlinkSessionJob,
        status.job_status.as_ref(),
    )
    .await;
    ctx.metrics
        .steps
        .get_or_create(&super::metrics::StepLabel {
            step: plan.step.name(),
        })
        .inc();
    let cluster = job.spec.deployment_name.clone().unwrap_or_default();
    let flink = || {
        ctx.flink(&ns, &cluster).ok_or_else(|| Error::NoRestEndpoint {
            namespace: ns.clone(),
            name: cluster.clone(),
        })
    };
    match &plan.step {
        Step::NoOp | Step::Wait { .. } | Step::MarkStable | Step::ReportError { .. } => {}
        Step::SubmitSessionJob(deploy) | Step::Deploy(deploy) => {
            submit_session_job(&ctx, &flink()?, &planned, deploy).await?;
        }
        Step::TriggerSavepoint {
            job_id,
            target_dir,
            format,
            ..
        } => {
            let trigger = trigger_savepoint(&flink()?, job_id, target_dir.clone(), format).await?;
            amend(&mut log, status, |s| {
                lifecycle::record_savepoint_trigger(s, &trigger.0)
            })
            .await?;
        }
        Step::StopWithSavepoint {
            job_id,
            target_dir,
            drain,
            format,
        } => {
            let trigger = stop_with_savepoint(&flink()?, job_id, target_dir.clone(), *drain, format).await?;
            amend(&mut log, status, |s| {
                lifecycle::record_savepoint_trigger(s, &trigger.0)
            })
            .await?;
        }
        Step::CancelJob { job_id } => {
            flink()?.cancel_job(job_id).await?;
        }
        Step::DeleteCluster { .. } => {
            return Err(Error::WrongKind("a session job has no cluster to delete"));
        }
        Step::ReleaseFinalizer => {
            remove_finalizer(&api, &ctx.known_versions, &job, SESSION_JOB_FINALIZER).await?
        }
        Step::TriggerCheckpoint {
            job_id,
            checkpoint_type,
            ..
        } => {
            let trigger = flink()?.trigger_checkpoint(job_id, checkpoint_type).await?;
            amend(&mut log, status, |s| {
                lifecycle::record_checkpoint_trigger(s, &trigger.0)
            })
            .await?;
        }
        Step::DisposeSavepoint { path } => {
            super::dispose::dispose(&flink()?, path).await?;
            amend(&mut log, status, |s| {
                lifecycle::forget_disposed_savepoint(s, path)
            })
            .await?;
        }
    }
    Ok(Action::requeue(plan.requeue))
}

/// Records what a step learned right after it ran (a trigger id Flink returned, a disposal it
/// confirmed): the status just written, changed by `change`, written again.
async fn amend(
    log: &mut StatusLog<'_, FlinkSessionJob>,
    written: FlinkSessionJobStatus,
    change: impl FnOnce(&mut ResourceStatus),
) -> Result<()> {
    let mut status = ResourceStatus::SessionJob(written.clone());
    change(&mut status);
    if let ResourceStatus::SessionJob(updated) = status {
        log.write(Some(&written), &updated).await?;
    }
    Ok(())
}

fn last_valid(job: &FlinkSessionJob) -> Option<FlinkSessionJob> {
    let status = job.status.as_ref()?;
    let text = status
        .reconciliation_status
        .as_ref()?
        .last_reconciled_spec
        .as_deref()?;
    let recorded = ReconciledSpec::<FlinkSessionJobSpec>::decode(text).ok()?;
    let mut previous = job.clone();
    previous.spec = recorded.spec;
    previous.metadata.generation = status.observed_generation.or(job.metadata.generation);
    Some(previous)
}
