//! Observation: what the cluster and Flink look like right now, gathered for the planner.
//! Kubernetes API failures are errors (the reconcile is retried); Flink REST failures are data
//! (the planner decides what an unreachable or unknown job means).

use super::context::Context;
use super::error::Result;
use crate::api::{FlinkDeployment, FlinkJobState, FlinkSessionJob, JobManagerDeploymentStatus, JobStatus};
use crate::config::flink_keys;
use crate::flink::OperationStatus;
use crate::flink::{FlinkRestClient, SavepointStatus, TriggerId};
use crate::lifecycle::{
    CheckpointTriggerStatus, HealthCounters, JobManagerObservation, Observation, ObservedJob,
    SavepointTriggerStatus, Snapshot,
};
use crate::render::GENERATION_ANNOTATION;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams};

/// Container waiting reasons that mean the JobManager will not come up without a change.
const FATAL_WAITING_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "RunContainerError",
    "CreateContainerConfigError",
    "OOMKilled",
];

/// Observes an application or session cluster.
pub async fn observe_deployment(ctx: &Context, dep: &FlinkDeployment) -> Result<Observation> {
    let ns = dep.namespace().unwrap_or_default();
    let name = dep.name_any();
    let mut obs = Observation {
        jobmanager: observe_jobmanager(ctx, &ns, &name).await?,
        ..Observation::default()
    };
    let mut ha = observe_ha(ctx, &ns, &name).await?;
    if let Some(zk) = super::execute::zookeeper_ha(ctx, dep) {
        let meta = zk.observe().await?;
        ha.present |= meta.present;
        ha.checkpoint_job_ids.extend(meta.checkpoint_job_ids);
    }
    obs.ha_metadata_present = ha.present;
    obs.ha_has_checkpoint = !ha.checkpoint_job_ids.is_empty() || ha.checkpoint_elsewhere;
    obs.ha_checkpoint_job_ids = ha.checkpoint_job_ids;
    if obs.jobmanager.is_missing() {
        return Ok(obs);
    }
    let Some(flink) = ctx.flink(&ns, &name) else {
        return Ok(obs);
    };
    let Ok(overview) = flink.jobs_overview().await else {
        // Deployed but not answering: still deploying as far as the planner is concerned, and
        // status says the job state it shows is stale.
        if let JobManagerObservation::Ready { generation } = obs.jobmanager {
            obs.jobmanager = JobManagerObservation::Deploying { generation };
            obs.rest_unanswered = true;
        }
        return Ok(obs);
    };
    obs.rest_reachable = true;
    if let JobManagerObservation::Deploying { generation } = obs.jobmanager {
        obs.jobmanager = JobManagerObservation::Ready { generation };
    }
    let status = dep.status.as_ref();
    let recorded_id = status
        .and_then(|s| s.job_status.as_ref())
        .and_then(|j| j.job_id.clone());
    if dep.spec.is_application() {
        let entry = match &recorded_id {
            Some(id) => overview.job(id).cloned(),
            None if overview.jobs.len() == 1 => overview.jobs.first().cloned(),
            None => None,
        };
        if let Some(entry) = entry {
            obs.job = Some(observed_job(&flink, &entry).await);
            let job_status = status.and_then(|s| s.job_status.as_ref());
            observe_job_details(ctx, &flink, &entry.jid, job_status, &mut obs).await;
            if !obs.checkpoint_statistics_read && never_built(&entry) {
                // Flink reports an application whose main() failed before it submitted a job
                // graph as a FAILED job without tasks (the "(application driver)" job). It has
                // no checkpoint statistics to read because it never ran, and it holds no state.
                obs.checkpoint_statistics_read = true;
            }
        }
    } else {
        let managed = session_jobs_on(ctx, &ns, &name).await?;
        obs.session_jobs_on_cluster = u32::try_from(managed.len()).unwrap_or(u32::MAX);
        // Flink's job list minus the jobs FlinkSessionJobs recorded: submitted by someone else.
        obs.unmanaged_jobs = overview
            .jobs
            .iter()
            .filter(|j| FlinkJobState::parse(j.state.as_str()).is_none_or(|s| !s.is_globally_terminal()))
            .filter(|j| !managed.iter().any(|id| id.as_deref() == Some(j.jid.as_str())))
            .map(|j| format!("{} ({})", j.jid, j.name))
            .collect();
        obs.unmanaged_jobs_running = u32::try_from(obs.unmanaged_jobs.len()).unwrap_or(u32::MAX);
    }
    Ok(obs)
}

