//! Execution of the planner's one step. Every step is safe to repeat: deploys are server-side
//! applies of the rendered objects, deletes tolerate NotFound, cancels of terminal jobs succeed.

use super::artifacts::fetch_jar;
use super::context::Context;
use super::error::{Error, Result};
use super::zookeeper::ZooKeeperHa;
use crate::api::{FlinkDeployment, FlinkSessionJob};
use crate::config::{SavepointFormat, effective_flink_config};
use crate::flink::{FlinkRestClient, JarRunRequest, SavepointRequest, StopRequest, TriggerId};
use crate::lifecycle::{Deploy, DeploySpec, RestoreSource};
use crate::render::{RenderInput, RenderedCluster};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Field manager of everything the operator applies.
pub const FIELD_MANAGER: &str = "flink-lifecycle";

fn format_of(name: &str) -> SavepointFormat {
    if name.eq_ignore_ascii_case("NATIVE") {
        SavepointFormat::Native
    } else {
        SavepointFormat::Canonical
    }
}

/// Triggers a savepoint and returns its trigger id.
pub async fn trigger_savepoint(
    flink: &FlinkRestClient,
    job_id: &str,
    target_dir: Option<String>,
    format: &str,
) -> Result<TriggerId> {
    let req = SavepointRequest {
        target_directory: target_dir,
        cancel_job: false,
        format: Some(format_of(format)),
        trigger_id: None,
    };
    Ok(flink.trigger_savepoint(job_id, &req).await?)
}

/// Stops the job with a savepoint and returns the trigger id.
pub async fn stop_with_savepoint(
    flink: &FlinkRestClient,
    job_id: &str,
    target_dir: Option<String>,
    drain: bool,
    format: &str,
) -> Result<TriggerId> {
    let req = StopRequest {
        target_directory: target_dir,
        drain,
        format: Some(format_of(format)),
        trigger_id: None,
    };
    Ok(flink.stop_with_savepoint(job_id, &req).await?)
}

/// Applies the rendered cluster of `dep` with `deploy.spec`.
pub async fn deploy_cluster(ctx: &Context, dep: &FlinkDeployment, deploy: &Deploy) -> Result<()> {
    let DeploySpec::Deployment(spec) = &deploy.spec else {
        return Err(Error::WrongKind(
            "a FlinkDeployment deploy needs a FlinkDeployment spec",
        ));
    };
    let mut target = dep.clone();
    target.spec = spec.as_ref().clone();
    let ns = dep.namespace().unwrap_or_default();
    let name = dep.name_any();
    let zookeeper = zookeeper_ha(ctx, &target);
    if deploy.delete_ha_data_first {
        delete_ha_data(ctx, &ns, &name).await?;
        if let Some(zk) = &zookeeper {
            zk.delete_all().await?;
        }
    } else if target.spec.job.is_some() {
        remove_stale_job_graphs(ctx, &ns, &name).await?;
        if let Some(zk) = &zookeeper {
            zk.remove_job_graphs().await?;
        }
    }
    let operator_conf = &ctx.operator;
    let effective = effective_flink_config(
        operator_conf,
        Some(&ns),
        target.spec.flink_version,
        &target.spec.flat_configuration(),
    );
    let (restore_path, ha_last_state_restore) = match &deploy.restore {
        RestoreSource::NoJob | RestoreSource::Empty => (None, false),
        RestoreSource::Savepoint { path, .. } => (Some(path.clone()), false),
        RestoreSource::HaMetadata { guard_path } => (guard_path.clone(), guard_path.is_some()),
    };
    if let (
        Some(job),
        RestoreSource::Savepoint {
            allow_non_restored_state,
            ..
        },
    ) = (target.spec.job.as_mut(), &deploy.restore)
        && *allow_non_restored_state
    {
        job.allow_non_restored_state = Some(true);
    }
    let input = RenderInput {
        job_id: deploy.job_id.clone(),
        restore_path,
        ha_last_state_restore,
        generation: deploy.generation,
        job_result_store_id: uuid::Uuid::new_v4().to_string(),
        config_overrides: Default::default(),
    };
    let rendered = crate::render::render(&target, &effective, &input)?;
    apply_cluster(ctx, &ns, &rendered, &PatchParams::apply(FIELD_MANAGER).force()).await
}

/// Applies every object of `r` with `params` (a dry run when they say so).
pub async fn apply_cluster(ctx: &Context, ns: &str, r: &RenderedCluster, params: &PatchParams) -> Result<()> {
    apply(ctx, ns, &r.config_map, params).await?;
    apply(ctx, ns, &r.internal_service, params).await?;
    apply(ctx, ns, &r.rest_service, params).await?;
    if let Some(tm) = &r.taskmanager {
        apply(ctx, ns, tm, params).await?;
    }
    if let Some(ingress) = &r.ingress {
        apply(ctx, ns, ingress, params).await?;
    }
    // The JobManager last: its generation annotation tells a restarted operator the deploy happened.
    apply(ctx, ns, &r.jobmanager, params).await
}

async fn apply<K>(ctx: &Context, ns: &str, obj: &K, params: &PatchParams) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let name = obj.meta().name.clone().unwrap_or_default();
    api.patch(&name, params, &Patch::Apply(obj)).await?;
    Ok(())
}

