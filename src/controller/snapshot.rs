//! The FlinkStateSnapshot reconcile: find the job the snapshot is of, ask Flink about the
//! operation in flight, plan ([`crate::lifecycle::snapshot`]), write the status, take the one
//! step (trigger, dispose, release), keep the reference's filter labels current.

use super::context::Context;
use super::error::{Error, Result};
use super::events::publish;
use super::status::{StatusLog, add_finalizer, remove_finalizer};
use crate::api::{
    FlinkDeployment, FlinkSessionJob, FlinkStateSnapshot, FlinkStateSnapshotSpec, FlinkVersion, JobKind,
    JobState, ReconciliationState, SavepointFormatType, SnapshotState,
};
use crate::config::flink_keys::savepoint_dir;
use crate::config::{SavepointFormat, effective_flink_config};
use crate::flink::{FlinkError, OperationStatus, SavepointRequest, SavepointStatus, TriggerId};
use crate::lifecycle::snapshot::{
    OperationSeen, SnapshotInput, SnapshotStep, SnapshotTarget, TargetJob, plan_snapshot,
};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Finalizer of FlinkStateSnapshots (the reference's name).
pub const SNAPSHOT_FINALIZER: &str = "flinkstatesnapshots.flink.apache.org/finalizer";

/// One reconcile of a FlinkStateSnapshot.
#[tracing::instrument(
    name = "reconcile",
    skip_all,
    fields(
        kind = "FlinkStateSnapshot",
        namespace = %cached.namespace().unwrap_or_default(),
        name = %cached.name_any(),
        generation = cached.metadata.generation.unwrap_or_default(),
    )
)]
pub async fn reconcile(cached: Arc<FlinkStateSnapshot>, ctx: Arc<Context>) -> Result<Action> {
    let ns = cached.namespace().unwrap_or_default();
    let api: Api<FlinkStateSnapshot> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(snap) = ctx.known_versions.current(&api, cached).await? else {
        return Ok(Action::await_change());
    };
    let deleting = snap.metadata.deletion_timestamp.is_some();
    let finalized = snap.finalizers().iter().any(|f| f == SNAPSHOT_FINALIZER);
    if !deleting && !finalized {
        add_finalizer(&api, &ctx.known_versions, &snap, SNAPSHOT_FINALIZER).await?;
        return Ok(Action::requeue(std::time::Duration::ZERO));
    }
    if deleting && !finalized {
        return Ok(Action::await_change());
    }
    let target = find_target(&ctx, &ns, &snap.spec).await?;
    let status = snap.status.clone();
    let operation = match (&status, &target) {
        (Some(s), SnapshotTarget::Found(t)) if s.state() == SnapshotState::InProgress => {
            match &s.trigger_id {
                Some(trigger) => Some(observe_operation(&ctx, &ns, &snap.spec, t, trigger).await),
                None => None,
            }
        }
        _ => None,
    };
    let new_trigger_id = uuid::Uuid::new_v4().simple().to_string();
    let plan = plan_snapshot(&SnapshotInput {
        namespace: &ns,
        spec: &snap.spec,
        status: status.as_ref(),
        deleting,
        target: &target,
        operation: operation.as_ref(),
        now_ms: jiff::Timestamp::now().as_millisecond(),
        new_trigger_id: &new_trigger_id,
        reconcile_interval: ctx.operator.reconcile_interval,
    });
    tracing::debug!(step = ?plan.step, reason = %plan.reason, requeue = ?plan.requeue, "planned");
    let mut log = StatusLog::new(&api, &ctx.known_versions, snap.as_ref());
    log.write(status.as_ref(), &plan.status).await?;
    for ev in &plan.events {
        publish(&ctx, snap.as_ref(), ev).await;
    }
    if !deleting {
        keep_labels(&api, &snap, plan.status.state()).await?;
    }
    let flink = |cluster: &str| {
        ctx.flink(&ns, cluster).ok_or_else(|| Error::NoRestEndpoint {
            namespace: ns.clone(),
            name: cluster.to_string(),
        })
    };
    match &plan.step {
        SnapshotStep::None => {}
        SnapshotStep::TriggerSavepoint {
            cluster,
            job_id,
            trigger_id,
            target_dir,
            format,
        } => {
            let request = SavepointRequest {
                target_directory: target_dir.clone(),
                cancel_job: false,
                format: Some(match format {
                    SavepointFormatType::Native => SavepointFormat::Native,
                    _ => SavepointFormat::Canonical,
                }),
                trigger_id: Some(trigger_id.clone()),
            };
            flink(cluster)?.trigger_savepoint(job_id, &request).await?;
        }
        SnapshotStep::TriggerCheckpoint {
            cluster,
            job_id,
            trigger_id,
        } => {
            flink(cluster)?
                .trigger_checkpoint_as(job_id, "FULL", trigger_id)
                .await?;
        }
        SnapshotStep::Dispose { cluster, path } => {
            super::dispose::dispose(&flink(cluster)?, path).await?;
            remove_finalizer(&api, &ctx.known_versions, &snap, SNAPSHOT_FINALIZER).await?;
            return Ok(Action::await_change());
        }
        SnapshotStep::ReleaseFinalizer => {
            remove_finalizer(&api, &ctx.known_versions, &snap, SNAPSHOT_FINALIZER).await?;
            return Ok(Action::await_change());
        }
    }
    Ok(plan.requeue.map_or_else(Action::await_change, Action::requeue))
}