/// Observes a session job on its session cluster.
pub async fn observe_session_job(
    ctx: &Context,
    job: &FlinkSessionJob,
    session: Option<&FlinkDeployment>,
) -> Result<Observation> {
    let mut obs = Observation::default();
    let Some(session) = session else { return Ok(obs) };
    let ready = session
        .status
        .as_ref()
        .and_then(|s| s.job_manager_deployment_status)
        == Some(JobManagerDeploymentStatus::Ready);
    let ns = session.namespace().unwrap_or_default();
    let Some(flink) = ctx.flink(&ns, &session.name_any()) else {
        return Ok(obs);
    };
    let Ok(overview) = flink.jobs_overview().await else {
        obs.rest_unanswered = ready;
        return Ok(obs);
    };
    obs.rest_reachable = true;
    obs.session_cluster_ready = ready;
    let status = job.status.as_ref().and_then(|s| s.job_status.as_ref());
    if let Some(entry) = status
        .and_then(|s| s.job_id.as_deref())
        .and_then(|id| overview.job(id))
        .cloned()
    {
        obs.job = Some(observed_job(&flink, &entry).await);
        observe_job_details(ctx, &flink, &entry.jid, status, &mut obs).await;
    }
    Ok(obs)
}

/// A FAILED job with no tasks: its job graph was never built.
fn never_built(entry: &crate::flink::JobOverview) -> bool {
    FlinkJobState::parse(entry.state.as_str()) == Some(FlinkJobState::Failed)
        && entry.tasks.get("total").copied().unwrap_or(0) == 0
}

async fn observed_job(flink: &FlinkRestClient, entry: &crate::flink::JobOverview) -> ObservedJob {
    let state = FlinkJobState::parse(entry.state.as_str()).unwrap_or(FlinkJobState::Reconciling);
    let failure = if state == FlinkJobState::Failed {
        flink
            .job_exceptions(&entry.jid)
            .await
            .ok()
            .and_then(|e| e.latest_summary())
    } else {
        None
    };
    ObservedJob {
        id: entry.jid.clone(),
        state,
        name: Some(entry.name.clone()).filter(|n| !n.is_empty()),
        start_time_ms: entry.start_time,
        // Flink reports -1 while the job runs.
        end_time_ms: entry.end_time.filter(|t| *t > 0),
        failure,
        all_tasks_running: match (entry.tasks.get("running"), entry.tasks.get("total")) {
            (Some(running), Some(total)) if *total > 0 => Some(running == total),
            _ => None,
        },
    }
}

/// How long after a job's end the JobManager's checkpoint-statistics cache setting is read (one
/// more REST call per reconcile). Later the planner's wait, cache + 1 s, is over for any cache the
/// operator renders; a longer one can only come from the spec's configuration, which the planner
/// falls back on.
const STATISTICS_CACHE_READ_WINDOW_MS: i64 = 60_000;