async fn delete_named<K>(ctx: &Context, ns: &str, name: &str) -> Result<()>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    match api.delete(name, &DeleteParams::foreground()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the cluster's objects (JobManager first); with `delete_ha_data` also its HA metadata.
pub async fn delete_cluster(ctx: &Context, dep: &FlinkDeployment, with_ha_data: bool) -> Result<()> {
    let ns = dep.namespace().unwrap_or_default();
    let name = dep.name_any();
    delete_named::<Deployment>(ctx, &ns, &name).await?;
    delete_named::<Deployment>(ctx, &ns, &crate::render::taskmanager_name(&name)).await?;
    delete_named::<Service>(ctx, &ns, &crate::render::rest_service_name(&name)).await?;
    delete_named::<Service>(ctx, &ns, &name).await?;
    delete_named::<Ingress>(ctx, &ns, &name).await?;
    delete_named::<ConfigMap>(ctx, &ns, &crate::render::config_map_name(&name)).await?;
    if with_ha_data {
        delete_ha_data(ctx, &ns, &name).await?;
        if let Some(zk) = zookeeper_ha(ctx, dep) {
            zk.delete_all().await?;
        }
    }
    Ok(())
}

/// Where the cluster of `dep` keeps ZooKeeper HA metadata, if its spec uses ZooKeeper HA.
pub fn zookeeper_ha(ctx: &Context, dep: &FlinkDeployment) -> Option<ZooKeeperHa> {
    let ns = dep.namespace();
    let conf = effective_flink_config(
        &ctx.operator,
        ns.as_deref(),
        dep.spec.flink_version,
        &dep.spec.flat_configuration(),
    );
    ZooKeeperHa::from_config(&conf, &dep.name_any())
}

/// Deletes the cluster's Kubernetes HA ConfigMaps.
pub async fn delete_ha_data(ctx: &Context, ns: &str, name: &str) -> Result<()> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("app={name},configmap-type=high-availability");
    for cm in cms.list(&ListParams::default().labels(&selector)).await?.items {
        delete_named::<ConfigMap>(ctx, ns, &cm.name_any()).await?;
    }
    Ok(())
}

/// Removes the job graphs (Flink 1.x `jobGraph-<id>`, 2.x `executionPlan-<id>`) from the
/// cluster's HA ConfigMaps, keeping its checkpoint pointers. An application cluster started
/// with HA recovers a stored graph before its `main()` runs, and the resubmitted job of the new
/// spec is then refused as a duplicate: the old job would keep running under the new spec's
/// name (seen on real Flink 1.20 with the real apiserver).
pub async fn remove_stale_job_graphs(ctx: &Context, ns: &str, name: &str) -> Result<()> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let selector = format!("app={name},configmap-type=high-availability");
    for cm in cms.list(&ListParams::default().labels(&selector)).await?.items {
        let stale: serde_json::Map<String, serde_json::Value> = cm
            .data
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("jobGraph-") || k.starts_with("executionPlan-"))
            .map(|k| (k.clone(), serde_json::Value::Null))
            .collect();
        if stale.is_empty() {
            continue;
        }
        // The resourceVersion makes the patch a compare-and-swap: a JobManager that wrote the
        // map since the list is not overwritten blindly; the next reconcile lists again.
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": cm.metadata.resource_version},
            "data": stale,
        });
        cms.patch(&cm.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(())
}

/// Uploads the session job's jar and runs it with the recorded job id and restore path.
pub async fn submit_session_job(
    ctx: &Context,
    flink: &FlinkRestClient,
    job: &FlinkSessionJob,
    deploy: &Deploy,
) -> Result<()> {
    let DeploySpec::SessionJob(spec) = &deploy.spec else {
        return Err(Error::WrongKind(
            "a session job submit needs a FlinkSessionJob spec",
        ));
    };
    let job_spec = spec.job.clone().unwrap_or_default();
    let jar = fetch_jar(&ctx.operator, job, job_spec.jar_uri.as_deref()).await?;
    let jar_id = flink.upload_jar(&jar).await?;
    let (savepoint_path, allow) = match &deploy.restore {
        RestoreSource::Savepoint {
            path,
            allow_non_restored_state,
        } => (Some(path.clone()), Some(*allow_non_restored_state)),
        _ => (None, job_spec.allow_non_restored_state),
    };
    let request = JarRunRequest {
        entry_class: job_spec.entry_class.clone(),
        program_args_list: job_spec.args.clone().unwrap_or_default(),
        parallelism: u32::try_from(job_spec.parallelism()).ok(),
        job_id: deploy.job_id.clone(),
        savepoint_path,
        allow_non_restored_state: allow,
        claim_mode: None,
        flink_configuration: spec
            .flat_configuration()
            .into_iter()
            .filter(|(k, _)| !k.starts_with(crate::config::OPERATOR_PREFIX))
            .collect(),
    };
    let outcome = flink.run_jar(&jar_id, &request).await;
    // The jar is only needed for the submission; a failed delete only leaves a file behind.
    let _ = flink.delete_jar(&jar_id).await;
    match outcome {
        Ok(_) => Ok(()),
        // A retried submission of a job that already runs.
        Err(e) if e.to_string().contains("DuplicateJobSubmissionException") => Ok(()),
        Err(e) => Err(e.into()),
    }
}
