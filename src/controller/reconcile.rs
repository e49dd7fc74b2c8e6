//! The one reconcile of every kind with a job: read fresh → finalizer → validate → observe → plan →
//! write status → events → one step. What differs between FlinkDeployment and FlinkSessionJob
//! (how a spec is validated, what is observed, which steps each kind executes) is behind
//! [`Reconciled`], implemented in `deployment.rs` and `session_job.rs`.

use super::context::Context;
use super::error::{Error, Result};
use super::events::publish;
use super::execute::{stop_with_savepoint, trigger_savepoint};
use super::status::{StatusLog, add_finalizer, deleting_undeployed, remove_finalizer};
use crate::api::{JobKind, JobStatus, ReconciledSpec, ReconciliationStatus};
use crate::config::OperatorConfig;
use crate::flink::FlinkRestClient;
use crate::lifecycle::{self, Deploy, Observation, PlanInput, Resource, ResourceStatus, Step};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

/// What planning a resource reads besides the resource itself.
pub(super) struct Inputs {
    pub operator: OperatorConfig,
    pub flink_config: BTreeMap<String, String>,
    pub observation: Observation,
}

/// The kind-specific parts of a reconcile.
pub(super) trait Reconciled:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Serialize
    + Send
    + Sync
    + 'static
{
    const KIND: JobKind;
    const FINALIZER: &'static str;
    type Spec: Clone + Serialize + DeserializeOwned;
    type Status: Clone + Default + PartialEq + Serialize + Send + Sync;
    /// What is looked up once per reconcile for validation and planning (a session job's
    /// cluster).
    type Context: Send + Sync;

    fn status(&self) -> Option<&Self::Status>;
    fn reconciliation(status: &Self::Status) -> Option<&ReconciliationStatus>;
    fn observed_generation(status: &Self::Status) -> Option<i64>;
    fn job_status(status: &Self::Status) -> Option<&JobStatus>;
    fn set_spec(&mut self, spec: Self::Spec);
    fn set_error(status: &mut Self::Status, json: String);
    /// The status of an invalid spec that was never deployed.
    fn reject(status: &mut Self::Status);
    fn as_lifecycle(&self) -> Resource<'_>;
    fn from_lifecycle(status: ResourceStatus) -> Option<Self::Status>;
    fn to_lifecycle(status: Self::Status) -> ResourceStatus;
    /// The cluster whose REST API runs the job.
    fn rest_cluster(&self) -> String;

    fn lookup(&self, ctx: &Context) -> impl Future<Output = Result<Self::Context>> + Send;
    /// The admission rules, as the webhook runs them: `Ok(Err(message))` for an invalid spec.
    fn validate(
        &self,
        lookup: &Self::Context,
        ctx: &Context,
    ) -> impl Future<Output = Result<Result<(), String>>> + Send;
    /// The operator configuration, effective Flink configuration and observation of `planned`
    /// (the stored resource, or its last valid spec while the stored one is invalid).
    fn inputs(
        stored: &Self,
        planned: &Self,
        lookup: &Self::Context,
        ctx: &Context,
    ) -> impl Future<Output = Result<Inputs>> + Send;
    /// Deploys the cluster or submits the job.
    fn deploy(ctx: &Context, planned: &Self, deploy: &Deploy) -> impl Future<Output = Result<()>> + Send;
    fn delete_cluster(
        ctx: &Context,
        stored: &Self,
        delete_ha_data: bool,
        cancel_job_first: Option<&str>,
    ) -> impl Future<Output = Result<()>> + Send;
}