/// The job the snapshot is of, from its resource's spec and status (the resource's own
/// controller keeps that status current).
async fn find_target(ctx: &Context, ns: &str, spec: &FlinkStateSnapshotSpec) -> Result<SnapshotTarget> {
    let Some(reference) = spec.job_reference.as_ref() else {
        return Ok(SnapshotTarget::Missing(
            "Job reference must be supplied for this snapshot".into(),
        ));
    };
    let (Some(kind), Some(name)) = (reference.kind, reference.name.as_deref()) else {
        return Ok(SnapshotTarget::Missing(
            "spec.jobReference needs both kind (FlinkDeployment or FlinkSessionJob) and name".into(),
        ));
    };
    let not_found = || SnapshotTarget::Missing(format!("Target for snapshot {ns}/{name} was not found"));
    let deployments: Api<FlinkDeployment> = Api::namespaced(ctx.client.clone(), ns);
    match kind {
        JobKind::FlinkDeployment => {
            let Some(dep) = deployments.get_opt(name).await? else {
                return Ok(not_found());
            };
            let Some(job) = dep.spec.job.as_ref() else {
                return Ok(SnapshotTarget::Missing(format!(
                    "FlinkDeployment {ns}/{name} is a session cluster without a job: reference the FlinkSessionJob to snapshot"
                )));
            };
            let status = dep.status.as_ref();
            let job_status = status.and_then(|s| s.job_status.as_ref());
            let version = dep.spec.flink_version;
            let conf =
                effective_flink_config(&ctx.operator, Some(ns), version, &dep.spec.flat_configuration());
            Ok(SnapshotTarget::Found(TargetJob {
                kind,
                cluster: name.to_string(),
                job_id: job_status.and_then(|j| j.job_id.clone()),
                job_state: job_status.and_then(|j| j.state),
                suspended: job.state == Some(JobState::Suspended),
                busy: dep.metadata.deletion_timestamp.is_some()
                    || busy(
                        status
                            .and_then(|s| s.reconciliation_status.as_ref())
                            .and_then(|r| r.state),
                    ),
                savepoint_dir: savepoint_dir(&conf).map(str::to_string),
                checkpoints_supported: supports_checkpoints(version),
                protected_paths: restore_paths(job_status),
            }))
        }
        JobKind::FlinkSessionJob => {
            let jobs: Api<FlinkSessionJob> = Api::namespaced(ctx.client.clone(), ns);
            let Some(job) = jobs.get_opt(name).await? else {
                return Ok(not_found());
            };
            let cluster = job.spec.deployment_name.clone().unwrap_or_default();
            let session = match cluster.as_str() {
                "" => None,
                c => deployments.get_opt(c).await?,
            };
            let mut merged = session
                .as_ref()
                .map(|s| s.spec.flat_configuration())
                .unwrap_or_default();
            merged.append(&mut job.spec.flat_configuration());
            let version = session.as_ref().and_then(|s| s.spec.flink_version);
            let conf: BTreeMap<String, String> =
                effective_flink_config(&ctx.operator, Some(ns), version, &merged);
            let status = job.status.as_ref();
            let job_status = status.and_then(|s| s.job_status.as_ref());
            Ok(SnapshotTarget::Found(TargetJob {
                kind,
                cluster,
                job_id: job_status.and_then(|j| j.job_id.clone()),
                job_state: job_status.and_then(|j| j.state),
                suspended: job.spec.job.as_ref().and_then(|j| j.state) == Some(JobState::Suspended),
                busy: job.metadata.deletion_timestamp.is_some()
                    || busy(
                        status
                            .and_then(|s| s.reconciliation_status.as_ref())
                            .and_then(|r| r.state),
                    ),
                savepoint_dir: savepoint_dir(&conf).map(str::to_string),
                checkpoints_supported: supports_checkpoints(version),
                protected_paths: restore_paths(job_status),
            }))
        }
    }
}