async fn observe_job_details(
    ctx: &Context,
    flink: &FlinkRestClient,
    job_id: &str,
    status: Option<&JobStatus>,
    obs: &mut Observation,
) {
    let ended_ms = obs
        .job
        .as_ref()
        .filter(|j| j.state.is_globally_terminal())
        .and_then(|j| j.end_time_ms);
    let now_ms = jiff::Timestamp::now().as_millisecond();
    if ended_ms.is_some_and(|end| now_ms.saturating_sub(end) < STATISTICS_CACHE_READ_WINDOW_MS) {
        // The planner waits out this cache before it trusts a stopped job's statistics.
        obs.checkpoint_statistics_cache_ms = flink.jobmanager_config().await.ok().map(|conf| {
            u64::try_from(flink_keys::checkpoint_statistics_cache(&conf).as_millis()).unwrap_or(u64::MAX)
        });
    }
    if let Ok(stats) = flink.checkpoint_statistics(job_id).await {
        obs.checkpoint_statistics_read = true;
        obs.latest_checkpoint = stats.latest_snapshot().map(|s| Snapshot {
            path: s.external_path,
            time_ms: s.timestamp.unwrap_or_default(),
            id: Some(s.id),
        });
        obs.restored_checkpoint = stats.latest.restored.as_ref().map(|r| Snapshot {
            path: r.external_path.clone().unwrap_or_default(),
            time_ms: r.restore_timestamp.unwrap_or_default(),
            id: r.id,
        });
        obs.latest_savepoint = stats.latest.savepoint.as_ref().and_then(|s| {
            Some(Snapshot {
                path: s.external_path.clone().filter(|p| !p.is_empty())?,
                time_ms: s.trigger_timestamp.unwrap_or_default(),
                id: s.id,
            })
        });
        obs.checkpoint_in_progress_since = stats.in_progress().and_then(|c| c.trigger_timestamp);
    }
    let trigger = status
        .and_then(|s| s.savepoint_info.as_ref())
        .and_then(|i| i.trigger_id.clone());
    if let Some(trigger) = trigger {
        obs.savepoint_trigger = match flink.savepoint_status(job_id, &TriggerId(trigger)).await {
            Ok(SavepointStatus::InProgress) => Some(SavepointTriggerStatus::InProgress),
            Ok(SavepointStatus::Completed { location }) => {
                Some(SavepointTriggerStatus::Completed { location })
            }
            Ok(SavepointStatus::Failed { cause }) => Some(SavepointTriggerStatus::Failed { cause }),
            // An unknown trigger (e.g. the JobManager restarted) failed as far as we can tell.
            Err(e) if e.is_not_found() => Some(SavepointTriggerStatus::Failed { cause: e.to_string() }),
            Err(_) => None,
        };
    }
    let checkpoint_trigger = status
        .and_then(|s| s.checkpoint_info.as_ref())
        .and_then(|i| i.trigger_id.clone());
    if let Some(trigger) = checkpoint_trigger {
        obs.checkpoint_trigger = match flink.checkpoint_status(job_id, &TriggerId(trigger)).await {
            Ok(OperationStatus::InProgress) => Some(CheckpointTriggerStatus::InProgress),
            Ok(OperationStatus::Completed) => Some(CheckpointTriggerStatus::Completed),
            Ok(OperationStatus::Failed { cause }) => Some(CheckpointTriggerStatus::Failed { cause }),
            // An unknown trigger (the JobManager restarted) failed as far as we can tell.
            Err(e) if e.is_not_found() => Some(CheckpointTriggerStatus::Failed { cause: e.to_string() }),
            Err(_) => None,
        };
    }
    if ctx.operator.health_check_enabled
        && let Ok(m) = flink.job_health_metrics(job_id).await
    {
        obs.counters = m
            .num_restarts
            .zip(m.completed_checkpoints)
            .map(|(r, c)| HealthCounters {
                num_restarts: r,
                completed_checkpoints: c,
            });
    }
}

/// The JobManager Deployment `<name>`: missing, deploying, available (REST checked by the
/// caller) or failing.
async fn observe_jobmanager(ctx: &Context, ns: &str, name: &str) -> Result<JobManagerObservation> {
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), ns);
    let Some(d) = deployments.get_opt(name).await? else {
        // A real garbage collector finishes the TaskManager Deployment's foreground deletion
        // after the JobManager's: a cluster deployed before that would apply its TaskManagers
        // to the terminating object and lose them with it. The cluster is gone when both are.
        let taskmanagers = deployments
            .get_opt(&crate::render::taskmanager_name(name))
            .await?;
        if taskmanagers.is_some_and(|t| t.metadata.deletion_timestamp.is_some()) {
            return Ok(JobManagerObservation::Deploying { generation: None });
        }
        return Ok(JobManagerObservation::Missing);
    };
    let generation = d
        .annotations()
        .get(GENERATION_ANNOTATION)
        .and_then(|g| g.parse().ok());
    if d.metadata.deletion_timestamp.is_some() {
        return Ok(JobManagerObservation::Deploying { generation });
    }
    let status = d.status.as_ref();
    let failed_create = status
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .find(|c| {
            c.type_ == "ReplicaFailure" && c.status == "True" && c.reason.as_deref() == Some("FailedCreate")
        });
    if let Some(c) = failed_create {
        return Ok(JobManagerObservation::Error {
            generation,
            message: c
                .message
                .clone()
                .unwrap_or_else(|| "JobManager pods cannot be created".into()),
        });
    }
    if let Some(message) = failing_pod(ctx, ns, name).await? {
        return Ok(JobManagerObservation::Error { generation, message });
    }
    let available = status.and_then(|s| s.available_replicas).unwrap_or(0) > 0;
    Ok(if available {
        JobManagerObservation::Ready { generation }
    } else {
        JobManagerObservation::Deploying { generation }
    })
}