/// One reconcile of `cached` (its log lines carry the object and its phase in a span).
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        kind = K::KIND.as_str(),
        namespace = %cached.namespace().unwrap_or_default(),
        name = %cached.name_any(),
        generation = cached.meta().generation.unwrap_or_default(),
        phase = tracing::field::Empty,
    )
)]
pub(super) async fn reconcile<K: Reconciled>(cached: Arc<K>, ctx: Arc<Context>) -> Result<Action> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(obj) = ctx.known_versions.current(&api, cached).await? else {
        return Ok(Action::await_change());
    };
    if crate::api::is_canary(obj.meta()) {
        return super::leave_canary(&api, &ctx.known_versions, obj.as_ref(), K::FINALIZER).await;
    }
    if obj.meta().deletion_timestamp.is_none() && !obj.finalizers().iter().any(|f| f == K::FINALIZER) {
        add_finalizer(&api, &ctx.known_versions, obj.as_ref(), K::FINALIZER).await?;
        return Ok(Action::requeue(std::time::Duration::ZERO));
    }
    let lookup = obj.lookup(&ctx).await?;
    let (planned, validation_error) = match obj.validate(&lookup, &ctx).await? {
        Ok(()) => (obj.as_ref().clone(), None),
        Err(e) => match last_valid(obj.as_ref()) {
            Some(previous) => (previous, Some(e)),
            None if deleting_undeployed(obj.meta(), obj.status().and_then(K::reconciliation)) => {
                remove_finalizer(&api, &ctx.known_versions, obj.as_ref(), K::FINALIZER).await?;
                return Ok(Action::await_change());
            }
            None => return reject_unreconciled(&ctx, &api, obj.as_ref(), &e).await,
        },
    };
    let inputs = K::inputs(&obj, &planned, &lookup, &ctx).await?;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let new_job_id = uuid::Uuid::new_v4().simple().to_string();
    let plan = lifecycle::plan(&PlanInput {
        resource: planned.as_lifecycle(),
        operator: &inputs.operator,
        flink_config: &inputs.flink_config,
        observation: &inputs.observation,
        now_ms,
        new_job_id: &new_job_id,
    });
    if let Some(phase) = plan.phases.last() {
        tracing::Span::current().record("phase", phase.name());
    }
    super::trace_plan(&plan);
    let Some(mut status) = K::from_lifecycle(plan.status) else {
        return Err(Error::WrongKind(
            "the planner returned the status of the other kind",
        ));
    };
    if let Some(message) = &validation_error {
        K::set_error(&mut status, error_json("ValidationError", message));
    }
    let mut log = StatusLog::new(&api, &ctx.known_versions, obj.as_ref());
    log.write(obj.status(), &status).await?;
    for ev in &plan.events {
        publish(&ctx, obj.as_ref(), ev).await;
    }
    super::snapshot_records::sync_if_enabled(
        &ctx,
        &inputs.operator,
        obj.meta(),
        K::KIND,
        K::job_status(&status),
    )
    .await;
    if let Some(message) = &validation_error {
        publish(&ctx, obj.as_ref(), &validation_event(message)).await;
    }
    ctx.metrics
        .steps
        .get_or_create(&super::metrics::StepLabel {
            step: plan.step.name(),
        })
        .inc();
    execute(&ctx, &mut log, &obj, &planned, status, &plan.step).await?;
    Ok(Action::requeue(plan.requeue))
}