/// What the resource's next restore may read.
fn restore_paths(job: Option<&crate::api::JobStatus>) -> Vec<String> {
    let Some(job) = job else { return Vec::new() };
    [
        job.upgrade_savepoint_path.clone(),
        job.last_completed_checkpoint
            .as_ref()
            .and_then(|c| c.path.clone()),
        job.savepoint_info
            .as_ref()
            .and_then(|i| i.last_savepoint.as_ref())
            .and_then(|s| s.location.clone()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Upgrading or rolling back: the job is about to be replaced.
fn busy(state: Option<ReconciliationState>) -> bool {
    matches!(
        state,
        Some(ReconciliationState::Upgrading | ReconciliationState::RollingBack)
    )
}

/// Checkpoints are triggered through REST from Flink 1.17 on (no version: assume a current one).
fn supports_checkpoints(version: Option<FlinkVersion>) -> bool {
    version.is_none_or(|v| v >= FlinkVersion::v1_17)
}

/// What Flink says of the recorded trigger.
async fn observe_operation(
    ctx: &Context,
    ns: &str,
    spec: &FlinkStateSnapshotSpec,
    target: &TargetJob,
    trigger: &str,
) -> OperationSeen {
    let (Some(flink), Some(job_id)) = (ctx.flink(ns, &target.cluster), target.job_id.as_deref()) else {
        return OperationSeen::Unreachable(format!("no REST endpoint for {ns}/{}", target.cluster));
    };
    let trigger = TriggerId(trigger.to_string());
    let seen = |e: FlinkError| {
        if e.is_not_found() {
            OperationSeen::Unknown
        } else {
            OperationSeen::Unreachable(e.to_string())
        }
    };
    if spec.checkpoint.is_some() {
        return match flink.checkpoint_outcome(job_id, &trigger).await {
            Ok((OperationStatus::InProgress, _)) => OperationSeen::InProgress,
            Ok((OperationStatus::Failed { cause }, _)) => OperationSeen::Failed { cause },
            Ok((OperationStatus::Completed, id)) => {
                // The path is a nicety: a checkpoint whose details cannot be read still completed.
                let path = match id {
                    Some(id) => match flink.checkpoint_details(job_id, id).await {
                        Ok(entry) => entry.external_path,
                        Err(e) => {
                            tracing::warn!(checkpoint = id, error = %e, "cannot read the checkpoint's path");
                            None
                        }
                    },
                    None => None,
                };
                OperationSeen::Completed { path }
            }
            Err(e) => seen(e),
        };
    }
    match flink.savepoint_status(job_id, &trigger).await {
        Ok(SavepointStatus::InProgress) => OperationSeen::InProgress,
        Ok(SavepointStatus::Completed { location }) => OperationSeen::Completed { path: Some(location) },
        Ok(SavepointStatus::Failed { cause }) => OperationSeen::Failed { cause },
        Err(e) => seen(e),
    }
}

/// The reference's labels, so `kubectl get flinksnp -l snapshot.state=COMPLETED,...` filters.
fn labels_for(snap: &FlinkStateSnapshot, state: SnapshotState) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let kind = if snap.spec.checkpoint.is_some() {
        "CHECKPOINT"
    } else {
        "SAVEPOINT"
    };
    labels.insert("snapshot.type".to_string(), kind.to_string());
    labels.insert("snapshot.state".to_string(), state.as_str().to_string());
    let trigger_type = snap
        .labels()
        .get("snapshot.trigger-type")
        .cloned()
        .unwrap_or_else(|| "MANUAL".to_string());
    labels.insert("snapshot.trigger-type".to_string(), trigger_type);
    if let Some(reference) = &snap.spec.job_reference
        && let (Some(kind), Some(name)) = (reference.kind, reference.name.as_deref())
    {
        labels.extend(reference_labels(kind, name));
    }
    labels
}

/// `job-reference.kind` and `job-reference.name` (the name only when it fits a label value:
/// object names may be longer than the 63 characters a label value allows).
pub fn reference_labels(kind: JobKind, name: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([("job-reference.kind".to_string(), kind.as_str().to_string())]);
    let fits = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits {
        labels.insert("job-reference.name".to_string(), name.to_string());
    }
    labels
}

async fn keep_labels(
    api: &Api<FlinkStateSnapshot>,
    snap: &FlinkStateSnapshot,
    state: SnapshotState,
) -> Result<()> {
    let wanted = labels_for(snap, state);
    if wanted.iter().all(|(k, v)| snap.labels().get(k) == Some(v)) {
        return Ok(());
    }
    let patch = serde_json::json!({"metadata": {"labels": wanted}});
    api.patch(&snap.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