async fn failing_pod(ctx: &Context, ns: &str, name: &str) -> Result<Option<String>> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("app={name},component=jobmanager");
    let list = pods.list(&ListParams::default().labels(&selector)).await?;
    for pod in list.items {
        let statuses = pod.status.iter().flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        });
        for cs in statuses {
            let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref());
            if let Some(w) = waiting
                && let Some(reason) = w.reason.as_deref().filter(|r| FATAL_WAITING_REASONS.contains(r))
            {
                return Ok(Some(format!(
                    "JobManager container {} is {reason}: {}",
                    cs.name,
                    w.message.as_deref().unwrap_or("no message")
                )));
            }
        }
    }
    Ok(None)
}

/// The Kubernetes HA metadata of a cluster.
struct HaMetadata {
    present: bool,
    /// Jobs whose own ConfigMap (`<cluster>-<job id>-config-map`) holds a checkpoint.
    checkpoint_job_ids: Vec<String>,
    /// A checkpoint in a ConfigMap not named after a job.
    checkpoint_elsewhere: bool,
}

/// Kubernetes HA metadata of cluster `name`.
async fn observe_ha(ctx: &Context, ns: &str, name: &str) -> Result<HaMetadata> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("app={name},configmap-type=high-availability");
    let list = cms.list(&ListParams::default().labels(&selector)).await?;
    let relevant: Vec<&ConfigMap> = list
        .items
        .iter()
        .filter(|cm| cm.metadata.deletion_timestamp.is_none())
        .filter(|cm| {
            let n = cm.name_any();
            (n.ends_with("-config-map") && !n.ends_with("-cluster-config-map"))
                || n.ends_with("-jobmanager-leader")
        })
        .collect();
    let mut ha = HaMetadata {
        present: !relevant.is_empty(),
        checkpoint_job_ids: Vec::new(),
        checkpoint_elsewhere: false,
    };
    for cm in relevant {
        let has_checkpoint = cm
            .data
            .iter()
            .flatten()
            .any(|(k, _)| k.starts_with("checkpointID-"));
        if !has_checkpoint {
            continue;
        }
        match ha_job_id(name, &cm.name_any()) {
            Some(id) => ha.checkpoint_job_ids.push(id.to_string()),
            None => ha.checkpoint_elsewhere = true,
        }
    }
    Ok(ha)
}

/// The job id in the name of a job's HA ConfigMap (`<cluster>-<32 hex digits>-config-map`).
fn ha_job_id<'a>(cluster: &str, config_map: &'a str) -> Option<&'a str> {
    let id = config_map
        .strip_prefix(cluster)?
        .strip_prefix('-')?
        .strip_suffix("-config-map")?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

/// The FlinkSessionJobs that target session cluster `cluster`, by the job id each recorded.
async fn session_jobs_on(ctx: &Context, ns: &str, cluster: &str) -> Result<Vec<Option<String>>> {
    let jobs: Api<FlinkSessionJob> = Api::namespaced(ctx.client.clone(), ns);
    let list = jobs.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|j| j.spec.deployment_name.as_deref() == Some(cluster))
        .map(|j| {
            j.status
                .as_ref()
                .and_then(|s| s.job_status.as_ref())
                .and_then(|s| s.job_id.clone())
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::ha_job_id;

    #[test]
    fn job_ids_are_read_from_ha_config_map_names() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(ha_job_id("orders", &format!("orders-{id}-config-map")), Some(id));
        for other in [
            "orders-cluster-config-map".to_string(),
            "orders-jobmanager-leader".to_string(),
            format!("billing-{id}-config-map"),
            "orders-0123-config-map".to_string(),
        ] {
            assert_eq!(ha_job_id("orders", &other), None, "{other}");
        }
    }
}