async fn execute<K: Reconciled>(
    ctx: &Context,
    log: &mut StatusLog<'_, K>,
    stored: &K,
    planned: &K,
    status: K::Status,
    step: &Step,
) -> Result<()> {
    let in_flight = ctx
        .metrics
        .operations_in_flight
        .get_or_create(&super::metrics::StepLabel { step: step.name() })
        .clone();
    in_flight.inc();
    let result = async {
        match step {
            Step::NoOp | Step::Wait { .. } | Step::MarkStable | Step::ReportError { .. } => Ok(()),
            Step::Deploy(deploy) | Step::SubmitSessionJob(deploy) => K::deploy(ctx, planned, deploy).await,
            Step::TriggerSavepoint {
                job_id,
                target_dir,
                format,
                ..
            } => {
                let trigger =
                    trigger_savepoint(&rest(ctx, stored)?, job_id, target_dir.clone(), format).await?;
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
                let flink = rest(ctx, stored)?;
                let trigger = stop_with_savepoint(&flink, job_id, target_dir.clone(), *drain, format).await?;
                amend(log, status, |s| {
                    lifecycle::record_savepoint_trigger(s, &trigger.0)
                })
                .await
            }
            Step::CancelJob { job_id } => {
                rest(ctx, stored)?.cancel_job(job_id).await?;
                Ok(())
            }
            Step::DeleteCluster {
                delete_ha_data,
                cancel_job_first,
            } => K::delete_cluster(ctx, stored, *delete_ha_data, cancel_job_first.as_deref()).await,
            Step::ReleaseFinalizer => {
                let api: Api<K> =
                    Api::namespaced(ctx.client.clone(), &stored.namespace().unwrap_or_default());
                remove_finalizer(&api, &ctx.known_versions, stored, K::FINALIZER).await
            }
            Step::TriggerCheckpoint {
                job_id,
                checkpoint_type,
                ..
            } => {
                let trigger = rest(ctx, stored)?
                    .trigger_checkpoint(job_id, checkpoint_type)
                    .await?;
                amend(log, status, |s| {
                    lifecycle::record_checkpoint_trigger(s, &trigger.0)
                })
                .await
            }
            Step::DisposeSavepoint { path } => {
                super::dispose::dispose(&rest(ctx, stored)?, path).await?;
                amend(log, status, |s| lifecycle::forget_disposed_savepoint(s, path)).await
            }
        }
    }
    .await;
    in_flight.dec();
    result
}

/// The REST client of the cluster that runs `obj`'s job.
pub(super) fn rest<K: Reconciled>(ctx: &Context, obj: &K) -> Result<FlinkRestClient> {
    let ns = obj.namespace().unwrap_or_default();
    let cluster = obj.rest_cluster();
    ctx.flink(&ns, &cluster).ok_or(Error::NoRestEndpoint {
        namespace: ns,
        name: cluster,
    })
}

/// Records what a step learned right after it ran (a trigger id Flink returned, a disposal it
/// confirmed): the status just written, changed by `change`, written again.
async fn amend<K: Reconciled>(
    log: &mut StatusLog<'_, K>,
    written: K::Status,
    change: impl FnOnce(&mut ResourceStatus),
) -> Result<()> {
    let mut status = K::to_lifecycle(written.clone());
    change(&mut status);
    if let Some(updated) = K::from_lifecycle(status) {
        log.write(Some(&written), &updated).await?;
    }
    Ok(())
}

/// The resource with its last reconciled (valid) spec, planned while the new spec is invalid.
fn last_valid<K: Reconciled>(obj: &K) -> Option<K> {
    let status = obj.status()?;
    let text = K::reconciliation(status)?.last_reconciled_spec.as_deref()?;
    let recorded = ReconciledSpec::<K::Spec>::decode(text).ok()?;
    let mut previous = obj.clone();
    previous.set_spec(recorded.spec);
    previous.meta_mut().generation = K::observed_generation(status).or(obj.meta().generation);
    Some(previous)
}

/// An invalid spec that was never deployed: record why, deploy nothing.
async fn reject_unreconciled<K: Reconciled>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    message: &str,
) -> Result<Action> {
    let mut status = obj.status().cloned().unwrap_or_default();
    K::set_error(&mut status, error_json("ValidationError", message));
    K::reject(&mut status);
    StatusLog::new(api, &ctx.known_versions, obj)
        .write(obj.status(), &status)
        .await?;
    publish(ctx, obj, &validation_event(message)).await;
    Ok(Action::requeue(ctx.operator.reconcile_interval))
}

fn validation_event(message: &str) -> lifecycle::Event {
    lifecycle::Event {
        type_: lifecycle::EventType::Warning,
        reason: "ValidationError".into(),
        message: message.to_string(),
    }
}

/// `status.error` in the reference's JSON shape.
pub fn error_json(kind: &str, message: &str) -> String {
    serde_json::json!({"type": kind, "message": message, "additionalMetadata": {}, "throwableList": []})
        .to_string()
}
